/**
 * SIP REGISTER benchmark: sustained digest registrations per second of Outpost's registrar against Kamailio set up
 * as an equivalent in-memory registrar with digest, both on the same core, driven by the same sipp, in one run;
 * latency (p50/p99) at a moderate rate, and memory per binding.
 *
 *   npm run bench:sip                                    (= npx tsx scripts/bench/sip-register.ts)
 *   npx tsx scripts/bench/sip-register.ts [--rates 1000,2000,3000,4500,6000,8000,10000,12000,15000,18000,22000]
 *            [--refine 2]
 *            [--duration 8] [--users 10000] [--sipp 2] [--servers outpost,kamailio] [--kamailio-children 1]
 *            [--kamailio-nonce-count] [--latency-duration 8] [--boost 0] [--no-memory]
 *            [--cpu-prof DIR] [--json FILE]
 *
 * One registration is two REGISTER transactions: REGISTER -> 401 (digest challenge), REGISTER with Authorization
 * -> 200 (scripts/bench/sip-register.xml). Rates are registrations per second; REGISTER transactions per second are
 * twice that.
 *
 * What it does:
 *  1. A temp dir with --users users u10000, u10001, ... each with a random password (16 hex digits):
 *     - Outpost (the build in dist/: `npm run build`): a site file with one line per user (ext = the number, user,
 *       password, name), sip.maxExpires 7200, defaultExpires 3600, algorithms ["MD5"] (sipp answers MD5 only; with
 *       the default ["MD5","SHA-256"] Outpost would sign two nonces per challenge); started as
 *       `taskset -c C0 node FLAGS --heapsnapshot-signal=SIGUSR2 bin/outpost --data D --firmware F --config SITE serve
 *        --bind 127.0.0.1 --http-port 0 --sip-port P --no-tftp --no-dhcp --no-mdns`, ready at its `ready sip` line
 *       (the first start applies the 10,000 lines: 15-25 s here); FLAGS are the service's (scripts/outpost.service's
 *       ExecStart: --max-semi-space-size=64). Bindings go to SQLite (fsync'd before the 200 OK,
 *       group commit).
 *     - Kamailio: scripts/bench/kamailio-registrar.cfg filled in (port, workers, paths) and the same users and
 *       passwords in a db_text table loaded into an htable at start; `taskset -c C0 kamailio -f CFG -DD -E -m 128
 *       -M 16 -Y TMP` in the foreground, usrloc db_mode 0 (in memory only); ready when kamcmd reads the last
 *       user's password from the htable.
 *     Both are checked with one sipp registration each before anything is measured.
 *  2. Memory: each server's memory with the users and no binding (Outpost: JS heap used after a full GC, forced by a
 *     heap snapshot (SIGUSR2), and RSS right after it (a first snapshot, not counted, puts the snapshot's own
 *     memory into every RSS reading); Kamailio: shared memory used (`kamcmd core.shmmem`) and the PSS of all its
 *     processes), then one sipp pass registering every user once at 1,000/s (also the warm-up), and the same
 *     readings again: Kamailio's at once, Outpost's once its transactions have ended (Timer J, 32 s; it keeps
 *     running meanwhile): the difference divided by the bindings added.
 *     --no-memory skips the readings (and Outpost's wait for Timer J), keeping the pass as the warm-up: for quick
 *     runs while working on the hot path.
 *  3. Sustainable rate: for each server, Kamailio first, a ladder of rates (--rates, rising), --duration seconds
 *     each, with --sipp sipp processes (each its own local port, its own slice of the users, rate / N), all
 *     bindings already there (every registration is a refresh with a new Call-ID). A rate is sustained when fewer
 *     than 0.1% of the registrations fail (created - successful, sipp's statistics) and the achieved rate is at
 *     least 95% of the target; achieved = 99.9% of the registrations / the time until 99.9% had completed (sipp's
 *     dumps every 100 ms, interpolated), so a backlog the server works off after the sending counts against it and
 *     one straggler does not. The ladder stops at the first rate not sustained, then --refine bisection steps
 *     between the last sustained rate and it. Before each step the server is given at least 1.5 s and, after an
 *     overload, the time to become idle again (< 5% of its core over 500 ms, 40 s at most; logged when over 2 s),
 *     so that no rate is measured on the backlog of the step before. A failed step during which other processes
 *     took more than 15% of the server's core, or the load generator's core was more than 95% busy, is run again
 *     once. The other server
 *     is stopped (SIGSTOP) meanwhile (Outpost only once its memory has been read), so that its timers cannot run
 *     on the shared core.
 *  4. Latency: a digest UAC in this process (hrtime, not sipp's clock: sipp 3.6 timestamps with
 *     CLOCK_MONOTONIC_COARSE, 4 ms steps here) registers users at a fixed rate for --latency-duration seconds
 *     (35 s after the last step when a step failed, so the overload backlog has drained),
 *     without retransmissions: p50/p99 of the registration (first REGISTER sent to 200 received, both
 *     transactions) and of each transaction; both servers at 50% of the lower of the two sustainable rates, and
 *     each at 50% of its own where that differs (at most 5,000/s: faster, the UAC itself sets the pace).
 *  The servers run on the first CPU this process may use; sipp, the UAC and this process (taskset -a -p) on the
 *  second. Every step reports the server's CPU, sipp's CPU, what other processes took on each core and, when that
 *  is more than 10%, the busiest of them, and how fast the host was: after each step, with the server stopped, a
 *  fixed loop and a random walk through memory on each core (coreSpeed). This host's speed moves by up to 2x within
 *  minutes (a neighbour, steal the guest does not see); when the medians on the server's core differ by more than
 *  10% between the two ladders the ratio is marked NOT A READING (steps followed by a probe 1.5x slower than the
 *  run's fastest are named in a note: their absolute figures may be low). Every server and sipp runs in a session
 *  of its own; with --boost N they run under `nice -n -N` and, where the kernel groups CPU time by session
 *  (autogroup), their session groups and this process's get nice -N too (put back on exit): plain nice does not
 *  count against other sessions there.
 *  --cpu-prof DIR restarts Outpost under `node --cpu-prof` once it has applied the site file and prints a summary
 *  of its profile at the end (its figures are then not the benchmark).
 *  Traffic goes only to 127.0.0.1. Children (each server's process group) are killed and the temp dir removed on
 *  exit, on error and on Ctrl-C; a watchdog ends the run whatever happens. Exit status: 0 when the measurements
 *  were made (goals missed or not), 2 when the benchmark could not run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, setPriority, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allowedCpus, exited, log, percentile, serviceNodeFlags, waitExit } from './common.js';
import { formatSummary, summariseProfile } from './cpuprofile-summary.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const OUTPOST_BIN = join(ROOT, 'bin', 'outpost');
const SCENARIO = join(HERE, 'sip-register.xml');
const KAMAILIO_TEMPLATE = join(HERE, 'kamailio-registrar.cfg');
const SIPP = 'sipp';
const KAMAILIO = 'kamailio';
const KAMCMD = 'kamcmd';
const KAMAILIO_MODULE_DIRS = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules', '/usr/local/lib64/kamailio/modules', '/usr/local/lib/kamailio/modules'];

/** REGISTER transactions per second Outpost must sustain. */
const GOAL_TRANSACTIONS = 2000;
/** Outpost's rate at least this share of Kamailio's. */
const GOAL_RATIO = 1 / 3;
/** A step is sustained when fewer than this share of registrations fail... */
const CLEAN_FAILED = 0.001;
/** ...and at least this share of the target rate is achieved. */
const CLEAN_ACHIEVED = 0.95;
/**
 * A failed step is run again once when other processes took more than this share of the server's core, or the
 * load generator's core was busier than LOADGEN_BUSY (sipp could not have sent faster).
 */
const DISTURBED = 0.15;
/** Before a step the server must be this idle (share of its core over 500 ms)... */
const IDLE_CPU = 0.05;
/** ...or have had this long to get there. */
const SETTLE_STEP_MS = 40_000;
/** The two ladders' host speed (median loop and memory-walk times on the server's core) may differ this much. */
const HOST_SPEED_TOLERANCE = 0.1;
const LOADGEN_BUSY = 0.95;
const FIRST_USER = 10000;
const MEMORY_PASS_RATE = 1000;
/** The latency UAC (JavaScript, in this process) keeps up to about this rate here; above it, it sets the pace. */
const UAC_MAX_RATE = 5000;
/** Outpost's UDP non-INVITE server transactions live for Timer J = 64 x T1 = 32 s after their final answer. */
const TIMER_J_S = 32;
const REALM = 'outpost';

// --- options -------------------------------------------------------------------------------------------------

let parsed: ReturnType<typeof parseOptions>;
try {
  parsed = parseOptions();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message.split('\n')[0]} (--help lists the options)\n`);
  process.exit(2);
}
const args = parsed.values;
function parseOptions() {
  return parseArgs({
    options: {
      rates: { type: 'string', default: '1000,2000,3000,4500,6000,8000,10000,12000,15000,18000,22000' },
      refine: { type: 'string', default: '2' },
      duration: { type: 'string', default: '8' },
      users: { type: 'string', default: '10000' },
      sipp: { type: 'string', default: '2' },
      servers: { type: 'string', default: 'outpost,kamailio' },
      'kamailio-children': { type: 'string', default: '1' },
      'kamailio-nonce-count': { type: 'boolean', default: false },
      'latency-duration': { type: 'string', default: '8' },
      'no-memory': { type: 'boolean', default: false },
      boost: { type: 'string', default: '0' },
      'cpu-prof': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
}
if (args.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, '') + '\n');
  process.exit(0);
}
function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
function whole(name: string, min: number, max: number): number {
  const text = args[name as keyof typeof args] as string;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be a whole number ${min}..${max}, not "${text}"`);
  return n;
}
const RATES = args.rates.split(',').map((r) => Number(r.trim()));
if (!RATES.length || RATES.some((r) => !Number.isInteger(r) || r < 10 || r > 100_000)) usage(`--rates must be whole numbers 10..100000 separated by commas, not "${args.rates}"`);
RATES.sort((a, b) => a - b);
const REFINE = whole('refine', 0, 5);
const DURATION_S = whole('duration', 2, 60);
const USERS = whole('users', 10, 90_000);
const SIPP_PROCESSES = whole('sipp', 1, 8);
const KAMAILIO_CHILDREN = whole('kamailio-children', 1, 16);
const LATENCY_S = whole('latency-duration', 2, 60);
const MEMORY = !args['no-memory'];
const BOOST = whole('boost', 0, 20);
type ServerName = 'outpost' | 'kamailio';
const SERVERS = args.servers.split(',').map((s) => s.trim()) as ServerName[];
if (!SERVERS.length || SERVERS.some((s) => s !== 'outpost' && s !== 'kamailio') || new Set(SERVERS).size !== SERVERS.length) usage(`--servers must be outpost, kamailio or both, not "${args.servers}"`);
const CPU_PROF_DIR = args['cpu-prof'] ? resolve(args['cpu-prof']) : undefined;

