/** The page's entry: the session, the shell (navigation, log out, live state) and the router. */
import { currentSession, getJson, logout, message, whenUnauthorized, type Status } from './api.js';
import { byId, fill, h, notify } from './dom.js';
import { openStream, type LiveState, type Stream } from './live.js';
import type { Page } from './page.js';
import { resolve, type Route } from './router.js';
import { loginPage } from './page-login.js';
import { dashboardPage } from './page-dashboard.js';
import { devicesPage } from './page-devices.js';
import { devicePage } from './page-device.js';
import { linesPage } from './page-lines.js';
import { sitePage } from './page-site.js';
import { importPage } from './page-import.js';
import { eventsPage } from './page-events.js';
import { callsPage } from './page-calls.js';
import { leasesPage } from './page-leases.js';
import { doctorPage } from './page-doctor.js';
import { handoverPage } from './page-handover.js';

const routes: Route[] = [
  { pattern: /^\/$/, page: dashboardPage, nav: '#/' },
  { pattern: /^\/devices\/?$/, page: devicesPage, nav: '#/devices' },
  { pattern: /^\/devices\/([^/]+)$/, page: devicePage, nav: '#/devices' },
  { pattern: /^\/lines\/?$/, page: linesPage, nav: '#/lines' },
  { pattern: /^\/site\/?$/, page: sitePage, nav: '#/site' },
  { pattern: /^\/import\/?$/, page: importPage, nav: '#/import' },
  { pattern: /^\/events\/?$/, page: eventsPage, nav: '#/events' },
  { pattern: /^\/calls\/?$/, page: callsPage, nav: '#/calls' },
  { pattern: /^\/leases\/?$/, page: leasesPage, nav: '#/leases' },
  { pattern: /^\/doctor\/?$/, page: doctorPage, nav: '#/doctor' },
  { pattern: /^\/handover\/?$/, page: handoverPage, nav: '#/handover' },
];

let page: Page | undefined;
let stream: Stream | undefined;
let authenticated = false;
/** Bumped at every render so that a slow page that lost the race does not draw over the next one. */
let generation = 0;

const main = () => byId('main');

function shell(visible: boolean): void {
  for (const id of ['nav', 'logout', 'live-state', 'menu-toggle']) byId(id).hidden = !visible;
  document.body.classList.toggle('signed-in', visible);
  if (!visible) fill(byId('site-name'));
}

function setLive(state: LiveState): void {
  const el = byId('live-state');
  el.className = `live-state live-${state}`;
  el.textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline';
  el.title = state === 'live' ? 'Changes appear on this page as they happen' : 'Not receiving live changes; the page retries by itself';
}

async function refreshSiteName(): Promise<void> {
  try {
    const status = await getJson<Status>('/status');
    fill(byId('site-name'), status.site);
  } catch {
    /* the name is decoration */
  }
}

function disposePage(): void {
  try {
    page?.dispose?.();
  } finally {
    page = undefined;
  }
}

async function render(focus: boolean): Promise<void> {
  if (!authenticated) return;
  const mine = ++generation;
  disposePage();
  closeMenu();
  const match = resolve(routes);
  const target = main();
  if (!match) {
    document.title = 'Not found · Outpost';
    fill(target, h('h1', { tabindex: -1 }, 'No such page'), h('p', null, 'This address is not a page of Outpost. ', h('a', { href: '#/' }, 'Go to the dashboard'), '.'));
    return;
  }
  for (const a of byId('nav').querySelectorAll('a')) {
    if (a.getAttribute('href') === match.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  page = match.page;
  document.title = `${page.title} · Outpost`;
  target.replaceChildren();
  try {
    await page.mount(target);
  } catch (err) {
    if (mine !== generation) return;
    target.append(h('p', { class: 'error', role: 'alert' }, `This page could not be loaded: ${message(err)}`));
  }
  if (mine !== generation) return;
  if (focus) target.querySelector<HTMLElement>('h1')?.focus();
}

let refreshing = false;
let again = false;

async function onTopics(topics: string[]): Promise<void> {
  if (topics.includes('site')) void refreshSiteName();
  const current = page;
  if (!current?.refresh || !topics.some((t) => current.topics.includes(t))) return;
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  try {
    await current.refresh();
  } catch (err) {
    if (page === current) notify(`Could not update the page: ${message(err)}`, 'error');
  } finally {
    refreshing = false;
    if (again) {
      again = false;
      void onTopics(current.topics);
    }
  }
}

function startApp(): void {
  authenticated = true;
  shell(true);
  void refreshSiteName();
  stream?.close();
  stream = openStream({
    topics: (t) => void onTopics(t),
    state: setLive,
    stillAuthenticated: async () => {
      const ok = await currentSession();
      if (!ok) showLogin();
      return ok;
    },
  });
  void render(false);
}

function showLogin(): void {
  if (!authenticated && page === undefined && main().querySelector('#login-form')) return;
  authenticated = false;
  generation++;
  stream?.close();
  stream = undefined;
  disposePage();
  shell(false);
  document.title = 'Log in · Outpost';
  const login = loginPage(() => startApp());
  void login.mount(main());
}

function closeMenu(): void {
  const toggle = byId('menu-toggle');
  toggle.setAttribute('aria-expanded', 'false');
  byId('nav').classList.remove('open');
}

function wire(): void {
  whenUnauthorized(showLogin);
  // The skip link must not change the hash: that is the router's.
  document.querySelector('.skip-link')?.addEventListener('click', (e) => {
    e.preventDefault();
    main().focus();
  });
  window.addEventListener('hashchange', () => void render(true));
  byId('logout').addEventListener('click', async () => {
    try {
      await logout();
    } catch (err) {
      notify(`Logging out failed: ${message(err)}`, 'error');
    }
    showLogin();
    notify('Logged out.');
  });
  byId('menu-toggle').addEventListener('click', () => {
    const toggle = byId('menu-toggle');
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    byId('nav').classList.toggle('open', open);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && byId('nav').classList.contains('open')) {
      closeMenu();
      byId('menu-toggle').focus();
    }
  });
}

async function start(): Promise<void> {
  wire();
  try {
    if (await currentSession()) startApp();
    else showLogin();
  } catch (err) {
    fill(main(), h('h1', null, 'Outpost'), h('p', { class: 'error', role: 'alert' }, `Outpost does not answer: ${message(err)}. Reload the page to try again.`));
  }
}

void start();
