/**
 * TFTP benchmark: Outpost's TFTP service against tftpd-hpa serving the same bytes under the same names, each
 * pinned to the same core, the clients on another.
 *
 *   npm run bench:tftp                                   (= npx tsx scripts/bench/tftp.ts)
 *   npx tsx scripts/bench/tftp.ts [--rounds 4] [--size-mb 20] [--devices 200] [--fetches 200] [--concurrency 50]
 *                                 [--client-1428 atftp|curl] [--small-blksize N] [--cases large512,large1428,small]
 *                                 [--timeout 30] [--no-warmup] [--cpu-prof DIR] [--json FILE]
 *
 * What it does:
 *  1. A temp data dir with N T22P devices (one line each), seeded through Outpost.open in this process as
 *     scripts/bench/http-provisioning.ts does, but with the build in dist/ (the server's, so that the data dir is
 *     at its schema even when src/ has a migration not built yet); a random image (--size-mb, MB = 2^20 bytes) put in a
 *     temp firmware catalogue with `outpost firmware add IMG --model T22P --version 7.73.0.60` (served over
 *     TFTP as firmware/T22P-7.73.0.60.rom).
 *  2. Outpost, built (dist/), as a separate process pinned to one core:
 *     `taskset -c C0 node bin/outpost --data D --firmware F serve --bind 127.0.0.1 --http-port 0 --tftp-port P --no-sip --no-mdns`
 *     (P: a UDP port found free just before, checked against the `ready tftp` line; not `--tftp-port 0`, which the
 *     tftp package turns into 69). Every device's `<mac>.cfg` is fetched once over TFTP from Outpost (each must
 *     name its line; this also moves the devices to `provisioned`), and the bytes written under the same names
 *     into a plain folder, next to a hard link of the image at firmware/T22P-7.73.0.60.rom: both servers then
 *     serve identical bytes under identical names.
 *  3. tftpd-hpa on that folder, on the same core:
 *     `taskset -c C0 /usr/sbin/in.tftpd --foreground --address 127.0.0.1:PORT --secure --blocksize 65464 FOLDER`
 *     (as root it chroots there and drops to `nobody`; the folder is made world-readable).
 *  4. A warm-up, not counted (unless --no-warmup): the image once from each server at blksize 512, so that
 *     Outpost's per-block path is compiled by V8's optimising tier before anything is measured.
 *     Then rounds (the server order alternates from one round to the next), each server in turn:
 *     - the image at blksize 512 with tftp-hpa (`tftp -m octet 127.0.0.1 PORT -c get firmware/... OUT`, no
 *       options: RFC 1350) and at blksize 1428 with atftp (`--option "blksize 1428"`, or curl
 *       `--tftp-blksize 1428`): wall time from spawning the client to its exit, MB/s, sha256 of the file checked;
 *     - --fetches fetches of the ~3 kB `<mac>.cfg` files, --concurrency at a time, by scripts/bench/tftp-client.ts
 *       in this process (a fresh UDP socket per transfer, octet, no options unless --small-blksize): transfers per
 *       second and p50/p99 of transfer time (RRQ sent to last DATA received), every file compared byte for byte.
 *  The clients (this process, tftp, atftp, curl) are pinned to another core: this process pins itself with
 *  `taskset -a -p` at start and runs the client programs with `taskset -c C1`. Each measurement also reports how
 *  busy both cores were and how much CPU processes outside the benchmark used meanwhile: above 10% of a core the
 *  measurement is marked `disturbed`, left out of the summary where the same server and case has undisturbed
 *  ones, and a warning printed. Traffic goes only to 127.0.0.1.
 *  Children are killed (tftpd-hpa with its forked transfer processes) and temp dirs removed on exit, error or
 *  Ctrl-C. Exit status: 0 when every transfer arrived intact (goals missed or not), 1 when a transfer failed or a
 *  checksum did not match, 2 when the benchmark itself could not run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, existsSync, linkSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { formatSummary, summariseProfile } from './cpuprofile-summary.js';
import { allowedCpus, exited, hasTaskset, log, percentile, waitExit } from './common.js';
import { tftpGet } from './tftp-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUTPOST_BIN = join(ROOT, 'bin', 'outpost');
const TFTPD = '/usr/sbin/in.tftpd';

const MODEL = 'T22P';
const FIRMWARE_VERSION = '7.73.0.60';
const FIRMWARE_FILE = `${MODEL}-${FIRMWARE_VERSION}.rom`;
const FIRMWARE_NAME = `firmware/${FIRMWARE_FILE}`;
const MB = 1024 * 1024;

/** Outpost's throughput on the image at least this share of tftpd-hpa's, at both block sizes. */
const GOAL_LARGE_RATIO = 0.8;
/** Outpost more small transfers per second than tftpd-hpa (ratio above this). */
const GOAL_SMALL_RATIO = 1;

// --- options -------------------------------------------------------------------------------------------------

