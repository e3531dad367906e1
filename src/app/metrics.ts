/** Prometheus metrics, on a registry of our own (tests run several servers in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SipService } from '../sip/service.js';
import type { Database } from '../store/db.js';
import type { UpstreamMonitor } from '../survival/monitor.js';
import type { CallProxy } from '../survival/proxy.js';

export class Metrics {
  readonly registry = new Registry();
  readonly provisioningRequests = new Counter({
    name: 'outpost_provisioning_requests_total',
    help: 'Provisioning file requests by protocol and answer',
    labelNames: ['protocol', 'status'] as const,
    registers: [this.registry],
  });
  readonly provisioningDuration = new Histogram({
    name: 'outpost_provisioning_duration_seconds',
    help: 'Time to identify, resolve and render a provisioning file',
    labelNames: ['protocol'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly firmwareTransfers = new Counter({
    name: 'outpost_firmware_transfers_total',
    help: 'Firmware transfers started, by protocol',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly firmwareRefused = new Counter({
    name: 'outpost_firmware_transfers_refused_total',
    help: 'Firmware transfers refused because firmware.maxConcurrent were already running, by protocol',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly apiAuthFailures = new Counter({
    name: 'outpost_api_auth_failures_total',
    help: 'API requests refused for missing or wrong credentials',
    registers: [this.registry],
  });

  constructor(collectors: { devicesByState?: () => Promise<Record<string, number>>; blockedClients?: () => number; firmwareInFlight?: () => number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'outpost_' });
    const { devicesByState, blockedClients, firmwareInFlight } = collectors;
    new Gauge({
      name: 'outpost_firmware_transfers_in_flight',
      help: 'Firmware transfers running now, HTTP and TFTP together',
      registers: [this.registry],
      collect() {
        if (firmwareInFlight) this.set(firmwareInFlight());
      },
    });
    new Gauge({
      name: 'outpost_devices',
      help: 'Devices in the inventory by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        if (!devicesByState) return;
        for (const [state, n] of Object.entries(await devicesByState())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'outpost_provisioning_blocked_clients',
      help: 'Clients refused for naming too many unknown devices',
      registers: [this.registry],
      collect() {
        if (blockedClients) this.set(blockedClients());
      },
    });
  }

  /** The database's group commits (registrations wait for them): a slow disk shows here first. */
  watchDatabase(db: Database): void {
    new Gauge({
      name: 'outpost_db_group_commits',
      help: 'Group commits written since start (each one fsync)',
      registers: [this.registry],
      collect() {
        this.set(db.groupStats.commits);
      },
    });
    new Gauge({
      name: 'outpost_db_group_commit_seconds',
      help: 'Time spent writing group commits since start (sum), and the longest one',
      labelNames: ['stat'] as const,
      registers: [this.registry],
      collect() {
        this.set({ stat: 'sum' }, db.groupStats.ms / 1000);
        this.set({ stat: 'max' }, db.groupStats.maxMs / 1000);
      },
    });
  }

  /** SIP figures, read from the service's counters at each scrape. */
  watchSip(sip: SipService): void {
    new Gauge({
      name: 'outpost_sip_registrations',
      help: 'Live registrations (bindings of a line to a contact)',
      registers: [this.registry],
      collect() {
        this.set(sip.book.size());
      },
    });
    new Gauge({
      name: 'outpost_sip_register_requests',
      help: 'REGISTER requests since start, by outcome (ok, challenged, stale, failed, rejected, error)',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        for (const [result, n] of Object.entries(sip.counters.registers)) this.set({ result }, n);
      },
    });
    new Gauge({
      name: 'outpost_sip_messages',
      help: 'SIP messages since start: received, malformed, answered 400, dropped, tarpitted',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        const t = sip.transport.counters;
        const c = sip.counters;
        for (const [kind, n] of Object.entries({ received: t.received, sent: t.sent, malformed: c.malformed, answered400: c.answered400, dropped: c.dropped, tarpitted: c.tarpitted })) this.set({ kind }, n);
      },
    });
    new Gauge({
      name: 'outpost_sip_transactions',
      help: 'SIP transactions alive now',
      labelNames: ['side'] as const,
      registers: [this.registry],
      collect() {
        const size = sip.layer.size();
        this.set({ side: 'server' }, size.server);
        this.set({ side: 'client' }, size.client);
      },
    });
    new Gauge({
      name: 'outpost_sip_kept_answers',
      help: 'Answers kept for Timer J to answer retransmissions: answers, the bytes of their store, and answers let go early because the store was full (since start)',
      labelNames: ['stat'] as const,
      registers: [this.registry],
      collect() {
        const kept = sip.layer.keptStats();
        this.set({ stat: 'answers' }, kept.answers);
        this.set({ stat: 'bytes' }, kept.bytes);
        this.set({ stat: 'evicted_early' }, kept.evictedEarly);
      },
    });
  }

  /** Survival mode: the mode, the Centrex's state and probes, the calls being set up. */
  watchSurvival(monitor: UpstreamMonitor, proxy: CallProxy): void {
    new Gauge({
      name: 'outpost_survival_mode',
      help: '1 while the branch is in survival mode (the Centrex is unreachable), else 0',
      registers: [this.registry],
      collect() {
        this.set(monitor.mode() === 'survival' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'outpost_upstream_up',
      help: '1 when the Centrex answers OPTIONS, 0 when it is down, -1 before the first probe',
      registers: [this.registry],
      collect() {
        this.set(monitor.state.status === 'up' ? 1 : monitor.state.status === 'down' ? 0 : -1);
      },
    });
    new Gauge({
      name: 'outpost_upstream_rtt_seconds',
      help: 'Round trip of the last answered OPTIONS to the Centrex',
      registers: [this.registry],
      collect() {
        if (monitor.state.lastRtt !== undefined) this.set(monitor.state.lastRtt / 1000);
      },
    });
    new Gauge({
      name: 'outpost_upstream_probes',
      help: 'OPTIONS probes to the Centrex since start, by outcome',
      labelNames: ['outcome'] as const,
      registers: [this.registry],
      collect() {
        for (const [outcome, n] of Object.entries(monitor.probes)) this.set({ outcome }, n);
      },
    });
    new Gauge({
      name: 'outpost_calls_in_setup',
      help: 'Calls Outpost is setting up now (INVITEs not yet answered or failed)',
      registers: [this.registry],
      collect() {
        this.set(proxy.size());
      },
    });
  }
}