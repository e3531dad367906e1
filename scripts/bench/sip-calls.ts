/**
 * SIP calls benchmark: how many calls per second Outpost's record-routing stateful proxy (the survival-mode call
 * path) carries on one core, sipp UAC -> Outpost -> sipp UAS, against Kamailio as a record-routing stateful proxy
 * doing the same job on the same core in the same run; and the failover time: the fake Centrex killed -> the
 * first call routed locally connected.
 *
 *   npm run bench:calls                                   (= npx tsx scripts/bench/sip-calls.ts)
 *   npx tsx scripts/bench/sip-calls.ts [--rates 100,200,300,400,500,600,700,800,1000,1200,1600,2000,2500,3000,3500] [--duration 6]
 *        [--servers outpost,kamailio] [--callers 200] [--uacs 1] [--kamailio-children 1]
 *        [--algorithms MD5] [--kamailio-stateful-challenge] [--failover-runs 3] [--no-throughput] [--no-failover]
 *        [--cpu-prof DIR] [--json FILE] [--keep-temp] [--outpost-bin PATH] [--outpost-data-parent DIR]
 *
 * A call: INVITE -> 100, 407 -> ACK -> INVITE with Proxy-Authorization -> 100, 180, 200 -> ACK -> BYE -> 200
 * (scripts/bench/sip-calls-uac.xml; no pause between the ACK and the BYE). Every call is authenticated with
 * digest (the 407 round is part of the cost) and record-routed, so the ACK and the BYE cross the proxy too. The
 * callee is a sipp UAS (sip-calls-uas.xml) that registered its line from the same port first (sip-calls-reg.xml,
 * 401 round); it answers at once. The caller dials the callee's extension (121); the proxy maps it to the line's
 * SIP user and rings the registered contact.
 *
 * Throughput:
 *  1. Outpost (dist/: `npm run build`) on one core:
 *     `taskset -c C0 node bin/outpost --data D --firmware F --config SITE serve --bind 127.0.0.1 --http-port 0
 *      --no-tftp --sip-port P --no-dhcp --no-mdns`, SITE: --callers lines (ext 200.., users 4202345602xx) and the
 *     callee's line (ext 121), no upstream (Outpost then routes every call itself: the survival route, the same
 *     code path as in survival mode), sip.algorithms MD5 (Kamailio challenges with MD5 only; --algorithms
 *     MD5,SHA-256 is Outpost's default), admin.password set.
 *     Kamailio 5.6 on the same core: scripts/bench/kamailio-proxy.cfg (see that file: registrar with usrloc in
 *     memory, pv_proxy_authenticate with nonce counts and a stateless 407 as Outpost's (with
 *     --kamailio-stateful-challenge the 407 in a transaction, as Outpost before commit cdf9146), record_route,
 *     extension -> user, lookup, t_relay, UDP receive buffer up to 4 MB as Outpost's),
 *     `taskset -c C0 kamailio -f CFG -DD -E -m 512 -M 16 -Y TMP`, with --kamailio-children UDP workers (default
 *     1: one process doing the SIP work, as Outpost's one event loop; with 4 it reached about the same rates on
 *     this machine), plus its timer processes.
 *     Both run during the whole throughput part; only one of them carries calls at a time.
 *  2. For each server a callee UAS registered to it (its own port). The load generators (sipp UAC and UAS) and
 *     this process run on the other core (taskset).
 *  3. A warm-up (100 calls/s for 3 s, not counted), then the rates rising, each for --duration seconds
 *     (`sipp -r R -rp 1000 -m R*duration -l 3*R -recv_timeout 4000`, split over --uacs processes); which server
 *     goes first alternates from one rate to the next. A step passes when fewer than 0.1% of the calls failed,
 *     the calls completed per second of the step (sipp's own run time, its start to its last call's end) reached
 *     95% of the rate, and the mean call set-up time stayed under 250 ms (a server past its limit queues calls:
 *     in a short step that shows as set-up times of seconds before it shows as failed calls). A failed step is
 *     tried once more; a server that fails twice at a rate is not tried at higher ones. The sustainable rate of
 *     a server is the highest rate it passed.
 *  4. Per step: calls made, completed, failed (by sipp's cause), completed/s, mean and p99 (bucket) call set-up
 *     time (first INVITE to the 200, the 407 round included), BYE round trip, server CPU and CPU per call, the
 *     load generators' CPU, how busy each core was and how much CPU other processes took there, and the UDP
 *     datagrams the kernel dropped on full socket buffers (Udp RcvbufErrors, the whole machine).
 *
 * Failover (--failover-runs times, each with a fresh Outpost):
 *  1. A fake Centrex: a sipp UAS answering OPTIONS 200 (sip-calls-centrex.xml) on 127.0.0.2. Outpost with
 *     upstream.proxy = that address, upstream.interval 1, upstream.failures 3 (the default monitor shortened to
 *     1 s x 3), and the callee registered. Wait until /api/v1/status says upstream up, then 1-2 s (a random phase
 *     against the probe clock).
 *  2. SIGKILL to the fake Centrex (time 0). From then on, in parallel:
 *     - /api/v1/status polled every 50 ms: when it first says mode survival, and its modeSince (the monitor's
 *       own time of the change);
 *     - callers: a new single call (sipp -m 1, line 200 -> 121) started every 200 ms, each waiting for its answer
 *       as a phone does (up to 45 s), until one is connected and the mode has changed. Times by sipp's clock: a
 *       call is dialled when its sipp starts (the first INVITE leaves at once; the time sipp takes to start is not
 *       counted) and connected when its 200 OK arrives (dialled + sipp's INVITE -> 200 time, rtd 1).
 *     The failover time is kill -> the first call connected. Outpost in normal mode relays every call to the
 *     Centrex first and routes it locally only when the Centrex does not take it, so a call dialled before the
 *     mode changed waits for that: reported as the longest wait of a call dialled before the change.
 *
 * Options for looking closer: --keep-temp keeps the temp dir (sipp's statistics and error logs, the site file,
 * Kamailio's configuration); --outpost-bin PATH measures another build (e.g. `git archive` of an earlier commit,
 * built, with node_modules linked); --outpost-data-parent DIR puts Outpost's data folder there (/dev/shm: what
 * the durable call records cost, by their absence; not a benchmark figure).
 *
 * Goals: >= 300 calls/s through Outpost on one core; >= 1/3 of Kamailio's rate; failover < 5 s with the monitor at
 * 1 s x 3 (every run). Exit status: 0 when the runs were made (goals met or not), 2 when the benchmark could not
 * run. --cpu-prof DIR runs Outpost under `node --cpu-prof` in the throughput part and prints the summary of the
 * profile (as scripts/bench/cpuprofile-summary.ts does). Traffic goes only to 127.0.0.0/8. Children (and
 * Kamailio's process group) are stopped and temp dirs removed on exit, on error and on Ctrl-C; a watchdog ends a
 * run that takes too long. A full run takes 3.5 to 4 minutes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sqlite3 from 'sqlite3';
import { allowedCpus, exited, log, serviceNodeFlags, waitExit } from './common.js';
import { formatSummary, summariseProfile } from './cpuprofile-summary.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BENCH = join(ROOT, 'scripts', 'bench');
const DEFAULT_OUTPOST_BIN = join(ROOT, 'bin', 'outpost');
const UAC_XML = join(BENCH, 'sip-calls-uac.xml');
const UAS_XML = join(BENCH, 'sip-calls-uas.xml');
const REG_XML = join(BENCH, 'sip-calls-reg.xml');
const CENTREX_XML = join(BENCH, 'sip-calls-centrex.xml');
const KAMAILIO_CFG = join(BENCH, 'kamailio-proxy.cfg');
const KAMAILIO_MODULES = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules', '/usr/local/lib64/kamailio/modules', '/usr/local/lib/kamailio/modules'];

const GOAL_CPS = 300;
const GOAL_RATIO = 1 / 3;
const GOAL_FAILOVER_S = 5;
/** A step passes with fewer than this share of failed calls ... */
const MAX_FAILED = 0.001;
/** ... and at least this share of the rate completed per second ... */
const MIN_ACHIEVED = 0.95;
/**
 * ... and a mean call set-up time under this (ms). A server past its limit queues the calls: in a short step that
 * shows as set-up times of seconds before it shows as failed calls.
 */
const MAX_SETUP_MS = 250;
const RECV_TIMEOUT_MS = 4000;
const WARMUP = { rate: 100, seconds: 3 };

const HOST = '127.0.0.1';
const CENTREX_HOST = '127.0.0.2';
const CALLEE = { ext: '121', user: '420234567121', password: `pw121-${randomBytes(4).toString('hex')}` };
const ADMIN_PASSWORD = `bench-${randomBytes(6).toString('hex')}`;

// --- options -------------------------------------------------------------------------------------------------

