/**
 * The upstream monitor: an OPTIONS to `upstream.proxy` every `upstream.interval` seconds, each outcome fed to
 * the pure UpstreamState. A probe with no final answer by the next probe is a timeout (never an answer). Mode
 * changes go to the event log (`survival.started` / `survival.ended`, with the reason and the time), the log,
 * and whoever listens (metrics, the registrar's short Expires).
 */
import type { Logger } from '../app/log.js';
import type { SiteSettings } from '../config/schema.js';
import { parseHostPort } from '../config/schema.js';
import { ownRequest, type TransactionLayer } from '../sip/transaction.js';
import type { Store } from '../store/index.js';
import { UpstreamState, type Mode, type ModeChange } from './upstream.js';

export interface MonitorOptions {
  layer: TransactionLayer;
  self(): { host: string; port: number };
  site(): SiteSettings | undefined;
  store: Store;
  log: Logger;
  now?: () => number;
}

export class UpstreamMonitor {
  readonly state: UpstreamState;
  private timer: NodeJS.Timeout | undefined;
  private seq = 1;
  private readonly listeners = new Set<(change: ModeChange) => void>();
  private readonly now: () => number;
  probes = { sent: 0, answered: 0, timedOut: 0 };

  constructor(private readonly options: MonitorOptions) {
    this.now = options.now ?? Date.now;
    this.state = new UpstreamState(this.now());
  }

  mode(): Mode {
    return this.state.mode;
  }

  onChange(listener: (change: ModeChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    const tick = () => {
      const site = this.options.site();
      const interval = (site?.upstream.interval ?? 10) * 1000;
      if (site?.upstream.proxy) this.probe(site, interval);
      this.timer = setTimeout(tick, interval);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private probe(site: SiteSettings, interval: number): void {
    const target = parseHostPort(site.upstream.proxy);
    if (!target) return;
    const self = this.options.self();
    const transport = site.upstream.transport === 'tcp' ? 'tcp' : 'udp';
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const req = ownRequest('OPTIONS', { uri: `sip:${host}:${target.port}`, self, transport, cseq: this.seq++, userAgent: 'Outpost upstream monitor' });
    const sentAt = this.now();
    let settled = false;
    this.probes.sent++;
    const settle = (outcome: 'answer' | 'timeout', status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (outcome === 'answer') this.probes.answered++;
      else this.probes.timedOut++;
      const at = this.now();
      const change = this.state.observe({ outcome, status, rtt: outcome === 'answer' ? at - sentAt : undefined, at }, { failures: site.upstream.failures, holdDown: site.upstream.holdDown });
      if (change) this.changed(change);
    };
    // No answer by the next probe is a timeout; a late answer is not counted.
    const deadline = setTimeout(() => settle('timeout'), Math.max(500, interval - 50));
    deadline.unref();
    this.options.layer.request(req, { transport, address: target.host, port: target.port }, {
      onFinal: (res) => settle('answer', res.status),
      onTimeout: () => settle('timeout'),
    });
  }

  private changed(change: ModeChange): void {
    const survival = change.mode === 'survival';
    this.options.log.warn({ mode: change.mode, reason: change.reason }, survival ? 'SURVIVAL MODE: the Centrex is unreachable; Outpost routes the branch\'s calls' : 'normal mode: the Centrex is back');
    void this.options.store.events
      .add({ type: survival ? 'survival.started' : 'survival.ended', level: survival ? 'warn' : 'info', message: `${survival ? 'survival mode' : 'normal mode'}: ${change.reason}`, data: { mode: change.mode, reason: change.reason, at: new Date(change.at).toISOString() } })
      .catch(() => undefined);
    for (const l of this.listeners) l(change);
  }
}
