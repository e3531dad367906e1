/**
 * The survival suite's harness: serve() in-process with SIP on 127.0.0.1 (port 0) and a site the test gives, its
 * API and metrics; sipp peers (phones, the fake Centrex, the PSTN gateway) as child processes on 127.0.0.0/8, each
 * bounded (sipp's -timeout and a SIGKILL), all killed and the temp folder removed by close(), even on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../../src/app/log.js';
import { serve, type RunningOutpost } from '../../src/app/serve.js';

export const SIPP = '/usr/bin/sipp';
export const SCENARIOS = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');
/** Outpost and the phones. */
export const HOST = '127.0.0.1';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `step` ms until it returns a value other than undefined/false; throws after `ms`. */
export async function waitFor<T>(what: string, ms: number, check: () => T | undefined | false | Promise<T | undefined | false>, step = 50): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(step);
  }
}

/** A UDP port free on `address` now (bound and released). */
export async function freeUdpPort(address: string): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => resolve());
  });
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Whether some socket is bound to UDP address:port (read from /proc/net/udp, so the check never takes the port). */
export function udpBound(address: string, port: number): boolean {
  const hex = address.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).reverse().join('').toUpperCase();
  const want = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const table = readFileSync('/proc/net/udp', 'utf8');
  return table.split('\n').some((line) => line.trim().split(/\s+/)[1] === want);
}

// ---------------------------------------------------------------------------------------------------------------
// Outpost

export interface StatusView {
  upstream: 'up' | 'down' | 'unknown';
  mode: 'normal' | 'survival';
  modeSince?: string;
  modeReason?: string;
  modeChanges: Array<{ at: string; mode: 'normal' | 'survival'; reason: string }>;
  registrations: number;
}

export interface CallView {
  id: number;
  callId: string;
  caller: string;
  callee: string;
  route: string;
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  result: string;
}

export interface RegistrationView {
  line: string;
  user: string;
  contact: string;
  expiresIn: number;
  source: string;
}

