/**
 * One device: what it told, its lines, the files it is served (masked preview, secrets on request), Resync,
 * Remove, its own settings (overrides of the site) and its events.
 */
import { ApiError, enc, getJson, getText, message, send, type Device, type Line, type Model, type OutpostEvent, type ResyncAnswer, type SiteField } from './api.js';
import { assignForm, modelLabel, type AssignContext } from './assign.js';
import { badge, fill, formatMac, h, notify, option, tableWrap, td, when } from './dom.js';
import type { Page } from './page.js';
import { eventRows } from './page-events.js';
import { stateKind } from './page-devices.js';

interface DeviceFile {
  name: string;
  path: string;
}

export function devicePage(params: string[]): Page {
  const macParam = params[0] ?? '';
  let device: Device | undefined;
  let ctx: AssignContext = { models: [], lines: [], usedBy: new Map() };
  let assignSig = '';
  let fieldKeys: SiteField[] = [];
  let previewName: string | undefined;

  const heading = h('h1', { tabindex: -1 }, `Device ${formatMac(macParam)}`);
  const stateSlot = h('span', { class: 'head-badge' });
  const facts = h('dl', { class: 'facts' });
  const assignSlot = h('div');
  const filesList = h('ul', { class: 'files' });
  const secrets = h('input', { type: 'checkbox', id: 'show-secrets' });
  const preview = h('pre', { class: 'preview', id: 'file-preview', tabindex: 0, 'aria-label': 'File preview', hidden: true });
  const previewTitle = h('h3', { id: 'preview-title', hidden: true });
  const previewError = h('p', { class: 'error', role: 'alert', hidden: true });
  const resyncResult = h('div', { class: 'result', id: 'resync-result', 'aria-live': 'polite' });
  const removeSlot = h('div', { class: 'remove-slot' });
  const overridesSlot = h('div');
  const eventsSlot = h('div');
  const gone = h('p', { class: 'error', role: 'alert', hidden: true });

  const macPath = () => `/devices/${enc(device?.mac ?? macParam)}`;

  async function showFile(name: string): Promise<void> {
    previewName = name;
    previewError.hidden = true;
    try {
      const text = await getText(`${macPath()}/files/${enc(name)}${secrets.checked ? '?secrets=1' : ''}`);
      fill(previewTitle, name, secrets.checked ? h('span', { class: 'badge badge-warn' }, 'with passwords') : h('span', { class: 'badge badge-info' }, 'passwords masked'));
      previewTitle.hidden = false;
      preview.textContent = text;
      preview.hidden = false;
      for (const b of filesList.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.name === name));
    } catch (err) {
      previewError.textContent = `${name}: ${message(err)}`;
      previewError.hidden = false;
    }
  }

  secrets.addEventListener('change', () => {
    if (previewName) void showFile(previewName);
  });

  async function loadFiles(): Promise<void> {
    let files: DeviceFile[];
    try {
      files = await getJson<DeviceFile[]>(`${macPath()}/files`);
    } catch (err) {
      fill(filesList, h('li', { class: 'error' }, message(err)));
      return;
    }
    fill(
      filesList,
      files.length
        ? files.map((f) =>
            h(
              'li',
              null,
              h('button', { type: 'button', class: 'file', 'data-name': f.name, 'aria-pressed': String(f.name === previewName), 'aria-controls': 'file-preview', onclick: () => void showFile(f.name) }, f.name),
              ' ',
              h('span', { class: 'mono muted' }, f.path),
            ),
          )
        : h('li', { class: 'muted' }, 'No file: the model is not known yet.'),
    );
    if (previewName && files.some((f) => f.name === previewName)) await showFile(previewName);
  }

  function drawFacts(d: Device): void {
    const row = (label: string, value: unknown) => [h('dt', null, label), h('dd', null, value === undefined || value === '' ? h('span', { class: 'muted' }, '—') : (value as Node | string))];
    fill(
      facts,
      row('Model', modelLabel(ctx.models, d) || undefined),
      row('Firmware', d.firmware),
      row('IP address', d.ip),
      row('Lines', d.lines.length ? d.lines.map((ext) => { const l = ctx.lines.find((x) => x.ext === ext); return `${ext}${l ? ` ${l.name}${l.number ? ` (${l.number})` : ''}` : ''}`; }).join(', ') : undefined),
      row('Location', d.location),
      row('Reserved address', d.address),
      row('User-Agent', d.userAgent ? h('span', { class: 'mono' }, d.userAgent) : undefined),
      row('First seen', when(d.firstSeen)),
      row('Last seen', when(d.lastSeen)),
      row('Provisioned', when(d.provisionedAt)),
      row('Added by', d.origin),
    );
    fill(stateSlot, badge(d.state, stateKind[d.state]));
  }

  function drawAssign(d: Device): void {
    const sig = JSON.stringify([d.model, d.lines, d.location, ctx.lines, ctx.models.length]);
    if (sig === assignSig || assignSlot.contains(document.activeElement)) return;
    assignSig = sig;
    fill(
      assignSlot,
      assignForm(d, ctx, (saved) => {
        notify(`${formatMac(saved.mac)} saved. The phone gets the change at its next check; Resync asks it now.`);
        device = saved;
        assignSig = '';
        void load();
      }),
    );
  }

  function drawOverrides(d: Device): void {
    const entries = Object.entries(d.overrides ?? {});
    const key = h('input', { type: 'text', id: 'ov-key', name: 'key', list: 'ov-keys', autocomplete: 'off', spellcheck: 'false', required: true });
    const value = h('input', { type: 'text', id: 'ov-value', name: 'value', autocomplete: 'off', spellcheck: 'false', required: true });
    const keys = h('datalist', { id: 'ov-keys' }, fieldKeys.map((f) => option(f.key, f.explanation ? `${f.key}: ${f.explanation}` : f.key)));
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const form = h(
      'form',
      { class: 'inline-form', 'aria-label': 'Add a setting of this device', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'ov-key' }, 'Setting'), key, keys, h('p', { class: 'hint' }, 'A site key, e.g. network.voiceVlan')),
      h('div', { class: 'field' }, h('label', { for: 'ov-value' }, 'Value'), value),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Set')),
      error,
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.hidden = true;
      if (!key.value.trim()) {
        error.textContent = 'Name the setting, e.g. network.voiceVlan.';
        error.hidden = false;
        key.focus();
        return;
      }
      try {
        const answer = await send<{ device: Device }>('PUT', `${macPath()}/settings/${enc(key.value.trim())}`, { value: value.value });
        notify(`${key.value.trim()} set for this device.`);
        if (answer?.device) {
          device = answer.device;
          drawOverrides(answer.device);
          overridesSlot.querySelector<HTMLInputElement>('#ov-key')?.focus();
        }
        void loadFiles();
      } catch (err) {
        error.textContent = message(err);
        error.hidden = false;
      }
    });
    fill(
      overridesSlot,
      entries.length
        ? tableWrap(
            h(
              'table',
              { class: 'compact' },
              h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Setting'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
              h(
                'tbody',
                null,
                entries.map(([k, v]) =>
                  h(
                    'tr',
                    null,
                    td('Setting', h('span', { class: 'mono' }, k)),
                    td('Value', h('span', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v))),
                    td(
                      'Actions',
                      h('button', {
                        type: 'button',
                        'aria-label': `Remove ${k}: follow the site again`,
                        onclick: async () => {
                          try {
                            await send('DELETE', `${macPath()}/settings/${enc(k)}`);
                            notify(`${k} removed: this device follows the site again.`);
                            (document.activeElement as HTMLElement | null)?.blur();
                            await load();
                            overridesSlot.querySelector<HTMLInputElement>('#ov-key')?.focus();
                          } catch (err) {
                            notify(message(err), 'error');
                          }
                        },
                      }, 'Remove'),
                    ),
                  ),
                ),
              ),
            ),
            'Settings of this device',
          )
        : h('p', { class: 'muted' }, 'None: this device follows the site.'),
      form,
    );
  }

  function drawRemove(): void {
    const start = h('button', { type: 'button', class: 'danger', id: 'remove-device' }, 'Remove device');
    start.addEventListener('click', () => {
      const yes = h('button', { type: 'button', class: 'danger', id: 'remove-confirm' }, 'Yes, remove it');
      const no = h('button', { type: 'button' }, 'Cancel');
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          await send('DELETE', macPath());
          notify(`${formatMac(device?.mac ?? macParam)} removed.`);
          location.hash = '#/devices';
        } catch (err) {
          yes.disabled = false;
          notify(message(err), 'error');
        }
      });
      no.addEventListener('click', () => {
        drawRemove();
        removeSlot.querySelector<HTMLButtonElement>('button')?.focus();
      });
      fill(removeSlot, h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm removal' }, h('p', null, `Remove ${formatMac(device?.mac ?? macParam)}? Its lines are freed; if it asks again it comes back as discovered, without lines.`), h('div', { class: 'actions' }, yes, no)));
      no.focus();
    });
    fill(removeSlot, start);
  }

  const resync = h('button', { type: 'button', id: 'resync' }, 'Resync');
  resync.addEventListener('click', async () => {
    resync.disabled = true;
    fill(resyncResult, h('p', { class: 'muted' }, 'Asking the device…'));
    try {
      const answer = await send<ResyncAnswer>('POST', `${macPath()}/resync`);
      fill(resyncResult, h('p', { class: 'ok' }, answer?.message ?? `The device answered ${answer?.status ?? ''} ${answer?.reason ?? ''}`));
    } catch (err) {
      // 504: the device did not answer; the body still says what was tried.
      fill(resyncResult, h('p', { class: 'error' }, message(err)));
    } finally {
      resync.disabled = false;
    }
  });

  async function load(): Promise<void> {
    let d: Device;
    let lines: Line[];
    let all: Device[];
    try {
      [d, lines, all] = await Promise.all([getJson<Device>(`/devices/${enc(macParam)}`), getJson<Line[]>('/lines'), getJson<Device[]>('/devices')]);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
        gone.textContent = `${message(err)}. `;
        gone.append(h('a', { href: '#/devices' }, 'Back to the devices'));
        gone.hidden = false;
        for (const el of [facts, assignSlot, overridesSlot]) el.replaceChildren();
        return;
      }
      throw err;
    }
    if (!ctx.models.length) ctx.models = await getJson<Model[]>('/models').catch(() => []);
    if (!fieldKeys.length) fieldKeys = await getJson<SiteField[]>('/site/fields').catch(() => []);
    device = d;
    const usedBy = new Map<string, string>();
    for (const dev of all) for (const ext of dev.lines) usedBy.set(ext, dev.mac);
    ctx = { ...ctx, lines, usedBy };
    gone.hidden = true;
    heading.textContent = `Device ${formatMac(d.mac)}`;
    drawFacts(d);
    drawAssign(d);
    if (!overridesSlot.contains(document.activeElement)) drawOverrides(d);
    const events = await getJson<OutpostEvent[]>(`/events?mac=${enc(d.mac)}&limit=20`).catch(() => [] as OutpostEvent[]);
    fill(eventsSlot, events.length ? eventRows(events) : h('p', { class: 'muted' }, 'No event for this device.'));
    await loadFiles();
  }

  return {
    title: `Device ${formatMac(macParam)}`,
    topics: ['devices', 'lines', 'site', 'registrations', 'events'],
    async mount(main) {
      drawRemove();
      fill(
        main,
        h('p', { class: 'crumbs' }, h('a', { href: '#/devices' }, '← Devices')),
        h('div', { class: 'page-head' }, heading, stateSlot),
        gone,
        h('div', { class: 'grid two' },
          h('section', { class: 'card', 'aria-labelledby': 'd-facts' }, h('h2', { id: 'd-facts' }, 'What it told'), facts),
          h('section', { class: 'card', 'aria-labelledby': 'd-lines' }, h('h2', { id: 'd-lines' }, 'Model and lines'), assignSlot),
        ),
        h('section', { class: 'card', 'aria-labelledby': 'd-actions' },
          h('h2', { id: 'd-actions' }, 'Actions'),
          h('p', { class: 'hint' }, 'Resync asks the phone (SIP NOTIFY check-sync) to fetch its files now; the answer shows below.'),
          h('div', { class: 'actions' }, resync),
          resyncResult,
          removeSlot,
        ),
        h('section', { class: 'card', 'aria-labelledby': 'd-files' },
          h('h2', { id: 'd-files' }, 'Files it is served'),
          filesList,
          h('div', { class: 'check' }, secrets, h('label', { for: 'show-secrets' }, 'Show passwords in the preview')),
          previewError,
          previewTitle,
          preview,
        ),
        h('section', { class: 'card', 'aria-labelledby': 'd-over' }, h('h2', { id: 'd-over' }, 'Settings of its own'), h('p', { class: 'hint' }, 'A value here replaces the site’s for this device only, e.g. another voice VLAN for one phone.'), overridesSlot),
        h('section', { class: 'card', 'aria-labelledby': 'd-events' }, h('h2', { id: 'd-events' }, 'Its events'), eventsSlot),
      );
      await load();
    },
    refresh: load,
  };
}