function parseOptions() {
  return parseArgs({
    options: {
      rates: { type: 'string', default: '100,200,300,400,500,600,700,800,1000,1200,1600,2000,2500,3000,3500' },
      duration: { type: 'string', default: '6' },
      servers: { type: 'string', default: 'outpost,kamailio' },
      callers: { type: 'string', default: '200' },
      uacs: { type: 'string', default: '1' },
      'kamailio-children': { type: 'string', default: '1' },
      algorithms: { type: 'string', default: 'MD5' },
      'failover-runs': { type: 'string', default: '3' },
      'no-throughput': { type: 'boolean', default: false },
      'no-failover': { type: 'boolean', default: false },
      'keep-temp': { type: 'boolean', default: false },
      'kamailio-stateful-challenge': { type: 'boolean', default: false },
      'outpost-data-parent': { type: 'string' },
      'outpost-bin': { type: 'string' },
      'cpu-prof': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
}
let parsed: ReturnType<typeof parseOptions>;
try {
  parsed = parseOptions();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message.split('\n')[0]} (--help lists the options)\n`);
  process.exit(2);
}
const args = parsed.values;
if (args.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, '') + '\n');
  process.exit(0);
}
function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
function whole(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be a whole number ${min}..${max}, not "${text}"`);
  return n;
}
const DURATION_S = whole('duration', args.duration, 2, 60);
const CALLERS = whole('callers', args.callers, 1, 800);
const UACS = whole('uacs', args.uacs, 1, 8);
const KAMAILIO_CHILDREN = whole('kamailio-children', args['kamailio-children'], 1, 32);
const FAILOVER_RUNS = args['no-failover'] ? 0 : whole('failover-runs', args['failover-runs'], 0, 10);
const RATES = args.rates.split(',').map((r) => Number(r.trim()));
if (!RATES.length || RATES.some((r) => !Number.isInteger(r) || r < 1 || r > 20_000)) usage(`--rates must be whole numbers 1..20000 separated by commas, not "${args.rates}"`);
RATES.sort((a, b) => a - b);
type ServerName = 'outpost' | 'kamailio';
const SERVERS = args['no-throughput'] ? [] : (args.servers.split(',').map((s) => s.trim()) as ServerName[]);
if (!args['no-throughput'] && (!SERVERS.length || SERVERS.some((s) => s !== 'outpost' && s !== 'kamailio'))) usage(`--servers must be outpost, kamailio or both, not "${args.servers}"`);
const ALGORITHMS = args.algorithms.split(',').map((a) => a.trim());
if (!ALGORITHMS.length || ALGORITHMS.some((a) => a !== 'MD5' && a !== 'SHA-256')) usage(`--algorithms must be MD5, SHA-256 or both, not "${args.algorithms}"`);
const CPU_PROF_DIR = args['cpu-prof'] ? resolve(args['cpu-prof']) : undefined;
/** Where Outpost's data folders go (default: the temp dir). A diagnostic: on tmpfs an fsync costs nothing. */
const DATA_PARENT = args['outpost-data-parent'] ? resolve(args['outpost-data-parent']) : undefined;
/** Another build of Outpost to measure (its bin/outpost), e.g. a checkout of an earlier commit; default this one. */
const OUTPOST_BIN = args['outpost-bin'] ? resolve(args['outpost-bin']) : DEFAULT_OUTPOST_BIN;
const OUTPOST_ROOT = resolve(dirname(OUTPOST_BIN), '..');

/** taskset's arguments for `taskset -c CORE COMMAND...`. */
function onCore(core: number, command: string, commandArgs: readonly string[]): string[] {
  return ['-c', String(core), command, ...commandArgs];
}

// --- cleanup: children, Kamailio's process group and temp dirs go away on every exit path ---------------------

const children = new Set<ChildProcess>();
/** Process groups this process created (Kamailio and its workers): only those. */
const groups = new Set<number>();
const tempDirs: string[] = [];

/** SIGTERM, then SIGKILL after `graceMs`. Outpost stops cleanly on SIGTERM (and writes its CPU profile). */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!exited(child)) {
    child.kill('SIGTERM');
    if (!(await waitExit(child, graceMs))) {
      child.kill('SIGKILL');
      await waitExit(child, 2000);
    }
  }
  children.delete(child);
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone already
  }
}

/** Kamailio: its whole process group (the main process and the workers it forked), SIGTERM then SIGKILL. */
async function stopGroup(child: ChildProcess, graceMs = 3000): Promise<void> {
  const pgid = child.pid;
  if (pgid !== undefined) {
    killGroup(pgid, 'SIGTERM');
    if (!(await waitExit(child, graceMs))) killGroup(pgid, 'SIGKILL');
    await waitExit(child, 2000);
    // Workers that outlived the main process.
    if (groupPids(pgid).length) killGroup(pgid, 'SIGKILL');
    groups.delete(pgid);
  }
  children.delete(child);
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const pgid of groups) killGroup(pgid, 'SIGKILL');
    groups.clear();
    await Promise.all([...children].map((c) => stopChild(c, 3000)));
    removeTempDirs();
  })());
}

process.on('exit', () => {
  for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  for (const c of children) if (!exited(c)) c.kill('SIGKILL');
  try {
    removeTempDirs();
  } catch {
    // best effort at exit
  }
});
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(code));
  });
}

// --- small helpers ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function available(command: string, versionArgs: readonly string[]): string | undefined {
  const r = spawnSync(command, versionArgs, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status === null) return undefined;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || '(unknown version)';
}

/** Whether a UDP (and, with `tcp`, a TCP) port is free on `host`. */
function portFree(host: string, port: number, tcp: boolean): Promise<boolean> {
  const udp = new Promise<boolean>((res) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      res(false);
    });
    s.bind(port, host, () => s.close(() => res(true)));
  });
  if (!tcp) return udp;
  return udp.then(
    (ok) =>
      ok &&
      new Promise<boolean>((res) => {
        const srv = createServer();
        srv.once('error', () => res(false));
        srv.listen(port, host, () => srv.close(() => res(true)));
      }),
  );
}

/**
 * Ports for the servers and the sipp processes, handed out upwards from a random base. Each is checked free
 * (UDP, and TCP for the servers) on 127.0.0.1 and on 0.0.0.0 (sipp's control socket binds there).
 */
let nextPort = 20_000 + Math.floor(Math.random() * 30_000);
async function freePorts(count: number, opts: { tcp?: boolean; host?: string } = {}): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const base = nextPort;
    nextPort += count;
    if (nextPort > 64_000) nextPort = 20_000;
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = (await portFree(opts.host ?? HOST, p, opts.tcp ?? false)) && (await portFree('0.0.0.0', p, false));
    if (ok) return base;
  }
  throw new Error('no free ports found on 127.0.0.1');
}

/** Ports of one sipp process: SIP (-p), media (-mp, it binds mp and mp+2), control (-cp). */
async function sippPorts(host = HOST): Promise<{ sip: number; media: number; control: number }> {
  const base = await freePorts(6, { host });
  return { sip: base, media: base + 1, control: base + 5 };
}

// --- CPU pinning and accounting ---------------------------------------------------------------------------------

interface Pinning {
  server: number;
  loadgen: number;
  note: string;
}

function pin(): Pinning {
  const allowed = allowedCpus();
  const server = allowed[0];
  if (server === undefined) throw new Error('cannot read the CPU affinity of this process (taskset -c -p)');
  const loadgen = allowed[1];
  if (loadgen === undefined) return { server, loadgen: server, note: `only CPU ${server} is available: servers and sipp share it (figures are pessimistic)` };
  const r = spawnSync('taskset', ['-a', '-c', '-p', String(loadgen), String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`could not pin this process to CPU ${loadgen}`);
  return { server, loadgen, note: `servers on CPU ${server} (taskset -c ${server}), sipp UAC/UAS and this process on CPU ${loadgen}` };
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function procStat(pid: number): { pgrp: number; cpu: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pgrp: Number(f[2]), cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system, all threads) a process has used. */
function cpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : procStat(pid)?.cpu;
}

function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (procStat(Number(name))?.pgrp === pgid) pids.push(Number(name));
  }
  return pids;
}

/** CPU seconds of every process in a process group (Kamailio: main, workers, timers). */
function groupCpuSeconds(pgid: number): number {
  return groupPids(pgid).reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);
}

interface CoreTimes {
  task: number;
  irq: number;
  steal: number;
  total: number;
}
function cpuTimes(cpu: number): CoreTimes | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
    if (!line) return undefined;
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const at = (i: number) => v[i] ?? 0;
    return { task: (at(0) + at(1) + at(2)) / CLK_TCK, irq: (at(5) + at(6)) / CLK_TCK, steal: at(7) / CLK_TCK, total: v.reduce((a, b) => a + b, 0) / CLK_TCK };
  } catch {
    return undefined;
  }
}
function coreShares(before: CoreTimes | undefined, after: CoreTimes | undefined): { task: number; irq: number; steal: number } | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  const t = after.total - before.total;
  return { task: (after.task - before.task) / t, irq: (after.irq - before.irq) / t, steal: (after.steal - before.steal) / t };
}