// --- cleanup: children (Kamailio with its workers) and the temp dir go away on every exit path ----------------

const children = new Set<ChildProcess>();
/** Children started in a process group of their own (Kamailio forks its workers; every server). */
const groups = new Set<ChildProcess>();
const tempDirs: string[] = [];

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (groups.has(child) && child.pid !== undefined) {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // the group is gone
    }
  } else if (!exited(child)) {
    try {
      child.kill(sig);
    } catch {
      // gone
    }
  }
}

/** SIGCONT (it may have been stopped), SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  signal(child, 'SIGCONT');
  if (!exited(child)) {
    signal(child, 'SIGTERM');
    if (!(await waitExit(child, graceMs))) {
      signal(child, 'SIGKILL');
      await waitExit(child, 2000);
    }
  }
  if (groups.has(child)) signal(child, 'SIGKILL');
  children.delete(child);
  groups.delete(child);
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c, 3000)));
    removeTempDirs();
  })());
}

process.on('exit', () => {
  for (const c of children) signal(c, 'SIGKILL');
  try {
    removeTempDirs();
  } catch {
    // best effort at exit
  }
});
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(code));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The wait between the last overload step and the latency runs. */
const SETTLE_MS = 35_000;

function available(command: string, versionArgs: readonly string[]): string | undefined {
  const r = spawnSync(command, versionArgs, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status === null) return undefined;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || '(unknown version)';
}

// --- CPU pinning and accounting (as in dhcp.ts) ----------------------------------------------------------------

/**
 * How fast one core of the host is now, in a node of its own pinned there (best of two each, ms): a fixed integer
 * loop (the core's speed) and a walk of 10^6 random steps through a 16 MiB table (the memory's: a neighbour
 * thrashing the shared cache or memory shows there, not in the loop). The same work every time, so larger figures
 * mean a slower host; the servers' CPU per registration moves with them, and a ratio between ladders run at
 * different host speeds is not a reading.
 */
function coreSpeed(core: number): { loop: number; walk: number } | undefined {
  const code = [
    'const N=1<<22,a=new Int32Array(N);for(let i=0;i<N;i++)a[i]=i;let s=12345;',
    'for(let i=N-1;i>0;i--){s=(s*1103515245+12345)&0x7fffffff;const j=s%(i+1),t=a[i];a[i]=a[j];a[j]=t}',
    'const best=(f)=>{let b=1e9;for(let k=0;k<2;k++){const t=process.hrtime.bigint();f();b=Math.min(b,Number(process.hrtime.bigint()-t)/1e6)}return b};',
    'let sink=0;const loop=best(()=>{let x=0;for(let i=0;i<1e8;i++)x=(x+i*7)|0;sink+=x});',
    'const walk=best(()=>{let p=0;for(let i=0;i<1e6;i++)p=a[p];sink+=p});',
    'process.stdout.write(loop+" "+walk+(sink===0.5?"!":""))',
  ].join('');
  const r = spawnSync('taskset', ['-c', String(core), process.execPath, '-e', code], { encoding: 'utf8', timeout: 30_000 });
  const [loop, walk] = (r.stdout ?? '').split(' ').map(Number);
  return r.status === 0 && loop! > 0 && walk! > 0 ? { loop: loop!, walk: walk! } : undefined;
}

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
  return { server, loadgen, note: `servers on CPU ${server} (taskset -c ${server}), sipp, the latency UAC and this process on CPU ${loadgen}` };
}

const AUTOGROUP = (() => {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
})();
let boostWarned = false;

/**
 * --boost for a child started in a session of its own: with the kernel's autogroups on, CPU is shared fairly
 * between sessions whatever the nice values inside them, so the session's group is favoured (/proc/PID/autogroup),
 * besides the plain nice of `onCore`.
 */
function boost(pid: number | undefined): void {
  if (!BOOST || !AUTOGROUP || pid === undefined) return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(-BOOST));
  } catch (err) {
    if (!boostWarned) log(`--boost: cannot set the autogroup nice of ${pid} (${(err as Error).message}): plain nice only`);
    boostWarned = true;
  }
}

/** `taskset -c CORE [nice -n -BOOST] COMMAND...`. */
function onCore(core: number, command: string, commandArgs: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', String(core), ...(BOOST ? ['nice', '-n', String(-BOOST)] : []), command, ...commandArgs]];
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** Fields of /proc/PID/stat after the command name (state is [0], ppid [1], pgrp [2], utime [11], stime [12]). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system, all threads) a process has used. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / CLK_TCK : undefined;
}

/** The processes of a process group (Kamailio's main process and the workers it forked). */
function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[2]) === pgid) pids.push(Number(name));
  }
  return pids;
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

/** CPU seconds and name of every process now. */
function processTimes(): Map<number, { comm: string; cpu: number }> {
  const out = new Map<number, { comm: string; cpu: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { comm, cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK });
    } catch {
      // gone
    }
  }
  return out;
}

/** "mocha 45%, node 12%": the processes outside the benchmark that used the most CPU between two readings. */
function topOthers(before: Map<number, { comm: string; cpu: number }>, after: Map<number, { comm: string; cpu: number }>, exclude: ReadonlySet<number>, wall: number): string {
  const used: Array<[string, number]> = [];
  for (const [pid, a] of after) {
    if (exclude.has(pid)) continue;
    const d = a.cpu - (before.get(pid)?.cpu ?? a.cpu);
    if (d / wall >= 0.03) used.push([`${a.comm}[${pid}]`, d / wall]);
  }
  return used.sort((x, y) => y[1] - x[1]).slice(0, 4).map(([n, v]) => `${n} ${Math.round(v * 100)}%`).join(', ');
}

function kib(line: RegExp, text: string): number | undefined {
  const m = line.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return kib(/^VmRSS:\s+(\d+)\s+kB/m, readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

function pssBytes(pid: number): number | undefined {
  try {
    return kib(/^Pss:\s+(\d+)\s+kB/m, readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return undefined;
  }
}

// --- ports and child processes -------------------------------------------------------------------------------

/** A port free on 127.0.0.1 for both UDP and TCP (Outpost binds both), not one of `avoid`. */
async function freePort(avoid: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((res, rej) => {
      const srv = createServer();
      srv.once('error', rej);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => res(p));
      });
    });
    if (avoid.has(port)) continue;
    const udpFree = await new Promise<boolean>((res) => {
      const s = createSocket('udp4');
      s.once('error', () => res(false));
      s.bind(port, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port on 127.0.0.1 after 50 attempts');
}

interface Child {
  process: ChildProcess;
  lines: string[];
  stderrTail: () => string;
  waitForLine(re: RegExp, ms: number, what: string): Promise<RegExpExecArray>;
}

/** Starts a long-running child; its stdout lines are kept (the last 200) and can be waited for. */
/** Starts a server in a session (and process group) of its own: signals go to the whole group. */
function start(command: string, commandArgs: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const child = spawn(command, commandArgs, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(child);
  groups.add(child);
  boost(child.pid);
  const lines: string[] = [];
  const errTail: string[] = [];
  let partial = '';
  const waiters = new Set<(line: string) => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      for (const w of [...waiters]) w(line);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    errTail.push(chunk);
    while (errTail.length > 60) errTail.shift();
  });
  child.on('error', (err) => errTail.push(`spawn error: ${err.message}\n`));
  const stderrTail = () => errTail.join('').trim().split('\n').slice(-20).join('\n');
  return {
    process: child,
    lines,
    stderrTail,
    waitForLine(re, ms, what) {
      return new Promise((res, rej) => {
        const early = lines.map((l) => re.exec(l)).find((m): m is RegExpExecArray => !!m);
        if (early) return res(early);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(onLine);
          child.off('exit', onExit);
        };
        const fail = (why: string) => {
          done();
          const tails = [lines.slice(-10).join('\n'), stderrTail()].filter(Boolean).join('\n');
          rej(new Error(`${what} ${why}${tails ? `; its output:\n${tails}` : ''}`));
        };
        const onLine = (line: string) => {
          const m = re.exec(line);
          if (m) {
            done();
            res(m);
          }
        };
        const onExit = (code: number | null, sig: string | null) => fail(`exited (${sig ?? `status ${code}`}) before it was ready`);
        const timer = setTimeout(() => fail(`was not ready within ${ms / 1000} s`), ms);
        waiters.add(onLine);
        child.once('exit', onExit);
      });
    },
  };
}

/** Runs a short command to completion (killed after `ms`). */
function runShort(command: string, commandArgs: string[], ms = 10_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, commandArgs, { encoding: 'utf8', timeout: ms });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

// --- users ---------------------------------------------------------------------------------------------------

interface User {
  name: string;
  ext: string;
  password: string;
}

function makeUsers(n: number): User[] {
  return Array.from({ length: n }, (_, i) => {
    const number = FIRST_USER + i;
    // Hex: nothing that db_text (':'), sipp's [authentication ...] keyword or a header could take for syntax.
    return { name: `u${number}`, ext: String(number), password: randomBytes(8).toString('hex') };
  });
}

function writeUsersCsv(file: string, users: readonly User[]): void {
  writeFileSync(file, `SEQUENTIAL\n${users.map((u) => `${u.name};[authentication username=${u.name} password=${u.password}]`).join('\n')}\n`);
}

// --- the servers ---------------------------------------------------------------------------------------------

interface Server {
  name: ServerName;
  child: Child;
  pid: number;
  port: number;
  /** CPU seconds of the server (every process of it). */
  cpu(): number | undefined;
  /** Bindings held now. */
  bindings(): Promise<number | undefined>;
  pause(): void;
  resume(): void;
}

function outpostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return { ...env, OUTPOST_ADMIN_PASSWORD: 'bench-only-password' };
}

async function metrics(httpPort: number, timeoutMs = 60_000): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

interface OutpostServer extends Server {
  httpPort: number;
  heapDir: string;
}

