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

export async function statusReport(outpost: Outpost, services: Record<string, ServiceState>, startedAt?: string): Promise<StatusReport> {
  const site = await outpost.site();
  return {
    // The upstream monitor and the registrar come with the SIP core; until then nothing is claimed.
    upstream: 'unknown',
    mode: 'normal',
    registrations: 0,
    services,
    devices: await outpost.store.devices.count(),
    lines: (await outpost.store.lines.list()).length,
    site: site.site.name,
    startedAt,
  };
}
