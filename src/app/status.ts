/** What `outpost status` and `/api/v1/status` report. */
import type { Outpost } from './outpost.js';

export type ServiceState = { state: 'up'; address: string } | { state: 'off'; reason: string };

export interface StatusReport {
  upstream: 'up' | 'down' | 'unknown';
  mode: 'normal' | 'survival';
  registrations: number;
  services: Record<string, ServiceState>;
  devices: Record<string, number>;
  lines: number;
  site: string;
  startedAt?: string | undefined;
}

export async function statusReport(outpost: Outpost, services: Record<string, ServiceState>, startedAt?: string, sip?: { registrations(): number }): Promise<StatusReport> {
  const site = await outpost.site();
  return {
    // The upstream monitor comes with survival mode; until then nothing is claimed about the Centrex.
    upstream: 'unknown',
    mode: 'normal',
    registrations: sip ? sip.registrations() : (await outpost.store.bindings.list()).filter((b) => b.expiresAt > Date.now()).length,
    services,
    devices: await outpost.store.devices.count(),
    lines: (await outpost.store.lines.list()).length,
    site: site.site.name,
    startedAt,
  };
}