async function startOutpost(core: number, dir: string, users: readonly User[], port: number, profile: boolean): Promise<OutpostServer> {
  const dataDir = join(dir, 'data');
  const firmwareDir = join(dir, 'firmware');
  const heapDir = join(dir, 'heap');
  for (const d of [dataDir, firmwareDir, heapDir]) mkdirSync(d, { recursive: true });
  const siteFile = join(dir, 'site.json');
  const site = {
    sip: { minExpires: 60, maxExpires: 7200, defaultExpires: 3600, maxContacts: 5, algorithms: ['MD5'] },
    lines: users.map((u) => ({ ext: u.ext, user: u.name, password: u.password, name: `User ${u.ext}` })),
  };
  writeFileSync(siteFile, `${JSON.stringify(site)}\n`);
  const nodeFlags = [...serviceNodeFlags(), `--heapsnapshot-signal=SIGUSR2`, `--diagnostic-dir=${heapDir}`, ...(profile && CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [])];
  const [cmd, cmdArgs] = onCore(core, process.execPath, [
    ...nodeFlags, OUTPOST_BIN, '--data', dataDir, '--firmware', firmwareDir, '--config', siteFile,
    'serve', '--bind', '127.0.0.1', '--http-port', '0', '--sip-port', String(port), '--no-tftp', '--no-dhcp', '--no-mdns',
  ]);
  // cwd: the heap dir, where a heap snapshot lands whatever --diagnostic-dir covers.
  const child = start(cmd, cmdArgs, { env: outpostEnv(), cwd: heapDir });
  const http = await child.waitForLine(/^ready http http:\/\/[^:]+:(\d+)\//, 120_000, 'outpost serve');
  const sip = await child.waitForLine(/^ready sip sip:\S+:(\d+) /, 60_000, 'outpost serve');
  if (Number(sip[1]) !== port) throw new Error(`outpost serves SIP on ${sip[1]}, not on ${port}`);
  const pid = child.process.pid!;
  const httpPort = Number(http[1]);
  return {
    name: 'outpost',
    child,
    pid,
    port,
    httpPort,
    heapDir,
    cpu: () => cpuSeconds(pid),
    async bindings() {
      return (await metrics(httpPort)).get('outpost_sip_registrations');
    },
    pause: () => signal(child.process, 'SIGSTOP'),
    resume: () => signal(child.process, 'SIGCONT'),
  };
}

function kamailioModuleDir(): string {
  const found = KAMAILIO_MODULE_DIRS.find((d) => existsSync(join(d, 'registrar.so')));
  if (!found) throw new Error(`Kamailio's modules (registrar.so) are in none of ${KAMAILIO_MODULE_DIRS.join(', ')}`);
  return found;
}

interface KamailioServer extends Server {
  ctl: string;
  kamcmd(...cmd: string[]): string;
}

async function startKamailio(core: number, dir: string, users: readonly User[], port: number): Promise<KamailioServer> {
  const dbDir = join(dir, 'db');
  mkdirSync(dbDir, { recursive: true });
  // db_text: a header line with the columns htable reads, then one row per user (id:key_name:key_type:value_type:key_value:expires).
  writeFileSync(
    join(dbDir, 'htable'),
    `id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n${users.map((u, i) => `${i + 1}:${u.name}:0:0:${u.password}:0`).join('\n')}\n`,
  );
  const ctl = join(dir, 'kamailio_ctl');
  const cfg = join(dir, 'kamailio.cfg');
  const fill: Record<string, string> = {
    CHILDREN: String(KAMAILIO_CHILDREN),
    PORT: String(port),
    MPATH: `${kamailioModuleDir()}/`,
    CTL: ctl,
    DBDIR: dbDir,
    SECRET: randomBytes(16).toString('hex'),
  };
  const text = readFileSync(KAMAILIO_TEMPLATE, 'utf8').replace(/@@([A-Z]+)@@/g, (whole, key: string) => {
    const v = fill[key];
    if (v === undefined) throw new Error(`${KAMAILIO_TEMPLATE}: unknown placeholder ${whole}`);
    return v;
  });
  writeFileSync(cfg, text);
  const defines = args['kamailio-nonce-count'] ? ['-A', 'NONCE_COUNT'] : [];
  const check = runShort(KAMAILIO, [...defines, '-c', '-f', cfg], 30_000);
  if (check.status !== 0) throw new Error(`kamailio -c -f ${cfg} failed:\n${(check.stdout + check.stderr).trim().split('\n').slice(-10).join('\n')}`);
  const [cmd, cmdArgs] = onCore(core, KAMAILIO, [...defines, '-f', cfg, '-DD', '-E', '-m', '128', '-M', '16', '-Y', dir, '-w', dir]);
  const child = start(cmd, cmdArgs, { cwd: dir });
  const pid = child.process.pid!;
  const kamcmd = (...c: string[]) => {
    const r = runShort(KAMCMD, ['-s', `unix:${ctl}`, ...c], 10_000);
    if (r.status !== 0) throw new Error(`kamcmd ${c.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };
  // Ready when its ctl socket answers and the password table is loaded.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited(child.process)) throw new Error(`kamailio exited (${child.process.signalCode ?? child.process.exitCode}) at start:\n${child.stderrTail()}`);
    if (existsSync(ctl)) {
      try {
        const last = users[users.length - 1]!;
        if (kamcmd('htable.get', 'pw', last.name).includes(last.password)) break;
      } catch {
        // not yet
      }
    }
    if (Date.now() > deadline) throw new Error(`kamailio did not answer on ${ctl} within 30 s:\n${child.stderrTail()}`);
    await sleep(200);
  }
  return {
    name: 'kamailio',
    child,
    pid,
    port,
    ctl,
    kamcmd,
    cpu() {
      const pids = groupPids(pid);
      if (!pids.length) return undefined;
      return pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);
    },
    async bindings() {
      const m = /usrloc:location_contacts\s*=\s*(\d+)/.exec(kamcmd('stats.get_statistics', 'usrloc:'));
      return m ? Number(m[1]) : undefined;
    },
    pause: () => signal(child.process, 'SIGSTOP'),
    resume: () => signal(child.process, 'SIGCONT'),
  };
}

// --- sipp ------------------------------------------------------------------------------------------------------

interface SippTotals {
  created: number;
  successful: number;
  failed: number;
  retransmissions: number;
  unexpected: number;
  maxUdpRetrans: number;
  recvTimeout: number;
  outOfCall: number;
  /** sipp's own elapsed time (StartTime to the final dump), the longest of the processes. */
  elapsed: number;
  /** Registrations per second, all processes together (see achievedRate). */
  achieved: number;
  /** Mean response time 1 (the whole registration), ms, sipp's 4 ms clock; weighted by successful calls. */
  meanRtdMs: number | undefined;
  /** sipp CPU seconds, all processes. */
  cpu: number;
  /** "401 x 12, 500 x 3": the unexpected answers sipp logged (first 2,000 lines of each error log). */
  errors: string;
  timedOut: boolean;
}

/** Every line of a sipp -trace_stat file (a dump every 100 ms, then the final one) as named values. */
function sippStats(file: string): Array<Map<string, string>> | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  if (lines.length < 2) return undefined;
  const names = lines[0]!.split(';');
  return lines.slice(1).map((line) => {
    const values = line.split(';');
    return new Map(names.map((n, i) => [n.trim(), (values[i] ?? '').trim()]));
  });
}

/**
 * Registrations per second one sipp process achieved: the share of its calls that may fail (0.1%) is left out
 * of the end, so that one straggler answered after a retransmission does not count as the rate, but a backlog
 * that the server works off after the sending ended does. From the dumps every 100 ms, interpolated.
 */
function achievedRate(rows: ReadonlyArray<Map<string, string>>, created: number, successful: number, elapsed: number): number {
  const needed = Math.ceil((1 - CLEAN_FAILED) * created);
  if (created === 0) return 0;
  if (successful < needed) return elapsed > 0 ? successful / elapsed : 0;
  const start = sippTime(rows[0]!.get('StartTime'));
  let prevT = 0;
  let prevN = 0;
  for (const row of rows) {
    const t = sippTime(row.get('CurrentTime')) - start;
    const n = Number(row.get('SuccessfulCall(C)') ?? 0);
    if (n >= needed) {
      const at = n === prevN ? t : prevT + ((needed - prevN) / (n - prevN)) * (t - prevT);
      return at > 0 ? needed / at : 0;
    }
    prevT = t;
    prevN = n;
  }
  return elapsed > 0 ? successful / elapsed : 0;
}

/** "2026-11-30\t12:09:11.456651\t1796040551.456651" -> 1796040551.456651. */
function sippTime(text: string | undefined): number {
  const parts = (text ?? '').split('\t');
  return Number(parts[parts.length - 1]);
}

/** "00:00:01:702000" (h:m:s:us) -> ms. */
function sippDurationMs(text: string | undefined): number | undefined {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(text ?? '');
  if (!m) return undefined;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

function errorSummary(file: string): string {
  if (!existsSync(file)) return '';
  const counts = new Map<string, number>();
  const text = readFileSync(file, 'utf8').slice(0, 2_000_000);
  for (const m of text.matchAll(/received '(SIP\/2\.0 \d{3}[^\r\n']*)/g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  for (const m of text.matchAll(/(Call-Id '[^']*' .{0,40}?)(timed out|retransmission)/gi)) counts.set(m[2]!, (counts.get(m[2]!) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k} x ${n}`).join(', ');
}

interface SippJob {
  target: string;
  rate: number;
  calls: number;
  csv: string;
  localPort: number;
}

/** Runs sipp processes at once (each its own port, users and rate) and adds up their statistics. */
async function runSipp(jobs: readonly SippJob[], core: number, dir: string, timeoutS: number): Promise<SippTotals> {
  mkdirSync(dir, { recursive: true });
  const running = jobs.map((job, i) => {
    const stf = join(dir, `stat-${i}.csv`);
    const errFile = join(dir, `errors-${i}.log`);
    const sippArgs = [
      job.target, '-sf', SCENARIO, '-inf', job.csv, '-i', '127.0.0.1', '-p', String(job.localPort), '-t', 'u1',
      '-r', String(job.rate), '-rp', '1000', '-m', String(job.calls), '-l', String(Math.max(200, Math.min(15_000, job.rate * 2))),
      // -nd: a failed call just ends (no BYE or CANCEL sent to the registrar).
      '-buff_size', '4194304', '-timeout', `${timeoutS}s`, '-nostdin', '-nd',
      '-trace_stat', '-stf', stf, '-fd', '100ms', '-trace_err', '-error_file', errFile,
    ];
    const [cmd, cmdArgs] = onCore(core, SIPP, sippArgs);
    const child = spawn(cmd, cmdArgs, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    children.add(child);
    boost(child.pid);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      if (stderr.length < 4000) stderr += c;
    });
    let cpu = 0;
    const sampler = setInterval(() => {
      const c = cpuSeconds(child.pid);
      if (c !== undefined) cpu = c;
    }, 100);
    const done = new Promise<{ status: number | null; cpu: number; stderr: string; killed: boolean }>((res) => {
      let killed = false;
      const hard = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, (timeoutS + 15) * 1000);
      child.once('exit', (status) => {
        clearTimeout(hard);
        clearInterval(sampler);
        children.delete(child);
        res({ status, cpu, stderr, killed });
      });
    });
    return { stf, errFile, done, args: sippArgs };
  });
  const totals: SippTotals = { created: 0, successful: 0, failed: 0, achieved: 0, retransmissions: 0, unexpected: 0, maxUdpRetrans: 0, recvTimeout: 0, outOfCall: 0, elapsed: 0, meanRtdMs: undefined, cpu: 0, errors: '', timedOut: false };
  let rtdWeighted = 0;
  const errors: string[] = [];
  for (const r of running) {
    const d = await r.done;
    totals.cpu += d.cpu;
    const rows = sippStats(r.stf);
    const s = rows?.[rows.length - 1];
    // sipp: 0 all calls succeeded, 1 at least one failed, 97/99 other ends (timeout); no stats file: it did not run.
    if (!rows || !s) throw new Error(`sipp ${r.args.join(' ')} exited with ${d.status} and wrote no statistics: ${d.stderr.trim().slice(-800)}`);
    if (d.killed) totals.timedOut = true;
    const n = (k: string) => Number(s.get(k) ?? 0);
    const created = n('TotalCallCreated');
    const ok = n('SuccessfulCall(C)');
    totals.created += created;
    totals.successful += ok;
    totals.failed += Math.max(0, created - ok);
    totals.retransmissions += n('Retransmissions(C)');
    totals.unexpected += n('FailedUnexpectedMessage(C)');
    totals.maxUdpRetrans += n('FailedMaxUDPRetrans(C)');
    totals.recvTimeout += n('FailedTimeoutOnRecv(C)');
    totals.outOfCall += n('OutOfCallMsgs(C)');
    const elapsed = sippTime(s.get('CurrentTime')) - sippTime(s.get('StartTime'));
    totals.elapsed = Math.max(totals.elapsed, elapsed);
    totals.achieved += achievedRate(rows, created, ok, elapsed);
    const rtd = sippDurationMs(s.get('ResponseTime1(C)'));
    if (rtd !== undefined) rtdWeighted += rtd * ok;
    const e = errorSummary(r.errFile);
    if (e) errors.push(e);
    if (sippTime(s.get('CurrentTime')) - sippTime(s.get('StartTime')) >= timeoutS - 0.5) totals.timedOut = true;
  }
  totals.meanRtdMs = totals.successful > 0 ? rtdWeighted / totals.successful : undefined;
  totals.errors = errors.join('; ');
  return totals;
}

