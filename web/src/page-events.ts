/** The event log, filtered by type and MAC, live. */
import { enc, getJson, message, type OutpostEvent } from './api.js';
import { badge, fill, formatMac, h, option, tableWrap, td, when } from './dom.js';
import type { Page } from './page.js';
import { replaceQuery } from './router.js';

export function eventRows(events: OutpostEvent[]): HTMLElement {
  return tableWrap(
    h(
      'table',
      { class: 'events cards' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Level'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Device'), h('th', { scope: 'col' }, 'What'))),
      h(
        'tbody',
        null,
        events.map((e) =>
          h(
            'tr',
            { 'data-id': e.id },
            td('When', when(e.at)),
            td('Level', badge(e.level, e.level === 'error' ? 'fail' : e.level === 'warn' ? 'warn' : 'info')),
            td('Type', h('span', { class: 'mono' }, e.type)),
            td('Device', e.mac ? h('a', { href: `#/devices/${enc(e.mac)}`, class: 'mono' }, formatMac(e.mac)) : ''),
            td('What', h('span', { class: 'message' }, e.message)),
          ),
        ),
      ),
    ),
    'Events',
  );
}

const COMMON_TYPES = [
  'device.discovered',
  'device.added',
  'device.provisioned',
  'device.removed',
  'line.added',
  'line.removed',
  'site.changed',
  'sip.registered',
  'sip.auth_failed',
  'sip.rejected',
  'survival.started',
  'survival.ended',
  'service.started',
  'api.auth_failed',
];

export function eventsPage(_params: string[], query: URLSearchParams): Page {
  const type = h('input', { type: 'text', id: 'ev-type', name: 'type', list: 'ev-types', value: query.get('type') ?? '', autocomplete: 'off', spellcheck: 'false' });
  const mac = h('input', { type: 'text', id: 'ev-mac', name: 'mac', value: query.get('mac') ?? '', autocomplete: 'off', spellcheck: 'false' });
  const list = h('datalist', { id: 'ev-types' }, COMMON_TYPES.map((t) => option(t, t)));
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const results = h('div', { 'aria-live': 'off' });
  const count = h('p', { class: 'muted' });

  async function load(): Promise<void> {
    const q = new URLSearchParams({ limit: '200' });
    if (type.value.trim()) q.set('type', type.value.trim());
    if (mac.value.trim()) q.set('mac', mac.value.trim());
    try {
      const events = await getJson<OutpostEvent[]>(`/events?${q.toString()}`);
      error.hidden = true;
      fill(results, events.length ? eventRows(events) : h('p', { class: 'muted' }, 'No event matches.'));
      fill(count, `${events.length} event${events.length === 1 ? '' : 's'}${events.length === 200 ? ' (the newest 200)' : ''}`);
    } catch (err) {
      error.textContent = message(err);
      error.hidden = false;
    }
  }

  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter events' },
    h('div', { class: 'field' }, h('label', { for: 'ev-type' }, 'Type'), type, list),
    h('div', { class: 'field' }, h('label', { for: 'ev-mac' }, 'MAC'), mac),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('button', { type: 'button', onclick: () => { type.value = ''; mac.value = ''; form.requestSubmit(); } }, 'Clear')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    replaceQuery({ type: type.value.trim(), mac: mac.value.trim() });
    void load();
  });

  return {
    title: 'Events',
    topics: ['events'],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Events'), h('p', null, 'What Outpost did and saw, newest first. New events appear by themselves.'), form, error, count, results);
      await load();
    },
    refresh: load,
  };
}
