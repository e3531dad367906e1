/** The handover sheet: what the branch gets, on paper. The print stylesheet drops everything else. */
import { getJson, type Device, type Line, type Model, type Site, type Status } from './api.js';
import { modelLabel } from './assign.js';
import { fill, formatMac, h, type Child } from './dom.js';
import type { Page } from './page.js';

function facts(rows: Array<[string, string | undefined]>): HTMLDListElement {
  return h(
    'dl',
    { class: 'facts sheet-facts' },
    rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v === undefined || v === '' ? h('span', { class: 'muted' }, 'not set') : v)]),
  );
}

function cell(label: string, cls: string, ...children: Child[]): HTMLTableCellElement {
  return h('td', { 'data-label': label, class: cls || undefined }, ...children);
}

const vlan = (id: number | undefined, prio: number | undefined) => (id ? `${id} (802.1p priority ${prio ?? 0})` : 'none (untagged)');

export function handoverPage(): Page {
  const sheet = h('article', { class: 'sheet', id: 'handover', 'aria-labelledby': 'sheet-title' });

  async function load(): Promise<void> {
    const [site, status, devices, lines, models] = await Promise.all([
      getJson<Site>('/site'),
      getJson<Status>('/status'),
      getJson<Device[]>('/devices'),
      getJson<Line[]>('/lines'),
      getJson<Model[]>('/models').catch(() => [] as Model[]),
    ]);
    const byExt = new Map(lines.map((l) => [l.ext, l]));
    const used = new Set(devices.flatMap((d) => d.lines));
    // The address phones are told (advertise), else the one this browser reached the box at.
    const host = site.advertise || location.hostname;
    const port = location.port ? `:${location.port}` : '';
    const pageUrl = `${location.protocol}//${host.includes(':') ? `[${host}]` : host}${port}/`;
    const extKey = (d: Device) => (d.lines[0] ? d.lines[0].padStart(8, '0') : '~');
    const sorted = [...devices].sort((a, b) => (extKey(a) < extKey(b) ? -1 : extKey(a) > extKey(b) ? 1 : a.mac < b.mac ? -1 : 1));
    const spare = lines.filter((l) => !used.has(l.ext));
    const today = new Date();

    fill(
      sheet,
      h(
        'header',
        { class: 'sheet-head' },
        h('h1', { id: 'sheet-title', tabindex: -1 }, 'Handover sheet: ', h('span', { id: 'sheet-site' }, site.site.name)),
        h('p', { class: 'sheet-date' }, 'Prepared ', h('time', { datetime: today.toISOString() }, today.toLocaleDateString()), ` · ${pageUrl}`),
        h('div', { class: 'actions no-print' }, h('button', { type: 'button', class: 'primary', id: 'print', onclick: () => window.print() }, 'Print'), h('span', { class: 'hint' }, 'Or save it as PDF from the print dialogue.')),
      ),
      h(
        'section',
        { class: 'sheet-section', 'aria-labelledby': 'sh-site' },
        h('h2', { id: 'sh-site' }, 'Site'),
        facts([
          ['Branch', site.site.name],
          ['Centrex domain', site.site.domain],
          ['Outpost', host],
          ['This page', pageUrl],
          ['Provisioning URL', `${pageUrl}prov/`],
          ['Time zone', site.site.timezone],
          ['NTP', site.site.ntp?.join(', ')],
        ]),
      ),
      h(
        'section',
        { class: 'sheet-section', 'aria-labelledby': 'sh-net' },
        h('h2', { id: 'sh-net' }, 'Network'),
        facts([
          ['Voice VLAN', vlan(site.network.voiceVlan, site.network.voicePriority)],
          ['Data VLAN (PC port)', vlan(site.network.dataVlan, site.network.dataPriority)],
          ['QoS (DSCP)', `SIP ${site.qos.sipDscp}, voice (RTP) ${site.qos.rtpDscp}`],
          ['DHCP', site.dhcp?.enabled ? `Outpost serves ${site.dhcp.subnet ?? ''}${site.dhcp.range?.length ? `, ${site.dhcp.range.join(' – ')}` : ''}${site.dhcp.router ? `, router ${site.dhcp.router}` : ''}` : 'the office router (Outpost’s options added to it)'],
        ]),
      ),
      h(
        'section',
        { class: 'sheet-section', 'aria-labelledby': 'sh-tel' },
        h('h2', { id: 'sh-tel' }, 'Telephony'),
        facts([
          ['Centrex (upstream)', site.upstream.proxy ? `${site.upstream.proxy}${site.upstream.transport ? ` (${site.upstream.transport.toUpperCase()})` : ''}` : undefined],
          ['PSTN gateway (survival)', site.gateway.host ? `${site.gateway.host}${site.gateway.port ? `:${site.gateway.port}` : ''}` : undefined],
          ['Outside line prefix', site.dialplan.outsidePrefix],
          ['Emergency numbers', site.dialplan.emergency.join(', ')],
          ['Mode now', `${status.mode}, Centrex ${status.upstream}`],
        ]),
      ),
      h(
        'section',
        { class: 'sheet-section sheet-devices', 'aria-labelledby': 'sh-dev' },
        h('h2', { id: 'sh-dev' }, `Phones and gateways (${devices.length})`),
        devices.length
          ? h(
              'table',
              { class: 'sheet-table cards', id: 'handover-devices' },
              h('thead', null, h('tr', null, ['MAC', 'Model', 'Location', 'Extension', 'Number', 'Name', 'State'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                sorted.map((d) => {
                  const ls = d.lines.map((ext) => byExt.get(ext));
                  const stack = (values: string[]) => (values.length ? values.map((v, i) => [i ? h('br') : null, v]) : h('span', { class: 'muted' }, '—'));
                  return h(
                    'tr',
                    { 'data-mac': d.mac },
                    cell('MAC', 'nowrap', h('span', { class: 'mono' }, formatMac(d.mac))),
                    cell('Model', '', modelLabel(models, d) || '?'),
                    cell('Location', '', d.location ?? ''),
                    cell('Extension', 'ext', stack(d.lines)),
                    cell('Number', 'nowrap', stack(ls.map((l) => l?.number ?? ''))),
                    cell('Name', '', stack(ls.map((l) => l?.name ?? ''))),
                    cell('State', '', d.state),
                  );
                }),
              ),
            )
          : h('p', { class: 'muted' }, 'No device yet.'),
      ),
      spare.length
        ? h(
            'section',
            { class: 'sheet-section', 'aria-labelledby': 'sh-spare' },
            h('h2', { id: 'sh-spare' }, 'Lines not on a phone'),
            h('p', null, spare.map((l, i) => [i ? ', ' : '', `${l.ext} ${l.name}${l.number ? ` (${l.number})` : ''}`])),
          )
        : null,
      h(
        'section',
        { class: 'sheet-section sheet-sign', 'aria-labelledby': 'sh-sign' },
        h('h2', { id: 'sh-sign' }, 'Handed over'),
        h('div', { class: 'sign-grid' }, h('div', { class: 'sign' }, 'Technician'), h('div', { class: 'sign' }, 'For the branch'), h('div', { class: 'sign' }, 'Date')),
      ),
    );
  }

  return {
    title: 'Handover sheet',
    topics: ['devices', 'lines', 'site'],
    async mount(main) {
      fill(main, sheet);
      await load();
    },
    refresh: load,
  };
}