// --- a step ----------------------------------------------------------------------------------------------------

interface Step {
  server: ServerName;
  rate: number;
  attempt: number;
  phase: 'ladder' | 'refine';
  sipp: SippTotals;
  achieved: number;
  failedShare: number;
  clean: boolean;
  serverCpu: number | undefined;
  cpuUsPerRegistration: number | undefined;
  sippCpu: number | undefined;
  serverCore: { task: number; irq: number; steal: number } | undefined;
  loadgenCore: { task: number; irq: number; steal: number } | undefined;
  othersOnServerCore: number | undefined;
  othersOnLoadgenCore: number | undefined;
  /** The busiest processes outside the benchmark meanwhile (any core). */
  topOthers: string;
  outpostCounters?: string;
  /** How fast each core of the host was right after the step (coreSpeed, ms). */
  host?: { server: { loop: number; walk: number } | undefined; loadgen: { loop: number; walk: number } | undefined };
}

interface Context {
  pinning: Pinning;
  tmp: string;
  users: readonly User[];
  /** Per sipp process count: the users csv of each process. */
  slices: Map<number, string[]>;
  sippPorts: number[];
}

function slicesFor(ctx: Context, n: number): string[] {
  let files = ctx.slices.get(n);
  if (!files) {
    files = [];
    for (let i = 0; i < n; i++) {
      const file = join(ctx.tmp, 'sipp', `users-${n}-${i}.csv`);
      const from = Math.floor((i * ctx.users.length) / n);
      const to = Math.floor(((i + 1) * ctx.users.length) / n);
      writeUsersCsv(file, ctx.users.slice(from, to));
      files.push(file);
    }
    ctx.slices.set(n, files);
  }
  return files;
}

async function outpostCounters(s: Server): Promise<Map<string, number> | undefined> {
  if (s.name !== 'outpost') return undefined;
  try {
    return await metrics((s as OutpostServer).httpPort, 10_000);
  } catch {
    return undefined;
  }
}

function counterDelta(before: Map<string, number> | undefined, after: Map<string, number> | undefined): string | undefined {
  if (!before || !after) return undefined;
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const parts = [
    ['ok', d('outpost_sip_register_requests{result="ok"}')],
    ['401', d('outpost_sip_register_requests{result="challenged"}')],
    ['stale', d('outpost_sip_register_requests{result="stale"}')],
    ['failed', d('outpost_sip_register_requests{result="failed"}')],
    ['rejected', d('outpost_sip_register_requests{result="rejected"}')],
    ['error', d('outpost_sip_register_requests{result="error"}')],
    ['tarpitted', d('outpost_sip_messages{kind="tarpitted"}')],
  ] as const;
  return parts.filter(([, v]) => v !== 0).map(([k, v]) => `${k} ${v}`).join(', ');
}

/** Waits at least 1.5 s, then until the server uses less than IDLE_CPU of its core over 500 ms (SETTLE_STEP_MS at most). */
async function settle(server: Server): Promise<{ ms: number; idle: boolean; cpu: number | undefined }> {
  const started = Date.now();
  await sleep(1000);
  let cpu: number | undefined;
  for (;;) {
    const before = server.cpu();
    await sleep(500);
    const after = server.cpu();
    cpu = before !== undefined && after !== undefined ? (after - before) / 0.5 : undefined;
    if (cpu === undefined || cpu < IDLE_CPU) return { ms: Date.now() - started, idle: true, cpu };
    if (Date.now() - started >= SETTLE_STEP_MS) return { ms: Date.now() - started, idle: false, cpu };
  }
}

async function runStep(ctx: Context, server: Server, pauseOthers: readonly Server[], rate: number, phase: Step['phase'], attempt: number, index: number): Promise<Step> {
  for (const o of pauseOthers) o.pause();
  server.resume();
  // Let the server run what piled up while it was stopped (timers) and drain the previous step: at least 1.5 s, and
  // after an overload until it is idle (less than IDLE_CPU of its core over half a second; at most SETTLE_STEP_MS),
  // so that every rate is measured from a quiet server, not on the backlog of the step before.
  const settled = await settle(server);
  if (settled.ms > 2000) log(`${server.name}: ${(settled.ms / 1000).toFixed(1)} s to become idle before ${fmtInt(rate)}/s${settled.idle ? '' : ` (still ${pct(settled.cpu)} busy: measured anyway)`}`);
  const n = Math.min(SIPP_PROCESSES, Math.max(1, Math.floor(rate / 50)));
  const files = slicesFor(ctx, n);
  const base = Math.floor(rate / n);
  const jobs: SippJob[] = files.map((csv, i) => {
    const r = base + (i < rate - base * n ? 1 : 0);
    return { target: `127.0.0.1:${server.port}`, rate: r, calls: r * DURATION_S, csv, localPort: ctx.sippPorts[i]! };
  });
  const countersBefore = await outpostCounters(server);
  const procsBefore = processTimes();
  const serverBefore = server.cpu();
  const ownBefore = process.cpuUsage();
  const coreBefore = cpuTimes(ctx.pinning.server);
  const loadBefore = cpuTimes(ctx.pinning.loadgen);
  const t0 = performance.now();
  const sipp = await runSipp(jobs, ctx.pinning.loadgen, join(ctx.tmp, 'sipp', `step-${index}-${server.name}-${rate}-${attempt}`), DURATION_S + 12);
  const wall = (performance.now() - t0) / 1000;
  const serverAfter = server.cpu();
  const coreAfter = cpuTimes(ctx.pinning.server);
  const loadAfter = cpuTimes(ctx.pinning.loadgen);
  const own = process.cpuUsage(ownBefore);
  const procsAfter = processTimes();
  const countersAfter = await outpostCounters(server);
  const ours = new Set<number>([process.pid, ...(server.name === 'kamailio' ? groupPids(server.pid) : [server.pid])]);
  const serverCpuS = serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : undefined;
  const serverCpu = serverCpuS !== undefined ? serverCpuS / wall : undefined;
  const sippCpu = sipp.cpu / wall;
  const ownCpu = (own.user + own.system) / 1e6 / wall;
  const serverCore = coreShares(coreBefore, coreAfter);
  const loadgenCore = coreShares(loadBefore, loadAfter);
  const same = ctx.pinning.server === ctx.pinning.loadgen;
  const achieved = sipp.achieved;
  const failedShare = sipp.created > 0 ? sipp.failed / sipp.created : 1;
  const target = jobs.reduce((s, j) => s + j.rate, 0);
  // How fast the host is now, with the server stopped so the probe has its core to itself.
  server.pause();
  const host = { server: coreSpeed(ctx.pinning.server), loadgen: coreSpeed(ctx.pinning.loadgen) };
  server.resume();
  return {
    host,
    server: server.name,
    rate,
    attempt,
    phase,
    sipp,
    achieved,
    failedShare,
    clean: failedShare < CLEAN_FAILED && achieved >= CLEAN_ACHIEVED * target && !sipp.timedOut,
    serverCpu,
    cpuUsPerRegistration: serverCpuS !== undefined && sipp.successful > 0 ? (serverCpuS * 1e6) / sipp.successful : undefined,
    sippCpu,
    serverCore,
    loadgenCore,
    othersOnServerCore: serverCore && serverCpu !== undefined ? Math.max(0, serverCore.task - serverCpu - (same ? sippCpu + ownCpu : 0)) : undefined,
    othersOnLoadgenCore: same || !loadgenCore ? undefined : Math.max(0, loadgenCore.task - sippCpu - ownCpu),
    topOthers: topOthers(procsBefore, procsAfter, ours, wall),
    outpostCounters: counterDelta(countersBefore, countersAfter),
  };
}

