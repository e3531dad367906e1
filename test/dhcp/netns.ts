/**
 * Helpers for the DHCP integration tests: network namespaces joined by veth pairs (never a real interface),
 * the real `outpost serve` running inside one of them, and real DHCP clients (busybox udhcpc, ISC dhclient,
 * perfdhcp, a raw client of our own) inside the others.
 *
 * Rules these helpers keep:
 *  - Every namespace is named `ops-<pid>-<n>` (server side) or `opc-<pid>-<n>` (client side) and every veth
 *    `ovs-<pid>-<n>` / `ovc-<pid>-<n>`. A veth pair is created with both ends already inside their namespaces
 *    (`ip link add A netns S type veth peer name B netns C`), so the root namespace never holds it; only if
 *    that form is refused is it created in the root namespace and both ends moved at once. Nothing existing is
 *    touched and no address or route is ever added in the root namespace.
 *  - Every child is tracked; every wait is bounded.
 *  - Cleanup (kill what runs in our namespaces, `ip netns del`, remove the temp folder) runs from `cleanup()`
 *    (the suites call it in after()) and again, synchronously, on process exit and on SIGINT/SIGTERM.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import sqlite3 from 'sqlite3';
import { BOOTREQUEST, MessageType, Option, decode, encode, type DhcpMessage } from '../../src/dhcp/codec.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'outpost');
const AGENT = join(ROOT, 'test', 'dhcp', 'netns-agent.ts');

/** Bounds for single commands; nothing here should come near them. */
const IP_TIMEOUT_MS = 10_000;

// --- small process helpers -------------------------------------------------------------------------------------

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** A minimal environment for the clients, so their env dumps hold only what they set. */
function clientEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };
}

/** The environment for Outpost: none of the runner's OUTPOST_* variables, no tsx loader. */
function outpostEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

/** Runs a program to completion, killing it (SIGKILL) after `timeoutMs`. Never rejects for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string; track?: Set<ChildProcess> }): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    opts.track?.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.track?.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.track?.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut, ms: Date.now() - started });
    });
  });
}

function ipSync(args: readonly string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: IP_TIMEOUT_MS });
}

/** `ip ARGS`; rejects with ip's own message on failure. */
export function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or `timeoutMs` passes. */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}

/** Builds the CLI once, and only when it is missing (`npm test` builds before mocha). */
export function ensureBuilt(): void {
  if (existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) return;
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit', timeout: 300_000 });
}

// --- namespaces ------------------------------------------------------------------------------------------------

let counter = 0;
const labs = new Set<NetLab>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const lab of labs) lab.cleanupSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const lab of labs) lab.cleanupSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/**
 * Why namespaces cannot be used here, or undefined when they can: tries `ip netns add` (and del) of a
 * throw-away namespace of our own.
 */
export function netnsUnavailable(): string | undefined {
  const name = `opc-${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'], timeout: IP_TIMEOUT_MS });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `\`ip netns add\` is not permitted here (${stderr || (err as Error).message}); the DHCP integration tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)`;
  }
  try {
    ipSync(['netns', 'del', name]);
  } catch {
    /* it was made; deleting it again below at exit is harmless */
  }
  return undefined;
}

export interface VethPair {
  /** The end in `serverNs`. */
  serverIf: string;
  /** The end in `clientNs`. */
  clientIf: string;
  serverNs: string;
  clientNs: string;
}

/** A set of namespaces, veth pairs, children and a temp folder that go away together. */
export class NetLab {
  readonly namespaces: string[] = [];
  readonly children = new Set<ChildProcess>();
  readonly dir: string;
  private cleaned = false;

  constructor() {
    installExitHandlers();
    this.dir = mkdtempSync(join(tmpdir(), 'outpost-netns-'));
    labs.add(this);
  }

