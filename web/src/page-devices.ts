/**
 * Devices: every phone that asked for a file, live. Text and state filters, sortable columns, and an
 * "Assign lines" form under each discovered device. Rows are kept by MAC and updated in place, so a refresh
 * neither loses a form being filled in nor the keyboard focus.
 */
import { DEVICE_STATES, enc, getJson, type Device, type DeviceState, type Line, type Model } from './api.js';
import { assignForm, modelLabel, type AssignContext } from './assign.js';
import { badge, fill, formatMac, h, notify, option, td, when } from './dom.js';
import type { Page } from './page.js';
import { replaceQuery } from './router.js';

type SortKey = 'mac' | 'model' | 'firmware' | 'ip' | 'lines' | 'state' | 'lastSeen';

const COLUMNS: Array<{ key: SortKey; label: string }> = [
  { key: 'mac', label: 'MAC' },
  { key: 'model', label: 'Vendor / model' },
  { key: 'firmware', label: 'Firmware' },
  { key: 'ip', label: 'IP' },
  { key: 'lines', label: 'Lines' },
  { key: 'state', label: 'State' },
  { key: 'lastSeen', label: 'Last seen' },
];

export const stateKind: Record<DeviceState, string> = { discovered: 'warn', assigned: 'info', provisioned: 'ok', registered: 'pass' };

function ipKey(ip: string | undefined): string {
  if (!ip) return '';
  const parts = ip.split('.');
  return parts.length === 4 ? parts.map((p) => p.padStart(3, '0')).join('.') : ip;
}

