/** Calls Outpost routed itself in survival mode, newest first, filtered by number and result. */
import { getJson, type Call, type Status } from './api.js';
import { badge, fill, h, option, tableWrap, td, when } from './dom.js';
import type { Page } from './page.js';

function duration(c: Call): string {
  if (!c.answeredAt || !c.endedAt) return '';
  const s = Math.max(0, Math.round((Date.parse(c.endedAt) - Date.parse(c.answeredAt)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function callsPage(): Page {
  const mode = h('p', { class: 'muted' });
  const results = h('div');
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  const text = h('input', { id: 'calls-text', type: 'search', autocomplete: 'off', placeholder: 'extension or number' });
  const result = h('select', { id: 'calls-result' }, option('', 'any result'), option('answered', 'answered or completed'), option('busy', 'busy'), option('no-answer', 'no answer'), option('cancelled', 'cancelled'), option('failed', 'failed'));
  let all: Call[] = [];

  function matches(c: Call): boolean {
    const t = text.value.trim().toLowerCase();
    if (t && ![c.caller, c.callee, c.route].some((v) => v.toLowerCase().includes(t))) return false;
    const r = result.value;
    if (r === 'answered') return c.result === 'answered' || c.result === 'completed';
    if (r === 'failed') return c.result.startsWith('failed') || c.result === 'unknown';
    return !r || c.result === r;
  }

  async function load(): Promise<void> {
    const [fetched, status] = await Promise.all([getJson<Call[]>('/calls?limit=1000'), getJson<Status>('/status')]);
    all = fetched;
    fill(mode, status.mode === 'survival' ? h('strong', null, 'Survival mode now: new calls appear here as they happen.') : 'Normal mode now: calls go through the Centrex. The list keeps the calls of earlier outages.');
    render();
  }

  /** The loaded calls through the filter: typing does not ask the server again. */
  function render(): void {
    const calls = all.filter(matches);
    fill(count, `${calls.length} of ${all.length} call${all.length === 1 ? '' : 's'}${all.length === 1000 ? ' (the newest 1,000)' : ''}`);
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
        : h('p', { class: 'muted' }, all.length ? 'No call matches.' : 'No call was routed by Outpost yet.'),
    );
  }

  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter calls' },
    h('div', { class: 'field' }, h('label', { for: 'calls-text' }, 'Number'), text),
    h('div', { class: 'field' }, h('label', { for: 'calls-result' }, 'Result'), result),
  );
  form.addEventListener('submit', (e) => e.preventDefault());
  text.addEventListener('input', render);
  result.addEventListener('change', render);

  return {
    title: 'Calls',
    topics: ['calls', 'status'],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Calls in survival mode'), h('p', null, 'The calls Outpost connected itself while the Centrex did not answer: the branch can account for them.'), mode, form, count, results);
      await load();
    },
    refresh: load,
  };
}