/**
 * Datagrams the kernel dropped on each of our UDP sockets (the `drops` column of /proc/net/udp: the socket's
 * receive buffer was full, its owner did not read fast enough), by local port on 127.0.0.x.
 */
function udpDrops(ports: readonly number[]): Map<number, number> {
  const found = new Map<number, number>();
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const m = /^([0-9A-F]{8}):([0-9A-F]{4})$/i.exec(f[1] ?? '');
      if (!m || !m[1]!.endsWith('7F')) continue;
      const port = parseInt(m[2]!, 16);
      if (ports.includes(port)) found.set(port, (found.get(port) ?? 0) + Number(f[f.length - 1]));
    }
  } catch {
    // not Linux
  }
  return found;
}

// --- child processes ---------------------------------------------------------------------------------------

interface Child {
  process: ChildProcess;
  stdoutTail: () => string;
  stderrTail: () => string;
}

function start(command: string, commandArgs: readonly string[], options: { env?: NodeJS.ProcessEnv; group?: boolean } = {}): Child {
  const child = spawn(command, commandArgs, { cwd: ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group ?? false });
  children.add(child);
  if (options.group && child.pid !== undefined) groups.add(child.pid);
  const tails = { out: [] as string[], err: [] as string[] };
  const keep = (tail: string[]) => (chunk: string) => {
    tail.push(chunk);
    while (tail.length > 40) tail.shift();
  };
  child.stdout!.setEncoding('utf8').on('data', keep(tails.out));
  child.stderr!.setEncoding('utf8').on('data', keep(tails.err));
  child.on('error', (err) => tails.err.push(`spawn error: ${err.message}`));
  const last = (tail: string[]) => () => tail.join('').trim().split('\n').slice(-15).join('\n');
  return { process: child, stdoutTail: last(tails.out), stderrTail: last(tails.err) };
}

/** Resolves once a line of the child's stdout or stderr matches `re`; rejects when it exits or `ms` passes first. */
function waitForLine(child: Child, re: RegExp, ms: number, what: string, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
  const source = stream === 'stdout' ? child.process.stdout! : child.process.stderr!;
  return new Promise((res, rej) => {
    let buffer = '';
    const fail = (why: string) => {
      done();
      const tails = [child.stdoutTail(), child.stderrTail()].filter(Boolean).join('\n');
      rej(new Error(`${what} ${why}${tails ? `; its output:\n${tails}` : ''}`));
    };
    const onData = (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const m = re.exec(line);
        if (m) {
          done();
          res(m);
          return;
        }
      }
    };
    const onExit = (code: number | null, signal: string | null) => fail(`exited (${signal ?? `status ${code}`}) before it was ready`);
    const timer = setTimeout(() => fail(`was not ready within ${ms / 1000} s`), ms);
    const done = () => {
      clearTimeout(timer);
      source.off('data', onData);
      child.process.off('exit', onExit);
    };
    source.on('data', onData);
    child.process.once('exit', onExit);
  });
}

// --- sipp ------------------------------------------------------------------------------------------------------

/** The last row of a sipp statistics file (-trace_stat -stf), by column name. */
function readSippStats(file: string): Map<string, string> | undefined {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    if (lines.length < 2) return undefined;
    const names = lines[0]!.split(';');
    const values = lines[lines.length - 1]!.split(';');
    return new Map(names.map((n, i) => [n, values[i] ?? '']));
  } catch {
    return undefined;
  }
}

/** `HH:MM:SS:micro` (sipp's response times) -> ms. */
function sippMs(v: string | undefined): number {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec((v ?? '').trim());
  if (!m) return NaN;
  return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

const num = (stats: Map<string, string> | undefined, name: string) => Number(stats?.get(name) ?? NaN);

/** Set-up time buckets of the UAC scenario's ResponseTimeRepartition (ms): the bucket holding the 99th percentile. */
function p99Bucket(stats: Map<string, string> | undefined): string {
  if (!stats) return 'n/a';
  const buckets = [...stats.keys()].filter((k) => k.startsWith('ResponseTimeRepartition1_'));
  const counts = buckets.map((k) => Number(stats.get(k)));
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return 'n/a';
  let seen = 0;
  for (const [i, k] of buckets.entries()) {
    seen += counts[i]!;
    if (seen >= 0.99 * total) return k.slice('ResponseTimeRepartition1_'.length).replace('>=', '≥').replace('<', '< ') + ' ms';
  }
  return 'n/a';
}

/** sipp's addresses and ports, 4 MB socket buffers (so that the load generators do not drop answers), no stdin. */
/**
 * The callers ignore a message the scenario does not expect at that point instead of aborting the call, as a phone
 * does: a 180 that arrives after the 200 (Kamailio's workers may forward the two in either order), a retransmitted
 * 407 or 200. A call that really goes wrong still fails: it times out waiting for the answer it needs.
 */
const TOLERANT = ['-default_behaviors', 'all,-abortunexp'];

function sippCommon(ports: { sip: number; media: number; control: number }, host = HOST): string[] {
  return ['-i', host, '-p', String(ports.sip), '-mp', String(ports.media), '-cp', String(ports.control), '-buff_size', String(4 << 20), '-nostdin'];
}

interface SippRun {
  exit: number | null;
  signal: string | null;
  stats: Map<string, string> | undefined;
  /** Spawn to exit, seconds. */
  wall: number;
  /** sipp's own clock: its start to its last statistics (after the last call ended), seconds. */
  elapsed: number;
  /** Datagrams the kernel dropped on its SIP socket (full receive buffer). */
  drops: number;
  startedAt: number;
  endedAt: number;
  cpu: number | undefined;
  stderr: string;
}

/** Runs one sipp to its end (or `limitMs`, then SIGKILL), sampling its CPU. */
async function runSipp(core: number, sipPort: number, sippArgs: readonly string[], statsFile: string | undefined, limitMs: number): Promise<SippRun> {
  const startedAt = Date.now();
  const t0 = performance.now();
  const child = start('taskset', onCore(core, 'sipp', sippArgs));
  let cpu: number | undefined;
  let drops = 0;
  // Its CPU and its socket's drops, sampled while it runs (both are gone once it has exited).
  const sampler = setInterval(() => {
    const c = cpuSeconds(child.process.pid);
    if (c !== undefined) cpu = c;
    drops = udpDrops([sipPort]).get(sipPort) ?? drops;
  }, 200);
  const finished = await waitExit(child.process, limitMs);
  if (!finished) {
    child.process.kill('SIGKILL');
    await waitExit(child.process, 2000);
  }
  clearInterval(sampler);
  children.delete(child.process);
  const wall = (performance.now() - t0) / 1000;
  const stats = statsFile ? readSippStats(statsFile) : undefined;
  const epoch = (v: string | undefined) => Number((v ?? '').split('\t')[2]);
  const elapsed = epoch(stats?.get('CurrentTime')) - epoch(stats?.get('StartTime'));
  return { exit: child.process.exitCode, signal: child.process.signalCode, stats, wall, elapsed: Number.isFinite(elapsed) && elapsed > 0 ? elapsed : wall, drops, startedAt, endedAt: Date.now(), cpu, stderr: child.stderrTail() };
}

/** Registers `user` from `ports.sip` with `server` (REGISTER, 401, REGISTER with credentials, 200). */
async function register(core: number, dir: string, server: { host: string; port: number }, ports: { sip: number; media: number; control: number }, user: string, password: string): Promise<void> {
  const csv = join(dir, `reg-${ports.sip}.csv`);
  writeFileSync(csv, `SEQUENTIAL\n${user};[authentication username=${user} password=${password}]\n`);
  const r = await runSipp(core, ports.sip, ['-sf', REG_XML, '-inf', csv, ...sippCommon(ports), '-m', '1', '-recv_timeout', '5000', `${server.host}:${server.port}`], undefined, 15_000);
  if (r.exit !== 0) throw new Error(`the callee's REGISTER to ${server.host}:${server.port} failed (sipp exit ${r.signal ?? r.exit}): ${r.stderr}`);
}

/** The callee: a sipp UAS on `ports.sip` (which registered before), running until stopped. */
function startUas(core: number, ports: { sip: number; media: number; control: number }, statsFile: string): Child {
  return start('taskset', onCore(core, 'sipp', ['-sf', UAS_XML, ...sippCommon(ports), '-trace_stat', '-stf', statsFile, '-fd', '1']));
}

// --- the site and the servers --------------------------------------------------------------------------------

interface BenchLine {
  ext: string;
  user: string;
  password: string;
}

function callerLines(): BenchLine[] {
  const secret = randomBytes(4).toString('hex');
  return Array.from({ length: CALLERS }, (_, i) => {
    const ext = String(200 + i);
    return { ext, user: `42023456${String(200 + i).padStart(4, '0')}`, password: `pw${ext}-${secret}` };
  });
}

function writeCallersCsv(file: string, lines: readonly BenchLine[], count = lines.length): void {
  const rows = lines.slice(0, count).map((l) => `${l.user};[authentication username=${l.user} password=${l.password}];${CALLEE.ext}`);
  writeFileSync(file, `SEQUENTIAL\n${rows.join('\n')}\n`);
}

function outpostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return env;
}

