/** Lines (the users' Centrex accounts): table, add/edit form with the API's messages next to the fields, remove. */
import { enc, getJson, message, send, type Device, type Line } from './api.js';
import { fill, formatMac, h, notify, showFieldError, td } from './dom.js';
import type { Page } from './page.js';

type Key = 'ext' | 'number' | 'name' | 'user' | 'password' | 'forward';

const FIELDS: Array<{ key: Key; label: string; hint: string; type?: string; inputmode?: string; autocomplete?: string }> = [
  { key: 'ext', label: 'Extension', hint: '2 to 8 digits, e.g. 111; unique', inputmode: 'numeric' },
  { key: 'number', label: 'National number', hint: '3 to 15 digits without the outside prefix, e.g. 234567111', inputmode: 'numeric' },
  { key: 'name', label: 'Name', hint: 'Shown on the phone, e.g. Jan Novák' },
  { key: 'user', label: 'SIP user', hint: 'The Centrex account’s user name, e.g. 420234567111' },
  { key: 'password', label: 'SIP password', hint: '', type: 'password', autocomplete: 'new-password' },
  { key: 'forward', label: 'Forward to (survival)', hint: 'Where calls go in survival mode when the line cannot be reached, e.g. 0602123456; optional', inputmode: 'tel' },
];