const CASES = ['large512', 'large1428', 'small'] as const;
type Case = (typeof CASES)[number];

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    'size-mb': { type: 'string', default: '20' },
    devices: { type: 'string', default: '200' },
    fetches: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '50' },
    'client-1428': { type: 'string', default: 'atftp' },
    'small-blksize': { type: 'string' },
    cases: { type: 'string', default: CASES.join(',') },
    timeout: { type: 'string', default: '30' },
    'no-warmup': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (args.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, '') + '\n');
  process.exit(0);
}
function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
function positive(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be a whole number ${min}..${max}, not "${text}"`);
  return n;
}
const ROUNDS = positive('rounds', args.rounds, 1, 10);
const SIZE_MB = positive('size-mb', args['size-mb'], 1, 31); // RFC 1350 without rollover: 65535 blocks of 512 bytes
const DEVICES = positive('devices', args.devices, 1, 5000);
const FETCHES = positive('fetches', args.fetches, 1, 100_000);
const CONCURRENCY = positive('concurrency', args.concurrency, 1, 1000);
const TIMEOUT_S = positive('timeout', args.timeout, 5, 600);
const SMALL_BLKSIZE = args['small-blksize'] === undefined ? undefined : positive('small-blksize', args['small-blksize'], 8, 65464);
const CLIENT_1428 = args['client-1428'];
if (CLIENT_1428 !== 'atftp' && CLIENT_1428 !== 'curl') usage(`--client-1428 must be atftp or curl, not "${CLIENT_1428}"`);
const SELECTED = new Set<Case>();
for (const c of (args.cases ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
  if (!(CASES as readonly string[]).includes(c)) usage(`--cases: "${c}" is not one of ${CASES.join(', ')}`);
  SELECTED.add(c as Case);
}
if (SELECTED.size === 0) usage('--cases names no case');
const CPU_PROF_DIR = args['cpu-prof'] ? resolve(args['cpu-prof']) : undefined;

// --- cleanup: children and temp dirs go away on every exit path -------------------------------------------

const children = new Set<ChildProcess>();
/** Children started in a process group of their own (tftpd-hpa forks one process per transfer). */
const groups = new Set<ChildProcess>();
const tempDirs: string[] = [];




/** Signals a child, and its whole process group when it has one (its forked transfer processes too). */
function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (groups.has(child) && child.pid !== undefined) {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // the group is gone
    }
  } else if (!exited(child)) child.kill(sig);
}

/** SIGTERM, then SIGKILL after `graceMs`. Outpost stops cleanly on SIGTERM (and writes its CPU profile). */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!exited(child)) {
    signal(child, 'SIGTERM');
    if (!(await waitExit(child, graceMs))) {
      signal(child, 'SIGKILL');
      await waitExit(child, 2000);
    }
  }
  // Whatever the group leader left behind (a transfer process still retransmitting).
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
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(code));
  });
}

// --- CPU pinning ---------------------------------------------------------------------------------------------



interface Pinning {
  server: number | undefined;
  clients: number | undefined;
  note: string;
}
let pinning: Pinning = { server: undefined, clients: undefined, note: 'not pinned yet' };

function pin(): Pinning {
  if (!hasTaskset()) return { server: undefined, clients: undefined, note: 'taskset not found (util-linux): nothing pinned' };
  const allowed = allowedCpus();
  const server = allowed[0];
  const clients = allowed[1];
  if (server === undefined) return { server: undefined, clients: undefined, note: 'cannot read the CPU affinity: nothing pinned' };
  if (clients === undefined) return { server, clients: undefined, note: `only CPU ${server} is available: servers and clients share it (figures are pessimistic)` };
  // Pin this process (every thread: -a): the small-file client runs here, and the client programs inherit it.
  const r = spawnSync('taskset', ['-a', '-c', '-p', String(clients), String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) return { server, clients: undefined, note: `servers on CPU ${server}; could not pin the clients` };
  return { server, clients, note: `servers on CPU ${server} (taskset -c ${server}), clients on CPU ${clients} (this process: taskset -a -p; tftp/atftp/curl: taskset -c ${clients})` };
}

function pinned(cpu: number | undefined, command: string, commandArgs: string[]): [string, string[]] {
  return cpu === undefined ? [command, commandArgs] : ['taskset', ['-c', String(cpu), command, ...commandArgs]];
}

// --- child processes ---------------------------------------------------------------------------------------

interface Child {
  process: ChildProcess;
  stderrTail: () => string;
}

function start(command: string, commandArgs: string[], env: NodeJS.ProcessEnv, group = false): Child {
  const child = spawn(command, commandArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  children.add(child);
  if (group) groups.add(child);
  const tail: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    tail.push(chunk);
    while (tail.length > 40) tail.shift();
  });
  child.on('error', (err) => tail.push(`spawn error: ${err.message}`));
  return { process: child, stderrTail: () => tail.join('').trim().split('\n').slice(-15).join('\n') };
}

/** Resolves with the first stdout line matching `re`; rejects when the child exits or `ms` passes first. */
function waitForLine(child: Child, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  return new Promise((res, rej) => {
    let buffer = '';
    const fail = (why: string) => {
      cleanupListeners();
      rej(new Error(`${what} ${why}${child.stderrTail() ? `; its stderr:\n${child.stderrTail()}` : ''}`));
    };
    const onData = (chunk: string) => {
      buffer += chunk;
      for (const line of buffer.split('\n')) {
        const m = re.exec(line);
        if (m) {
          cleanupListeners();
          res(m);
          return;
        }
      }
    };
    const onExit = (code: number | null, sig: string | null) => fail(`exited (${sig ?? `status ${code}`}) before it was ready`);
    const timer = setTimeout(() => fail(`was not ready within ${ms / 1000} s`), ms);
    const cleanupListeners = () => {
      clearTimeout(timer);
      child.process.stdout!.off('data', onData);
      child.process.off('exit', onExit);
    };
    child.process.stdout!.setEncoding('utf8').on('data', onData);
    child.process.once('exit', onExit);
  });
}

/** Runs a program to its end (killed after `ms`): exit status, output, wall seconds from spawn to exit. */
function run(command: string, commandArgs: string[], ms: number): Promise<{ status: number | null; signal: string | null; output: string; seconds: number; timedOut: boolean }> {
  const t0 = performance.now();
  const child = spawn(command, commandArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  let timedOut = false;
  const collect = (chunk: string) => {
    if (output.length < 4000) output += chunk;
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, ms);
  return new Promise((res) => {
    child.on('error', (err) => collect(`spawn error: ${err.message}\n`));
    child.once('close', (status, sig) => {
      const seconds = (performance.now() - t0) / 1000;
      clearTimeout(timer);
      children.delete(child);
      res({ status, signal: sig, output: output.trim(), seconds, timedOut });
    });
  });
}

/** Busy and total jiffies of one CPU, from /proc/stat. */
function cpuTimes(cpu: number | undefined): { busy: number; total: number } | undefined {
  if (cpu === undefined) return undefined;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
    if (!line) return undefined;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/**
 * CPU ticks (user + system, plus reaped children) of every process on the machine, keyed by pid, and whether it
 * belongs to this benchmark (this process or one of its descendants). Taken around each measurement to see how
 * much CPU everything else used meanwhile (another build, a test run).
 */
function processTicks(): Map<number, { ticks: number; ours: boolean }> {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return new Map();
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(f[1]));
      ticks.set(Number(entry), Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
    } catch {
      // gone meanwhile
    }
  }
  const result = new Map<number, { ticks: number; ours: boolean }>();
  for (const [pid, t] of ticks) {
    let p: number | undefined = pid;
    let ours = false;
    for (let depth = 0; p !== undefined && p > 1 && depth < 64; depth++) {
      if (p === process.pid) {
        ours = true;
        break;
      }
      p = parents.get(p);
    }
    result.set(pid, { ticks: t, ours });
  }
  return result;
}

/**
 * CPU seconds used by processes outside the benchmark between two processTicks snapshots. A process reaped
 * meanwhile adds its whole lifetime to its parent's children ticks: what it had used before is taken off again.
 */
function othersSeconds(before: ReturnType<typeof processTicks>, after: ReturnType<typeof processTicks>): number {
  let ticks = 0;
  for (const [pid, a] of after) {
    if (a.ours) continue;
    ticks += Math.max(0, a.ticks - (before.get(pid)?.ticks ?? 0));
  }
  for (const [pid, b] of before) if (!b.ours && !after.has(pid)) ticks -= b.ticks;
  return Math.max(0, ticks) / CLK_TCK;
}

/** Share (0..1) of a CPU that was busy between two cpuTimes readings. */
function busyShare(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>): number | undefined {
  return before && after && after.total > before.total ? (after.busy - before.busy) / (after.total - before.total) : undefined;
}

// --- the devices -------------------------------------------------------------------------------------------

interface Target {
  mac: string; // 12 hex digits
  ext: string;
  file: string; // `<mac>.cfg`, the per-device file a Yealink asks for
}

function devices(n: number): Target[] {
  return Array.from({ length: n }, (_, i) => {
    const mac = `001565${(0x200000 + i).toString(16).padStart(6, '0')}`;
    return { mac, ext: String(300000 + i), file: `${mac}.cfg` };
  });
}

/** A module of the build in dist/ (typed by its source in src/). */
async function built<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', path)).href)) as T;
}

/**
 * As scripts/bench/http-provisioning.ts seeds (lines validated as putLine does, once for the batch; devices
 * through putDevice), but with the build in dist/ rather than src/: the data dir is then always at the schema of
 * the server that opens it, even while src/ is ahead of dist/ (a new migration not built yet).
 */
async function seed(dataDir: string, firmwareDir: string, targets: readonly Target[]): Promise<number> {
  const started = performance.now();
  const [{ Outpost }, { silentLogger }, { lineSchema }, { lineConflicts }] = await Promise.all([
    built<typeof import('../../src/app/outpost.js')>('app/outpost.js'),
    built<typeof import('../../src/app/log.js')>('app/log.js'),
    built<typeof import('../../src/config/schema.js')>('config/schema.js'),
    built<typeof import('../../src/config/validate.js')>('config/validate.js'),
  ]);
  const outpost = await Outpost.open({ dataDir, firmwareDir, log: silentLogger });
  try {
    // Seeding speed only: this connection's commits skip fsync. The server opens the database with its own settings.
    await outpost.store.db.exec('PRAGMA synchronous = OFF');
    const site = await outpost.site();
    const lines = targets.map((t) => lineSchema.parse({ ext: t.ext, number: `23456${t.ext}`, name: `Bench ${t.ext}`, user: `42023456${t.ext}`, password: `pw-${t.mac}` }));
    const problems = lineConflicts(lines.map((l) => ({ ...l, path: `line ${l.ext}` })), await outpost.store.lines.list(), site.dialplan.emergency, site.dialplan.outsidePrefix);
    if (problems.length) throw new Error(`seeding: ${problems.slice(0, 3).map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    for (const [i, t] of targets.entries()) {
      const line = lines[i]!;
      await outpost.store.lines.upsert({ ext: line.ext, number: line.number, name: line.name, user: line.user, password: line.password, forward: line.forward });
      const { result } = await outpost.putDevice({ mac: t.mac, model: `SIP-${MODEL}`, lines: [t.ext] });
      if (result !== 'added') throw new Error(`seeding: device ${t.mac} was ${result}, expected added (is the data dir empty?)`);
    }
  } finally {
    await outpost.close();
  }
  return (performance.now() - started) / 1000;
}