/** The rates a server is tried at: up the ladder to the first failure, then bisection between it and the last success. */
class Ladder {
  private i = 0;
  lastClean = 0;
  firstFail: number | undefined;
  private refineLeft = REFINE;

  next(): { rate: number; phase: Step['phase'] } | undefined {
    if (this.firstFail === undefined) return this.i < RATES.length ? { rate: RATES[this.i]!, phase: 'ladder' } : undefined;
    if (this.refineLeft <= 0) return undefined;
    const mid = Math.round((this.lastClean + this.firstFail) / 2 / 50) * 50;
    if (mid <= this.lastClean || mid >= this.firstFail) return undefined;
    return { rate: mid, phase: 'refine' };
  }

  record(rate: number, clean: boolean): void {
    if (this.firstFail === undefined) {
      this.i++;
      if (clean) this.lastClean = rate;
      else this.firstFail = rate;
    } else {
      this.refineLeft--;
      if (clean) this.lastClean = Math.max(this.lastClean, rate);
      else this.firstFail = Math.min(this.firstFail, rate);
    }
  }
}

// --- the latency UAC -------------------------------------------------------------------------------------------

interface Latency {
  server: ServerName;
  rate: number;
  label: string;
  sent: number;
  completed: number;
  failed: number;
  /** µs, ascending. */
  registration: number[];
  challenge: number[];
  authorized: number[];
  serverCpu: number | undefined;
  othersOnServerCore: number | undefined;
  /** This process's CPU meanwhile (the UAC): near 100% means the client, not the server, set the pace. */
  uacCpu: number | undefined;
}

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

function digestParams(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of value.replace(/^\s*Digest\s+/i, '').matchAll(/([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) out.set(m[1]!.toLowerCase(), m[2] ?? m[3] ?? '');
  return out;
}

/**
 * Digest registrations at `rate` for `seconds` from one UDP socket in this process: REGISTER, 401, REGISTER with
 * Authorization (MD5, qop=auth), 200, timed with hrtime. No retransmissions: a registration unanswered after 2 s
 * counts as failed.
 */
async function measureLatency(server: Server, others: readonly Server[], users: readonly User[], rate: number, seconds: number, label: string, pinning: Pinning): Promise<Latency> {
  for (const o of others) o.pause();
  server.resume();
  await sleep(1500);
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((res, rej) => {
    socket.once('error', rej);
    socket.bind(0, '127.0.0.1', () => res());
  });
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // the kernel's limit applies
  }
  const localPort = socket.address().port;
  const uri = `sip:127.0.0.1:${server.port}`;
  interface Pending {
    user: User;
    t0: bigint;
    t1?: bigint;
    t2?: bigint;
    cseq: number;
  }
  const pending = new Map<string, Pending>();
  const result: Latency = { server: server.name, rate, label, sent: 0, completed: 0, failed: 0, registration: [], challenge: [], authorized: [], serverCpu: undefined, othersOnServerCore: undefined, uacCpu: undefined };
  const tag = randomBytes(4).toString('hex');
  const request = (p: Pending, callId: string, authorization?: string) =>
    Buffer.from(
      [
        `REGISTER ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
        'Max-Forwards: 70',
        `From: <sip:${p.user.name}@127.0.0.1>;tag=${tag}${callId.slice(0, 8)}`,
        `To: <sip:${p.user.name}@127.0.0.1>`,
        `Call-ID: ${callId}`,
        `CSeq: ${p.cseq} REGISTER`,
        `Contact: <sip:${p.user.name}@127.0.0.1:5070>`,
        ...(authorization ? [`Authorization: ${authorization}`] : []),
        'Expires: 3600',
        'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER',
        'User-Agent: outpost bench latency UAC',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    );
  const send = (buf: Buffer) => socket.send(buf, server.port, '127.0.0.1');
  socket.on('message', (msg) => {
    const now = process.hrtime.bigint();
    const text = msg.toString('latin1');
    const status = /^SIP\/2\.0 (\d{3})/.exec(text)?.[1];
    const callId = /^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)/im.exec(text)?.[1];
    if (!status || !callId) return;
    const p = pending.get(callId);
    if (!p) return;
    if (status === '401' && p.cseq === 1) {
      const challenge = /^WWW-Authenticate[ \t]*:[ \t]*(Digest[^\r\n]*)/im.exec(text)?.[1];
      if (!challenge) return;
      const c = digestParams(challenge);
      const realm = c.get('realm') ?? REALM;
      const nonce = c.get('nonce') ?? '';
      const cnonce = randomBytes(6).toString('hex');
      const ha1 = md5(`${p.user.name}:${realm}:${p.user.password}`);
      const ha2 = md5(`REGISTER:${uri}`);
      const qop = c.has('qop') ? 'auth' : undefined;
      const response = qop ? md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
      const auth =
        `Digest username="${p.user.name}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5` +
        (qop ? `, cnonce="${cnonce}", qop=auth, nc=00000001` : '') +
        (c.has('opaque') ? `, opaque="${c.get('opaque')}"` : '');
      p.t1 = now;
      p.cseq = 2;
      p.t2 = process.hrtime.bigint();
      send(request(p, callId, auth));
    } else if (p.cseq === 2 && status === '200') {
      pending.delete(callId);
      result.completed++;
      result.registration.push(Number(now - p.t0) / 1000);
      result.challenge.push(Number(p.t1! - p.t0) / 1000);
      result.authorized.push(Number(now - p.t2!) / 1000);
    } else if (Number(status) >= 300) {
      pending.delete(callId);
      result.failed++;
    }
  });
  const cpuBefore = server.cpu();
  const coreBefore = cpuTimes(pinning.server);
  const ownBefore = process.cpuUsage();
  const t0 = performance.now();
  const started = process.hrtime.bigint();
  let next = Math.floor(Math.random() * users.length);
  await new Promise<void>((res) => {
    const tick = setInterval(() => {
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
      const due = Math.min(Math.floor(elapsed * rate), rate * seconds);
      while (result.sent < due) {
        const user = users[next++ % users.length]!;
        const callId = `${randomBytes(9).toString('hex')}@127.0.0.1`;
        const p: Pending = { user, t0: process.hrtime.bigint(), cseq: 1 };
        pending.set(callId, p);
        result.sent++;
        send(request(p, callId));
      }
      const now = process.hrtime.bigint();
      for (const [id, p] of pending) {
        if (now - p.t0 > 2_000_000_000n) {
          pending.delete(id);
          result.failed++;
        }
      }
      if (result.sent >= rate * seconds && (pending.size === 0 || elapsed > seconds + 2.5)) {
        clearInterval(tick);
        res();
      }
    }, 2);
  });
  const wall = (performance.now() - t0) / 1000;
  const cpuAfter = server.cpu();
  const coreAfter = cpuTimes(pinning.server);
  const own = process.cpuUsage(ownBefore);
  result.uacCpu = (own.user + own.system) / 1e6 / wall;
  result.failed += pending.size;
  socket.close();
  for (const a of [result.registration, result.challenge, result.authorized]) a.sort((x, y) => x - y);
  result.serverCpu = cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / wall : undefined;
  const core = coreShares(coreBefore, coreAfter);
  result.othersOnServerCore = core && result.serverCpu !== undefined && pinning.server !== pinning.loadgen ? Math.max(0, core.task - result.serverCpu) : undefined;
  return result;
}

// --- memory ----------------------------------------------------------------------------------------------------

interface MemoryReading {
  bindings: number | undefined;
  /** Outpost: JS heap used after a full GC; Kamailio: shared memory used. */
  primary: number | undefined;
  /** Outpost: RSS; Kamailio: PSS of all its processes. */
  secondary: number | undefined;
}

/**
 * Outpost: a heap snapshot (V8 collects all garbage first), then the heap used from /metrics and the RSS. The RSS
 * is read after the snapshot, as at every reading, so that the memory the snapshot itself took (malloc keeps it)
 * is in every reading alike; the benchmark takes one first snapshot, not counted, for that.
 */
async function outpostMemory(s: OutpostServer): Promise<MemoryReading> {
  const before = new Set(readdirSync(s.heapDir));
  process.kill(s.pid, 'SIGUSR2');
  // The snapshot is written on the main thread: /metrics answers once it is done.
  const deadline = Date.now() + 60_000;
  while (!readdirSync(s.heapDir).some((f) => f.endsWith('.heapsnapshot') && !before.has(f)) && Date.now() < deadline) await sleep(50);
  const m = await metrics(s.httpPort, 120_000);
  const rss = rssBytes(s.pid);
  for (const f of readdirSync(s.heapDir)) if (f.endsWith('.heapsnapshot')) rmSync(join(s.heapDir, f), { force: true });
  return { bindings: m.get('outpost_sip_registrations'), primary: m.get('outpost_nodejs_heap_size_used_bytes'), secondary: rss };
}

function kamailioMemory(s: KamailioServer): Promise<MemoryReading> {
  const shm = /^\s*used:\s*(\d+)/m.exec(s.kamcmd('core.shmmem'));
  const pss = groupPids(s.pid).reduce((sum, p) => sum + (pssBytes(p) ?? 0), 0);
  return s.bindings().then((bindings) => ({ bindings, primary: shm ? Number(shm[1]) : undefined, secondary: pss || undefined }));
}

async function waitOutpostTransactions(s: OutpostServer, maxMs: number): Promise<number | undefined> {
  const deadline = Date.now() + maxMs;
  let left: number | undefined;
  for (;;) {
    try {
      left = (await metrics(s.httpPort, 10_000)).get('outpost_sip_transactions{side="server"}');
    } catch {
      left = undefined;
    }
    if (left === 0 || Date.now() > deadline) return left;
    await sleep(1000);
  }
}

// --- report ------------------------------------------------------------------------------------------------------