export function linesPage(): Page {
  let lines: Line[] = [];
  let devices: Device[] = [];
  let editing: string | undefined;

  const inputs = {} as Record<Key, HTMLInputElement>;
  const errors = {} as Record<Key, HTMLElement>;
  const formTitle = h('h2', { id: 'line-form-h' }, 'Add a line');
  const formError = h('div', { class: 'error', role: 'alert', id: 'line-form-error', hidden: true });
  const forwardOnBusy = h('input', { type: 'checkbox', id: 'line-fwd-busy', name: 'forwardOnBusy' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add line');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel');
  const passwordHint = h('p', { class: 'hint', id: 'line-password-hint' }, 'The Centrex account’s password; never shown again.');

  const form = h('form', { id: 'line-form', class: 'card line-form', 'aria-labelledby': 'line-form-h', novalidate: true }, formTitle);
  const grid = h('div', { class: 'form-grid' });
  for (const f of FIELDS) {
    const input = h('input', { type: f.type ?? 'text', id: `line-${f.key}`, name: f.key, autocomplete: f.autocomplete ?? 'off', inputmode: f.inputmode, spellcheck: 'false' });
    const error = h('p', { class: 'field-error', id: `line-${f.key}-error`, hidden: true });
    const hintId = f.key === 'password' ? 'line-password-hint' : `line-${f.key}-hint`;
    input.setAttribute('aria-describedby', `${hintId} line-${f.key}-error`);
    inputs[f.key] = input;
    errors[f.key] = error;
    grid.append(h('div', { class: 'field' }, h('label', { for: input.id }, f.label), input, f.key === 'password' ? passwordHint : h('p', { class: 'hint', id: hintId }, f.hint), error));
  }
  form.append(grid, h('div', { class: 'check' }, forwardOnBusy, h('label', { for: 'line-fwd-busy' }, 'Also forward when the line is busy')), formError, h('div', { class: 'actions' }, submit, cancel));

  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'lines cards', id: 'lines-table' },
    h('thead', null, h('tr', null, ['Extension', 'Number', 'Name', 'SIP user', 'Forward', 'Device'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    tbody,
  );
  const empty = h('p', { class: 'muted', hidden: true }, 'No line yet: add the first one with the form.');

  const clearErrors = () => {
    for (const k of Object.keys(inputs) as Key[]) showFieldError(inputs[k], errors[k], undefined);
    formError.hidden = true;
    formError.replaceChildren();
  };

  const reset = () => {
    editing = undefined;
    form.reset();
    clearErrors();
    inputs.ext.disabled = false;
    formTitle.textContent = 'Add a line';
    submit.textContent = 'Add line';
    cancel.hidden = true;
    passwordHint.textContent = 'The Centrex account’s password; never shown again.';
  };

  const edit = (line: Line) => {
    reset();
    editing = line.ext;
    for (const k of Object.keys(inputs) as Key[]) inputs[k].value = k === 'password' ? '' : String(line[k as Exclude<Key, 'password'>] ?? '');
    forwardOnBusy.checked = line.forwardOnBusy === true;
    inputs.ext.disabled = true;
    formTitle.textContent = `Edit line ${line.ext}`;
    submit.textContent = 'Save line';
    cancel.hidden = false;
    passwordHint.textContent = 'Leave empty to keep the stored password.';
    form.scrollIntoView({ block: 'start' });
    inputs.name.focus();
  };
  cancel.addEventListener('click', () => {
    const ext = editing;
    reset();
    if (ext) tbody.querySelector<HTMLButtonElement>(`button[data-edit="${CSS.escape(ext)}"]`)?.focus();
  });

  /** The API's details are `path: message`; those naming a field go next to it, the rest above the buttons. */
  const showApiError = (err: unknown) => {
    const text = message(err);
    const details = err instanceof Error && 'details' in err && Array.isArray((err as { details: unknown }).details) ? ((err as { details: string[] }).details) : [];
    const rest: string[] = [];
    let first: HTMLElement | undefined;
    for (const d of details) {
      const m = /^(?:line [^.:]*\.)?(ext|number|name|user|password|forward)\b[^:]*:\s*(.*)$/.exec(d);
      const key = m?.[1] as Key | undefined;
      if (key && inputs[key]) {
        showFieldError(inputs[key], errors[key], m?.[2] || d);
        first ??= inputs[key];
      } else rest.push(d);
    }
    const head = details.length ? `${(err as Error).message.replace(/:$/, '')}${first ? ': see the marked field' + (details.length - rest.length > 1 ? 's' : '') : ':'}` : text;
    fill(formError, h('p', null, head), rest.length ? h('ul', null, rest.map((r) => h('li', null, r))) : null);
    formError.hidden = false;
    (first ?? formError).focus?.();
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const body: Record<string, unknown> = {};
    for (const k of Object.keys(inputs) as Key[]) {
      const v = inputs[k].value.trim();
      if (k === 'password' ? inputs[k].value !== '' : v !== '') body[k] = k === 'password' ? inputs[k].value : v;
    }
    if (forwardOnBusy.checked) body.forwardOnBusy = true;
    let missing = false;
    for (const k of (editing ? ['name', 'user'] : ['ext', 'name', 'user', 'password']) as Key[]) {
      if (!body[k]) {
        showFieldError(inputs[k], errors[k], 'Required.');
        if (!missing) inputs[k].focus();
        missing = true;
      }
    }
    if (missing) return;
    // The API refuses an extension that is taken (409); checking here first lets the message name whose line it is.
    const taken = editing ? undefined : lines.find((l) => l.ext === body.ext);
    if (taken) {
      showFieldError(inputs.ext, errors.ext, `${taken.ext} is already the line of ${taken.name || taken.user}: choose another extension, or press Edit next to it in the table.`);
      inputs.ext.focus();
      return;
    }
    submit.disabled = true;
    try {
      if (editing) {
        await send('PUT', `/lines/${enc(editing)}`, body);
        notify(`Line ${editing} saved.`);
      } else {
        const answer = await send<{ result: string }>('POST', '/lines', body);
        notify(`Line ${String(body.ext)} ${answer?.result === 'updated' ? 'updated' : answer?.result === 'unchanged' ? 'unchanged' : 'added'}.`);
      }
      reset();
      await load();
      inputs.ext.focus();
    } catch (err) {
      showApiError(err);
    } finally {
      submit.disabled = false;
    }
  });

  const remove = async (line: Line, button: HTMLButtonElement) => {
    if (button.dataset.confirm !== 'yes') {
      button.dataset.confirm = 'yes';
      button.textContent = `Really remove ${line.ext}?`;
      button.classList.add('danger');
      window.setTimeout(() => {
        if (button.isConnected) {
          delete button.dataset.confirm;
          button.textContent = 'Remove';
          button.classList.remove('danger');
        }
      }, 6000);
      return;
    }
    try {
      await send('DELETE', `/lines/${enc(line.ext)}`);
      notify(`Line ${line.ext} removed.`);
      await load();
    } catch (err) {
      notify(message(err), 'error');
    }
  };

  function draw(): void {
    const deviceOf = new Map<string, Device>();
    for (const d of devices) for (const ext of d.lines) deviceOf.set(ext, d);
    tbody.replaceChildren(
      ...lines.map((l) => {
        const d = deviceOf.get(l.ext);
        const editButton = h('button', { type: 'button', 'data-edit': l.ext, onclick: () => edit(l) }, 'Edit', h('span', { class: 'visually-hidden' }, ` line ${l.ext}`));
        const removeButton = h('button', { type: 'button', 'data-remove': l.ext }, 'Remove');
        removeButton.addEventListener('click', () => void remove(l, removeButton));
        return h(
          'tr',
          { 'data-ext': l.ext },
          td('Extension', h('strong', null, l.ext)),
          td('Number', l.number ?? h('span', { class: 'muted' }, '—')),
          td('Name', l.name),
          td('SIP user', h('span', { class: 'mono' }, l.user)),
          td('Forward', l.forward ? `${l.forward}${l.forwardOnBusy ? ' (also busy)' : ''}` : h('span', { class: 'muted' }, '—')),
          td('Device', d ? h('a', { href: `#/devices/${enc(d.mac)}`, class: 'mono' }, formatMac(d.mac)) : h('span', { class: 'muted' }, 'none')),
          td('Actions', h('div', { class: 'row-actions' }, editButton, removeButton)),
        );
      }),
    );
    table.hidden = !lines.length;
    empty.hidden = lines.length > 0;
  }

  async function load(): Promise<void> {
    [lines, devices] = await Promise.all([getJson<Line[]>('/lines'), getJson<Device[]>('/devices')]);
    lines.sort((a, b) => (a.ext.length - b.ext.length) || a.ext.localeCompare(b.ext));
    // Focus inside the table is lost by a redraw: keep the row's button focused.
    const active = document.activeElement as HTMLElement | null;
    const key = active && tbody.contains(active) ? (active.dataset.edit ? `[data-edit="${CSS.escape(active.dataset.edit)}"]` : active.dataset.remove && !active.dataset.confirm ? `[data-remove="${CSS.escape(active.dataset.remove)}"]` : undefined) : undefined;
    if (active?.dataset.confirm) return;
    draw();
    if (key) tbody.querySelector<HTMLElement>(key)?.focus();
  }

  return {
    title: 'Lines',
    topics: ['lines', 'devices'],
    async mount(main) {
      formError.tabIndex = -1;
      fill(main, h('h1', { tabindex: -1 }, 'Lines'), h('p', null, 'The users’ Centrex accounts. Give them to phones on the ', h('a', { href: '#/devices' }, 'Devices'), ' page.'), form, h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Lines', tabindex: 0 }, table), empty);
      await load();
    },
    refresh: load,
  };
}
