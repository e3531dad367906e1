/**
 * `outpost doctor` and `GET /api/v1/doctor`: gathers what the checks need (the site, its lines and devices, the
 * probes of this box and of the network, run side by side so the whole takes about one `timeout`) and builds
 * the report. The checks themselves are in site.ts, box.ts and network.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SiteFileError, keysNamedBy } from '../app/site.js';
import type { Outpost } from '../app/outpost.js';
import type { ServiceState } from '../app/status.js';
import { parseHostPort, type SiteSettings } from '../config/schema.js';
import { formatProblem } from '../config/validate.js';
import { loadBindToDevice } from '../dhcp/device.js';
import type { Database } from '../store/db.js';
import {
  clockCheck,
  databaseCheck,
  diskCheck,
  freeBytes,
  portCheck,
  probeDatabase,
  probeHealth,
  runningServeCheck,
  serveCheck,
  sntpQuery,
  tryBind,
  type ServePorts,
} from './box.js';
import { centrexCheck, dhcpCheck, dnsCheck, ownAddresses, probeDhcp, resolveName, sendOptions } from './network.js';
import { buildReport, type Check, type DoctorReport } from './report.js';
import { siteChecks, siteFileCheck, type AdminPassword } from './site.js';

export const DEFAULT_TIMEOUT_MS = 3000;
export const DEFAULT_PORTS: ServePorts = { http: 8080, tftp: 69, sip: 5060, dhcp: 67 };

export interface DoctorOptions {
  /** The data folder, resolved. */
  dataDir: string;
  /** How long each network probe waits for answers. */
  timeoutMs: number;
  /** The voice segment's interface for the DHCP probe; default `dhcp.interface`. */
  interface?: string | undefined;
  /** Where serve listens (or would). */
  ports: ServePorts;
  /** Inside a running serve (the API): its services; its ports are its own, so they are not probed. */
  serving?: Readonly<Record<string, ServiceState>> | undefined;
  /** For tests: NTP and DHCP on other ports than 123, 67 and 68. */
  ntpPort?: number | undefined;
  dhcpServerPort?: number | undefined;
  dhcpClientPort?: number | undefined;
}

/** Where the doctor's facts come from: an open Outpost, or why it could not be opened. */
export type DoctorSource =
  | { outpost: Outpost }
  | { openError: unknown; database?: Database | undefined; databaseError?: string | undefined };

export async function doctorReport(source: DoctorSource, options: DoctorOptions): Promise<DoctorReport> {
  const checks: Check[] = [];
  let site: SiteSettings | undefined;
  let db: Database | undefined;
  let dbOpenError: string | undefined;

  if ('outpost' in source) {
    const { outpost } = source;
    const snapshot = await outpost.inventory.current();
    site = snapshot.site;
    db = outpost.store.db;
    const explicit = new Set([...keysNamedBy(outpost.siteFile), ...(await outpost.store.settings.all()).keys()]);
    checks.push(siteFileCheck(outpost.siteFilePath));
    checks.push(
      ...siteChecks({
        site,
        explicit,
        lines: [...snapshot.lines.values()],
        devices: [...snapshot.devices.values()],
        admin: adminPassword(options.dataDir, site.admin.password),
      }),
    );
  } else if (source.openError instanceof SiteFileError) {
    checks.push(siteFileCheck(source.openError.file, source.openError.problems.map(formatProblem)));
    db = source.database;
    if (!db) dbOpenError = source.databaseError ?? 'it was not opened';
  } else {
    dbOpenError = (source.openError as Error).message ?? String(source.openError);
  }

  // The probes, side by side.
  const network = networkChecks(site, options);
  const clock = Promise.all((site?.site.ntp ?? []).map((server) => sntpQuery(server, { port: options.ntpPort, timeoutMs: options.timeoutMs })));
  const serveAndPorts = serveChecks(site, options);
  const database = probeDatabase(db, join(options.dataDir, 'outpost.db'), dbOpenError);
  const disk = freeBytes(options.dataDir);

  checks.push(...(await serveAndPorts));
  checks.push(databaseCheck(await database));
  checks.push(diskCheck(options.dataDir, await disk));
  checks.push(clockCheck(Date.now(), await clock));
  checks.push(...(await network));
  return buildReport(checks);
}