const fmtInt = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const pct = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${Math.round(n * 100)}%`);
const failPct = (n: number) => (n === 0 ? '0%' : n < 0.0001 ? '<0.01%' : `${(n * 100).toFixed(2)}%`);
const ms = (us: number | undefined) => (us === undefined || !Number.isFinite(us) ? 'n/a' : `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`);
const bytes = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : Math.abs(n) >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

function table(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

// --- main ----------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const needs: Array<[string, string[], string]> = [['taskset', ['--version'], 'util-linux'], [SIPP, ['-v'], 'sipp']];
  if (SERVERS.includes('kamailio')) needs.push([KAMAILIO, ['-v'], 'kamailio'], [KAMCMD, ['-V'], 'kamailio (kamcmd)']);
  for (const [cmd, v, pkg] of needs) if (!available(cmd, v)) throw new Error(`${cmd} is not installed (Debian package ${pkg})`);
  const sippVersion = /SIPp v[\S]+/.exec(available(SIPP, ['-v']) ?? '')?.[0] ?? 'sipp';
  const kamailioVersion = SERVERS.includes('kamailio') ? /version:\s*(kamailio [^\s]+)/.exec(available(KAMAILIO, ['-v']) ?? '')?.[1] ?? 'kamailio' : undefined;

  let build = 'n/a';
  if (SERVERS.includes('outpost')) {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first (the server runs the built code)');
    const newest = (dir: string): number => {
      let latest = 0;
      for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
        if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath ?? dir, entry.name)).mtimeMs);
      }
      return latest;
    };
    const distBuilt = newest(join(ROOT, 'dist'));
    build = `dist/ built ${new Date(distBuilt).toISOString().replace(/\.\d+Z$/, 'Z')}`;
    if (newest(join(ROOT, 'src')) > distBuilt) log('WARNING: src/ is newer than dist/: Outpost runs the old build (npm run build)');
  }

  const logicalCpus = availableParallelism(); // before pinning
  const pinning = pin();
  log(pinning.note);
  if (BOOST) {
    // The latency UAC runs in this process: favoured like the servers and sipp (its session's autogroup is put
    // back as it was on exit).
    try {
      setPriority(-BOOST);
      if (AUTOGROUP) {
        const previous = /nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1];
        writeFileSync('/proc/self/autogroup', String(-BOOST));
        if (previous !== undefined) {
          process.on('exit', () => {
            try {
              writeFileSync('/proc/self/autogroup', previous);
            } catch {
              // best effort
            }
          });
        }
      }
    } catch (err) {
      log(`could not favour this process: ${(err as Error).message}`);
    }
  }

  const tmp = mkdtempSync(join(tmpdir(), `opbench-sip-${process.pid}-`));
  tempDirs.push(tmp);
  mkdirSync(join(tmp, 'sipp'), { recursive: true });
  const fsType = (spawnSync('df', ['--output=fstype', tmp], { encoding: 'utf8' }).stdout ?? '').trim().split('\n').slice(1).join('').trim() || 'unknown';
  if (/tmpfs|ramfs/.test(fsType)) log(`WARNING: ${tmp} is on ${fsType}: fsync costs nothing there, so Outpost's durable writes are not measured (set TMPDIR to a disk)`);

  const users = makeUsers(USERS);
  const allCsv = join(tmp, 'sipp', 'users-all.csv');
  writeUsersCsv(allCsv, users);
  const probeCsv = join(tmp, 'sipp', 'users-probe.csv');
  writeUsersCsv(probeCsv, users.slice(-1));

  const taken = new Set<number>();
  const reserve = async () => {
    const p = await freePort(taken);
    taken.add(p);
    return p;
  };
  const sippPorts: number[] = [];
  for (let i = 0; i < SIPP_PROCESSES; i++) sippPorts.push(await reserve());
  const ctx: Context = { pinning, tmp, users, slices: new Map(), sippPorts };

  // 1. Servers.
  const servers: Server[] = [];
  if (SERVERS.includes('kamailio')) {
    const dir = join(tmp, 'kamailio');
    mkdirSync(dir, { recursive: true });
    log(`starting kamailio (${KAMAILIO_CHILDREN} UDP worker(s)${args['kamailio-nonce-count'] ? ', nonce_count' : ''})`);
    servers.push(await startKamailio(pinning.server, dir, users, await reserve()));
  }
  if (SERVERS.includes('outpost')) {
    const dir = join(tmp, 'outpost');
    mkdirSync(dir, { recursive: true });
    log(`starting outpost with ${fmtInt(USERS)} lines in its site file (the first start applies them: some seconds)`);
    const t = performance.now();
    const port = await reserve();
    let outpost = await startOutpost(pinning.server, dir, users, port, false);
    log(`outpost ready after ${((performance.now() - t) / 1000).toFixed(1)} s`);
    if (CPU_PROF_DIR) {
      // Profiled from a second start, so that applying the site file's lines is not in the profile.
      mkdirSync(CPU_PROF_DIR, { recursive: true });
      await stopChild(outpost.child.process, 10_000);
      outpost = await startOutpost(pinning.server, dir, users, port, true);
      log(`outpost restarted under --cpu-prof (${CPU_PROF_DIR})`);
    }
    servers.unshift(outpost);
  }
  const others = (s: Server) => servers.filter((o) => o !== s);

  // Really answering: one registration each.
  for (const s of servers) {
    for (const o of others(s)) o.pause();
    s.resume();
    const probe = await runSipp([{ target: `127.0.0.1:${s.port}`, rate: 1, calls: 1, csv: probeCsv, localPort: sippPorts[0]! }], pinning.loadgen, join(tmp, 'sipp', `probe-${s.name}`), 15);
    if (probe.successful !== 1) throw new Error(`${s.name} did not complete one digest registration from sipp (${probe.errors || 'no answer'})`);
    log(`${s.name} answers: one digest registration from sipp completed`);
  }
  for (const s of servers) s.resume();

  // 2. Memory, before and after every user has a binding.
  const memBefore = new Map<ServerName, MemoryReading>();
  const memAfter = new Map<ServerName, MemoryReading>();
  const memoryOf = (s: Server) => (s.name === 'outpost' ? outpostMemory(s as OutpostServer) : kamailioMemory(s as KamailioServer));
  // A first heap snapshot, not counted: the memory a snapshot takes is then in Outpost's RSS before as after.
  if (MEMORY) for (const s of servers) if (s.name === 'outpost') await outpostMemory(s as OutpostServer);
  if (MEMORY) for (const s of servers) memBefore.set(s.name, await memoryOf(s));
  const fillRate = Math.min(MEMORY_PASS_RATE, USERS);
  const fillResults = new Map<ServerName, SippTotals>();
  // Outpost first: its transactions must end (Timer J) before its memory is read, and it is not stopped meanwhile.
  const fillOrder = [...servers].sort((a, b) => (a.name === 'outpost' ? -1 : b.name === 'outpost' ? 1 : 0));
  let outpostMemoryDue: number | undefined;
  for (const s of fillOrder) {
    for (const o of others(s)) if (o.name !== 'outpost') o.pause();
    s.resume();
    log(`${s.name}: registering all ${fmtInt(USERS)} users once at ${fmtInt(fillRate)}/s (memory per binding; also the warm-up)`);
    const r = await runSipp([{ target: `127.0.0.1:${s.port}`, rate: fillRate, calls: USERS, csv: allCsv, localPort: sippPorts[0]! }], pinning.loadgen, join(tmp, 'sipp', `fill-${s.name}`), Math.ceil(USERS / fillRate) + 40);
    fillResults.set(s.name, r);
    log(`${s.name}: ${fmtInt(r.successful)} of ${fmtInt(r.created)} registrations completed in ${r.elapsed.toFixed(1)} s`);
    if (!MEMORY) continue;
    if (s.name === 'outpost') outpostMemoryDue = Date.now() + (TIMER_J_S + 2) * 1000;
    else memAfter.set(s.name, await memoryOf(s));
  }
  const outpost = servers.find((s): s is OutpostServer => s.name === 'outpost');
  /** Outpost's memory once its transactions have ended; until then it is never stopped. */
  const readOutpostMemory = async (wait: boolean) => {
    if (!outpost || outpostMemoryDue === undefined) return;
    if (!wait && Date.now() < outpostMemoryDue) return;
    const waitMs = outpostMemoryDue - Date.now();
    if (waitMs > 0) {
      log(`outpost: waiting ${Math.ceil(waitMs / 1000)} s for its transactions to end (Timer J) before reading its memory`);
      await sleep(waitMs);
    }
    outpostMemoryDue = undefined;
    const left = await waitOutpostTransactions(outpost, 15_000);
    if (left !== 0) log(`WARNING: outpost still holds ${left ?? '?'} transactions: its memory reading includes them`);
    memAfter.set('outpost', await memoryOf(outpost));
    log('outpost: memory read');
  };

  // 3. Ladders: Kamailio's first (Outpost runs on, idle, until its memory is read), then Outpost's.
  const steps: Step[] = [];
  let index = 0;
  const ladderOrder = [...servers].sort((a, b) => (a.name === 'kamailio' ? -1 : b.name === 'kamailio' ? 1 : 0));
  for (const s of ladderOrder) {
    const ladder = new Ladder();
    for (let next = ladder.next(); next; next = ladder.next()) {
      await readOutpostMemory(s.name === 'outpost');
      const pauseOthers = others(s).filter((o) => o.name !== 'outpost' || outpostMemoryDue === undefined);
      let step = await runStep(ctx, s, pauseOthers, next.rate, next.phase, 1, ++index);
      steps.push(step);
      logStep(step, index);
      const disturbed = isDisturbed(step);
      if (!step.clean && disturbed) {
        log(`[${index}] ${s.name} at ${fmtInt(next.rate)}/s failed while other processes used ${pct(step.othersOnServerCore)} of the server's core (the load generator's core ${pct(step.loadgenCore && step.loadgenCore.task + step.loadgenCore.irq)} busy): once more`);
        await readOutpostMemory(false);
        step = await runStep(ctx, s, others(s).filter((o) => o.name !== 'outpost' || outpostMemoryDue === undefined), next.rate, next.phase, 2, ++index);
        steps.push(step);
        logStep(step, index);
      }
      ladder.record(next.rate, step.clean);
    }
  }
  await readOutpostMemory(true);
  for (const s of servers) s.resume();

  // 4. Latency.
  const sustained = new Map<ServerName, Step | undefined>();
  for (const s of servers) {
    const clean = steps.filter((st) => st.server === s.name && st.clean).sort((a, b) => b.rate - a.rate)[0];
    sustained.set(s.name, clean);
  }
  const halfOf = (name: ServerName) => Math.min(UAC_MAX_RATE, Math.max(50, Math.round((sustained.get(name)?.rate ?? RATES[0]! / 2) / 2 / 50) * 50));
  const common = Math.min(...servers.map((s) => halfOf(s.name)));
  const latencies: Latency[] = [];
  // The ladders end with overload steps: tens of thousands of sipp retransmissions and 32 s (Timer J) of completed
  // transactions. Measured straight after, the latency is that backlog's (p99 423 ms against 19.9 ms without it).
  // Every server runs, unloaded, for longer than Timer J first.
  if (steps.some((st) => !st.clean)) {
    for (const s of servers) s.resume();
    log(`settling ${SETTLE_MS / 1000} s after the overload steps before the latency runs (Timer J is 32 s)`);
    await sleep(SETTLE_MS);
  }
  for (const s of servers) {
    const plan = [{ rate: common, label: 'common' }];
    if (halfOf(s.name) !== common) plan.push({ rate: halfOf(s.name), label: 'own' });
    for (const p of plan) {
      log(`${s.name}: latency at ${fmtInt(p.rate)} registrations/s for ${LATENCY_S} s (${p.label === 'common' ? '50% of the lower sustainable rate' : `50% of its own sustainable rate${p.rate === UAC_MAX_RATE ? `, capped at the UAC's ${fmtInt(UAC_MAX_RATE)}/s` : ''}`})`);
      const l = await measureLatency(s, others(s), users, p.rate, LATENCY_S, p.label, pinning);
      latencies.push(l);
      log(`${s.name}: ${fmtInt(l.completed)} of ${fmtInt(l.sent)} registrations, p50 ${ms(percentile(l.registration, 50))}, p99 ${ms(percentile(l.registration, 99))}, ${l.failed} failed`);
    }
  }
  for (const s of servers) s.resume();

  // Stop the servers (Outpost writes its CPU profile on exit).
  for (const s of servers) await stopChild(s.child.process, 10_000);

  // --- report ---
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`SIP REGISTER benchmark: digest registrations (REGISTER -> 401 -> REGISTER with Authorization -> 200) by sipp, ${fmtInt(USERS)} users, rates ${RATES.join(', ')} registrations/s (+${REFINE} refinements), ${DURATION_S} s each, ${SIPP_PROCESSES} sipp process(es)`);
  out(`machine: ${logicalCpus} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${sippVersion}${kamailioVersion ? `, ${kamailioVersion}` : ''}`);
  if (SERVERS.includes('outpost')) out(`outpost: ${build}; bindings in SQLite on ${fsType}, fsync'd before the 200 OK (group commit); digest MD5 only (sip.algorithms ["MD5"])`);
  if (SERVERS.includes('kamailio')) {
    out(
      `kamailio: usrloc db_mode 0 (in memory, not durable), passwords in an htable, pv_www_authenticate, ${KAMAILIO_CHILDREN} UDP worker(s), ` +
        `stateless replies (sl), nonce_count ${args['kamailio-nonce-count'] ? 'on' : 'off'}`,
    );
  }
  out(`pinning: ${pinning.note}${BOOST ? `, servers, sipp and this process at nice ${-BOOST}${AUTOGROUP ? ' (and their autogroups)' : ''}` : ''}; the server not measured is stopped (SIGSTOP) during the other's steps`);
  out(`sustained = failed < ${CLEAN_FAILED * 100}% and achieved >= ${CLEAN_ACHIEVED * 100}% of the target; failed = created - successful (sipp); achieved = registrations/s until 99.9% of them had completed (sipp's dumps every 100 ms)`);
  out();
  const stepRows = steps.map((st) => [
    st.server,
    `${fmtInt(st.rate)}${st.phase === 'refine' ? ' r' : ''}${st.attempt > 1 ? ' (again)' : ''}`,
    fmtInt(st.sipp.created),
    failPct(st.failedShare),
    fmtInt(st.achieved),
    fmtInt(st.achieved * 2),
    fmtInt(st.sipp.retransmissions),
    st.sipp.meanRtdMs === undefined ? 'n/a' : `${st.sipp.meanRtdMs.toFixed(0)} ms`,
    pct(st.serverCpu),
    st.cpuUsPerRegistration === undefined ? 'n/a' : `${Math.round(st.cpuUsPerRegistration)} µs`,
    pct(st.sippCpu),
    `${pct(st.othersOnServerCore)}/${pct(st.othersOnLoadgenCore)}`,
    st.serverCore ? `${pct(st.serverCore.irq)}/${pct(st.serverCore.steal)}` : 'n/a',
    st.clean ? 'ok' : 'FAIL',
  ]);
  out(table(['server', 'target/s', 'created', 'failed', 'reg/s', 'REGISTER/s', 'retrans', 'sipp avg', 'server CPU', 'CPU/reg', 'sipp CPU', 'others srv/gen', 'srv irq/steal', ''], stepRows));
  for (const st of steps) {
    if (((st.othersOnServerCore ?? 0) > 0.1 || (st.othersOnLoadgenCore ?? 0) > 0.1) && st.topOthers) out(`  ${st.server} at ${fmtInt(st.rate)}/s: busiest other processes: ${st.topOthers}`);
    if (!st.clean && st.sipp.errors) out(`  ${st.server} at ${fmtInt(st.rate)}/s: unexpected answers: ${st.sipp.errors}`);
    if (st.outpostCounters && /failed|stale|rejected|error|tarpitted/.test(st.outpostCounters)) out(`  ${st.server} at ${fmtInt(st.rate)}/s: outpost counted ${st.outpostCounters}`);
  }
  out();

  const latencyRows = latencies.map((l) => [
    l.server,
    `${fmtInt(l.rate)}/s (${l.label === 'common' ? 'both' : l.rate === UAC_MAX_RATE ? 'own, capped' : 'own 50%'})`,
    `${fmtInt(l.completed)}/${fmtInt(l.sent)}`,
    ms(percentile(l.registration, 50)),
    ms(percentile(l.registration, 99)),
    ms(l.registration[l.registration.length - 1]),
    `${ms(percentile(l.challenge, 50))} / ${ms(percentile(l.challenge, 99))}`,
    `${ms(percentile(l.authorized, 50))} / ${ms(percentile(l.authorized, 99))}`,
    pct(l.serverCpu),
    pct(l.othersOnServerCore),
    pct(l.uacCpu),
  ]);
  out('latency (the benchmark\'s own UAC, hrtime; registration = first REGISTER sent to 200 received; UAC CPU near 100%: the client set the pace):');
  out(table(['server', 'rate', 'done/sent', 'reg p50', 'reg p99', 'reg max', '401 p50 / p99', '200 p50 / p99', 'server CPU', 'others srv', 'UAC CPU'], latencyRows));
  out();

  const memRows: string[][] = [];
  const perBinding = new Map<ServerName, { primary?: number; secondary?: number; added?: number }>();
  for (const s of MEMORY ? servers : []) {
    const b = memBefore.get(s.name)!;
    const a = memAfter.get(s.name)!;
    const added = a.bindings !== undefined && b.bindings !== undefined ? a.bindings - b.bindings : undefined;
    const per = (x?: number, y?: number) => (x !== undefined && y !== undefined && added ? (x - y) / added : undefined);
    perBinding.set(s.name, { primary: per(a.primary, b.primary), secondary: per(a.secondary, b.secondary), added });
    const [pName, sName] = s.name === 'outpost' ? ['JS heap used (after full GC)', 'RSS'] : ['shared memory used (core.shmmem)', 'PSS, all processes'];
    memRows.push([s.name, pName, fmtInt(b.bindings), bytes(b.primary), fmtInt(a.bindings), bytes(a.primary), `${fmtInt(per(a.primary, b.primary))} B`]);
    memRows.push([s.name, sName, fmtInt(b.bindings), bytes(b.secondary), fmtInt(a.bindings), bytes(a.secondary), `${fmtInt(per(a.secondary, b.secondary))} B`]);
  }
  if (MEMORY) out('memory per binding (before: users, no binding but the probe\'s; after: every user registered once):');
  if (MEMORY) out(table(['server', 'measure', 'bindings', 'before', 'bindings', 'after', 'per binding'], memRows, 2));
  for (const [name, r] of fillResults) if (r.failed > 0) out(`  NOTE: ${name}: ${fmtInt(r.failed)} of the memory pass's registrations failed; the per-binding figure divides by the bindings actually added`);
  out();

  const o = sustained.get('outpost');
  const k = sustained.get('kamailio');
  const top = RATES[RATES.length - 1]!;
  const summaryRows: string[][] = [];
  const line = (label: string, ov: string, kv: string, ratio: string) => summaryRows.push([label, ov, kv, ratio]);
  const ratioOf = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? (a / b).toFixed(3) : 'n/a');
  const lat = (name: ServerName, label: string, p: number) => {
    const l = latencies.find((x) => x.server === name && x.label === label);
    return l ? percentile(l.registration, p) : undefined;
  };
  line('sustained registrations/s', fmtInt(o?.achieved), fmtInt(k?.achieved), ratioOf(o?.achieved, k?.achieved));
  line('sustained REGISTER transactions/s', fmtInt(o && o.achieved * 2), fmtInt(k && k.achieved * 2), ratioOf(o?.achieved, k?.achieved));
  line('  highest target rate sustained', fmtInt(o?.rate), fmtInt(k?.rate), ratioOf(o?.rate, k?.rate));
  const perCore = (st?: Step) => (st?.cpuUsPerRegistration ? 1e6 / st.cpuUsPerRegistration : undefined);
  line('registrations/s per core (1 / CPU per registration)', fmtInt(perCore(o)), fmtInt(perCore(k)), ratioOf(perCore(o), perCore(k)));
  line('server CPU per registration there', o?.cpuUsPerRegistration === undefined ? 'n/a' : `${Math.round(o.cpuUsPerRegistration)} µs`, k?.cpuUsPerRegistration === undefined ? 'n/a' : `${Math.round(k.cpuUsPerRegistration)} µs`, ratioOf(o?.cpuUsPerRegistration, k?.cpuUsPerRegistration));
  line(`latency p50 at ${fmtInt(common)}/s (both)`, ms(lat('outpost', 'common', 50)), ms(lat('kamailio', 'common', 50)), ratioOf(lat('outpost', 'common', 50), lat('kamailio', 'common', 50)));
  line(`latency p99 at ${fmtInt(common)}/s (both)`, ms(lat('outpost', 'common', 99)), ms(lat('kamailio', 'common', 99)), ratioOf(lat('outpost', 'common', 99), lat('kamailio', 'common', 99)));
  for (const name of ['outpost', 'kamailio'] as const) {
    const l = latencies.find((x) => x.server === name && x.label === 'own');
    if (l) line(`latency p50 / p99 of ${name} at ${fmtInt(l.rate)}/s (${l.rate === UAC_MAX_RATE ? 'own 50%, capped' : 'own 50%'})`, name === 'outpost' ? `${ms(percentile(l.registration, 50))} / ${ms(percentile(l.registration, 99))}` : '', name === 'kamailio' ? `${ms(percentile(l.registration, 50))} / ${ms(percentile(l.registration, 99))}` : '', '');
  }
  const op = perBinding.get('outpost');
  const kp = perBinding.get('kamailio');
  line('memory per binding (heap after GC / shm)', op?.primary === undefined ? 'n/a' : `${fmtInt(op.primary)} B`, kp?.primary === undefined ? 'n/a' : `${fmtInt(kp.primary)} B`, ratioOf(op?.primary, kp?.primary));
  line('memory per binding (RSS / PSS)', op?.secondary === undefined ? 'n/a' : `${fmtInt(op.secondary)} B`, kp?.secondary === undefined ? 'n/a' : `${fmtInt(kp.secondary)} B`, ratioOf(op?.secondary, kp?.secondary));
  out(table(['', 'outpost', 'kamailio', 'outpost/kamailio'], summaryRows));
  out();

  if (k && k.rate === top) out(`NOTE: Kamailio sustained the highest rate tried (${fmtInt(top)}/s): its limit is higher, so the ratio is an upper bound`);
  if (o && o.rate === top) out(`NOTE: Outpost sustained the highest rate tried (${fmtInt(top)}/s): its limit is higher (a lower bound)`);
  const busy = steps.filter((st) => (st.othersOnServerCore ?? 0) > 0.1 || (st.othersOnLoadgenCore ?? 0) > 0.1 || (st.serverCore?.steal ?? 0) > 0.05);
  if (busy.length) {
    out(
      `WARNING: a busy machine: in ${busy.length} of ${steps.length} steps other processes used more than 10% of a benchmark core (column "others srv/gen"): ` +
        `those figures are low; run again on a quiet machine${BOOST ? '' : ', or with --boost 10'}`,
    );
  }
  for (const st of steps) {
    const genBusy = st.loadgenCore ? st.loadgenCore.task + st.loadgenCore.irq : undefined;
    if (!st.clean && ((st.sippCpu ?? 0) > 0.9 || (genBusy ?? 0) > 0.9) && (st.serverCpu ?? 0) < 0.8) {
      out(`NOTE: ${st.server} at ${fmtInt(st.rate)}/s failed with its own CPU at ${pct(st.serverCpu)} while the load generator's core was ${pct(genBusy)} busy (sipp ${pct(st.sippCpu)}): sipp may be the limit there, not the server`);
    }
  }
  // The host's speed over the run: the ratio compares two ladders run minutes apart.
  const speedOf = (name: ServerName, what: 'loop' | 'walk') => {
    const ms = steps.filter((st) => st.server === name && st.host?.server).map((st) => st.host!.server![what]).sort((a, b) => a - b);
    return ms.length ? { median: percentile(ms, 50), min: ms[0]!, max: ms[ms.length - 1]! } : undefined;
  };
  const hostWarnings: string[] = [];
  const hostNotes: string[] = [];
  const allSpeeds = steps.flatMap((st) => (st.host?.server ? [st.host.server] : []));
  if (allSpeeds.length) {
    const fastest = { loop: Math.min(...allSpeeds.map((x) => x.loop)), walk: Math.min(...allSpeeds.map((x) => x.walk)) };
    const lines: string[] = [];
    for (const s of servers) {
      const loop = speedOf(s.name, 'loop');
      const walk = speedOf(s.name, 'walk');
      if (!loop || !walk) continue;
      lines.push(`${s.name}'s steps: loop ${loop.median.toFixed(0)} ms (${loop.min.toFixed(0)}-${loop.max.toFixed(0)}), memory walk ${walk.median.toFixed(0)} ms (${walk.min.toFixed(0)}-${walk.max.toFixed(0)})`);
      const slowSteps = steps.filter((st) => st.server === s.name && st.host?.server && (st.host.server.loop > 1.5 * fastest.loop || st.host.server.walk > 1.5 * fastest.walk));
      if (slowSteps.length) hostNotes.push(`NOTE: after ${slowSteps.length} of ${s.name}'s steps (${slowSteps.map((st) => fmtInt(st.rate)).join(', ')}/s) the host was over 1.5x slower than its fastest of the run: those figures may be low`);
    }
    out(`host speed on the server's core (CPU ${pinning.server}) after each step, median (range): ${lines.join('; ')}`);
    for (const n of hostNotes) out(n);
    // Only a difference between the two ladders makes the ratio unfair; a host slow for both is in both figures.
    for (const what of ['loop', 'walk'] as const) {
      const ko = speedOf('kamailio', what);
      const oo = speedOf('outpost', what);
      const skew = ko && oo ? oo.median / ko.median - 1 : undefined;
      if (skew !== undefined && Math.abs(skew) > HOST_SPEED_TOLERANCE) hostWarnings.push(`the host's ${what === 'loop' ? 'CPU' : 'memory'} was ${pct(Math.abs(skew))} ${skew > 0 ? 'slower' : 'faster'} during Outpost's ladder than during Kamailio's`);
    }
    for (const w of hostWarnings) out(`WARNING: ${w}`);
  }
  const notAReading = hostWarnings.length > 0;
  out();
  const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  if (SERVERS.includes('outpost')) {
    out('goals:');
    // On the highest target rate sustained (achieved >= 95% of it, < 0.1% failed): an achieved 998/s at 1,000/s is
    // 1,000/s sustained. The achieved figures are in the table above.
    const oTx = (o?.rate ?? 0) * 2;
    out(`  ${mark(oTx >= GOAL_TRANSACTIONS)}  >= ${fmtInt(GOAL_TRANSACTIONS)} REGISTER transactions/s (${fmtInt(GOAL_TRANSACTIONS / 2)} digest registrations/s)   outpost sustained ${fmtInt(oTx)} REGISTER/s (${fmtInt(o?.rate ?? 0)} registrations/s; achieved ${fmtInt(o?.achieved ?? 0)})`);
    if (SERVERS.includes('kamailio')) {
      const r = o && k ? o.rate / k.rate : undefined;
      out(`  ${r === undefined ? (k ? 'FAIL' : 'n/a ') : mark(r >= GOAL_RATIO)}  >= 1/3 of Kamailio's rate                          ${r === undefined ? (k ? 'Outpost sustained no rate' : 'Kamailio sustained no rate') : `${r.toFixed(3)} x (${fmtInt(o!.rate)} / ${fmtInt(k!.rate)} registrations/s sustained; achieved ${(o!.achieved / k!.achieved).toFixed(3)} x)`}${notAReading ? '; NOT A READING: the host\'s speed moved (WARNING above)' : ''}`);
    }
  }
  if (CPU_PROF_DIR) out('NOTE: Outpost ran under --cpu-prof; its figures include the profiler\'s overhead and are not the benchmark');

  if (args.json) {
    writeFileSync(
      args.json,
      `${JSON.stringify(
        {
          rates: RATES, refine: REFINE, duration: DURATION_S, users: USERS, sippProcesses: SIPP_PROCESSES, cpus: logicalCpus, cpuModel: cpus()[0]?.model, node: process.version,
          sipp: sippVersion, kamailio: kamailioVersion, kamailioChildren: KAMAILIO_CHILDREN, kamailioNonceCount: args['kamailio-nonce-count'],
          build, fsType, pinning: pinning.note, boost: BOOST,
          steps: steps.map((st) => ({ ...st, sipp: { ...st.sipp } })),
          latency: latencies.map((l) => ({ server: l.server, rate: l.rate, label: l.label, sent: l.sent, completed: l.completed, failed: l.failed, p50us: percentile(l.registration, 50), p99us: percentile(l.registration, 99), maxUs: l.registration[l.registration.length - 1], uacCpu: l.uacCpu, challengeP50us: percentile(l.challenge, 50), challengeP99us: percentile(l.challenge, 99), authorizedP50us: percentile(l.authorized, 50), authorizedP99us: percentile(l.authorized, 99), serverCpu: l.serverCpu })),
          memory: Object.fromEntries(servers.map((s) => [s.name, { before: memBefore.get(s.name), after: memAfter.get(s.name), perBinding: perBinding.get(s.name) }])),
          sustained: { outpost: o?.achieved, kamailio: k?.achieved },
        },
        null,
        2,
      )}\n`,
    );
  }

  if (CPU_PROF_DIR && SERVERS.includes('outpost')) {
    const profiles = existsSync(CPU_PROF_DIR) ? readdirSync(CPU_PROF_DIR).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(CPU_PROF_DIR, f)) : [];
    const latest = profiles.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    out();
    if (latest) out(`${latest} (outpost, the whole run)\n${formatSummary(summariseProfile(latest, 20))}`);
    else out(`no .cpuprofile in ${CPU_PROF_DIR} (outpost did not exit cleanly?)`);
  }
  return 0;
}

