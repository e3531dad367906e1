/**
 * A tiny DOM helper. Everything the page shows is built with createElement and text nodes, never innerHTML:
 * device User-Agents, names and event messages come from the network and must stay text.
 */

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (event: Event) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (typeof value === 'function') {
        el.addEventListener(key.replace(/^on/, '').toLowerCase(), value);
      } else if (key === 'value' && 'value' in el) {
        (el as HTMLInputElement).value = String(value);
        el.setAttribute('value', String(value));
      } else if (key === 'checked' && el instanceof HTMLInputElement) {
        el.checked = value === true;
        if (value === true) el.setAttribute('checked', '');
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

let noticeTimer: number | undefined;

/** A short message in the aria-live region: screen readers announce it, everyone sees it for a while. */
export function notify(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const box = byId('notice');
  box.className = `notice notice-${kind} shown`;
  box.textContent = text;
  if (noticeTimer !== undefined) window.clearTimeout(noticeTimer);
  noticeTimer = window.setTimeout(() => {
    box.className = 'notice';
    box.textContent = '';
  }, kind === 'error' ? 10_000 : 5_000);
}

/** A labelled form field: label, control, optional hint and an error slot the control points at. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): { wrap: HTMLDivElement; error: HTMLParagraphElement } {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const described = [hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    error,
  );
  return { wrap, error };
}

export function showFieldError(control: HTMLElement, error: HTMLElement, message: string | undefined): void {
  if (message) {
    error.textContent = message;
    error.hidden = false;
    control.setAttribute('aria-invalid', 'true');
  } else {
    error.textContent = '';
    error.hidden = true;
    control.removeAttribute('aria-invalid');
  }
}

export function option(value: string, label: string, selected = false): HTMLOptionElement {
  const o = h('option', { value }, label);
  o.selected = selected;
  return o;
}

/** A table wrapped so that a wide one scrolls sideways on a narrow screen instead of widening the page. */
export function tableWrap(table: HTMLTableElement, label: string): HTMLDivElement {
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: 0 }, table);
}

export function badge(text: string, kind: string): HTMLSpanElement {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** A cell that also carries its column name, shown before the value when a table collapses into cards. */
export function td(label: string, ...children: Child[]): HTMLTableCellElement {
  return h('td', { 'data-label': label }, ...children);
}

export function when(iso: string | undefined | null): Child {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return h('time', { datetime: at.toISOString(), title: at.toLocaleString() }, ago(at));
}

export function ago(at: Date): string {
  const s = Math.round((Date.now() - at.getTime()) / 1000);
  if (s < 0) return at.toLocaleString();
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return at.toLocaleString();
}

export function formatMac(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  return hex.length === 12 ? hex.replace(/(..)(?!$)/g, '$1:') : mac;
}