  /** A new, empty namespace with its loopback up. */
  async namespace(kind: 'server' | 'client'): Promise<string> {
    const name = `${kind === 'server' ? 'ops' : 'opc'}-${process.pid}-${++counter}`;
    await ip(['netns', 'add', name]);
    this.namespaces.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * A veth pair between two of our namespaces, both ends up; `serverAddress` (CIDR) goes on the server end.
   * The pair never sits in the root namespace (see the file comment).
   */
  async veth(serverNs: string, clientNs: string, serverAddress?: string): Promise<VethPair> {
    if (!this.namespaces.includes(serverNs) || !this.namespaces.includes(clientNs)) throw new Error('veth: both namespaces must be this lab\'s');
    const n = ++counter;
    const serverIf = `ovs-${process.pid}-${n}`;
    const clientIf = `ovc-${process.pid}-${n}`;
    try {
      await ip(['link', 'add', serverIf, 'netns', serverNs, 'type', 'veth', 'peer', 'name', clientIf, 'netns', clientNs]);
    } catch {
      // Older ip/kernels: create, then move both ends straight away (never configured in the root namespace).
      await ip(['link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf]);
      try {
        await ip(['link', 'set', serverIf, 'netns', serverNs]);
        await ip(['link', 'set', clientIf, 'netns', clientNs]);
      } catch (err) {
        await ip(['link', 'del', serverIf]).catch(() => undefined);
        throw err;
      }
    }
    if (serverAddress) await ip(['-n', serverNs, 'addr', 'add', serverAddress, 'dev', serverIf]);
    await ip(['-n', serverNs, 'link', 'set', serverIf, 'up']);
    await ip(['-n', clientNs, 'link', 'set', clientIf, 'up']);
    return { serverIf, clientIf, serverNs, clientNs };
  }

  /** Sets the MAC of an interface of one of our namespaces. */
  async setMac(ns: string, ifname: string, mac: string): Promise<void> {
    await ip(['-n', ns, 'link', 'set', ifname, 'address', mac]);
  }

  /** Runs `cmd` inside `ns` to completion, bounded. */
  exec(ns: string, cmd: string, args: readonly string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs: opts.timeoutMs, env: opts.env ?? clientEnv(), track: this.children });
  }

  /** Starts `cmd` inside `ns` (ip netns exec execs it, so the child's pid is the program's). */
  spawn(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: ROOT, env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  file(name: string, content: string, mode?: number): string {
    const path = join(this.dir, name);
    writeFileSync(path, content);
    if (mode !== undefined) chmodSync(path, mode);
    return path;
  }

  /** Kills our children and whatever else runs in our namespaces, deletes the namespaces and the temp folder. */
  async cleanup(): Promise<void> {
    this.cleanupSync();
  }

  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    labs.delete(this);
    for (const child of this.children) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const ns of this.namespaces) {
      let pids: number[] = [];
      try {
        pids = execFileSync('ip', ['netns', 'pids', ns], { timeout: IP_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
      } catch {
        /* namespace already gone */
      }
      // Only processes inside a namespace this lab made: ours (daemonised dhclient and the like).
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      try {
        ipSync(['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- Outpost ---------------------------------------------------------------------------------------------------

export interface SiteOptions {
  interface: string;
  phonesOnly?: boolean;
  range?: [string, string];
}

/** The site file of the issue, for the given interface. */
export function siteJson(o: SiteOptions): string {
  return JSON.stringify({
    site: { name: 'T', domain: 'branch.example', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
    advertise: '10.20.0.2',
    network: { voiceVlan: 20 },
    dhcp: {
      enabled: true,
      interface: o.interface,
      subnet: '10.20.0.0/24',
      range: o.range ?? ['10.20.0.100', '10.20.0.199'],
      router: '10.20.0.1',
      dns: ['10.20.0.1'],
      leaseTime: 3600,
      phonesOnly: o.phonesOnly ?? true,
    },
  });
}

/** `outpost serve` running inside a namespace, with its stdout lines and stderr kept. */
export class OutpostProcess {
  readonly lines: string[] = [];
  stderr = '';
  private child: ChildProcess | undefined;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private listeners = new Set<() => void>();

  constructor(private readonly lab: NetLab, readonly ns: string, readonly dataDir: string, readonly siteFile: string) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it and waits (bounded) for `ready dhcp on ...`; rejects with its stderr when it does not come. */
  async start(timeoutMs = 30_000): Promise<string> {
    if (this.running) throw new Error('already running');
    this.lines.length = 0;
    this.stderr = '';
    const args = ['--data', this.dataDir, '--firmware', join(this.dataDir, 'firmware'), '--config', this.siteFile, 'serve', '--no-tftp', '--no-sip', '--no-mdns', '--bind', '0.0.0.0', '--http-port', '8080'];
    const child = this.lab.spawn(this.ns, process.execPath, [BIN, ...args], { env: outpostEnv() });
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const l of this.listeners) l();
    });
    child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    let exitedEarly = false;
    void this.exited.then(() => {
      exitedEarly = true;
      for (const l of this.listeners) l();
    });
    const ready = await this.waitForLine(/^ready dhcp on /, timeoutMs, () => exitedEarly);
    if (!ready) {
      child.kill('SIGKILL');
      throw new Error(`outpost serve did not print "ready dhcp" within ${timeoutMs} ms${exitedEarly ? ' (it exited)' : ''}\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr.slice(-4000)}`);
    }
    return ready;
  }

  /** The first stdout line (from this start) matching `re`, waiting up to `timeoutMs`. */
  waitForLine(re: RegExp, timeoutMs: number, giveUp: () => boolean = () => false): Promise<string | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const found = this.lines.find((l) => re.test(l));
        if (found !== undefined || giveUp()) {
          clearTimeout(timer);
          this.listeners.delete(check);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        resolve(this.lines.find((l) => re.test(l)));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` and waits (bounded) for the exit; SIGKILL if it does not come. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; forced: boolean }> {
    const child = this.child;
    if (!child || !this.exited) throw new Error('not started');
    const started = Date.now();
    if (this.running) child.kill(signal);
    const timeout = sleep(timeoutMs).then(() => 'timeout' as const);
    const result = await Promise.race([this.exited, timeout]);
    if (result === 'timeout') {
      child.kill('SIGKILL');
      const r = await this.exited;
      return { ...r, ms: Date.now() - started, forced: true };
    }
    return { ...result, ms: Date.now() - started, forced: false };
  }

  get dbFile(): string {
    return join(this.dataDir, 'outpost.db');
  }
}

/** `node bin/outpost --data DIR ARGS` from the root namespace (it only reads the data folder), bounded. */
export function outpostCli(dataDir: string, args: readonly string[]): Promise<RunResult> {
  return run(process.execPath, [BIN, '--data', dataDir, '--firmware', join(dataDir, 'firmware'), ...args], { timeoutMs: 30_000, env: outpostEnv() });
}

/** Reads Outpost's sqlite file (WAL: a reader beside the running server is fine). */
export async function dbAll<T>(file: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d = new sqlite3.Database(file, sqlite3.OPEN_READWRITE, (err) => (err ? reject(err) : resolve(d)));
  });
  try {
    db.configure('busyTimeout', 5000);
    return await new Promise<T[]>((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

export interface LeaseRow {
  address: string;
  client: string;
  mac: string | null;
  state: string;
  expires_at: number;
  updated_at: number;
  vendor_class: string | null;
}

// --- DHCP clients ----------------------------------------------------------------------------------------------

/** Parses the env dumps our client scripts write: blocks of `k=v` lines separated by `----`. */
function parseDumps(text: string): Array<Record<string, string>> {
  return text
    .split(/^----$/m)
    .map((block) => {
      const env: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
      }
      return env;
    })
    .filter((e) => Object.keys(e).length > 0);
}

/** A script that only appends its first argument and its environment to `out`: it configures nothing. */
function dumpScript(lab: NetLab, name: string, out: string): string {
  return lab.file(name, `#!/bin/sh\n{ printf 'event=%s\\n' "$1"; env; printf '%s\\n' '----'; } >> '${out}'\n`, 0o755);
}

export interface UdhcpcOptions {
  vendorClass?: string;
  /** Sent as option 77 (hex of the plain string, as phones send it). */
  userClass?: string;
  /** Option codes to request (-O). */
  request?: number[];
  /** -r IP */
  requestIp?: string;
  /** -R: release on exit. */
  release?: boolean;
  tries?: number;
  extra?: string[];
}

export interface UdhcpcResult extends RunResult {
  events: Array<Record<string, string>>;
  /** The env of the `bound` event, when there was one. */
  bound: Record<string, string> | undefined;
}

/** busybox udhcpc in `ns` on `ifname`: `-f -q -n -t N -T 1 -s OUR_SCRIPT`. */
export async function udhcpc(lab: NetLab, ns: string, ifname: string, o: UdhcpcOptions = {}): Promise<UdhcpcResult> {
  const n = ++counter;
  const out = join(lab.dir, `udhcpc-${n}.env`);
  const script = dumpScript(lab, `udhcpc-${n}.sh`, out);
  const tries = o.tries ?? 3;
  const args = ['udhcpc', '-i', ifname, '-f', '-q', '-n', '-t', String(tries), '-T', '1', '-s', script];
  if (o.vendorClass !== undefined) args.push('-V', o.vendorClass);
  if (o.userClass !== undefined) args.push('-x', `0x4d:${Buffer.from(o.userClass, 'latin1').toString('hex')}`);
  for (const code of o.request ?? []) args.push('-O', String(code));
  if (o.requestIp) args.push('-r', o.requestIp);
  if (o.release) args.push('-R');
  args.push(...(o.extra ?? []));
  const result = await lab.exec(ns, 'busybox', args, { timeoutMs: (tries + 8) * 1000 });
  const events = existsSync(out) ? parseDumps(readFileSync(out, 'utf8')) : [];
  return { ...result, events, bound: events.filter((e) => e.event === 'bound' || e.event === 'renew').pop() };
}

/**
 * busybox udhcpc kept running (no -q) until it is bound, then stopped with `signal`: with -R (`release`) a
 * SIGTERM makes it unicast a RELEASE. (`-q -R` does not: 1.35 quits before it counts itself bound.)
 */
export async function udhcpcUntilBound(lab: NetLab, ns: string, ifname: string, o: UdhcpcOptions & { signal?: NodeJS.Signals } = {}): Promise<UdhcpcResult> {
  const n = ++counter;
  const out = join(lab.dir, `udhcpc-${n}.env`);
  const script = dumpScript(lab, `udhcpc-${n}.sh`, out);
  const args = ['udhcpc', '-i', ifname, '-f', '-n', '-t', String(o.tries ?? 3), '-T', '1', '-s', script];
  if (o.vendorClass !== undefined) args.push('-V', o.vendorClass);
  for (const code of o.request ?? []) args.push('-O', String(code));
  if (o.requestIp) args.push('-r', o.requestIp);
  if (o.release) args.push('-R');
  const started = Date.now();
  const child = lab.spawn(ns, 'busybox', args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const events = () => (existsSync(out) ? parseDumps(readFileSync(out, 'utf8')) : []);
  await waitFor(() => (events().some((e) => e.event === 'bound') || child.exitCode !== null ? true : undefined), 15_000, 50);
  let timedOut = false;
  if (child.exitCode === null) child.kill(o.signal ?? 'SIGTERM');
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, 10_000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  const all = events();
  return { code, signal, stdout, stderr, timedOut, ms: Date.now() - started, events: all, bound: all.filter((e) => e.event === 'bound' || e.event === 'renew').pop() };
}

export interface DhclientResult extends RunResult {
  events: Array<Record<string, string>>;
  /** The env of the BOUND (or RENEW/REBOOT) call. */
  bound: Record<string, string> | undefined;
}

/**
 * ISC dhclient in `ns` on `ifname`, once (`-1`), with our own conf (`conf` lines), -sf script (env dump),
 * lease and pid files in the lab folder. The daemon it leaves behind is killed before this returns.
 */
export async function dhclient(lab: NetLab, ns: string, ifname: string, conf: string[]): Promise<DhclientResult> {
  const n = ++counter;
  const out = join(lab.dir, `dhclient-${n}.env`);
  const script = dumpScript(lab, `dhclient-${n}.sh`, out);
  const cf = lab.file(`dhclient-${n}.conf`, [...conf, 'timeout 12;', 'retry 1;', 'initial-interval 1;', ''].join('\n'));
  const lf = join(lab.dir, `dhclient-${n}.leases`);
  const pf = join(lab.dir, `dhclient-${n}.pid`);
  const result = await lab.exec(ns, 'dhclient', ['-1', '-v', '-sf', script, '-lf', lf, '-pf', pf, '-cf', cf, ifname], { timeoutMs: 30_000 });
  if (existsSync(pf)) {
    const pid = Number(readFileSync(pf, 'utf8').trim());
    if (pid > 1) {
      try {
        process.kill(pid, 'SIGKILL'); // the daemon this call started (its own pid file)
      } catch {
        /* already gone */
      }
    }
  }
  const events = existsSync(out) ? parseDumps(readFileSync(out, 'utf8')) : [];
  return { ...result, events, bound: events.filter((e) => ['BOUND', 'RENEW', 'REBOOT'].includes(e.reason ?? '')).pop() };
}

// --- our own raw client ----------------------------------------------------------------------------------------

export interface Received {
  msg: DhcpMessage;
  from: string;
  port: number;
  at: number;
}

/** The netns-agent.ts process in a client namespace: sends the packets we build, hands back what it receives. */
export class DhcpAgent {
  readonly received: Received[] = [];
  private readonly consumed = new Set<Received>();
  private waiters = new Set<() => void>();
  readonly errors: string[] = [];

  private constructor(private readonly child: ChildProcess) {}

  static async start(lab: NetLab, ns: string, ifname: string, port = 68): Promise<DhcpAgent> {
    const child = lab.spawn(ns, process.execPath, ['--import', 'tsx', AGENT, ifname, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const agent = new DhcpAgent(child);
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let m: { rx?: string; from?: string; port?: number; ready?: boolean; error?: string };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      if (m.ready) ready = true;
      if (m.error) agent.errors.push(m.error);
      if (m.rx) {
        const msg = decode(Buffer.from(m.rx, 'hex'));
        if (!(msg instanceof Error)) agent.received.push({ msg, from: m.from ?? '', port: m.port ?? 0, at: Date.now() });
      }
      for (const w of agent.waiters) w();
    });
    const ok = await waitFor(() => (ready ? true : child.exitCode !== null ? false : undefined), 20_000, 50);
    if (!ok) {
      child.kill('SIGKILL');
      throw new Error(`the raw DHCP agent did not start in ${ns}: ${stderr.slice(-2000)} ${agent.errors.join('; ')}`);
    }
    return agent;
  }

  send(msg: DhcpMessage, host = '255.255.255.255', port = 67): void {
    this.child.stdin!.write(`${JSON.stringify({ send: encode(msg).packet.toString('hex'), host, port })}\n`);
  }

  /** The first not yet consumed datagram matching `pred`, waiting up to `timeoutMs`; undefined if none came. */
  expect(pred: (m: DhcpMessage, r: Received) => boolean, timeoutMs: number): Promise<Received | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const hit = this.received.find((r) => !this.consumed.has(r) && pred(r.msg, r));
        if (hit) {
          this.consumed.add(hit);
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** A reply of `type` to transaction `xid`. */
  reply(xid: number, type: number, timeoutMs = 5000): Promise<Received | undefined> {
    return this.expect((m) => m.xid === xid && m.options.get(Option.MESSAGE_TYPE)?.[0] === type, timeoutMs);
  }

  /** Any reply at all to `xid`. */
  anyReply(xid: number, timeoutMs: number): Promise<Received | undefined> {
    return this.expect((m) => m.xid === xid, timeoutMs);
  }

  close(): void {
    this.child.stdin!.end();
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.replace(/[^0-9a-f]/gi, ''), 'hex');
}

export function ipBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

let xidCounter = (process.pid * 7919) >>> 0;
export function newXid(): number {
  xidCounter = (xidCounter + 0x10001) >>> 0;
  return xidCounter;
}

/** A client message: option 53 first, then `options` in order. */
export function clientMessage(type: number, o: { mac: string; xid?: number; ciaddr?: string; giaddr?: string; flags?: number; options?: Array<[number, Buffer]> }): DhcpMessage {
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: o.xid ?? newXid(),
    secs: 0,
    flags: o.flags ?? 0x8000,
    ciaddr: o.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: o.giaddr ?? '0.0.0.0',
    chaddr: macBytes(o.mac),
    sname: '',
    file: '',
    options: new Map<number, Buffer>([[Option.MESSAGE_TYPE, Buffer.from([type])], ...(o.options ?? [])]),
  };
}

export { MessageType, Option };