/** A random image of `bytes` bytes, and its sha256. */
function randomImage(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w', 0o644);
  try {
    for (let left = bytes; left > 0; ) {
      const chunk = randomBytes(Math.min(left, MB));
      writeSync(fd, chunk);
      hash.update(chunk);
      left -= chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** A UDP port on 127.0.0.1 free a moment ago (bound, read, closed), for tftpd-hpa, which cannot report one. */
function freeUdpPort(): Promise<number> {
  return new Promise((res, rej) => {
    const socket = createSocket('udp4');
    socket.once('error', rej);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => res(port));
    });
  });
}

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => hash.update(c))
      .on('end', () => res(hash.digest('hex')))
      .on('error', rej);
  });
}

// --- the measurements --------------------------------------------------------------------------------------

type ServerLabel = 'outpost' | 'tftpd-hpa';

interface Server {
  label: ServerLabel;
  port: number;
  child: Child;
}

interface LargeRun {
  round: number;
  server: ServerLabel;
  blksize: 512 | 1428;
  client: string;
  seconds: number;
  mbps: number;
  /** Share of the servers' core busy during the transfer (the server, the kernel's packet work, anything else). */
  serverCore: number | undefined;
  clientCore: number | undefined;
  /** CPU used by processes outside the benchmark meanwhile, in cores (0.1 = a tenth of one core). */
  others: number;
  ok: boolean;
  problem?: string | undefined;
}

