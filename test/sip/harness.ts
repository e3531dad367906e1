/**
 * The SIP suite's harness: serve() in-process on 127.0.0.1 with SIP on (port 0), a site file the test gives, temp
 * folders removed at the end; sipp run as a bounded child process (killed at the end); a small UDP/TCP SIP client
 * with a digest answer built from src/sip/digest.ts, for what sipp cannot easily send.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../../src/app/log.js';
import { adminPassword, serve, type RunningOutpost } from '../../src/app/serve.js';
import { computeResponse, parseChallenge } from '../../src/sip/digest.js';

export const HOST = '127.0.0.1';
export const SCENARIOS = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');
export const SIPP = '/usr/bin/sipp';

export interface SipHarness {
  running: RunningOutpost;
  sipPort: number;
  httpPort: number;
  /** Basic password of `admin` for /api/v1. */
  password: string;
  dir: string;
  dataDir: string;
  /** A scratch folder (sipp's cwd, injection files). */
  work: string;
  /** Every log line the server wrote (JSON, pino). */
  logs: string[];
  /** Stops serve() and starts it again on the same data dir and site file. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  site: unknown;
  /** pino level of the captured log; default debug. */
  logLevel?: string;
}

function captureLogger(level: string, logs: string[]): Logger {
  return pino({ level, base: undefined, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, { write: (s: string) => void logs.push(s) });
}

export async function startSip(options: HarnessOptions): Promise<SipHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-sip-'));
  const dataDir = join(dir, 'data');
  const firmwareDir = join(dir, 'firmware');
  const work = join(dir, 'work');
  for (const d of [dataDir, firmwareDir, work]) mkdirSync(d);
  const configFile = join(dir, 'site.json');
  writeFileSync(configFile, JSON.stringify(options.site, null, 2));
  const logs: string[] = [];
  const log = captureLogger(options.logLevel ?? 'debug', logs);
  const start = () =>
    serve({
      dataDir, firmwareDir, configFile, log,
      bind: HOST, advertise: HOST,
      httpPort: 0, tftpPort: 0, sipPort: 0, dhcpPort: 0,
      tftp: false, sip: true, dhcp: false, mdns: false,
      out: () => undefined,
    });
  let running: RunningOutpost;
  try {
    running = await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const sitePassword = (options.site as { admin?: { password?: string } }).admin?.password ?? '';
  const h: SipHarness = {
    running,
    sipPort: running.sipPort!,
    httpPort: running.httpPort,
    password: adminPassword(dataDir, sitePassword, log),
    dir, dataDir, work, logs,
    async restart() {
      await h.running.stop();
      h.running = await start();
      h.sipPort = h.running.sipPort!;
      h.httpPort = h.running.httpPort;
    },
    async close() {
      try {
        await h.running.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return h;
}

/** GET on the API with admin's Basic credentials. */
export async function api<T>(h: SipHarness, path: string): Promise<T> {
  const res = await fetch(`http://${HOST}:${h.httpPort}${path}`, { headers: { authorization: `Basic ${Buffer.from(`admin:${h.password}`).toString('base64')}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}

export interface RegistrationRow {
  line: string;
  user: string;
  contact: string;
  expiresAt: string;
  expiresIn: number;
  source: string;
  userAgent?: string;
  mac?: string;
  q?: number;
}

export const registrations = (h: SipHarness) => api<RegistrationRow[]>(h, '/api/v1/registrations');

// ---------------------------------------------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>();

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program for at most `timeoutMs` (SIGKILL after); resolves with what it did, never rejects. */
export function run(file: string, args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = execFile(file, args, { timeout: options.timeoutMs ?? 60_000, killSignal: 'SIGKILL', cwd: options.cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      children.delete(child);
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - started });
    });
    children.add(child);
    child.stdin?.end();
  });
}

export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

export interface SippRun extends RunResult {
  successful: number;
  failed: number;
  /** `<log>` lines the scenario wrote. */
  logLines: string[];
  transport: 'udp' | 'tcp';
}

/**
 * Runs one sipp scenario against the server: `rows` are the injection file's lines (after SEQUENTIAL). Every run
 * is bounded (-timeout and a SIGKILL), its files go to a scratch folder that is removed.
 */
export async function sipp(h: SipHarness, scenario: string, rows: string[], o: { transport: 'udp' | 'tcp'; calls?: number; rate?: number; keys?: Record<string, string>; timeoutS?: number }): Promise<SippRun> {
  const dir = mkdtempSync(join(h.work, 'sipp-'));
  try {
    const inf = join(dir, 'users.csv');
    writeFileSync(inf, ['SEQUENTIAL', ...rows, ''].join('\n'));
    const logFile = join(dir, 'actions.log');
    const timeoutS = o.timeoutS ?? 20;
    const args = [
      `${HOST}:${h.sipPort}`, '-sf', join(SCENARIOS, scenario), '-inf', inf,
      '-i', HOST, '-t', o.transport === 'udp' ? 'u1' : 't1',
      '-m', String(o.calls ?? rows.length), '-r', String(o.rate ?? 10), '-l', '500',
      '-nostdin', '-timeout', `${timeoutS}s`, '-timeout_error', '-recv_timeout', '5000',
      '-trace_logs', '-log_file', logFile, '-trace_err', '-error_file', join(dir, 'errors.log'),
      ...Object.entries(o.keys ?? {}).flatMap(([k, v]) => ['-key', k, v]),
    ];
    const result = await run(SIPP, args, { timeoutMs: (timeoutS + 10) * 1000, cwd: dir });
    let logLines: string[] = [];
    try {
      logLines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
    } catch {
      /* no <log> action ran */
    }
    const count = (name: string) => {
      const m = new RegExp(`${name}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(result.stdout);
      return m ? Number(m[1]) : -1;
    };
    return { ...result, successful: count('Successful call'), failed: count('Failed call'), logLines, transport: o.transport };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An injection row: field0 the user, field1 the Authorization sipp builds from the challenge. */
export const authRow = (user: string, password: string) => `${user};[authentication username=${user} password=${password}]`;

// ---------------------------------------------------------------------------------------------------------------
// A small SIP client over UDP (and one TCP connection), with digest answers

export interface Response {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  raw: string;
  /** ms from sending to the answer. */
  ms: number;
}

export function header(res: Omit<Response, 'ms'>, name: string): string | undefined {
  return res.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

export function headers(res: Omit<Response, 'ms'>, name: string): string[] {
  return res.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

export function parseResponse(text: string): Omit<Response, 'ms'> | undefined {
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  const [first, ...rest] = head.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(first ?? '');
  if (!m) return undefined;
  const hs: Array<[string, string]> = [];
  for (const line of rest) {
    const at = line.indexOf(':');
    if (at > 0) hs.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2]!, headers: hs, raw: text };
}

export interface RegisterOptions {
  /** The To (and From) user; default the auth user. */
  toUser?: string;
  contacts?: string[];
  expires?: number | undefined;
  callId?: string;
  cseq?: number;
  userAgent?: string;
  extra?: string[];
}

export class SipClient {
  readonly socket: UdpSocket;
  private waiters = new Map<string, (r: Omit<Response, 'ms'>) => void>();
  /** Every response received, in order (for "nothing came" checks). */
  readonly received: Array<Omit<Response, 'ms'>> = [];
  port = 0;

  private constructor(readonly server: { host: string; port: number }, readonly localAddress: string) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (buf) => {
      const res = parseResponse(buf.toString('latin1'));
      if (!res) return;
      this.received.push(res);
      const branch = /branch=([^;,\s]+)/.exec(header(res, 'Via') ?? '')?.[1];
      const w = branch ? this.waiters.get(branch) : undefined;
      if (w && res.status >= 200) {
        this.waiters.delete(branch!);
        w(res);
      }
    });
  }

  static async open(server: { host: string; port: number }, localAddress = HOST): Promise<SipClient> {
    const c = new SipClient(server, localAddress);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('error', reject);
      c.socket.bind(0, localAddress, () => resolve());
    });
    c.port = c.socket.address().port;
    return c;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      /* closed */
    }
  }

  /** Sends raw bytes; resolves with the final response to `branch`, or undefined after `timeoutMs`. */
  send(text: string, branch: string, timeoutMs = 3000): Promise<Response | undefined> {
    const sent = Date.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(branch);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(branch, (r) => {
        clearTimeout(timer);
        resolve({ ...r, ms: Date.now() - sent });
      });
      this.socket.send(Buffer.from(text, 'latin1'), this.server.port, this.server.host);
    });
  }

  /** A REGISTER as text, with a fresh branch. */
  register(authUser: string, o: RegisterOptions & { authorization?: string }): { text: string; branch: string } {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const to = o.toUser ?? authUser;
    const lines = [
      `REGISTER sip:${this.server.host}:${this.server.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.localAddress}:${this.port};branch=${branch};rport`,
      `From: <sip:${to}@${this.server.host}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${to}@${this.server.host}>`,
      `Call-ID: ${o.callId ?? randomBytes(8).toString('hex')}`,
      `CSeq: ${o.cseq ?? 1} REGISTER`,
      ...(o.contacts ?? [`<sip:${to}@${this.localAddress}:${this.port}>`]).map((c) => `Contact: ${c}`),
      ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []),
      'Max-Forwards: 70',
      ...(o.userAgent ? [`User-Agent: ${o.userAgent}`] : []),
      ...(o.authorization ? [`Authorization: ${o.authorization}`] : []),
      ...(o.extra ?? []),
      'Content-Length: 0',
      '', '',
    ];
    return { text: lines.join('\r\n'), branch };
  }

  /**
   * REGISTER, 401, REGISTER with credentials (CSeq + 1, same Call-ID): the answer to the second, and the first.
   */
  async registerWithAuth(user: string, password: string, o: RegisterOptions = {}, timeoutMs = 3000): Promise<{ challenge: Response | undefined; final: Response | undefined; cseq: number; callId: string }> {
    const callId = o.callId ?? randomBytes(8).toString('hex');
    const cseq = o.cseq ?? 1;
    const first = this.register(user, { ...o, callId, cseq });
    const challenge = await this.send(first.text, first.branch, timeoutMs);
    if (!challenge || challenge.status !== 401) return { challenge, final: challenge, cseq, callId };
    const authorization = digestAnswer(challenge, user, password, `sip:${this.server.host}:${this.server.port}`);
    const second = this.register(user, { ...o, callId, cseq: cseq + 1, authorization });
    const final = await this.send(second.text, second.branch, timeoutMs);
    return { challenge, final, cseq: cseq + 1, callId };
  }
}

/** The Authorization value answering the first (MD5) challenge of a 401. */
export function digestAnswer(challengeRes: Response | Omit<Response, 'ms'>, user: string, password: string, uri: string, method = 'REGISTER'): string {
  const values = headers(challengeRes, 'WWW-Authenticate');
  const chosen = values.map((v) => parseChallenge(v)).find((c) => typeof c !== 'string' && (c.algorithm ?? 'MD5').toUpperCase() === 'MD5');
  if (!chosen || typeof chosen === 'string') throw new Error(`no MD5 challenge in ${JSON.stringify(values)}`);
  const cnonce = randomBytes(8).toString('hex');
  const nc = '00000001';
  const response = computeResponse({ algorithm: 'MD5', method, uri, nonce: chosen.nonce, qop: 'auth', nc, cnonce, username: user, realm: chosen.realm, password });
  return `Digest username="${user}", realm="${chosen.realm}", nonce="${chosen.nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=${nc}${chosen.opaque ? `, opaque="${chosen.opaque}"` : ''}`;
}

export async function waitFor(what: string, ms: number, check: () => boolean | Promise<boolean>, step = 50): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
