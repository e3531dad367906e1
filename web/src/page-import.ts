/** CSV import: choose a file, upload with a progress bar, then one result row per CSV row. */
import { message, uploadCsv, type ImportAnswer } from './api.js';
import { badge, fill, h, notify, tableWrap, td } from './dom.js';
import type { Page } from './page.js';

const HEADER = 'mac,model,ext,number,name,user,password,forward';

export function importPage(): Page {
  const file = h('input', { type: 'file', id: 'import-file', name: 'file', accept: '.csv,text/csv,text/plain', required: true });
  const progress = h('progress', { id: 'import-progress', max: 100, value: 0, hidden: true });
  const progressText = h('span', { class: 'muted', id: 'import-progress-text' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const results = h('div', { id: 'import-results', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Upload and import');

  const form = h(
    'form',
    { class: 'card', id: 'import-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'import-file' }, 'CSV file'), file, h('p', { class: 'hint', id: 'import-hint' }, 'First row: ', h('code', null, HEADER), '. Comma or semicolon separated, as spreadsheets export. Rows with the same MAC give that phone several lines in row order.')),
    h('div', { class: 'progress-row' }, h('label', { for: 'import-progress', class: 'visually-hidden' }, 'Upload progress'), progress, progressText),
    error,
    h('div', { class: 'actions' }, submit),
  );
  file.setAttribute('aria-describedby', 'import-hint');

  const draw = (answer: ImportAnswer) => {
    fill(
      results,
      h('h2', null, 'Result'),
      h('p', { class: 'summary', id: 'import-summary' }, `${answer.imported} row${answer.imported === 1 ? '' : 's'} imported, ${answer.failed} with an error.`, answer.failed ? ' The rows with an error were skipped; correct them and import the file again (the good rows stay as they are).' : ''),
      tableWrap(
        h(
          'table',
          { class: 'import-rows cards', id: 'import-table' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Row'), h('th', { scope: 'col' }, 'Result'), h('th', { scope: 'col' }, 'Message'))),
          h(
            'tbody',
            null,
            answer.rows.map((r) =>
              h(
                'tr',
                { class: r.ok ? 'row-ok' : 'row-error', 'data-row': r.row },
                td('Row', String(r.row)),
                td('Result', r.ok ? badge('ok', 'pass') : badge('error', 'fail')),
                td('Message', r.message ?? (r.ok ? 'imported' : '')),
              ),
            ),
          ),
        ),
        'Import result',
      ),
      answer.imported ? h('p', null, h('a', { href: '#/devices' }, 'See the devices')) : null,
    );
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const chosen = file.files?.[0];
    if (!chosen) {
      error.textContent = 'Choose a CSV file first.';
      error.hidden = false;
      file.focus();
      return;
    }
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    progressText.textContent = '0 %';
    results.replaceChildren();
    try {
      const answer = await uploadCsv(chosen, (loaded, total) => {
        const pct = total ? Math.round((loaded / total) * 100) : 0;
        progress.value = pct;
        progressText.textContent = `${pct} %`;
      });
      progress.value = 100;
      progressText.textContent = 'done';
      draw(answer);
      notify(`${answer.imported} imported, ${answer.failed} with an error.`, answer.failed ? 'error' : 'ok');
    } catch (err) {
      error.textContent = message(err);
      error.hidden = false;
      progress.hidden = true;
      progressText.textContent = '';
    } finally {
      submit.disabled = false;
    }
  });

  return {
    title: 'Import',
    topics: [],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Import phones'), h('p', null, 'Many phones at once: a list with one row per line. Importing the same file twice changes nothing.'), form, results);
    },
  };
}