function isDisturbed(st: Step): boolean {
  return (st.othersOnServerCore ?? 0) > DISTURBED || (st.loadgenCore !== undefined && st.loadgenCore.task + st.loadgenCore.irq > LOADGEN_BUSY);
}

function logStep(st: Step, index: number): void {
  log(
    `[${index}] ${st.server} at ${fmtInt(st.rate)}/s${st.phase === 'refine' ? ' (refine)' : ''}: ${fmtInt(st.sipp.successful)} of ${fmtInt(st.sipp.created)} registrations (failed ${failPct(st.failedShare)}), ` +
      `${fmtInt(st.achieved)}/s, retrans ${fmtInt(st.sipp.retransmissions)}, server CPU ${pct(st.serverCpu)}, sipp CPU ${pct(st.sippCpu)}, others ${pct(st.othersOnServerCore)}/${pct(st.othersOnLoadgenCore)}: ${st.clean ? 'sustained' : 'NOT sustained'}` +
      (st.outpostCounters ? ` [outpost: ${st.outpostCounters}]` : '') +
      (st.host ? `; host loop/walk ${st.host.server ? `${st.host.server.loop.toFixed(0)}/${st.host.server.walk.toFixed(0)}` : '?'} ms on the server's core, ${st.host.loadgen ? `${st.host.loadgen.loop.toFixed(0)}/${st.host.loadgen.walk.toFixed(0)}` : '?'} on the load generator's` : ''),
  );
}

// Bounded: whatever happens, the run ends. Start-up (Outpost applies the site file), the memory passes and Timer J,
// every step a server may take (ladder, refinements, one repeat each) with sipp's own time-out, the latency runs.
const maxSteps = SERVERS.length * (RATES.length + REFINE + 2);
const budgetS = Math.round(120 + SERVERS.length * (USERS / MEMORY_PASS_RATE + 45) + TIMER_J_S + maxSteps * (DURATION_S + 5 + SETTLE_STEP_MS / 1000) + 4 * (DURATION_S + 10) + SERVERS.length * 2 * (LATENCY_S + 6));
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
