/** Doctor: runs the checks of the site, the box and the network; pass/warn/fail with the fix. */
import { getJson, message, type DoctorCheck, type DoctorReport } from './api.js';
import { badge, fill, h } from './dom.js';
import type { Page } from './page.js';

const GROUPS: Array<{ id: DoctorCheck['group']; title: string }> = [
  { id: 'site', title: 'Site' },
  { id: 'box', title: 'This box' },
  { id: 'network', title: 'Network' },
];

const ORDER = { fail: 0, warn: 1, pass: 2 } as const;

export function doctorPage(): Page {
  const run = h('button', { type: 'button', class: 'primary', id: 'doctor-run' }, 'Run the checks');
  const summary = h('div', { class: 'doctor-summary', id: 'doctor-summary', 'aria-live': 'polite' });
  const results = h('div', { id: 'doctor-results' });

  async function load(): Promise<void> {
    run.disabled = true;
    fill(summary, h('p', { class: 'muted' }, 'Checking… (the network checks take a few seconds)'));
    try {
      const report = await getJson<DoctorReport>('/doctor');
      const s = report.summary;
      fill(
        summary,
        h('p', null, badge(`${s.pass} pass`, 'pass'), ' ', badge(`${s.warn} warn`, 'warn'), ' ', badge(`${s.fail} fail`, 'fail'), ' ', s.fail ? 'Fix the failures before you leave the site.' : s.warn ? 'Nothing is broken; look at the warnings.' : 'Everything checked is fine.'),
      );
      fill(
        results,
        GROUPS.map((g) => {
          const checks = report.checks.filter((c) => c.group === g.id).sort((a, b) => ORDER[a.status] - ORDER[b.status]);
          if (!checks.length) return null;
          return h(
            'section',
            { class: 'card', 'aria-labelledby': `doc-${g.id}` },
            h('h2', { id: `doc-${g.id}` }, g.title),
            h(
              'ul',
              { class: 'checks' },
              checks.map((c) =>
                h(
                  'li',
                  { class: `check-item check-${c.status}`, 'data-id': c.id },
                  h('div', { class: 'check-head' }, badge(c.status, c.status), h('strong', null, c.title)),
                  c.detail ? h('p', null, c.detail) : null,
                  c.status !== 'pass' && c.fix ? h('p', { class: 'fix' }, h('span', { class: 'fix-label' }, 'Fix: '), c.fix) : null,
                ),
              ),
            ),
          );
        }),
      );
    } catch (err) {
      fill(summary, h('p', { class: 'error', role: 'alert' }, `The checks could not run: ${message(err)}`));
    } finally {
      run.disabled = false;
    }
  }
  run.addEventListener('click', () => void load());

  return {
    title: 'Doctor',
    topics: [],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Doctor'), h('p', null, 'Checks the site settings, this box and the network around it, and says how to fix what is wrong.'), h('div', { class: 'actions' }, run), summary, results);
      await load();
    },
  };
}
