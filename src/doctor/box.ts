/**
 * What the doctor says about this box: is `serve` running, can it have its ports, is the database writable and
 * sound, is there disk space left, is the clock right. Each check is a pure verdict (exported for the tests)
 * over a thin probe: a GET /healthz, a bind that is closed at once, a rolled-back write, statfs, one SNTP query.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { constants as fsConstants } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import { createServer, isIPv6 } from 'node:net';
import { dirname } from 'node:path';
import type { ServiceState } from '../app/status.js';
import type { Database } from '../store/db.js';
import { fail, listing, pass, warn, type Check } from './report.js';
import { clockOffset, parseSntpReply, sntpRequest } from './sntp.js';

const G = 'box' as const;

export interface ServePorts {
  http: number;
  tftp: number;
  sip: number;
  dhcp: number;
}

// --- serve -------------------------------------------------------------------------------------------------------

/** What answered on the HTTP port: Outpost's /healthz (ok or degraded), something else, or nothing. */
export type HealthProbe = { kind: 'outpost'; url: string; status: number } | { kind: 'other'; url: string; status: number } | { kind: 'none'; url: string };

export async function probeHealth(hosts: readonly string[], port: number, timeoutMs: number): Promise<HealthProbe> {
  let first: HealthProbe | undefined;
  for (const host of hosts) {
    const url = `http://${isIPv6(host) ? `[${host}]` : host}:${port}/healthz`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const status = (body as { status?: unknown } | undefined)?.status;
      if ((res.status === 200 || res.status === 503) && (status === 'ok' || status === 'degraded')) return { kind: 'outpost', url, status: res.status };
      first ??= { kind: 'other', url, status: res.status };
    } catch {
      first ??= { kind: 'none', url };
    }
  }
  return first ?? { kind: 'none', url: `http://127.0.0.1:${port}/healthz` };
}

export function serveCheck(probe: HealthProbe): Check {
  const title = 'serve';
  if (probe.kind === 'outpost' && probe.status === 200) return pass(G, 'box.serve', title, `serve is running and answers (${probe.url}: ok)`);
  if (probe.kind === 'outpost') {
    return warn(G, 'box.serve', title, `serve is running but one of its services failed (${probe.url}: ${probe.status} degraded)`,
      'read its log (journalctl -u outpost) for the service that failed, fix it and restart serve');
  }
  if (probe.kind === 'other') {
    return warn(G, 'box.serve', title, `serve is not running: something else answers ${probe.url} (HTTP ${probe.status})`,
      'stop the program that holds the HTTP port or give serve another --http-port, then start serve (systemctl start outpost)');
  }
  return warn(G, 'box.serve', title, `serve is not running (nothing answers ${probe.url}); its ports were checked instead`,
    'start it: systemctl start outpost (or npm start in a terminal)');
}

/** Inside a running serve (the API): its own account of its services. */
export function runningServeCheck(services: Readonly<Record<string, ServiceState>>): Check {
  const title = 'serve';
  const text = Object.entries(services).map(([name, s]) => (s.state === 'up' ? `${name} ${s.address}` : `${name} off (${s.reason})`));
  const failed = Object.entries(services).filter(([, s]) => s.state === 'off' && s.reason === 'failed').map(([name]) => name);
  if (failed.length) return warn(G, 'box.serve', title, `serve is running but ${listing(failed)} failed: ${text.join(', ')}`, 'read the log (journalctl -u outpost) for why, fix it and restart serve');
  return pass(G, 'box.serve', title, `serve is running and answers: ${text.join(', ')}`);
}

// --- ports -------------------------------------------------------------------------------------------------------

export type BindOutcome = { ok: true } | { ok: false; code: string; message: string };

/** Binds `port` as serve would, and lets go at once. */
export function tryBind(proto: 'tcp' | 'udp', port: number, host = '0.0.0.0', udp: { reuseAddr?: boolean; prepare?: (s: UdpSocket) => void } = {}): Promise<BindOutcome> {
  const failed = (err: unknown): BindOutcome => ({ ok: false, code: (err as NodeJS.ErrnoException).code ?? 'ERROR', message: (err as Error).message });
  return new Promise((resolve) => {
    if (proto === 'tcp') {
      const server = createServer();
      server.once('error', (err) => resolve(failed(err)));
      server.listen({ port, host, exclusive: true }, () => server.close(() => resolve({ ok: true })));
      return;
    }
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: udp.reuseAddr ?? false });
    socket.once('error', (err) => {
      socket.close();
      resolve(failed(err));
    });
    socket.bind(port, host, () => {
      let outcome: BindOutcome = { ok: true };
      try {
        udp.prepare?.(socket);
      } catch (err) {
        outcome = failed(err);
      }
      socket.close(() => resolve(outcome));
    });
  });
}