interface SmallRun {
  round: number;
  server: ServerLabel;
  transfers: number;
  failed: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
  max: number;
  retransmissions: number;
  serverCore: number | undefined;
  clientCore: number | undefined;
  others: number;
  problems: string[];
}

function largeClient(blksize: 512 | 1428, port: number, out: string): { name: string; command: string; args: string[] } {
  if (blksize === 512) return { name: 'tftp-hpa', command: 'tftp', args: ['-m', 'octet', '127.0.0.1', String(port), '-c', 'get', FIRMWARE_NAME, out] };
  if (CLIENT_1428 === 'curl') return { name: 'curl', command: 'curl', args: ['-sS', '-o', out, '--tftp-blksize', '1428', `tftp://127.0.0.1:${port}/${FIRMWARE_NAME}`] };
  return { name: 'atftp', command: 'atftp', args: ['--option', 'blksize 1428', '-g', '-r', FIRMWARE_NAME, '-l', out, '127.0.0.1', String(port)] };
}

async function large(server: Server, blksize: 512 | 1428, round: number, workDir: string, image: { bytes: number; sha256: string }): Promise<LargeRun> {
  const out = join(workDir, `${server.label}-${blksize}-${round}.rom`);
  rmSync(out, { force: true });
  const client = largeClient(blksize, server.port, out);
  const [cmd, cmdArgs] = pinned(pinning.clients, client.command, client.args);
  const othersBefore = processTicks();
  const serverBefore = cpuTimes(pinning.server);
  const clientBefore = cpuTimes(pinning.clients);
  const r = await run(cmd, cmdArgs, TIMEOUT_S * 1000);
  const serverCore = busyShare(serverBefore, cpuTimes(pinning.server));
  const clientCore = busyShare(clientBefore, cpuTimes(pinning.clients));
  const others = othersSeconds(othersBefore, processTicks()) / r.seconds;
  let problem: string | undefined;
  // tftp-hpa exits 0 even when the server answers with an error: the file is what counts.
  if (r.timedOut) problem = `${client.name} did not finish within ${TIMEOUT_S} s`;
  else if (!existsSync(out)) problem = `${client.name} wrote no file (status ${r.signal ?? r.status}): ${r.output.slice(0, 300)}`;
  else {
    const size = statSync(out).size;
    const sha256 = await sha256File(out);
    if (size !== image.bytes) problem = `received ${size} bytes, expected ${image.bytes} (status ${r.signal ?? r.status}${r.output ? `: ${r.output.slice(0, 300)}` : ''})`;
    else if (sha256 !== image.sha256) problem = `sha256 ${sha256} differs from the image's ${image.sha256}`;
    else if (r.status !== 0) problem = `${client.name} exited with status ${r.signal ?? r.status}: ${r.output.slice(0, 300)}`;
  }
  rmSync(out, { force: true });
  const ok = problem === undefined;
  const mbps = image.bytes / MB / r.seconds;
  log(`${round ? `round ${round}` : 'warm-up'} ${server.label.padEnd(9)} ${FIRMWARE_NAME} blksize ${String(blksize).padEnd(4)} (${client.name}): ${ok ? `${r.seconds.toFixed(2)} s, ${mbps.toFixed(2)} MB/s, server core ${pct(serverCore)}` : `FAILED: ${problem}`}`);
  return { round, server: server.label, blksize, client: client.name, seconds: r.seconds, mbps, serverCore, clientCore, others, ok, problem };
}