interface RunningOutpost {
  child: Child;
  pid: number | undefined;
  sipPort: number;
  httpPort: number;
  dataDir: string;
}

async function startOutpost(core: number, dir: string, lines: readonly BenchLine[], upstream: Record<string, unknown> | undefined, profileDir?: string): Promise<RunningOutpost> {
  let dataDir = join(dir, 'data');
  if (DATA_PARENT) {
    dataDir = mkdtempSync(join(DATA_PARENT, `opbench-calls-data-${process.pid}-`));
    tempDirs.push(dataDir);
  }
  const firmwareDir = join(dir, 'firmware');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(firmwareDir, { recursive: true });
  const site = {
    site: { name: 'bench' },
    admin: { password: ADMIN_PASSWORD },
    sip: { algorithms: ALGORITHMS },
    ...(upstream ? { upstream } : {}),
    lines: [...lines, CALLEE].map((l) => ({ ext: l.ext, name: `line ${l.ext}`, user: l.user, password: l.password })),
  };
  const siteFile = join(dir, 'site.json');
  writeFileSync(siteFile, `${JSON.stringify(site, null, 2)}\n`);
  const sipPort = await freePorts(1, { tcp: true });
  const nodeFlags = [...serviceNodeFlags(), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  const command = onCore(core, process.execPath, [...nodeFlags, OUTPOST_BIN, '--data', dataDir, '--firmware', firmwareDir, '--config', siteFile, 'serve', '--bind', HOST, '--http-port', '0', '--no-tftp', '--sip-port', String(sipPort), '--no-dhcp', '--no-mdns']);
  const child = start('taskset', command, { env: outpostEnv() });
  const [http, sip] = await Promise.all([waitForLine(child, /^ready http http:\/\/[^:]+:(\d+)\//, 30_000, 'outpost serve'), waitForLine(child, /^ready sip sip:[^:]+:(\d+) /, 30_000, 'outpost serve')]);
  if (Number(sip[1]) !== sipPort) throw new Error(`outpost serve listens for SIP on ${sip[1]}, not ${sipPort}`);
  return { child, pid: child.process.pid, sipPort, httpPort: Number(http[1]), dataDir };
}

function kamailioModules(): string {
  const dir = KAMAILIO_MODULES.find((d) => existsSync(join(d, 'tm.so')));
  if (!dir) throw new Error(`Kamailio's modules (tm.so) are not in ${KAMAILIO_MODULES.join(', ')}`);
  return dir;
}

interface RunningKamailio {
  child: Child;
  pgid: number;
  port: number;
}

async function startKamailio(core: number, dir: string, lines: readonly BenchLine[]): Promise<RunningKamailio> {
  const port = await freePorts(1, { tcp: true });
  const init = [...lines, CALLEE].flatMap((l) => [`\t$sht(pw=>${l.user}) = "${l.password}";`, `\t$sht(ext=>${l.ext}) = "${l.user}";`]).join('\n');
  const values: Record<string, string> = { PORT: String(port), CHILDREN: String(KAMAILIO_CHILDREN), MPATH: kamailioModules(), SECRET: randomBytes(16).toString('hex'), HTABLE_INIT: init };
  const cfg = readFileSync(KAMAILIO_CFG, 'utf8').replace(/@@([A-Z_]+)@@/g, (whole, name: string) => values[name] ?? whole);
  const left = /@@[A-Z_]+@@/.exec(cfg);
  if (left) throw new Error(`kamailio-proxy.cfg: no value for ${left[0]}`);
  const file = join(dir, 'kamailio.cfg');
  writeFileSync(file, cfg);
  const defines = args['kamailio-stateful-challenge'] ? ['-A', 'STATEFUL_CHALLENGE'] : [];
  const check = spawnSync('kamailio', [...defines, '-c', '-f', file], { encoding: 'utf8', timeout: 20_000 });
  if (check.status !== 0) throw new Error(`kamailio -c -f ${file} refused the configuration:\n${(check.stderr ?? '').trim().split('\n').slice(-10).join('\n')}`);
  const child = start('taskset', onCore(core, 'kamailio', [...defines, '-f', file, '-DD', '-E', '-m', '512', '-M', '16', '-Y', dir]), { group: true });
  const pgid = child.process.pid!;
  // Ready when it answers an OPTIONS (its workers are up), probed from this process.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited(child.process)) throw new Error(`kamailio exited at start: ${child.stderrTail()}`);
    if (await optionsPing(port)) break;
    if (Date.now() > deadline) throw new Error(`kamailio did not answer OPTIONS on ${HOST}:${port} within 20 s: ${child.stderrTail()}`);
    await sleep(200);
  }
  return { child, pgid, port };
}

/** One OPTIONS to 127.0.0.1:port; true on any SIP answer within 500 ms. */
function optionsPing(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => finish(false), 500);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      s.close();
      res(ok);
    };
    s.on('message', (m) => finish(m.toString('latin1').startsWith('SIP/2.0 ')));
    s.on('error', () => finish(false));
    s.bind(0, HOST, () => {
      const local = s.address().port;
      const tag = randomBytes(4).toString('hex');
      const msg = [
        `OPTIONS sip:${HOST}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
        'Max-Forwards: 70',
        `From: <sip:bench@${HOST}>;tag=${tag}`,
        `To: <sip:${HOST}:${port}>`,
        `Call-ID: ${randomBytes(8).toString('hex')}@bench`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      s.send(msg, port, HOST);
    });
  });
}

/** GET /api/v1/status (admin, Basic auth). */
function status(httpPort: number): Promise<{ upstream: string; mode: string; modeSince?: string; modeReason?: string } | undefined> {
  return new Promise((res) => {
    const req = httpRequest({ host: HOST, port: httpPort, path: '/api/v1/status', headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` }, timeout: 2000 }, (r) => {
      let body = '';
      r.setEncoding('utf8').on('data', (c: string) => (body += c));
      r.on('end', () => {
        try {
          res(r.statusCode === 200 ? JSON.parse(body) : undefined);
        } catch {
          res(undefined);
        }
      });
    });
    req.on('error', () => res(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function countCallRecords(dbFile: string): Promise<number | undefined> {
  return new Promise((res) => {
    const db = new sqlite3.Database(dbFile, sqlite3.OPEN_READONLY, (err) => {
      if (err) return res(undefined);
      db.get<{ n: number }>('SELECT count(*) AS n FROM calls', (err2, row) => {
        db.close();
        res(err2 ? undefined : row?.n);
      });
    });
  });
}

// --- throughput --------------------------------------------------------------------------------------------------

interface Target {
  name: ServerName;
  port: number;
  /** CPU seconds of the server so far. */
  cpu(): number | undefined;
  uas: Child;
  uasPort: number;
  uasStats: string;
}

interface Step {
  server: ServerName;
  rate: number;
  attempt: number;
  duration: number;
  created: number;
  completed: number;
  failed: number;
  /** Calls neither completed nor failed (sipp stopped by the time limit). */
  unfinished: number;
  causes: Record<string, number>;
  failedShare: number;
  /** Completed calls per second of the step (sipp's spawn to exit). */
  cps: number;
  achieved: number;
  pass: boolean;
  setupMeanMs: number;
  setupP99: string;
  byeMeanMs: number;
  retransmissions: number;
  wall: number;
  serverCpu: number | undefined;
  cpuMsPerCall: number | undefined;
  loadgenCpu: number | undefined;
  serverCore: { task: number; irq: number; steal: number } | undefined;
  loadgenCore: { task: number; irq: number; steal: number } | undefined;
  othersOnServerCore: number | undefined;
  othersOnLoadgenCore: number | undefined;
  /** Datagrams the kernel dropped on full receive buffers: the server's socket, the UAS's, the UACs'. */
  drops: { server: number; uas: number; uac: number };
  uasFailed: number;
  sippExits: string;
}

const FAILURE_CAUSES = ['FailedCannotSendMessage', 'FailedMaxUDPRetrans', 'FailedUnexpectedMessage', 'FailedCallRejected', 'FailedCmdNotSent', 'FailedOutboundCongestion', 'FailedTimeoutOnRecv', 'FailedTimeoutOnSend'];

async function runStep(target: Target, rate: number, seconds: number, attempt: number, pinning: Pinning, dir: string, callersCsv: string): Promise<Step> {
  const perUac = Array.from({ length: UACS }, (_, i) => Math.floor(rate / UACS) + (i < rate % UACS ? 1 : 0)).filter((r) => r > 0);
  const runs = await Promise.all(perUac.map(async (r) => ({ r, ports: await sippPorts(), stats: join(dir, `uac-${target.name}-${rate}-${attempt}-${randomBytes(3).toString('hex')}.csv`) })));
  const uasBefore = readSippStats(target.uasStats);
  const serverBefore = target.cpu();
  const ownBefore = process.cpuUsage();
  const coreBefore = cpuTimes(pinning.server);
  const loadCoreBefore = cpuTimes(pinning.loadgen);
  const dropsBefore = udpDrops([target.port, target.uasPort]);
  const uasCpuBefore = cpuSeconds(target.uas.process.pid);
  const t0 = performance.now();
  const results = await Promise.all(
    runs.map(({ r, ports, stats }) =>
      runSipp(
        pinning.loadgen,
        ports.sip,
        ['-sf', UAC_XML, '-inf', callersCsv, ...sippCommon(ports), '-r', String(r), '-rp', '1000', '-m', String(r * seconds), '-l', String(Math.max(50, 3 * r)), '-recv_timeout', String(RECV_TIMEOUT_MS), '-trace_stat', '-stf', stats, '-fd', '1', '-trace_err', '-error_file', `${stats}.errors`, ...TOLERANT, `${HOST}:${target.port}`],
        stats,
        (seconds + RECV_TIMEOUT_MS / 1000) * 1000 + 20_000,
      ),
    ),
  );
  const wall = (performance.now() - t0) / 1000;
  const serverAfter = target.cpu();
  const own = process.cpuUsage(ownBefore);
  const coreAfter = cpuTimes(pinning.server);
  const loadCoreAfter = cpuTimes(pinning.loadgen);
  const dropsAfter = udpDrops([target.port, target.uasPort]);
  const uasCpuAfter = cpuSeconds(target.uas.process.pid);
  await sleep(1100); // the UAS's statistics file is written every second
  const uasAfter = readSippStats(target.uasStats);

  for (const r of results) {
    if (r.exit !== 0 && r.exit !== 1) throw new Error(`sipp (UAC) exited with ${r.signal ?? `status ${r.exit}`} at ${rate} calls/s to ${target.name}: ${r.stderr}`);
    if (!r.stats) throw new Error(`sipp (UAC) wrote no statistics at ${rate} calls/s to ${target.name}: ${r.stderr}`);
  }
  const sum = (name: string) => results.reduce((s, r) => s + (num(r.stats, name) || 0), 0);
  const created = sum('OutgoingCall(C)');
  const completed = sum('SuccessfulCall(C)');
  const failed = sum('FailedCall(C)');
  const causes: Record<string, number> = {};
  for (const c of FAILURE_CAUSES) {
    const n = sum(`${c}(C)`);
    if (n) causes[c.replace(/^Failed/, '')] = n;
  }
  const unfinished = Math.max(0, rate * seconds - completed - failed);
  const planned = rate * seconds;
  const failedShare = planned > 0 ? (failed + unfinished) / planned : 1;
  // The slowest sipp's own run time (its start to its last statistics): all of the step's calls were made and
  // ended within it.
  const stepWall = Math.max(...results.map((r) => r.elapsed));
  if (failed) {
    const first = results.map((r) => firstError(`${runs[results.indexOf(r)]!.stats}.errors`)).find(Boolean);
    if (first) log(`${target.name} at ${rate} calls/s: first sipp error: ${first}`);
  }
  const cps = completed / stepWall;
  const achieved = cps / rate;
  const weighted = (name: string) => results.reduce((s, r) => s + sippMs(r.stats?.get(name)) * (num(r.stats, 'SuccessfulCall(C)') || 0), 0) / Math.max(1, completed);
  const setupMeanMs = weighted('ResponseTime1(C)');
  const serverCpuS = serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : undefined;
  const uacCpu = results.reduce((s, r) => s + (r.cpu ?? 0), 0);
  const uasCpu = uasCpuBefore !== undefined && uasCpuAfter !== undefined ? uasCpuAfter - uasCpuBefore : 0;
  const ownCpu = (own.user + own.system) / 1e6;
  const serverCore = coreShares(coreBefore, coreAfter);
  const loadgenCore = coreShares(loadCoreBefore, loadCoreAfter);
  const samePlace = pinning.server === pinning.loadgen;
  const serverCpu = serverCpuS !== undefined ? serverCpuS / wall : undefined;
  const loadgenCpu = (uacCpu + uasCpu) / wall;
  return {
    server: target.name,
    rate,
    attempt,
    duration: seconds,
    created,
    completed,
    failed,
    unfinished,
    causes,
    failedShare,
    cps,
    achieved,
    pass: failedShare < MAX_FAILED && achieved >= MIN_ACHIEVED && setupMeanMs < MAX_SETUP_MS,
    setupMeanMs,
    setupP99: results.length === 1 ? p99Bucket(results[0]!.stats) : p99Bucket(mergeRepartition(results.map((r) => r.stats))),
    byeMeanMs: weighted('ResponseTime2(C)'),
    retransmissions: sum('Retransmissions(C)'),
    wall: stepWall,
    serverCpu,
    cpuMsPerCall: serverCpuS !== undefined && completed > 0 ? (serverCpuS * 1000) / completed : undefined,
    loadgenCpu,
    serverCore,
    loadgenCore,
    othersOnServerCore: serverCore !== undefined && serverCpu !== undefined ? Math.max(0, serverCore.task - serverCpu - (samePlace ? loadgenCpu + ownCpu / wall : 0)) : undefined,
    othersOnLoadgenCore: samePlace || loadgenCore === undefined ? undefined : Math.max(0, loadgenCore.task - loadgenCpu - ownCpu / wall),
    drops: {
      server: (dropsAfter.get(target.port) ?? 0) - (dropsBefore.get(target.port) ?? 0),
      uas: (dropsAfter.get(target.uasPort) ?? 0) - (dropsBefore.get(target.uasPort) ?? 0),
      uac: results.reduce((s, r) => s + r.drops, 0),
    },
    uasFailed: (num(uasAfter, 'FailedCall(C)') || 0) - (num(uasBefore, 'FailedCall(C)') || 0),
    sippExits: results.map((r) => r.signal ?? String(r.exit)).join(','),
  };
}

/** The first error sipp logged (-trace_err), on one line. */
function firstError(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    // Entries start with a timestamp line; "The following events occurred:" heads the file.
    const entries = text.split(/\n(?=\d{4}-\d\d-\d\d\t)/).filter((e) => /^\d{4}-/.test(e));
    const entry = entries.find((e) => !/Continuing call on unexpected message/.test(e)) ?? entries[0];
    return entry?.replace(/\s+/g, ' ').trim().slice(0, 400) || undefined;
  } catch {
    return undefined;
  }
}

function mergeRepartition(all: ReadonlyArray<Map<string, string> | undefined>): Map<string, string> {
  const merged = new Map<string, string>();
  for (const stats of all) {
    for (const [k, v] of stats ?? []) {
      if (k.startsWith('ResponseTimeRepartition1_')) merged.set(k, String(Number(merged.get(k) ?? 0) + Number(v)));
    }
  }
  return merged;
}

/** Waits until the server has (nearly) stopped using CPU after a step: at most `maxMs`. */
async function settle(target: Target, maxMs = 5000): Promise<void> {
  const end = Date.now() + maxMs;
  await sleep(500);
  while (Date.now() < end) {
    const a = target.cpu();
    await sleep(300);
    const b = target.cpu();
    if (a === undefined || b === undefined || (b - a) / 0.3 < 0.05) return;
  }
}

// --- failover ----------------------------------------------------------------------------------------------------

interface Attempt {
  /** kill -> the call was dialled (its sipp started). */
  dialMs: number;
  /** kill -> it was connected (its sipp exited after the 200 OK, the ACK and the BYE); undefined when it failed. */
  connectMs: number | undefined;
  cause: string;
}

interface Failover {
  run: number;
  phaseMs: number;
  /** kill -> /api/v1/status first said survival (polled every 50 ms). */
  statusSurvivalMs: number | undefined;
  /** kill -> the monitor's own time of the change (modeSince). */
  modeChangeMs: number | undefined;
  modeReason: string | undefined;
  /** kill -> the first call connected (any of the calls dialled after the kill). */
  firstConnectedMs: number | undefined;
  /** When that call was dialled. */
  firstConnectedDialMs: number | undefined;
  /** Calls dialled before the mode changed: the longest wait from dialling to connected (or to failing). */
  longestWaitBeforeMs: number | undefined;
  /** Calls dialled after the mode changed: the longest wait. */
  longestWaitAfterMs: number | undefined;
  attempts: Attempt[];
}

function attemptCause(r: SippRun): string {
  if (r.exit === 0) return 'connected';
  const causes = FAILURE_CAUSES.filter((c) => num(r.stats, `${c}(C)`) > 0).map((c) => c.replace(/^Failed/, ''));
  return causes.join('+') || (r.signal ?? `exit ${r.exit}`);
}

/** How often a new call is dialled after the kill, and how long each waits for its answer (as a phone does). */
const DIAL_EVERY_MS = 200;
const CALL_PATIENCE_MS = 45_000;

async function runFailover(run: number, pinning: Pinning, tmp: string, lines: readonly BenchLine[]): Promise<Failover> {
  const dir = join(tmp, `failover-${run}`);
  mkdirSync(dir, { recursive: true });
  // The fake Centrex on 127.0.0.2, answering OPTIONS.
  const centrexPorts = await sippPorts(CENTREX_HOST);
  const centrex = start('taskset', onCore(pinning.loadgen, 'sipp', ['-sf', CENTREX_XML, ...sippCommon(centrexPorts, CENTREX_HOST)]));
  await sleep(300);
  if (exited(centrex.process)) throw new Error(`the fake Centrex (sipp on ${CENTREX_HOST}:${centrexPorts.sip}) did not start: ${centrex.stderrTail()}`);
  const outpost = await startOutpost(pinning.server, dir, lines, { proxy: `${CENTREX_HOST}:${centrexPorts.sip}`, transport: 'udp', interval: 1, failures: 3 });
  const uasPorts = await sippPorts();
  await register(pinning.loadgen, dir, { host: HOST, port: outpost.sipPort }, uasPorts, CALLEE.user, CALLEE.password);
  const uas = startUas(pinning.loadgen, uasPorts, join(dir, 'uas.csv'));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await status(outpost.httpPort);
    if (s?.upstream === 'up' && s.mode === 'normal') break;
    if (Date.now() > deadline) throw new Error(`Outpost did not report the fake Centrex up within 15 s (status: ${JSON.stringify(s)})`);
    await sleep(100);
  }
  // A random phase against the monitor's 1 s probe clock.
  const phaseMs = 1000 + Math.floor(Math.random() * 1000);
  await sleep(phaseMs);
  const csv = join(dir, 'caller.csv');
  writeCallersCsv(csv, [lines[0]!], 1);

  const kill = Date.now();
  centrex.process.kill('SIGKILL');
  const oneCall = async (): Promise<SippRun> => {
    const ports = await sippPorts();
    const stats = join(dir, `call-${ports.sip}.csv`);
    return runSipp(pinning.loadgen, ports.sip, ['-sf', UAC_XML, '-inf', csv, ...sippCommon(ports), '-m', '1', '-recv_timeout', String(CALL_PATIENCE_MS), '-trace_stat', '-stf', stats, ...TOLERANT, `${HOST}:${outpost.sipPort}`], stats, CALL_PATIENCE_MS + 15_000);
  };

  // Status, every 50 ms, until survival (or 40 s).
  let survivalSeen: number | undefined;
  const watch = (async () => {
    for (;;) {
      const s = await status(outpost.httpPort);
      if (s?.mode === 'survival') {
        survivalSeen = Date.now() - kill;
        return { seen: survivalSeen, since: s.modeSince ? Date.parse(s.modeSince) - kill : undefined, reason: s.modeReason };
      }
      if (Date.now() - kill > 40_000) return undefined;
      await sleep(50);
    }
  })();
  // A new call every 200 ms, each waiting for its answer as a phone does, until one is connected and the mode has
  // changed (then one more, dialled in survival mode).
  const attempts: Attempt[] = [];
  const pending: Array<Promise<void>> = [];
  let connected = false;
  for (;;) {
    const dialMs = Date.now() - kill;
    pending.push(
      oneCall().then((r) => {
        // sipp's own clock: its start (the INVITE goes out at once) and the INVITE -> 200 time (rtd 1). Its
        // process start (up to a few hundred ms on a busy machine) is not the proxy's time.
        const started = Number((r.stats?.get('StartTime') ?? '').split('\t')[2]) * 1000;
        const setup = sippMs(r.stats?.get('ResponseTime1(C)'));
        const sippClock = Number.isFinite(started) && started > 0;
        const dialled = sippClock ? started - kill : dialMs;
        const connectMs = r.exit !== 0 ? undefined : sippClock && Number.isFinite(setup) ? dialled + setup : r.endedAt - kill;
        attempts.push({ dialMs: dialled, connectMs, cause: attemptCause(r) });
        if (r.exit === 0) connected = true;
      }),
    );
    if ((connected && survivalSeen !== undefined && survivalSeen < dialMs) || dialMs > 30_000) break;
    await sleep(DIAL_EVERY_MS);
  }
  await Promise.all(pending);
  const w = await watch;
  await stopChild(uas.process, 2000);
  await stopChild(outpost.child.process, 5000);
  await stopChild(centrex.process, 1000);
  attempts.sort((a, b) => a.dialMs - b.dialMs);
  const first = attempts.filter((a) => a.connectMs !== undefined).sort((a, b) => a.connectMs! - b.connectMs!)[0];
  const change = w?.since ?? w?.seen;
  // A failed call waited until it failed: counted at its end (the sipp exit), for the longest wait.
  const waits = (list: Attempt[]) => (list.length ? Math.max(...list.map((a) => (a.connectMs ?? CALL_PATIENCE_MS + a.dialMs) - a.dialMs)) : undefined);
  return {
    run,
    phaseMs,
    statusSurvivalMs: w?.seen,
    modeChangeMs: w?.since,
    modeReason: w?.reason,
    firstConnectedMs: first?.connectMs,
    firstConnectedDialMs: first?.dialMs,
    longestWaitBeforeMs: change === undefined ? waits(attempts) : waits(attempts.filter((a) => a.dialMs < change)),
    longestWaitAfterMs: change === undefined ? undefined : waits(attempts.filter((a) => a.dialMs >= change)),
    attempts,
  };
}

// --- report ------------------------------------------------------------------------------------------------

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
/** sipp's response times have a resolution of 1 ms. */
const fmtRtd = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : n < 1 ? '<1 ms' : `${Math.round(n).toLocaleString('en-US')} ms`);
const fmtS = (ms: number | undefined) => (ms !== undefined && Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');
const pct = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${Math.round(n * 100)}%`);
const failPct = (n: number) => (n === 0 ? '0%' : n < 0.001 ? '<0.1%' : `${(n * 100).toFixed(1)}%`);

function table(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** How busy a core was: processes, the kernel's packet work (softirq) and the hypervisor's steal. */
const busy = (c: { task: number; irq: number; steal: number } | undefined) => (c ? c.task + c.irq + c.steal : undefined);

function stepTable(steps: readonly Step[]): string {
  const header = ['server', 'rate', 'try', 'calls', 'completed', 'failed', 'causes', 'calls/s', 'of rate', 'pass', 'setup avg', 'setup p99', 'BYE avg', 'retrans', 'server CPU', 'CPU/call', 'sipp CPU', 'core busy srv/gen', 'others srv/gen core', 'drops srv/uas/uac', 'UAS failed'];
  const rows = steps.map((s) => [
    s.server,
    fmtInt(s.rate),
    String(s.attempt),
    fmtInt(s.created),
    fmtInt(s.completed),
    failPct(s.failedShare),
    Object.entries(s.causes).map(([k, v]) => `${k} ${v}`).join(', ') + (s.unfinished ? `${Object.keys(s.causes).length ? ', ' : ''}unfinished ${s.unfinished}` : '') || '-',
    fmtInt(s.cps),
    pct(s.achieved),
    s.pass ? 'ok' : 'FAIL',
    fmtRtd(s.setupMeanMs),
    s.setupP99,
    fmtRtd(s.byeMeanMs),
    fmtInt(s.retransmissions),
    pct(s.serverCpu),
    s.cpuMsPerCall === undefined ? 'n/a' : `${(s.cpuMsPerCall * 1000).toFixed(0)} µs`,
    pct(s.loadgenCpu),
    `${pct(busy(s.serverCore))}/${pct(busy(s.loadgenCore))}`,
    `${pct(s.othersOnServerCore)}/${pct(s.othersOnLoadgenCore)}`,
    `${fmtInt(s.drops.server)}/${fmtInt(s.drops.uas)}/${fmtInt(s.drops.uac)}`,
    fmtInt(s.uasFailed),
  ]);
  return table(header, rows, 1);
}

// --- main --------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const sippVersion = /SIPp v?(\S+)/.exec(available('sipp', ['-v']) ?? '')?.[1]?.replace(/\.$/, '');
  if (!sippVersion) throw new Error('sipp is not installed (Debian package sip-tester)');
  if (!available('taskset', ['--version'])) throw new Error('taskset is not installed (util-linux)');
  const kamailioVersion = SERVERS.includes('kamailio') ? /kamailio (\S+)/.exec(available('kamailio', ['-v']) ?? '')?.[1] : undefined;
  if (SERVERS.includes('kamailio') && !kamailioVersion) throw new Error('kamailio is not installed (Debian package kamailio)');
  if (!existsSync(join(OUTPOST_ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first (the server runs the built code)');
  const newest = (dir: string): number => {
    let latest = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath ?? dir, entry.name)).mtimeMs);
    }
    return latest;
  };
  const distBuilt = newest(join(OUTPOST_ROOT, 'dist'));
  const head = (spawnSync('git', ['-C', OUTPOST_ROOT, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout ?? '').trim();
  const dirty = (spawnSync('git', ['-C', OUTPOST_ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout ?? '').trim();
  const build = `${OUTPOST_ROOT === ROOT ? '' : `${OUTPOST_ROOT}/`}dist/ built ${new Date(distBuilt).toISOString().replace(/\.\d+Z$/, 'Z')}${head ? ` (HEAD ${head.slice(0, 60)}${dirty ? ', src/ with uncommitted changes' : ''})` : ''}`;
  if (existsSync(join(OUTPOST_ROOT, 'src')) && newest(join(OUTPOST_ROOT, 'src')) > distBuilt) log('WARNING: src/ is newer than dist/: Outpost runs the old build (npm run build)');
  if (!(await portFree(CENTREX_HOST, 0, false))) throw new Error(`cannot bind ${CENTREX_HOST} (the fake Centrex's address)`);

  const logicalCpus = availableParallelism();
  const pinning = pin();
  log(pinning.note);
  const tmp = mkdtempSync(join(tmpdir(), `opbench-calls-${process.pid}-`));
  if (args['keep-temp']) log(`temp dir ${tmp} is kept (--keep-temp): sipp statistics and error logs, site and Kamailio files`);
  else tempDirs.push(tmp);
  const dataFs = (spawnSync('df', ['--output=fstype', DATA_PARENT ?? tmp], { encoding: 'utf8' }).stdout ?? '').trim().split('\n').slice(1).join('').trim() || 'unknown';
  if (/tmpfs|ramfs/.test(dataFs)) log(`WARNING: Outpost's data folder is on ${dataFs}: an fsync costs nothing there, so the durable call records are not measured`);
  const lines = callerLines();
  const callersCsv = join(tmp, 'callers.csv');
  writeCallersCsv(callersCsv, lines);

  // --- throughput ---
  const steps: Step[] = [];
  const targets: Target[] = [];
  let outpostRun: RunningOutpost | undefined;
  let kamailioRun: RunningKamailio | undefined;
  const profileDir = CPU_PROF_DIR ? join(CPU_PROF_DIR, `sip-calls-${process.pid}`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  let records: number | undefined;
  let summary: { o: Step | undefined; k: Step | undefined; ratio: number | undefined } | undefined;
  if (SERVERS.length) {
    for (const name of SERVERS) {
      const dir = join(tmp, name);
      mkdirSync(dir, { recursive: true });
      let port: number;
      let cpu: () => number | undefined;
      if (name === 'outpost') {
        outpostRun = await startOutpost(pinning.server, dir, lines, undefined, profileDir);
        const pid = outpostRun.pid;
        port = outpostRun.sipPort;
        cpu = () => cpuSeconds(pid);
        log(`outpost: SIP on ${HOST}:${port}, HTTP on ${outpostRun.httpPort}, ${lines.length + 1} lines`);
      } else {
        kamailioRun = await startKamailio(pinning.server, dir, lines);
        const pgid = kamailioRun.pgid;
        port = kamailioRun.port;
        cpu = () => groupCpuSeconds(pgid);
        log(`kamailio: SIP on ${HOST}:${port}, ${KAMAILIO_CHILDREN} UDP workers, ${groupPids(pgid).length} processes`);
      }
      const uasPorts = await sippPorts();
      await register(pinning.loadgen, dir, { host: HOST, port }, uasPorts, CALLEE.user, CALLEE.password);
      const uasStats = join(dir, 'uas.csv');
      const uas = startUas(pinning.loadgen, uasPorts, uasStats);
      await sleep(300);
      if (exited(uas.process)) throw new Error(`the callee's sipp UAS for ${name} did not start: ${uas.stderrTail()}`);
      targets.push({ name, port, cpu, uas, uasPort: uasPorts.sip, uasStats });
    }
    for (const t of targets) {
      log(`${t.name}: warm-up, ${WARMUP.rate} calls/s for ${WARMUP.seconds} s`);
      const w = await runStep(t, WARMUP.rate, WARMUP.seconds, 0, pinning, tmp, callersCsv);
      if (w.completed === 0) throw new Error(`no call went through ${t.name} in the warm-up (failures: ${JSON.stringify(w.causes)}); is the scenario right?`);
      await settle(t);
    }
    const done = new Set<ServerName>();
    for (const [i, rate] of RATES.entries()) {
      const order = i % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        if (done.has(t.name)) continue;
        for (let attempt = 1; attempt <= 2; attempt++) {
          const s = await runStep(t, rate, DURATION_S, attempt, pinning, tmp, callersCsv);
          steps.push(s);
          log(
            `${t.name} at ${rate} calls/s (try ${attempt}): ${fmtInt(s.completed)} of ${fmtInt(rate * DURATION_S)} completed, failed ${failPct(s.failedShare)}, ${fmtInt(s.cps)} calls/s ` +
              `(${pct(s.achieved)}), set-up avg ${fmtRtd(s.setupMeanMs)} p99 ${s.setupP99}, server CPU ${pct(s.serverCpu)}, sipp CPU ${pct(s.loadgenCpu)}, others ${pct(s.othersOnServerCore)}/${pct(s.othersOnLoadgenCore)} -> ${s.pass ? 'ok' : 'FAIL'}`,
          );
          await settle(t);
          if (s.pass) break;
          if (attempt === 2) done.add(t.name);
        }
      }
    }
    for (const t of targets) await stopChild(t.uas.process, 2000);
    if (kamailioRun) await stopGroup(kamailioRun.child.process);
    if (outpostRun) {
      await stopChild(outpostRun.child.process, 10_000);
      records = await countCallRecords(join(outpostRun.dataDir, 'outpost.db'));
    }
  }

  // --- failover ---
  const failovers: Failover[] = [];
  for (let run = 1; run <= FAILOVER_RUNS; run++) {
    log(`failover run ${run}: starting the fake Centrex and Outpost`);
    const f = await runFailover(run, pinning, tmp, lines);
    failovers.push(f);
    log(`failover run ${run}: status survival after ${fmtS(f.statusSurvivalMs)} (monitor: ${fmtS(f.modeChangeMs)}), first call connected after ${fmtS(f.firstConnectedMs)} (dialled at ${fmtS(f.firstConnectedDialMs)}), longest wait of a call dialled before the change ${fmtS(f.longestWaitBeforeMs)}`);
  }

  // --- report ---
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`SIP calls benchmark: sipp UAC -> proxy -> sipp UAS over UDP on ${HOST}; INVITE/407/ACK/INVITE/100/180/200/ACK/BYE/200 per call, no talk time`);
  out(`machine: ${logicalCpus} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, sipp ${sippVersion}${kamailioVersion ? `, kamailio ${kamailioVersion}` : ''}`);
  out(`outpost: ${build}`);
  out(`         ${lines.length + 1} lines; digest ${ALGORITHMS.join(', ')}; no upstream in the throughput part (every call routed locally, as in survival mode); each call recorded in SQLite on ${dataFs}`);
  if (SERVERS.includes('kamailio')) out(`kamailio: scripts/bench/kamailio-proxy.cfg, ${KAMAILIO_CHILDREN} UDP worker${KAMAILIO_CHILDREN === 1 ? '' : 's'}, usrloc in memory, pv_proxy_authenticate (MD5, qop=auth, nonce_count; 407 ${args['kamailio-stateful-challenge'] ? 'in a transaction' : 'stateless'}) + record_route + lookup + t_relay`);
  out(`pinning: ${pinning.note}`);
  if (SERVERS.length) {
    out(`steps of ${DURATION_S} s; a step passes with < ${MAX_FAILED * 100}% failed calls, >= ${MIN_ACHIEVED * 100}% of the rate completed per second and a mean set-up time < ${MAX_SETUP_MS} ms; a failed step is tried once more`);
    out();
    out(stepTable(steps));
    out();
    const best = (name: ServerName) => steps.filter((s) => s.server === name && s.pass).sort((a, b) => b.rate - a.rate)[0];
    const byRate = RATES.map((rate) => {
      const cell = (name: ServerName) => {
        const tries = steps.filter((s) => s.server === name && s.rate === rate);
        const last = tries.find((s) => s.pass) ?? tries[tries.length - 1];
        return last ? [failPct(last.failedShare), fmtInt(last.cps), fmtRtd(last.setupMeanMs), last.pass ? 'ok' : 'FAIL'] : ['-', '-', '-', '-'];
      };
      return [fmtInt(rate), ...(SERVERS.includes('outpost') ? cell('outpost') : []), ...(SERVERS.includes('kamailio') ? cell('kamailio') : [])];
    });
    out(table(['rate', ...(SERVERS.includes('outpost') ? ['outpost failed', 'calls/s', 'setup avg', ''] : []), ...(SERVERS.includes('kamailio') ? ['kamailio failed', 'calls/s', 'setup avg', ''] : [])], byRate));
    out();
    const o = best('outpost');
    const k = best('kamailio');
    const top = RATES[RATES.length - 1]!;
    const clean = (s: Step | undefined, name: string) => (s ? `${name} ${fmtInt(s.rate)} calls/s (${fmtInt(s.cps)} completed/s, ${failPct(s.failedShare)} failed, server CPU ${pct(s.serverCpu)}, ${s.cpuMsPerCall === undefined ? 'n/a' : `${(s.cpuMsPerCall * 1000).toFixed(0)} µs`} CPU per call)` : `${name}: no rate passed`);
    if (SERVERS.includes('outpost')) out(`sustainable: ${clean(o, 'outpost')}`);
    if (SERVERS.includes('kamailio')) out(`sustainable: ${clean(k, 'kamailio')}`);
    const ratio = o && k ? o.rate / k.rate : undefined;
    if (ratio !== undefined) out(`ratio    outpost/kamailio = ${ratio.toFixed(3)}`);
    // Independent of the rate grid: what a call costs each server at the same rate (the highest both passed).
    const common = [...RATES].reverse().find((rate) => best('outpost')?.rate !== undefined && ['outpost', 'kamailio'].every((name) => steps.some((s) => s.server === name && s.rate === rate && s.pass)));
    if (common !== undefined) {
      const at = (name: ServerName) => steps.find((s) => s.server === name && s.rate === common && s.pass)?.cpuMsPerCall;
      const oc = at('outpost');
      const kc = at('kamailio');
      if (oc !== undefined && kc !== undefined) out(`CPU per call at ${fmtInt(common)} calls/s (the highest rate both passed): outpost ${(oc * 1000).toFixed(0)} µs, kamailio ${(kc * 1000).toFixed(0)} µs: a call costs Outpost ${(oc / kc).toFixed(1)} x Kamailio's CPU`);
    }
    if (k && k.rate === top) out(`NOTE: Kamailio passed the highest rate tried (${fmtInt(top)}/s): its limit is higher, so the ratio is an upper bound`);
    if (o && o.rate === top) out(`NOTE: Outpost passed the highest rate tried (${fmtInt(top)}/s): its limit is higher`);
    if (records !== undefined) out(`outpost recorded ${fmtInt(records)} calls in its calls table (warm-up included)`);
    for (const s of steps) {
      if ((s.othersOnServerCore ?? 0) > 0.1 || (s.othersOnLoadgenCore ?? 0) > 0.1) out(`WARNING: ${s.server} at ${fmtInt(s.rate)}/s (try ${s.attempt}): other processes used ${pct(s.othersOnServerCore)} of the server core and ${pct(s.othersOnLoadgenCore)} of the load generators' core: run again on a quiet machine`);
      if ((s.loadgenCpu ?? 0) > 0.85 && !s.pass) out(`NOTE: ${s.server} at ${fmtInt(s.rate)}/s (try ${s.attempt}): the sipp processes used ${pct(s.loadgenCpu)} of their core: the load generators may be the limit, not the server`);
      if ((s.serverCore?.steal ?? 0) > 0.05) out(`WARNING: the hypervisor took ${pct(s.serverCore?.steal)} of CPU ${pinning.server} (steal) during ${s.server} at ${fmtInt(s.rate)}/s`);
    }
    out();
    summary = { o, k, ratio };
  }
  if (failovers.length) {
    out(`failover: fake Centrex (sipp answering OPTIONS on ${CENTREX_HOST}) SIGKILLed at time 0; upstream.interval 1 s, upstream.failures 3; times from the kill;`);
    out(`a call dialled every ${DIAL_EVERY_MS} ms from the kill on (line ${lines[0]!.ext} -> ${CALLEE.ext}), each waiting up to ${CALL_PATIENCE_MS / 1000} s for its answer as a phone does`);
    out(
      table(
        ['run', 'phase', 'status: survival', 'monitor: mode change', 'first call connected', 'dialled at', 'longest wait, dialled before the change', 'longest wait, dialled after', 'calls'],
        failovers.map((f) => [
          String(f.run),
          `${f.phaseMs} ms`,
          fmtS(f.statusSurvivalMs),
          fmtS(f.modeChangeMs),
          fmtS(f.firstConnectedMs),
          fmtS(f.firstConnectedDialMs),
          fmtS(f.longestWaitBeforeMs),
          fmtS(f.longestWaitAfterMs),
          `${f.attempts.filter((a) => a.connectMs !== undefined).length}/${f.attempts.length} connected`,
        ]),
      ),
    );
    out('phase: time between the status saying the Centrex is up and the kill (random 1-2 s, against the 1 s probe clock)');
    for (const f of failovers) {
      if (f.modeReason) out(`  run ${f.run}: ${f.modeReason}`);
      out(`  run ${f.run} calls (dialled -> connected): ${f.attempts.map((a) => `${fmtS(a.dialMs)}->${a.connectMs === undefined ? a.cause : fmtS(a.connectMs)}`).join(', ')}`);
    }
    out();
  }

  const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  out('goals:');
  if (SERVERS.includes('outpost')) {
    const oRate = summary?.o?.rate ?? 0;
    out(`  ${mark(oRate >= GOAL_CPS)}  >= ${GOAL_CPS} calls/s through Outpost on one core          outpost ${fmtInt(oRate)} calls/s`);
    if (SERVERS.includes('kamailio')) {
      const r = summary?.ratio;
      out(`  ${r === undefined ? 'n/a ' : mark(r >= GOAL_RATIO)}  >= 1/3 of Kamailio's rate                         ${r === undefined ? 'no ratio' : `${r.toFixed(3)} x (${fmtInt(summary?.o?.rate ?? 0)} / ${fmtInt(summary?.k?.rate ?? 0)})`}`);
    }
  }
  if (failovers.length) {
    const worst = Math.max(...failovers.map((f) => f.firstConnectedMs ?? Infinity));
    out(`  ${mark(worst < GOAL_FAILOVER_S * 1000)}  failover < ${GOAL_FAILOVER_S} s (kill -> first local call connected)   ${failovers.map((f) => fmtS(f.firstConnectedMs)).join(', ')}`);
    out(`  info  longest wait of a call dialled before the change   ${failovers.map((f) => fmtS(f.longestWaitBeforeMs)).join(', ')}`);
  }
  if (CPU_PROF_DIR) out('NOTE: Outpost ran under --cpu-prof; its figures include the profiler overhead and are not the benchmark');

  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ rates: RATES, duration: DURATION_S, cpus: logicalCpus, cpuModel: cpus()[0]?.model, node: process.version, sipp: sippVersion, kamailio: kamailioVersion, build, pinning: pinning.note, algorithms: ALGORITHMS, callers: CALLERS, steps, summary, failovers, records }, null, 2)}\n`);
  }
  if (profileDir) {
    const profiles = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profileDir, f));
    const latest = profiles.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    out();
    if (latest) out(`${latest} (outpost, the whole throughput part)\n${formatSummary(summariseProfile(latest, 20))}`);
    else out(`no .cpuprofile in ${profileDir} (did the server exit cleanly?)`);
  }
  return 0;
}

// Bounded: whatever happens, the run ends.
const budgetS = Math.round(60 + (SERVERS.length ? SERVERS.length * (WARMUP.seconds + 10 + RATES.length * 2 * (DURATION_S + RECV_TIMEOUT_MS / 1000 + 8)) : 0) + FAILOVER_RUNS * 100);
const watchdog = setTimeout(() => {
  log(`gave up after ${budgetS} s`);
  void cleanup().finally(() => process.exit(2));
}, budgetS * 1000);
watchdog.unref();

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: Error) => {
    if (!cleaning) process.stderr.write(`bench: FAILED: ${err.message}\n`);
    await cleanup();
    process.exit(2);
  },
);