export interface EventView {
  id: number;
  at: string;
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface Outpost {
  running: RunningOutpost;
  sipPort: number;
  httpPort: number;
  dir: string;
  /** Scratch folder: injection files, sipp's logs. */
  work: string;
  /** What the server logged (pino JSON lines). */
  logs: string[];
  api<T>(path: string, init?: { method?: string; body?: unknown }): Promise<T>;
  /** PATCH /api/v1/site: settings the site file does not name (`site set` through the API). */
  setSite(values: Record<string, unknown>): Promise<void>;
  status(): Promise<StatusView>;
  calls(): Promise<CallView[]>;
  call(callId: string): Promise<CallView | undefined>;
  registrations(): Promise<RegistrationView[]>;
  events(type: string): Promise<EventView[]>;
  /** /metrics as name{labels} -> value. */
  metrics(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export const ADMIN_PASSWORD = 'survival-admin-pw';

function captureLogger(logs: string[]): Logger {
  return pino({ level: 'info', base: undefined, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, { write: (s: string) => void logs.push(s) });
}

/** serve() with SIP on 127.0.0.1, port 0, no TFTP/DHCP; `site` is written as the site file. */
export async function startOutpost(site: Record<string, unknown>): Promise<Outpost> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-survival-'));
  const work = join(dir, 'work');
  for (const d of ['data', 'firmware', 'work']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'site.json'), JSON.stringify({ admin: { password: ADMIN_PASSWORD }, ...site }, null, 2));
  const logs: string[] = [];
  let running: RunningOutpost;
  try {
    running = await serve({
      dataDir: join(dir, 'data'), firmwareDir: join(dir, 'firmware'), configFile: join(dir, 'site.json'), log: captureLogger(logs),
      bind: HOST, advertise: HOST, httpPort: 0, tftpPort: 0, sipPort: 0, dhcpPort: 0,
      tftp: false, sip: true, dhcp: false, mdns: false, out: () => undefined,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const base = `http://${HOST}:${running.httpPort}`;
  const auth = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
  const api = async <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: auth, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const o: Outpost = {
    running,
    sipPort: running.sipPort!,
    httpPort: running.httpPort,
    dir,
    work,
    logs,
    api,
    async setSite(values) {
      await api('/api/v1/site', { method: 'PATCH', body: values });
    },
    status: () => api<StatusView>('/api/v1/status'),
    calls: () => api<CallView[]>('/api/v1/calls?limit=1000'),
    async call(callId) {
      return (await o.calls()).find((c) => c.callId === callId);
    },
    registrations: () => api<RegistrationView[]>('/api/v1/registrations'),
    events: (type) => api<EventView[]>(`/api/v1/events?type=${encodeURIComponent(type)}&limit=100`),
    async metrics() {
      const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
      const out = new Map<string, number>();
      for (const line of (await res.text()).split('\n')) {
        const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
        if (m) out.set(m[1]!, Number(m[2]));
      }
      return out;
    },
    async close() {
      try {
        await stopAllSipp();
      } finally {
        try {
          await running.stop();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    },
  };
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// sipp

export interface SippOptions {
  /** A file in test/survival/scenarios. */
  scenario: string;
  /** A name for its files and for messages. */
  name: string;
  /** Local address and port (port: a random free one when absent). */
  ip: string;
  port?: number;
  /** `host:port` to send to (a UAC); absent for a UAS. */
  remote?: string;
  /** Injection rows, after SEQUENTIAL. */
  rows?: string[];
  /** -m: exit after this many calls (absent: run until killed). */
  calls?: number;
  /** Global timeout (sipp's -timeout, and a SIGKILL 5 s later); default 20 s. */
  timeoutS?: number;
  /** The Call-ID of the UAC's call: `<callId>-1@<ip>` with -cid_str. */
  callId?: string;
}

export interface SippExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<Sipp>();
// Whatever happens to the test process, no sipp outlives it.
process.once('exit', () => {
  for (const s of live) s.kill();
});

/** A sipp child process: its log (<log> actions), message trace and unexpected-message errors, read from its files. */
export class Sipp {
  readonly child: ChildProcess;
  readonly done: Promise<SippExit>;
  readonly files: { log: string; messages: string; errors: string; screen: string };
  exit: SippExit | undefined;
  private readonly killer: NodeJS.Timeout;

  constructor(work: string, readonly options: SippOptions) {
    const dir = mkdtempSync(join(work, `${options.name.replace(/[^\w.-]/g, '_')}-`));
    this.files = { log: join(dir, 'actions.log'), messages: join(dir, 'messages.log'), errors: join(dir, 'errors.log'), screen: join(dir, 'screen.txt') };
    const timeoutS = options.timeoutS ?? 20;
    const args = [
      ...(options.remote ? [options.remote] : []),
      '-sf', join(SCENARIOS, options.scenario),
      '-i', options.ip,
      ...(options.port ? ['-p', String(options.port)] : []),
      ...(options.calls !== undefined ? ['-m', String(options.calls)] : []),
      // A caller: its call starts at once, and sipp exits as soon as it is done (at -r 1 it lingers to the next second).
      ...(options.remote ? ['-r', '100', '-l', '1'] : []),
      '-nostdin', '-timeout', `${timeoutS}s`, '-timeout_error',
      '-trace_logs', '-log_file', this.files.log,
      '-trace_msg', '-message_file', this.files.messages,
      '-trace_err', '-error_file', this.files.errors,
    ];
    if (options.rows) {
      const inf = join(dir, 'inject.csv');
      writeFileSync(inf, ['SEQUENTIAL', ...options.rows, ''].join('\n'));
      args.push('-inf', inf);
    }
    if (options.callId) args.push('-cid_str', `${options.callId}-%u@%s`);
    const screen = openSync(this.files.screen, 'w');
    this.child = spawn(SIPP, args, { cwd: dir, stdio: ['ignore', screen, screen] });
    closeSync(screen);
    live.add(this);
    this.done = new Promise<SippExit>((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        clearTimeout(this.killer);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.child.once('error', () => {
        live.delete(this);
        this.exit = { code: null, signal: null };
        resolve(this.exit);
      });
    });
    this.killer = setTimeout(() => this.kill(), (timeoutS + 5) * 1000);
    this.killer.unref();
  }

  /** The listening socket is bound (a UAS is ready for its first request). */
  async ready(ms = 5000): Promise<this> {
    const port = this.options.port;
    if (!port) return this;
    await waitFor(`sipp ${this.options.name} listening on ${this.options.ip}:${port}`, ms, () => {
      if (this.exit) throw new Error(`sipp ${this.options.name} exited early (${JSON.stringify(this.exit)}): ${this.report()}`);
      return udpBound(this.options.ip, port);
    }, 20);
    return this;
  }

  /** Waits for the exit (SIGKILL after `ms`). */
  async finished(ms = 15_000): Promise<SippExit> {
    const timer = setTimeout(() => this.kill(), ms);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Kills it and waits until it is gone and its port is free. */
  async stop(): Promise<void> {
    this.kill();
    await this.done;
    const port = this.options.port;
    if (port) await waitFor(`${this.options.ip}:${port} released`, 5000, () => !udpBound(this.options.ip, port), 20);
  }

  private read(file: string): string {
    return existsSync(file) ? readFileSync(file, 'latin1') : '';
  }

  /** The lines the scenario's <log> actions wrote. */
  logLines(): string[] {
    return this.read(this.files.log).split('\n').map((l) => l.trim()).filter(Boolean);
  }

  messages(): string {
    return this.read(this.files.messages);
  }

  /** The SIP messages this peer received, in order (from its message trace). */
  received(): string[] {
    return this.messages()
      .split(/^-{20,} \S+ \S+\n/m)
      .filter((block) => /^\w+ message received/.test(block))
      .map((block) => block.replace(/^.*\n\n/, '').trim());
  }

  /** Request-URIs of the INVITEs this peer received (from its `INVITE <uri> call-id=...` log lines). */
  invites(): Array<{ uri: string; callId: string }> {
    return this.logLines().flatMap((l) => {
      const m = /INVITE (\S+) call-id=(\S+)/.exec(l);
      return m ? [{ uri: m[1]!, callId: m[2]! }] : [];
    });
  }

  /** Everything useful when an assertion fails: exit, errors, the end of the screen and of the message trace. */
  report(): string {
    const tail = (s: string, n: number) => s.slice(-n);
    return `\n--- sipp ${this.options.name} exit=${JSON.stringify(this.exit)}\n--- errors:\n${tail(this.read(this.files.errors), 1500)}\n--- screen:\n${tail(this.read(this.files.screen), 1500)}\n--- messages:\n${tail(this.messages(), 3000)}`;
  }
}

export function startSipp(work: string, options: SippOptions): Sipp {
  return new Sipp(work, options);
}

/** Kills every sipp still running and waits until each has exited. */
export async function stopAllSipp(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

export function liveSipp(): number {
  return live.size;
}

/** An injection row for a phone: user; the credentials sipp answers a challenge with; then more fields. */
export function authRow(user: string, password: string, ...more: string[]): string {
  return [user, `[authentication username=${user} password=${password}]`, ...more].join(';');
}
