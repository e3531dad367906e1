/** Hash routes: `#/devices`, `#/devices/<mac>`, `#/events?type=...`. */
import type { Page, PageFactory } from './page.js';

export interface Route {
  pattern: RegExp;
  page: PageFactory;
  /** The navigation link this route belongs to. */
  nav: string;
}

export interface Match {
  page: Page;
  nav: string;
}

export function currentPath(): { path: string; query: URLSearchParams } {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  return { path: path.startsWith('/') ? path : `/${path}`, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

export function resolve(routes: Route[]): Match | undefined {
  const { path, query } = currentPath();
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m) return { page: route.page(m.slice(1).map((s) => decodeURIComponent(s ?? '')), query), nav: route.nav };
  }
  return undefined;
}

/** Changes the hash's query without adding a history entry or re-rendering (filters kept in the address). */
export function replaceQuery(query: Record<string, string>): void {
  const { path } = currentPath();
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== ''));
  const text = q.toString();
  history.replaceState(null, '', `#${path}${text ? `?${text}` : ''}`);
}
