/** Calls Outpost routed itself in survival mode, newest first. */
import { getJson, type Call, type Status } from './api.js';
import { badge, fill, h, tableWrap, td, when } from './dom.js';
import type { Page } from './page.js';

function duration(c: Call): string {
  if (!c.answeredAt || !c.endedAt) return '';
  const s = Math.max(0, Math.round((Date.parse(c.endedAt) - Date.parse(c.answeredAt)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function callsPage(): Page {
  const mode = h('p', { class: 'muted' });
  const results = h('div');

  async function load(): Promise<void> {
    const [calls, status] = await Promise.all([getJson<Call[]>('/calls?limit=200'), getJson<Status>('/status')]);
    fill(mode, status.mode === 'survival' ? h('strong', null, 'Survival mode now: new calls appear here as they happen.') : 'Normal mode now: calls go through the Centrex. The list keeps the calls of earlier outages.');
    fill(
      results,
      calls.length
        ? tableWrap(
            h(
              'table',
              { class: 'calls cards' },
              h('thead', null, h('tr', null, ['Started', 'From', 'To', 'Route', 'Result', 'Duration'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                calls.map((c) =>
                  h(
                    'tr',
                    null,
                    td('Started', when(c.startedAt)),
                    td('From', h('span', { class: 'mono' }, c.caller)),
                    td('To', h('span', { class: 'mono' }, c.callee)),
                    td('Route', c.route),
                    td('Result', badge(c.result, c.result === 'completed' || c.result === 'answered' ? 'pass' : c.result.startsWith('failed') ? 'fail' : 'info')),
                    td('Duration', duration(c) || h('span', { class: 'muted' }, '—')),
                  ),
                ),
              ),
            ),
            'Calls',
          )
        : h('p', { class: 'muted' }, 'No call was routed by Outpost yet.'),
    );
  }

  return {
    title: 'Calls',
    topics: ['calls', 'status'],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Calls in survival mode'), h('p', null, 'The calls Outpost connected itself while the Centrex did not answer: the branch can account for them.'), mode, results);
      await load();
    },
    refresh: load,
  };
}
