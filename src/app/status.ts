/** What `outpost status` and `/api/v1/status` report. */
import type { Outpost } from './outpost.js';
import type { UpstreamMonitor } from '../survival/monitor.js';

export type ServiceState = { state: 'up'; address: string } | { state: 'off'; reason: string };

export interface ModeChangeView {
  at: string;
  mode: 'normal' | 'survival';
  reason: string;
}

export interface StatusReport {
  upstream: 'up' | 'down' | 'unknown';
  mode: 'normal' | 'survival';
  /** When the mode last changed (or the service started), and why. */
  modeSince?: string | undefined;
  modeReason?: string | undefined;
  /** The Centrex's last OPTIONS round trip, ms. */
  upstreamRtt?: number | undefined;
  /** The last mode changes, newest first. */
  modeChanges: ModeChangeView[];
  registrations: number;
  services: Record<string, ServiceState>;
  devices: Record<string, number>;
  lines: number;
  site: string;
  startedAt?: string | undefined;
}

export async function statusReport(outpost: Outpost, services: Record<string, ServiceState>, startedAt?: string, sip?: { registrations(): number }, monitor?: UpstreamMonitor): Promise<StatusReport> {
  const site = await outpost.site();
  const changes = (await outpost.store.events.list({ limit: 10, types: ['survival.started', 'survival.ended'] })).map((e) => ({
    at: e.at,
    mode: (e.type === 'survival.started' ? 'survival' : 'normal') as 'normal' | 'survival',
    reason: String(e.data?.reason ?? e.message),
  }));
  // Another process (the CLI) has no monitor: the last change the running service recorded tells the mode.
  const running = services.sip?.state === 'up' || services.http?.state === 'up';
  const last = changes[0];
  return {
    upstream: monitor ? monitor.state.status : 'unknown',
    mode: monitor ? monitor.mode() : running && last ? last.mode : 'normal',
    modeSince: monitor ? new Date(monitor.state.since).toISOString() : last?.at,
    modeReason: monitor ? monitor.state.reason : last?.reason,
    upstreamRtt: monitor?.state.lastRtt,
    modeChanges: changes,
    registrations: sip ? sip.registrations() : (await outpost.store.bindings.list()).filter((b) => b.expiresAt > Date.now()).length,
    services,
    devices: await outpost.store.devices.count(),
    lines: (await outpost.store.lines.list()).length,
    site: site.site.name,
    startedAt,
  };
}