export interface PortProbe {
  id: string;
  service: string;
  flag: string;
  port: number;
  results: ReadonlyArray<{ proto: 'TCP' | 'UDP'; outcome: BindOutcome }>;
}

export function portCheck(p: PortProbe, uid: number | undefined): Check {
  const title = `${p.service} port ${p.port}`;
  const protos = p.results.map((r) => r.proto).join('+');
  const taken = p.results.filter((r) => !r.outcome.ok && r.outcome.code === 'EADDRINUSE');
  const denied = p.results.filter((r) => !r.outcome.ok && r.outcome.code === 'EACCES');
  const other = p.results.filter((r) => !r.outcome.ok && r.outcome.code !== 'EADDRINUSE' && r.outcome.code !== 'EACCES');
  if (taken.length) {
    return fail(G, p.id, title, `${taken.map((r) => r.proto).join('+')} ${p.port} is taken by another program: serve cannot start ${p.service}`,
      `find it with ss -lntup | grep ':${p.port} ' and stop it, or give serve another ${p.flag}`);
  }
  if (other.length) {
    const o = other[0]!.outcome as { code: string; message: string };
    return fail(G, p.id, title, `${other[0]!.proto} ${p.port} cannot be bound: ${o.message}`, `fix what the message says, or give serve another ${p.flag}`);
  }
  if (denied.length) {
    return warn(G, p.id, title, `${protos} ${p.port} needs root or CAP_NET_BIND_SERVICE, which this doctor${uid !== undefined ? ` (uid ${uid})` : ''} does not have, so it could not tell whether the port is free`,
      `run serve through its systemd unit (it grants CAP_NET_BIND_SERVICE) and run outpost doctor as root to check the port, or choose ${p.flag} above 1023`);
  }
  return pass(G, p.id, title, `${protos} ${p.port} is free for serve`);
}

// --- database ----------------------------------------------------------------------------------------------------


export interface DatabaseProbe {
  file: string;
  /** Why it could not be opened, when it could not. */
  openError?: string | undefined;
  folderWritable?: string | undefined;
  writeError?: string | undefined;
  integrity?: string | undefined;
  sizeBytes?: number | undefined;
}

/**
 * A write that is rolled back (a table made and filled inside a transaction that never commits: the file is
 * left as it was), `PRAGMA quick_check`, and whether the folder takes the WAL and shared-memory files.
 */
export async function probeDatabase(db: Database | undefined, file: string, openError?: string): Promise<DatabaseProbe> {
  const probe: DatabaseProbe = { file, openError };
  try {
    await access(dirname(file), fsConstants.W_OK);
  } catch (err) {
    probe.folderWritable = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  if (!db) return probe;
  try {
    probe.sizeBytes = (await stat(file)).size;
  } catch {
    /* a fresh database may not be on disk yet */
  }
  const checked = await db.selfCheck();
  probe.writeError = checked.writeError;
  probe.integrity = checked.integrity;
  return probe;
}

export function databaseCheck(p: DatabaseProbe): Check {
  const title = 'database';
  const ownerFix = `make the data folder and ${p.file} writable by the user that runs Outpost (chown -R outpost: on the folder)`;
  if (p.openError) return fail(G, 'box.database', title, `cannot open ${p.file}: ${p.openError}`, ownerFix);
  if (p.writeError) return fail(G, 'box.database', title, `${p.file} cannot be written: ${p.writeError}`, ownerFix);
  if (p.integrity !== 'ok') {
    return fail(G, 'box.database', title, `${p.file} is damaged: quick_check says ${p.integrity}`,
      'stop serve, keep a copy of the data folder, and restore outpost.db from a backup (or start a new one and apply the site file again)');
  }
  if (p.folderWritable) {
    return fail(G, 'box.database', title, `the folder of ${p.file} is not writable (${p.folderWritable}): sqlite cannot keep its WAL and shared-memory files there`, ownerFix);
  }
  return pass(G, 'box.database', title, `${p.file}${p.sizeBytes !== undefined ? ` (${size(p.sizeBytes)})` : ''}: writable, quick_check ok`);
}

// --- disk --------------------------------------------------------------------------------------------------------

export const DISK_WARN_BYTES = 500 * 1024 * 1024;
export const DISK_FAIL_BYTES = 50 * 1024 * 1024;

export async function freeBytes(dir: string): Promise<number | Error> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch (err) {
    return err as Error;
  }
}

