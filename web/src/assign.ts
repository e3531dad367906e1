/** The "Assign lines" form: the model (from /models) and one line per account (from /lines); PUT /devices/:mac. */
import { enc, message, send, type Device, type Line, type Model } from './api.js';
import { field, formatMac, h, option, showFieldError } from './dom.js';

const norm = (s: string) => s.toLowerCase().replace(/^(yealink|well|thomson|mediatrix)\s+/, '').replace(/^sip-/, '').replace(/\s+/g, '');

export function findModel(models: Model[], name: string | undefined): Model | undefined {
  if (!name) return undefined;
  const n = norm(name);
  return models.find((m) => norm(m.model) === n || norm(m.label) === n);
}

export function modelLabel(models: Model[], device: Device): string {
  const m = findModel(models, device.model);
  if (m) return shortLabel(m);
  return [device.vendor, device.model].filter(Boolean).join(' ');
}

/** "Yealink T22P" from the label "Yealink T22P (3 accounts)". */
export function shortLabel(m: Model): string {
  return (m.label || `${m.vendor} ${m.model}`).replace(/\s*\([^)]*\)\s*$/, '');
}

export interface AssignContext {
  models: Model[];
  lines: Line[];
  /** Which device has each extension now, to say so next to the choice. */
  usedBy: Map<string, string>;
}

export function assignForm(device: Device, ctx: AssignContext, done: (device: Device) => void, cancel?: () => void): HTMLFormElement {
  const id = `assign-${device.mac}`;
  const known = findModel(ctx.models, device.model);
  const model = h('select', { id: `${id}-model`, name: 'model', required: true });
  if (!known) model.append(option('', device.model ? `${device.model} (unknown: choose the model on the label)` : 'Choose the model on the label', true));
  const byVendor = new Map<string, Model[]>();
  for (const m of ctx.models) {
    const vendor = shortLabel(m).split(' ')[0] || m.vendor;
    byVendor.set(vendor, [...(byVendor.get(vendor) ?? []), m]);
  }
  for (const [vendor, models] of byVendor) {
    const group = h('optgroup', { label: vendor });
    for (const m of models) group.append(option(m.model, m.label || `${m.model} (${m.accounts} account${m.accounts === 1 ? '' : 's'})`, m === known));
    model.append(group);
  }
  const modelField = field('Model', model);

  const location = h('input', { type: 'text', id: `${id}-location`, name: 'location', value: device.location ?? '', autocomplete: 'off', maxlength: 64 });
  const locationField = field('Location (optional)', location, 'Where the phone stands, e.g. “reception” or “room 12”: printed on the handover sheet.');

  const accounts = h('fieldset', { class: 'accounts' });
  let selects: HTMLSelectElement[] = [];

  const drawAccounts = () => {
    const chosen = selects.map((s) => s.value);
    const m = ctx.models.find((x) => x.model === model.value);
    const n = m?.accounts ?? 0;
    accounts.replaceChildren(h('legend', null, 'Lines'));
    selects = [];
    if (!m) {
      accounts.append(h('p', { class: 'hint' }, 'Choose the model first: it says how many accounts the phone has.'));
      return;
    }
    if (!ctx.lines.length) {
      accounts.append(h('p', { class: 'hint' }, 'There is no line yet. ', h('a', { href: '#/lines' }, 'Add the lines'), ' first.'));
    }
    for (let i = 0; i < n; i++) {
      const current = chosen[i] ?? device.lines[i] ?? '';
      const select = h('select', { id: `${id}-account-${i + 1}`, name: `account${i + 1}`, 'data-account': i + 1 });
      select.append(option('', '— none —', current === ''));
      for (const line of ctx.lines) {
        const other = ctx.usedBy.get(line.ext);
        const note = other && other !== device.mac ? ` · now on ${formatMac(other)}` : '';
        select.append(option(line.ext, `${line.ext}${line.name ? ` ${line.name}` : ''}${line.number ? ` (${line.number})` : ''}${note}`, line.ext === current));
      }
      accounts.append(h('div', { class: 'field' }, h('label', { for: select.id }, `Account ${i + 1}`), select));
      selects.push(select);
    }
    accounts.append(h('p', { class: 'hint' }, 'Lines fill the accounts in order: account 1 first.'));
  };
  model.addEventListener('change', drawAccounts);
  drawAccounts();

  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, device.state === 'discovered' ? 'Assign' : 'Save');
  const form = h(
    'form',
    { class: 'assign', id, 'aria-label': `Assign lines to ${formatMac(device.mac)}`, novalidate: true },
    modelField.wrap,
    accounts,
    locationField.wrap,
    error,
    h('div', { class: 'actions' }, submit, cancel ? h('button', { type: 'button', onclick: cancel }, 'Cancel') : null),
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    showFieldError(model, modelField.error, model.value ? undefined : 'Choose the model.');
    if (!model.value) {
      model.focus();
      return;
    }
    const values = selects.map((s) => s.value);
    const last = values.reduce((n, v, i) => (v ? i : n), -1);
    const gap = values.slice(0, last + 1).findIndex((v) => !v);
    if (gap >= 0) {
      error.textContent = `Account ${gap + 1} is empty: lines fill the accounts in order; choose a line for it or move the line up.`;
      error.hidden = false;
      selects[gap]?.focus();
      return;
    }
    const chosen = values.filter(Boolean);
    const twice = chosen.find((v, i) => chosen.indexOf(v) !== i);
    if (twice) {
      error.textContent = `Line ${twice} is chosen twice.`;
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const answer = await send<{ device: Device }>('PUT', `/devices/${enc(device.mac)}`, { model: model.value, lines: chosen, location: location.value.trim() || null });
      if (answer?.device) done(answer.device);
    } catch (err) {
      error.textContent = message(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