/** The admin password as serve takes it: env, the site, the generated file. Only its quality is reported. */
function adminPassword(dataDir: string, sitePassword: string): AdminPassword {
  if (process.env.OUTPOST_ADMIN_PASSWORD) return { source: 'env', password: process.env.OUTPOST_ADMIN_PASSWORD };
  if (sitePassword) return { source: 'site', password: sitePassword };
  const file = join(dataDir, 'admin-password');
  if (existsSync(file)) {
    try {
      return { source: 'generated', password: readFileSync(file, 'utf8').trim() };
    } catch {
      return { source: 'generated', password: '' };
    }
  }
  return { source: 'none' };
}

async function serveChecks(site: SiteSettings | undefined, options: DoctorOptions): Promise<Check[]> {
  if (options.serving) return [runningServeCheck(options.serving)];
  const hosts = [...new Set(['127.0.0.1', site?.advertise].filter((h): h is string => !!h))];
  const health = await probeHealth(hosts, options.ports.http, Math.min(options.timeoutMs, 2000));
  const checks = [serveCheck(health)];
  // A running serve holds its ports: binding them would only say so.
  if (health.kind === 'outpost') return checks;
  const uid = process.getuid?.();
  const { ports } = options;
  checks.push(portCheck({ id: 'box.port.http', service: 'HTTP', flag: '--http-port', port: ports.http, results: [{ proto: 'TCP', outcome: await tryBind('tcp', ports.http) }] }, uid));
  checks.push(portCheck({ id: 'box.port.tftp', service: 'TFTP', flag: '--tftp-port', port: ports.tftp, results: [{ proto: 'UDP', outcome: await tryBind('udp', ports.tftp) }] }, uid));
  checks.push(
    portCheck({
      id: 'box.port.sip',
      service: 'SIP',
      flag: '--sip-port',
      port: ports.sip,
      results: [
        { proto: 'UDP', outcome: await tryBind('udp', ports.sip) },
        { proto: 'TCP', outcome: await tryBind('tcp', ports.sip) },
      ],
    }, uid),
  );
  if (site?.dhcp.enabled) {
    // As serve binds it: shared port 67, each socket bound to its own interface.
    const binder = loadBindToDevice();
    const iface = site.dhcp.interface;
    const prepare = typeof binder === 'function' && iface ? (s: Parameters<typeof binder>[0]) => binder(s, iface) : undefined;
    const outcome = await tryBind('udp', ports.dhcp, '0.0.0.0', { reuseAddr: prepare !== undefined, prepare });
    checks.push(portCheck({ id: 'box.port.dhcp', service: 'DHCP', flag: '--dhcp-port', port: ports.dhcp, results: [{ proto: 'UDP', outcome }] }, uid));
  }
  return checks;
}

async function networkChecks(site: SiteSettings | undefined, options: DoctorOptions): Promise<Check[]> {
  const iface = options.interface ?? (site?.dhcp.interface || undefined);
  const dhcp = (async () => {
    const probe = iface
      ? await probeDhcp({ iface, timeoutMs: options.timeoutMs, bindToDevice: loadBindToDevice(), serverPort: options.dhcpServerPort, clientPort: options.dhcpClientPort })
      : undefined;
    return dhcpCheck({ iface, from: options.interface ? 'flag' : 'site', ours: site?.dhcp.enabled ?? false, probe, own: ownAddresses([site?.advertise ?? '']), timeoutMs: options.timeoutMs });
  })();
  const centrex = (async (): Promise<Check[]> => {
    const target = site?.upstream.proxy ? parseHostPort(site.upstream.proxy) : undefined;
    if (!site || !target) return [];
    const resolved = await resolveName(target.host, options.timeoutMs);
    const checks = resolved.ok && resolved.literal ? [] : [dnsCheck(target.host, resolved)];
    if (!resolved.ok) return [...checks, centrexCheck(site.upstream.proxy, { unresolved: resolved.error })];
    const transport = site.upstream.transport === 'tcp' ? 'tcp' : 'udp';
    const result = await sendOptions(target.host, resolved.addresses[0]!, target.port, transport, options.timeoutMs);
    return [...checks, centrexCheck(site.upstream.proxy, result)];
  })();
  return [await dhcp, ...(await centrex)];
}