export function diskCheck(dir: string, free: number | Error): Check {
  const title = 'disk space';
  if (free instanceof Error) return warn(G, 'box.disk', title, `cannot tell the free space of ${dir}: ${free.message}`, 'check it with df -h on the data folder');
  const fix = `free space where ${dir} is (old firmware images in the catalogue, logs: journalctl --vacuum-size=100M), or move the data folder to a larger disk`;
  if (free < DISK_FAIL_BYTES) return fail(G, 'box.disk', title, `${size(free)} free for ${dir}: leases and registrations cannot be saved much longer, and a full disk stops the database`, fix);
  if (free < DISK_WARN_BYTES) return warn(G, 'box.disk', title, `${size(free)} free for ${dir}, under 500 MB`, fix);
  return pass(G, 'box.disk', title, `${size(free)} free for ${dir}`);
}

export function size(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${bytes} bytes`;
}

// --- clock -------------------------------------------------------------------------------------------------------

export const MAX_OFFSET_MS = 2000;
export const EARLIEST_YEAR = 2024;

export type NtpSample = { server: string; ok: true; offsetMs: number; delayMs: number } | { server: string; ok: false; error: string };

/** One SNTP query to `server` (a name or an address), resent once half-way; bounded by `timeoutMs`. */
export function sntpQuery(server: string, opts: { port?: number; timeoutMs: number; now?: () => number }): Promise<NtpSample> {
  const now = opts.now ?? Date.now;
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(server) ? 'udp6' : 'udp4');
    const sent = new Map<string, number>();
    let done = false;
    const finish = (sample: NtpSample) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(resend);
      socket.close();
      resolve(sample);
    };
    const send = () => {
      const at = now();
      const packet = sntpRequest(at);
      sent.set(packet.subarray(40, 48).toString('hex'), at);
      socket.send(packet, opts.port ?? 123, server, (err) => {
        if (err) finish({ server, ok: false, error: (err as NodeJS.ErrnoException).code === 'ENOTFOUND' ? 'the name does not resolve' : err.message });
      });
    };
    socket.on('error', (err) => finish({ server, ok: false, error: err.message }));
    socket.on('message', (msg) => {
      const arrived = now();
      const reply = parseSntpReply(msg);
      if (reply instanceof Error) return finish({ server, ok: false, error: reply.message });
      const sentAt = sent.get(reply.originate.toString('hex'));
      if (sentAt === undefined) return; // not an answer to us
      const { offsetMs, delayMs } = clockOffset(sentAt, reply, arrived);
      finish({ server, ok: true, offsetMs, delayMs });
    });
    const timer = setTimeout(() => finish({ server, ok: false, error: `no answer within ${(opts.timeoutMs / 1000).toFixed(1)} s` }), opts.timeoutMs);
    const resend = setTimeout(send, opts.timeoutMs / 2);
    send();
  });
}

export function clockCheck(now: number, samples: readonly NtpSample[]): Check {
  const title = 'clock';
  const date = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
  const fix = 'let the box keep time from the site\'s NTP servers (timedatectl set-ntp true, or chrony/systemd-timesyncd pointed at them)';
  if (new Date(now).getUTCFullYear() < EARLIEST_YEAR) {
    return warn(G, 'box.clock', title, `the clock says ${date}, which cannot be right: leases, registrations and certificates go wrong`, fix);
  }
  const off = samples.filter((s): s is Extract<NtpSample, { ok: true }> => s.ok && Math.abs(s.offsetMs) > MAX_OFFSET_MS);
  if (off.length) {
    return warn(G, 'box.clock', title, `${date} is ${off.map((s) => `${(Math.abs(s.offsetMs) / 1000).toFixed(1)} s ${s.offsetMs > 0 ? 'behind' : 'ahead of'} ${s.server}`).join(', ')}`, fix);
  }
  const unreachable = samples.filter((s): s is Extract<NtpSample, { ok: false }> => !s.ok);
  if (unreachable.length) {
    return warn(G, 'box.clock', title, `${date}; NTP ${unreachable.map((s) => `${s.server}: ${s.error}`).join('; ')}${unreachable.length < samples.length ? ' (the others answer)' : ''}`,
      `make sure ${listing(unreachable.map((s) => s.server))} answers NTP (UDP 123) from the branch: the phones use the same servers`);
  }
  const good = samples.filter((s): s is Extract<NtpSample, { ok: true }> => s.ok);
  if (!good.length) return pass(G, 'box.clock', title, `${date} (no NTP server in the site to compare with)`);
  return pass(G, 'box.clock', title, `${date}, within ${good.map((s) => `${(Math.abs(s.offsetMs) / 1000).toFixed(2)} s of ${s.server}`).join(', ')}`);
}
