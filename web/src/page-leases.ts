/** The live DHCP leases. */
import { enc, getJson, type Device, type Lease, type Status } from './api.js';
import { fill, formatMac, h, tableWrap, td } from './dom.js';
import type { Page } from './page.js';

export function leasesPage(): Page {
  const state = h('p', { class: 'muted' });
  const results = h('div');

  async function load(): Promise<void> {
    const [leases, status, devices] = await Promise.all([getJson<Lease[]>('/leases'), getJson<Status>('/status'), getJson<Device[]>('/devices')]);
    const known = new Set(devices.map((d) => d.mac));
    const dhcp = status.services.dhcp;
    fill(state, dhcp?.state === 'up' ? `DHCP serves on ${dhcp.address}.` : `DHCP is off${dhcp?.state === 'off' ? ` (${dhcp.reason})` : ''}: the office router gives the addresses.`);
    leases.sort((a, b) => a.address.split('.').map((p) => p.padStart(3, '0')).join('.').localeCompare(b.address.split('.').map((p) => p.padStart(3, '0')).join('.')));
    fill(
      results,
      leases.length
        ? tableWrap(
            h(
              'table',
              { class: 'leases cards' },
              h('thead', null, h('tr', null, ['Address', 'MAC', 'Host name', 'Vendor class', 'Expires'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                leases.map((l) =>
                  h(
                    'tr',
                    null,
                    td('Address', h('span', { class: 'mono' }, l.address)),
                    td('MAC', l.mac ? (known.has(l.mac) ? h('a', { href: `#/devices/${enc(l.mac)}`, class: 'mono' }, formatMac(l.mac)) : h('span', { class: 'mono' }, formatMac(l.mac))) : h('span', { class: 'mono' }, l.client)),
                    td('Host name', l.hostname ?? ''),
                    td('Vendor class', l.vendorClass ?? ''),
                    td('Expires', h('time', { datetime: l.expiresAt }, new Date(l.expiresAt).toLocaleString())),
                  ),
                ),
              ),
            ),
            'Leases',
          )
        : h('p', { class: 'muted' }, 'No live lease.'),
    );
  }

  return {
    title: 'Leases',
    topics: ['leases', 'status'],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'DHCP leases'), state, results);
      await load();
    },
    refresh: load,
  };
}
