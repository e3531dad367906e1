/** The dashboard: mode, upstream, devices by state, registrations, leases, recent events. Live. */
import { DEVICE_STATES, getJson, type Lease, type OutpostEvent, type Registration, type Status } from './api.js';
import { badge, fill, h, tableWrap, td, when } from './dom.js';
import type { Page } from './page.js';
import { eventRows } from './page-events.js';

export function dashboardPage(): Page {
  const modeBox = h('section', { class: 'card mode', 'aria-labelledby': 'mode-h' });
  const devicesBox = h('section', { class: 'card', 'aria-labelledby': 'dev-h' });
  const regsBox = h('section', { class: 'card', 'aria-labelledby': 'reg-h' });
  const leasesBox = h('section', { class: 'card', 'aria-labelledby': 'lease-h' });
  const eventsBox = h('section', { class: 'card wide', 'aria-labelledby': 'ev-h' });

  async function load(): Promise<void> {
    const [status, registrations, leases, events] = await Promise.all([
      getJson<Status>('/status'),
      getJson<Registration[]>('/registrations'),
      getJson<Lease[]>('/leases'),
      getJson<OutpostEvent[]>('/events?limit=10'),
    ]);

    const survival = status.mode === 'survival';
    fill(
      modeBox,
      h('h2', { id: 'mode-h' }, 'Mode'),
      h('p', { class: `mode-now mode-${status.mode}`, id: 'mode-now' }, survival ? 'Survival' : 'Normal'),
      h('p', null, survival ? 'The Centrex does not answer: Outpost routes the branch’s calls itself.' : 'Calls go through the Centrex.'),
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'Since'),
        h('dd', null, when(status.modeSince)),
        status.modeReason ? [h('dt', null, 'Reason'), h('dd', null, status.modeReason)] : null,
        h('dt', null, 'Centrex'),
        h('dd', null, badge(status.upstream, status.upstream === 'up' ? 'pass' : status.upstream === 'down' ? 'fail' : 'warn')),
        h('dt', null, 'Answer time'),
        h('dd', { id: 'upstream-rtt' }, status.upstreamRtt === undefined ? h('span', { class: 'muted' }, 'not measured yet') : `${Math.round(status.upstreamRtt)} ms`),
      ),
    );

    const total = DEVICE_STATES.reduce((n, s) => n + (status.devices[s] ?? 0), 0);
    fill(
      devicesBox,
      h('h2', { id: 'dev-h' }, 'Devices ', h('span', { class: 'count' }, String(total))),
      h(
        'ul',
        { class: 'state-counts' },
        DEVICE_STATES.map((s) =>
          h('li', null, h('a', { href: `#/devices?state=${s}`, class: `state-count state-${s}` }, h('span', { class: 'n', 'data-state': s }, String(status.devices[s] ?? 0)), h('span', { class: 'label' }, s))),
        ),
      ),
      h('p', null, h('a', { href: '#/devices' }, 'All devices'), ' · ', `${status.lines} line${status.lines === 1 ? '' : 's'}`),
    );

    fill(
      regsBox,
      h('h2', { id: 'reg-h' }, 'Registrations ', h('span', { class: 'count' }, String(status.registrations))),
      registrations.length
        ? tableWrap(
            h(
              'table',
              { class: 'compact' },
              h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Line'), h('th', { scope: 'col' }, 'Contact'), h('th', { scope: 'col' }, 'Expires'))),
              h('tbody', null, registrations.slice(0, 10).map((r) => h('tr', null, td('Line', r.line || r.user), td('Contact', h('span', { class: 'mono' }, r.source || r.contact)), td('Expires', `${r.expiresIn} s`)))),
            ),
            'Registrations',
          )
        : h('p', { class: 'muted' }, 'No line is registered to Outpost yet.'),
    );

    fill(
      leasesBox,
      h('h2', { id: 'lease-h' }, 'DHCP leases ', h('span', { class: 'count' }, String(leases.length))),
      status.services.dhcp?.state === 'up' ? null : h('p', { class: 'muted' }, `DHCP is off${status.services.dhcp?.state === 'off' ? `: ${status.services.dhcp.reason}` : ''}.`),
      h('p', null, h('a', { href: '#/leases' }, 'All leases')),
    );

    fill(
      eventsBox,
      h('h2', { id: 'ev-h' }, 'Recent events'),
      events.length ? eventRows(events) : h('p', { class: 'muted' }, 'Nothing happened yet.'),
      h('p', null, h('a', { href: '#/events' }, 'All events')),
    );
  }

  return {
    title: 'Dashboard',
    topics: ['status', 'devices', 'lines', 'registrations', 'leases', 'events', 'site'],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Dashboard'), h('div', { class: 'grid' }, modeBox, devicesBox, regsBox, leasesBox, eventsBox));
      await load();
    },
    refresh: load,
  };
}