/** `count` fetches of the targets' files in turn, `concurrency` at a time; each compared with `expected`. */
async function fetchMany(
  port: number,
  targets: readonly Target[],
  count: number,
  concurrency: number,
  check: (t: Target, data: Buffer) => string | undefined,
): Promise<{ seconds: number; latencies: number[]; problems: string[]; retransmissions: number; bodies: Map<string, Buffer> }> {
  const latencies: number[] = [];
  const problems: string[] = [];
  const bodies = new Map<string, Buffer>();
  let retransmissions = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const t = targets[next++ % targets.length]!;
        try {
          const r = await tftpGet({ host: '127.0.0.1', port, file: t.file, blksize: SMALL_BLKSIZE, timeoutMs: 1000, retries: 5 });
          latencies.push(r.ms);
          retransmissions += r.retransmissions;
          const wrong = check(t, r.data);
          if (wrong) problems.push(`${t.file}: ${wrong}`);
          else bodies.set(t.file, r.data);
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { seconds: (performance.now() - t0) / 1000, latencies, problems, retransmissions, bodies };
}

async function small(server: Server, round: number, targets: readonly Target[], expected: ReadonlyMap<string, Buffer>): Promise<SmallRun> {
  const othersBefore = processTicks();
  const serverBefore = cpuTimes(pinning.server);
  const clientBefore = cpuTimes(pinning.clients);
  const r = await fetchMany(server.port, targets, FETCHES, CONCURRENCY, (t, data) => {
    const want = expected.get(t.file);
    if (!want) return 'no expected bytes';
    return data.equals(want) ? undefined : `${data.length} bytes that differ from the ${want.length} expected`;
  });
  const serverCore = busyShare(serverBefore, cpuTimes(pinning.server));
  const clientCore = busyShare(clientBefore, cpuTimes(pinning.clients));
  const others = othersSeconds(othersBefore, processTicks()) / r.seconds;
  const transfers = FETCHES - r.problems.length;
  const run: SmallRun = {
    round,
    server: server.label,
    transfers,
    failed: r.problems.length,
    seconds: r.seconds,
    rate: transfers / r.seconds,
    p50: percentile(r.latencies, 50),
    p99: percentile(r.latencies, 99),
    max: r.latencies[r.latencies.length - 1] ?? NaN,
    retransmissions: r.retransmissions,
    serverCore,
    clientCore,
    others,
    problems: r.problems,
  };
  log(
    `round ${round} ${server.label.padEnd(9)} ${FETCHES} x <mac>.cfg, ${CONCURRENCY} at a time: ${fmtInt(run.rate)} transfers/s, p50 ${ms(run.p50)}, p99 ${ms(run.p99)}, ${run.failed} failed, ${run.retransmissions} retransmissions, server core ${pct(serverCore)}`,
  );
  for (const p of r.problems.slice(0, 5)) log(`  FAILED ${p}`);
  return run;
}

// --- report ------------------------------------------------------------------------------------------------

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms` : 'n/a');
const pct = (n: number | undefined) => (n === undefined ? 'n/a' : `${Math.round(n * 100)}%`);

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * Whether other processes used more than 10% of a core during a measurement. /proc counts in ticks (10 ms): over a
 * 0.1 s measurement one tick is already 10%, so at least 3 ticks are needed.
 */
function isDisturbed(r: { others: number; seconds: number }): boolean {
  return r.others > 0.1 && r.others * r.seconds >= 3 / CLK_TCK;
}

/** The measurements a summary uses: the undisturbed ones when there is any, else all (and says so). */
function usable<T extends { others: number; seconds: number }>(runs: readonly T[]): { runs: T[]; mark: string } {
  const quiet = runs.filter((r) => !isDisturbed(r));
  if (quiet.length === runs.length) return { runs: [...runs], mark: '' };
  if (quiet.length) return { runs: quiet, mark: ` [${quiet.length} of ${runs.length}]` };
  return { runs: [...runs], mark: ' [all disturbed]' };
}

// --- main --------------------------------------------------------------------------------------------------

class TransferFailure extends Error {}

async function main(): Promise<number> {
  const logicalCpus = availableParallelism();
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  pinning = pin();
  log(pinning.note);

  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first (the server runs the built code)');
  if (!existsSync(TFTPD)) throw new Error(`${TFTPD} not found: install tftpd-hpa`);
  for (const [tool, pkg] of [['tftp', 'tftp-hpa'], [CLIENT_1428, CLIENT_1428]] as const) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${tool} not found: install ${pkg}`);
  }
  if (process.getuid?.() !== 0) throw new Error('tftpd-hpa is run with --secure (chroot to its folder), which needs root: run the benchmark as root');
  const newest = (dir: string): number => {
    let latest = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath ?? dir, entry.name)).mtimeMs);
    }
    return latest;
  };
  const distBuilt = newest(join(ROOT, 'dist'));
  const build = `dist/ built ${new Date(distBuilt).toISOString().replace(/\.\d+Z$/, 'Z')}`;
  if (newest(join(ROOT, 'src')) > distBuilt) log('WARNING: src/ is newer than dist/: the server runs the old build (npm run build)');
  const tftpdVersion = spawnSync(TFTPD, ['-V'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? 'tftpd-hpa';

  const tmp = mkdtempSync(join(tmpdir(), 'outpost-bench-tftp-'));
  tempDirs.push(tmp);
  const dataDir = join(tmp, 'data');
  const firmwareDir = join(tmp, 'firmware');
  const tftpRoot = join(tmp, 'tftproot');
  const workDir = join(tmp, 'received');
  for (const d of [dataDir, firmwareDir, join(tftpRoot, 'firmware'), workDir]) mkdirSync(d, { recursive: true });

  // --- data: devices and the firmware catalogue ---
  const targets = devices(DEVICES);
  log(`seeding ${DEVICES} ${MODEL} devices (one line each) into ${dataDir}`);
  const seedSeconds = await seed(dataDir, firmwareDir, targets);
  log(`seeded in ${seedSeconds.toFixed(1)} s`);

  const imageBytes = SIZE_MB * MB;
  const source = join(tmp, `${MODEL}.rom`);
  const imageSha = randomImage(source, imageBytes);
  const add = spawnSync(process.execPath, [OUTPOST_BIN, '--data', dataDir, '--firmware', firmwareDir, 'firmware', 'add', source, '--model', MODEL, '--version', FIRMWARE_VERSION], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, OUTPOST_LOG_LEVEL: 'warn' },
  });
  if (add.status !== 0) throw new Error(`outpost firmware add failed (status ${add.status}): ${(add.stderr || add.stdout).trim()}`);
  log(add.stdout.trim());
  rmSync(source);
  const catalogued = join(firmwareDir, FIRMWARE_FILE);
  if (!existsSync(catalogued)) throw new Error(`outpost firmware add did not create ${catalogued}`);
  if ((await sha256File(catalogued)) !== imageSha) throw new Error(`${catalogued} does not hold the image written`);
  // The same inode under tftpd-hpa's folder: the same bytes, the same page cache.
  const linked = join(tftpRoot, FIRMWARE_NAME);
  try {
    linkSync(catalogued, linked);
  } catch {
    copyFileSync(catalogued, linked);
  }

  // --- Outpost ---
  const nodeFlags = CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [];
  if (CPU_PROF_DIR) mkdirSync(CPU_PROF_DIR, { recursive: true });
  // A free port rather than `--tftp-port 0`: the tftp package takes 0 for "not set" and binds 69.
  let outpost: Server | undefined;
  for (let attempt = 1; attempt <= 3 && !outpost; attempt++) {
    const port = await freeUdpPort();
    const outpostArgs = [...nodeFlags, OUTPOST_BIN, '--data', dataDir, '--firmware', firmwareDir, 'serve', '--bind', '127.0.0.1', '--http-port', '0', '--tftp-port', String(port), '--no-sip', '--no-mdns'];
    const [cmd, cmdArgs] = pinned(pinning.server, process.execPath, outpostArgs);
    log(`starting: ${[cmd === process.execPath ? 'node' : cmd, ...cmdArgs.map((a) => (a === process.execPath ? 'node' : a))].join(' ')}`);
    const child = start(cmd, cmdArgs, { ...process.env, OUTPOST_LOG_LEVEL: 'info', OUTPOST_ADMIN_PASSWORD: 'bench-only' });
    try {
      const ready = await waitForLine(child, /^ready tftp tftp:\/\/\S+ \(bound to 127\.0\.0\.1:(\d+)\)/, 20_000, 'outpost serve');
      if (Number(ready[1]) !== port) throw new Error(`outpost serve reports TFTP on port ${ready[1]}, not the ${port} asked for`);
      outpost = { label: 'outpost', port, child };
    } catch (err) {
      await stopChild(child.process);
      // Another program took the port between our check and outpost's bind: try another.
      if (attempt < 3 && /already in use/.test((err as Error).message)) log(`port ${port} was taken meanwhile; trying another`);
      else throw err;
    }
  }
  if (!outpost) throw new Error('outpost serve did not start');
  log(`outpost ready on tftp://127.0.0.1:${outpost.port}/`);

  // Every device's file once, from Outpost over TFTP: the bytes both servers will serve.
  const first = await fetchMany(outpost.port, targets, targets.length, CONCURRENCY, (t, data) => (data.toString('latin1').includes(t.ext) ? undefined : `${data.length} bytes that do not name line ${t.ext}`));
  log(`first fetch of all ${DEVICES} <mac>.cfg from outpost: ${first.seconds.toFixed(2)} s, ${fmtInt(DEVICES / first.seconds)} transfers/s, p50 ${ms(percentile(first.latencies, 50))}, p99 ${ms(percentile(first.latencies, 99))}, ${first.problems.length} failed`);
  if (first.problems.length) {
    for (const p of first.problems.slice(0, 10)) log(`  FAILED ${p}`);
    throw new TransferFailure(`${first.problems.length} of ${DEVICES} devices did not get their file from outpost`);
  }
  const expected = first.bodies;
  for (const [file, body] of expected) writeFileSync(join(tftpRoot, file), body, { mode: 0o644 });
  const sizes = [...expected.values()].map((b) => b.length).sort((a, b) => a - b);
  // tftpd-hpa chroots (as root) into its folder, then drops to `nobody`: the folder and files must be world-readable.
  for (const d of [tftpRoot, join(tftpRoot, 'firmware')]) chmodSync(d, 0o755);
  chmodSync(linked, 0o644);

  // --- tftpd-hpa ---
  let tftpd: Server | undefined;
  for (let attempt = 1; attempt <= 3 && !tftpd; attempt++) {
    const port = await freeUdpPort();
    const [tcmd, targs] = pinned(pinning.server, TFTPD, ['--foreground', '--address', `127.0.0.1:${port}`, '--secure', '--blocksize', '65464', tftpRoot]);
    log(`starting: ${[tcmd, ...targs].join(' ')}`);
    const child = start(tcmd, targs, process.env, true);
    // It prints nothing: ready when it serves a file, gone when the port was taken meanwhile.
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline && !exited(child.process)) {
      try {
        const probe = await tftpGet({ host: '127.0.0.1', port, file: targets[0]!.file, timeoutMs: 200, retries: 1 });
        if (!probe.data.equals(expected.get(targets[0]!.file)!)) throw new Error(`tftpd-hpa serves different bytes for ${targets[0]!.file}`);
        tftpd = { label: 'tftpd-hpa', port, child };
        break;
      } catch (err) {
        if ((err as Error).message.includes('different bytes')) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!tftpd) {
      log(`tftpd-hpa on port ${port} did not answer${child.stderrTail() ? `: ${child.stderrTail()}` : ''}`);
      await stopChild(child.process);
    }
  }
  if (!tftpd) throw new Error('tftpd-hpa did not start (see above)');
  log(`tftpd-hpa ready on tftp://127.0.0.1:${tftpd.port}/`);

  // --- rounds ---
  const larges: LargeRun[] = [];
  const smalls: SmallRun[] = [];
  const image = { bytes: imageBytes, sha256: imageSha };
  // Round 0, the warm-up: in the table, never in the summary.
  if (!args['no-warmup']) for (const server of [outpost, tftpd]) larges.push(await large(server, 512, 0, workDir, image));
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? [outpost, tftpd] : [tftpd, outpost];
    for (const server of order) {
      if (SELECTED.has('large512')) larges.push(await large(server, 512, round, workDir, image));
      if (SELECTED.has('large1428')) larges.push(await large(server, 1428, round, workDir, image));
      if (SELECTED.has('small')) smalls.push(await small(server, round, targets, expected));
    }
  }

  await stopChild(tftpd.child.process);
  await stopChild(outpost.child.process);
  if (outpost.child.process.exitCode !== 0) log(`WARNING: outpost exited with ${outpost.child.process.signalCode ?? `status ${outpost.child.process.exitCode}`}; stderr:\n${outpost.child.stderrTail()}`);

  // --- report ---
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`TFTP benchmark: ${SIZE_MB} MB image (${fmtInt(imageBytes)} bytes, MB = 2^20 bytes), ${DEVICES} devices, ${ROUNDS} round(s), server order alternating`);
  out(`machine: ${logicalCpus} CPUs (${cpuModel}), node ${process.version}; outpost: ${build}; ${tftpdVersion}`);
  out(`pinning: ${pinning.note}`);
  out(`config files: ${sizes[0]}-${sizes[sizes.length - 1]} bytes (${DEVICES} <mac>.cfg, rendered by outpost, served by both); small transfers: ${SMALL_BLKSIZE ? `blksize ${SMALL_BLKSIZE}` : 'no options (512-byte blocks)'}`);
  out(`first fetch from outpost (every device once, ${CONCURRENCY} at a time, moves each to provisioned): ${fmtInt(DEVICES / first.seconds)} transfers/s, p50 ${ms(percentile(first.latencies, 50))}, p99 ${ms(percentile(first.latencies, 99))}`);
  out();

  // server core: the share of the servers' core busy during the transfer(s) (the server, the kernel's packet
  // work, anything else there); core time: that share times the wall time (per transfer for the small files);
  // others: CPU used meanwhile by processes outside the benchmark (any core), as a share of one core.
  const coreTime = (share: number | undefined, seconds: number, per = 1) => (share === undefined ? undefined : (share * seconds) / per);
  const header = ['round', 'server', 'case', 'client', 'result', 'time', 'p50', 'p99', 'server core', 'core time', 'client core', 'others', ''];
  const rows: string[][] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    // In the order they ran: the warm-up and odd rounds Outpost first.
    for (const label of round % 2 === 1 || round === 0 ? (['outpost', 'tftpd-hpa'] as const) : (['tftpd-hpa', 'outpost'] as const)) {
      for (const r of larges.filter((x) => x.round === round && x.server === label)) {
        const core = coreTime(r.serverCore, r.seconds);
        rows.push([round ? String(round) : 'warm-up', label, `${SIZE_MB} MB blksize ${r.blksize}`, r.client, r.ok ? `${r.mbps.toFixed(2)} MB/s` : 'FAILED', `${r.seconds.toFixed(2)} s`, '', '', pct(r.serverCore), core === undefined ? 'n/a' : `${core.toFixed(2)} s`, pct(r.clientCore), pct(r.others), isDisturbed(r) ? 'disturbed' : '']);
      }
      for (const r of smalls.filter((x) => x.round === round && x.server === label)) {
        const core = coreTime(r.serverCore, r.seconds, FETCHES);
        rows.push([
          String(round),
          label,
          `${FETCHES} x cfg, ${CONCURRENCY} at once`,
          'tftp-client.ts',
          `${fmtInt(r.rate)} tr/s${r.failed ? ` (${r.failed} FAILED)` : ''}`,
          `${r.seconds.toFixed(3)} s`,
          ms(r.p50),
          ms(r.p99),
          pct(r.serverCore),
          core === undefined ? 'n/a' : `${ms(core * 1000)}/tr`,
          pct(r.clientCore),
          pct(r.others),
          isDisturbed(r) ? 'disturbed' : '',
        ]);
      }
    }
  }
  out(table(header, rows, 4));
  out();

  // All rounds together: bytes ÷ seconds of the intact transfers; small: transfers ÷ seconds, latencies pooled.
  // Measurements other processes disturbed are left out when the same server and case has undisturbed ones.
  const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const goals: string[] = [];
  const summary: string[][] = [];
  const ratios: Record<string, number> = {};
  for (const blksize of [512, 1428] as const) {
    if (!SELECTED.has(blksize === 512 ? 'large512' : 'large1428')) continue;
    const agg = (label: ServerLabel) => {
      const { runs, mark: note } = usable(larges.filter((r) => r.round > 0 && r.server === label && r.blksize === blksize && r.ok));
      const seconds = runs.reduce((a, r) => a + r.seconds, 0);
      const core = runs.length && runs.every((r) => r.serverCore !== undefined) ? runs.reduce((a, r) => a + r.serverCore! * r.seconds, 0) / runs.length : undefined;
      return { mbps: runs.length ? (runs.length * imageBytes) / MB / seconds : NaN, core, note };
    };
    const o = agg('outpost');
    const t = agg('tftpd-hpa');
    const ratio = o.mbps / t.mbps;
    ratios[`large${blksize}`] = ratio;
    summary.push([`${SIZE_MB} MB image, blksize ${blksize}`, `${o.mbps.toFixed(2)} MB/s${o.note}`, `${t.mbps.toFixed(2)} MB/s${t.note}`, Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a']);
    summary.push(['  server core time per image', o.core === undefined ? 'n/a' : `${o.core.toFixed(2)} s`, t.core === undefined ? 'n/a' : `${t.core.toFixed(2)} s`, o.core !== undefined && t.core ? (o.core / t.core).toFixed(2) : '']);
    goals.push(`  ${mark(ratio >= GOAL_LARGE_RATIO)}  blksize ${String(blksize).padEnd(4)} outpost >= ${GOAL_LARGE_RATIO.toFixed(1)} x tftpd-hpa throughput   ${Number.isFinite(ratio) ? `${ratio.toFixed(3)} x (${o.mbps.toFixed(2)} vs ${t.mbps.toFixed(2)} MB/s)` : 'n/a: no intact transfer to compare'}`);
  }
  if (SELECTED.has('small')) {
    const agg = (label: ServerLabel) => {
      const { runs, mark: note } = usable(smalls.filter((r) => r.server === label));
      const transfers = runs.reduce((a, r) => a + r.transfers, 0);
      const seconds = runs.reduce((a, r) => a + r.seconds, 0);
      const core = runs.every((r) => r.serverCore !== undefined) ? runs.reduce((a, r) => a + r.serverCore! * r.seconds, 0) / (runs.length * FETCHES) : undefined;
      return { rate: transfers / seconds, p50: Math.max(...runs.map((r) => r.p50)), p99: Math.max(...runs.map((r) => r.p99)), core, note };
    };
    const o = agg('outpost');
    const t = agg('tftpd-hpa');
    const ratio = o.rate / t.rate;
    ratios.small = ratio;
    summary.push([`${FETCHES} x ~${fmtInt(sizes[Math.floor(sizes.length / 2)] ?? 0)} B cfg, ${CONCURRENCY} at once`, `${fmtInt(o.rate)} tr/s${o.note}`, `${fmtInt(t.rate)} tr/s${t.note}`, Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a']);
    summary.push(['  worst p50 / p99 of the rounds', `${ms(o.p50)} / ${ms(o.p99)}`, `${ms(t.p50)} / ${ms(t.p99)}`, '']);
    summary.push(['  server core time per transfer', o.core === undefined ? 'n/a' : ms(o.core * 1000), t.core === undefined ? 'n/a' : ms(t.core * 1000), o.core !== undefined && t.core ? (o.core / t.core).toFixed(2) : '']);
    goals.push(`  ${mark(ratio > GOAL_SMALL_RATIO)}  more small transfers/s than tftpd-hpa                 ${Number.isFinite(ratio) ? `${ratio.toFixed(3)} x (${fmtInt(o.rate)} vs ${fmtInt(t.rate)} transfers/s)` : 'n/a: no intact transfer to compare'}`);
  }
  const disturbed = [...larges, ...smalls].filter((r) => r.round > 0 && isDisturbed(r));
  out(`all ${ROUNDS} round(s)${args['no-warmup'] ? ', no warm-up' : ' (not the warm-up)'}${disturbed.length ? ' ([k of n]: the k of n measurements that other processes did not disturb)' : ''}:`);
  out(table(['case', 'outpost', 'tftpd-hpa', 'outpost ÷ tftpd-hpa'], summary));
  out();
  if (disturbed.length) {
    out(`WARNING: other processes used more than 10% of a core during ${disturbed.length} of the ${larges.filter((r) => r.round > 0).length + smalls.length} measurements (column "others", up to ${pct(Math.max(...disturbed.map((r) => r.others)))}): the summary leaves them out where it can, but the machine was not quiet; run again`);
  }
  for (const r of [...larges.filter((x) => x.round > 0), ...smalls]) {
    const what = 'blksize' in r ? `${SIZE_MB} MB blksize ${r.blksize}` : 'small files';
    if (r.clientCore !== undefined && r.serverCore !== undefined && r.clientCore >= 0.9 && r.serverCore < 0.9) {
      out(`NOTE: round ${r.round} ${r.server} ${what}: the clients' core was ${pct(r.clientCore)} busy, the server's ${pct(r.serverCore)}: the clients may be the limit, not the server`);
    }
  }
  out();
  out('goals:');
  for (const g of goals) out(g);
  if (CPU_PROF_DIR) out('NOTE: outpost ran under --cpu-prof; its figures include the profiler overhead and are not the benchmark');

  const failedLarge = larges.filter((r) => !r.ok);
  const failedSmall = smalls.filter((r) => r.failed > 0);
  if (args.json) {
    writeFileSync(
      args.json,
      `${JSON.stringify({ sizeMB: SIZE_MB, imageBytes, devices: DEVICES, fetches: FETCHES, concurrency: CONCURRENCY, rounds: ROUNDS, smallBlksize: SMALL_BLKSIZE ?? null, cpus: logicalCpus, cpuModel, node: process.version, build, tftpd: tftpdVersion, pinning: pinning.note, configBytes: { min: sizes[0], max: sizes[sizes.length - 1] }, large: larges, small: smalls.map(({ problems, ...r }) => ({ ...r, problems: problems.slice(0, 20) })), ratios }, null, 2)}\n`,
    );
  }

  if (CPU_PROF_DIR) {
    const profiles = readdirSync(CPU_PROF_DIR).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(CPU_PROF_DIR, f));
    const latest = profiles.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    out();
    if (latest) out(`${latest}\n${formatSummary(summariseProfile(latest, 15))}`);
    else out(`no .cpuprofile in ${CPU_PROF_DIR} (outpost did not exit cleanly?)`);
  }

  if (failedLarge.length || failedSmall.length) {
    out();
    for (const r of failedLarge) out(`FAILED TRANSFER: ${r.round ? `round ${r.round}` : 'warm-up'} ${r.server} blksize ${r.blksize} (${r.client}): ${r.problem}`);
    for (const r of failedSmall) out(`FAILED TRANSFERS: round ${r.round} ${r.server}: ${r.failed} of ${FETCHES} small transfers, e.g. ${r.problems.slice(0, 3).join('; ')}`);
    return 1;
  }
  return 0;
}

// Bounded: whatever happens, the run ends. The defaults take about 35 s; the watchdog fires after 170 s, later
// only when the options ask for more work than the defaults.
const expectedS = 15 + ROUNDS * (SIZE_MB / 20) * SELECTED.size * 3 + (ROUNDS * FETCHES) / 100 + DEVICES / 100;
const budgetS = Math.max(170, Math.ceil(3 * expectedS));
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
    process.stderr.write(`bench: FAILED: ${err.message}\n`);
    await cleanup();
    process.exit(err instanceof TransferFailure ? 1 : 2);
  },
);