export function devicesPage(_params: string[], query: URLSearchParams): Page {
  let devices: Device[] = [];
  let ctx: AssignContext = { models: [], lines: [], usedBy: new Map() };
  let sort: { key: SortKey; dir: 1 | -1 } = { key: (query.get('sort') as SortKey) || 'lastSeen', dir: query.get('dir') === 'asc' ? 1 : -1 };
  if (!COLUMNS.some((c) => c.key === sort.key)) sort = { key: 'lastSeen', dir: -1 };
  const open = new Map<string, HTMLTableRowElement>();
  const rows = new Map<string, { tr: HTMLTableRowElement; sig: string }>();

  const text = h('input', { type: 'search', id: 'dev-filter', name: 'q', value: query.get('q') ?? '', autocomplete: 'off', spellcheck: 'false' });
  const state = h('select', { id: 'dev-state', name: 'state' }, option('', 'All states', !query.get('state')), DEVICE_STATES.map((s) => option(s, s, query.get('state') === s)));
  const count = h('p', { class: 'muted', id: 'dev-count', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const headRow = h('tr');
  const table = h('table', { class: 'devices cards', id: 'devices-table' }, h('caption', { class: 'visually-hidden' }, 'Devices; the column buttons sort'), h('thead', null, headRow), tbody);
  const empty = h('div', { class: 'empty', hidden: true });

  const drawHead = () => {
    headRow.replaceChildren(
      ...COLUMNS.map((c) => {
        const active = sort.key === c.key;
        const th = h('th', { scope: 'col', 'aria-sort': active ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none' });
        th.append(
          h(
            'button',
            {
              type: 'button',
              class: 'sort',
              onclick: () => {
                sort = active ? { key: c.key, dir: sort.dir === 1 ? -1 : 1 } : { key: c.key, dir: c.key === 'lastSeen' ? -1 : 1 };
                saveQuery();
                drawHead();
                drawRows();
                headRow.querySelector<HTMLButtonElement>(`th:nth-child(${COLUMNS.indexOf(c) + 1}) button`)?.focus();
              },
            },
            c.label,
            h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (sort.dir === 1 ? ' ▲' : ' ▼') : ' ↕'),
          ),
        );
        return th;
      }),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
    );
  };

  const saveQuery = () => replaceQuery({ q: text.value.trim(), state: state.value, sort: sort.key === 'lastSeen' && sort.dir === -1 ? '' : sort.key, dir: sort.key === 'lastSeen' && sort.dir === -1 ? '' : sort.dir === 1 ? 'asc' : 'desc' });

  const value = (d: Device, key: SortKey): string => {
    switch (key) {
      case 'mac':
        return d.mac;
      case 'model':
        return `${d.vendor ?? ''} ${d.model ?? ''}`.toLowerCase();
      case 'firmware':
        return d.firmware ?? '';
      case 'ip':
        return ipKey(d.ip);
      case 'lines':
        return d.lines.join(',');
      case 'state':
        return String(DEVICE_STATES.indexOf(d.state));
      case 'lastSeen':
        return d.lastSeen ?? d.firstSeen ?? '';
    }
  };

  const matches = (d: Device): boolean => {
    if (state.value && d.state !== state.value) return false;
    const q = text.value.trim().toLowerCase();
    if (!q) return true;
    const hex = q.replace(/[^0-9a-f]/g, '');
    const hay = [formatMac(d.mac), d.vendor, d.model, d.firmware, d.ip, d.location, d.state, ...d.lines].filter(Boolean).join(' ').toLowerCase();
    return hay.includes(q) || (hex.length >= 4 && hex.length === q.replace(/[-:.\s]/g, '').length && d.mac.includes(hex));
  };

  const linesCell = (d: Device) => {
    if (!d.lines.length) return h('span', { class: 'muted' }, 'none');
    return d.lines.map((ext, i) => {
      const line = ctx.lines.find((l) => l.ext === ext);
      return [i ? ', ' : '', h('span', { title: line ? `${line.name}${line.number ? ` · ${line.number}` : ''}` : '' }, ext)];
    });
  };

  const toggleAssign = (d: Device, button: HTMLButtonElement) => {
    const existing = open.get(d.mac);
    if (existing) {
      existing.remove();
      open.delete(d.mac);
      button.setAttribute('aria-expanded', 'false');
      button.focus();
      return;
    }
    const close = () => {
      open.get(d.mac)?.remove();
      open.delete(d.mac);
      const b = rows.get(d.mac)?.tr.querySelector<HTMLButtonElement>('button.assign-toggle');
      b?.setAttribute('aria-expanded', 'false');
      b?.focus();
    };
    const form = assignForm(
      d,
      ctx,
      (saved) => {
        close();
        // The row is redrawn without its Assign button: keep the keyboard in the row.
        void load().then(() => rows.get(saved.mac)?.tr.querySelector<HTMLElement>('a.mac')?.focus());
        notify(`${formatMac(saved.mac)}: ${saved.lines.length ? `line${saved.lines.length > 1 ? 's' : ''} ${saved.lines.join(', ')} assigned` : 'saved'}. The phone gets them at its next check, or press Resync on its page.`);
      },
      close,
    );
    const tr = h('tr', { class: 'form-row', 'data-form-for': d.mac }, h('td', { colspan: COLUMNS.length + 1 }, form));
    open.set(d.mac, tr);
    button.setAttribute('aria-expanded', 'true');
    drawRows();
    form.querySelector<HTMLElement>('select')?.focus();
  };

  const rowFor = (d: Device): HTMLTableRowElement => {
    const sig = JSON.stringify([d, ctx.lines.length, ctx.models.length, Math.floor(Date.now() / 30_000)]);
    const known = rows.get(d.mac);
    if (known && known.sig === sig) return known.tr;
    const tr = known?.tr ?? h('tr', { 'data-mac': d.mac });
    const expanded = open.has(d.mac);
    const actions: HTMLElement[] = [];
    if (d.state === 'discovered' || expanded) {
      const b = h('button', { type: 'button', class: 'assign-toggle primary', 'aria-expanded': expanded ? 'true' : 'false', 'aria-controls': `assign-${d.mac}` }, 'Assign lines');
      b.addEventListener('click', () => toggleAssign(d, b));
      actions.push(b);
    }
    actions.push(h('a', { href: `#/devices/${enc(d.mac)}`, class: 'button-link' }, 'Details', h('span', { class: 'visually-hidden' }, ` of ${formatMac(d.mac)}`)));
    const focused = tr.contains(document.activeElement) ? (document.activeElement as HTMLElement).className : undefined;
    tr.className = `state-row-${d.state}`;
    tr.replaceChildren(
      td('MAC', h('a', { href: `#/devices/${enc(d.mac)}`, class: 'mono mac' }, formatMac(d.mac))),
      td('Model', modelLabel(ctx.models, d) || h('span', { class: 'muted' }, 'unknown')),
      td('Firmware', d.firmware ? h('span', { class: 'mono' }, d.firmware) : h('span', { class: 'muted' }, '—')),
      td('IP', d.ip ? h('span', { class: 'mono' }, d.ip) : h('span', { class: 'muted' }, '—')),
      td('Lines', linesCell(d)),
      td('State', badge(d.state, stateKind[d.state])),
      td('Last seen', when(d.lastSeen ?? d.firstSeen)),
      td('Actions', h('div', { class: 'row-actions' }, actions)),
    );
    const cls = focused?.split(' ')[0];
    if (cls) tr.querySelector<HTMLElement>(`.${CSS.escape(cls)}`)?.focus();
    rows.set(d.mac, { tr, sig });
    return tr;
  };

  function drawRows(): void {
    const shown = devices.filter(matches).sort((a, b) => {
      const x = value(a, sort.key);
      const y = value(b, sort.key);
      return (x < y ? -1 : x > y ? 1 : a.mac < b.mac ? -1 : 1) * sort.dir;
    });
    const wanted: HTMLTableRowElement[] = [];
    for (const d of shown) {
      wanted.push(rowFor(d));
      const form = open.get(d.mac);
      if (form) wanted.push(form);
    }
    // Move only what is out of place: a row that holds the focus keeps it.
    wanted.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
    });
    while (tbody.children.length > wanted.length) tbody.lastElementChild?.remove();
    for (const mac of [...rows.keys()]) if (!devices.some((d) => d.mac === mac)) rows.delete(mac);
    for (const mac of [...open.keys()]) if (!devices.some((d) => d.mac === mac)) open.delete(mac);

    table.hidden = shown.length === 0;
    empty.hidden = shown.length !== 0;
    if (!devices.length) {
      fill(empty, h('p', null, 'No device yet. Plug a phone in: as soon as it asks Outpost for its configuration, it appears here by itself.'), h('p', { class: 'hint' }, 'Phones find Outpost by DHCP (see Site › DHCP) or by its address typed into the phone’s Auto Provision page. Or import a list on the ', h('a', { href: '#/import' }, 'Import'), ' page.'));
    } else if (!shown.length) fill(empty, h('p', null, 'No device matches the filter.'));
    const discovered = devices.filter((d) => d.state === 'discovered').length;
    fill(count, `${shown.length} of ${devices.length} device${devices.length === 1 ? '' : 's'}${discovered ? ` · ${discovered} waiting for lines` : ''}`);
  }

  async function load(): Promise<void> {
    const [d, lines, models] = await Promise.all([getJson<Device[]>('/devices'), getJson<Line[]>('/lines'), ctx.models.length ? Promise.resolve(ctx.models) : getJson<Model[]>('/models').catch(() => [] as Model[])]);
    devices = d;
    const usedBy = new Map<string, string>();
    for (const dev of d) for (const ext of dev.lines) usedBy.set(ext, dev.mac);
    ctx.models = models;
    ctx.lines = lines;
    ctx.usedBy = usedBy;
    drawRows();
  }

  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter devices', onsubmit: (e: Event) => e.preventDefault() },
    h('div', { class: 'field grow' }, h('label', { for: 'dev-filter' }, 'Find'), text, h('p', { class: 'hint' }, 'MAC in any notation, model, IP, extension, location')),
    h('div', { class: 'field' }, h('label', { for: 'dev-state' }, 'State'), state),
  );
  const onFilter = () => {
    saveQuery();
    drawRows();
  };
  text.addEventListener('input', onFilter);
  state.addEventListener('change', onFilter);

  return {
    title: 'Devices',
    topics: ['devices', 'lines', 'registrations'],
    async mount(main) {
      drawHead();
      fill(
        main,
        h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Devices'), h('a', { href: '#/import', class: 'button-link' }, 'Import a list')),
        filters,
        count,
        h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Devices', tabindex: 0 }, table),
        empty,
      );
      await load();
    },
    refresh: load,
  };
}
