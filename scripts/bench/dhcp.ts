/**
 * DHCPv4 benchmark: how many leases per second Outpost's DHCP server gives (4-way DORA, each lease fsync'd
 * before its ACK) on one core, against Kea (kea-dhcp4, memfile) on the same core, the same interface, the same
 * subnet and pool, driven by the same perfdhcp.
 *
 *   npm run bench:dhcp                                    (= npx tsx scripts/bench/dhcp.ts; run as root)
 *   npx tsx scripts/bench/dhcp.ts [--rates 500,1000,2000,4000,8000] [--duration 10] [--servers outpost,kea]
 *                                 [--boost 0] [--cpu-prof DIR] [--json FILE]
 *
 * What it does:
 *  1. Two network namespaces of its own, `opbench-<pid>-srv` and `opbench-<pid>-cli`, joined by one veth pair
 *     created with both ends already inside them (`ip link add A netns SRV type veth peer name B netns CLI`):
 *     nothing is added to the root namespace and no existing interface is touched. Server side 10.20.0.2/16,
 *     client side 10.20.0.1/16, which is also the relay address: perfdhcp runs as a relay
 *     (`perfdhcp -4 -l 10.20.0.1 ... 10.20.0.2`: giaddr 10.20.0.1, unicast to the server from port 67), so both
 *     servers answer by unicast to the relay and neither needs broadcast or raw sockets.
 *  2. For every rate (rising) and each server in turn (never both at once; which one goes first alternates from
 *     one rate to the next, so a noisy host moment hits both), a fresh server with an empty lease store:
 *     - Outpost (the build in dist/: `npm run build`), pinned to the first core:
 *       `ip netns exec SRV taskset -c C0 node bin/outpost --data D --firmware F --config SITE serve --no-tftp
 *        --no-sip --no-mdns --http-port 8080`, SITE: dhcp enabled on the veth, subnet 10.20.0.0/16, range
 *       10.20.1.0-10.20.250.255 (64,000 addresses), router 10.20.0.1, leaseTime 3600, phonesOnly false
 *       (perfdhcp's clients are no phones). Ready at its `ready dhcp` line, then 2.2 s for its start-up probe for
 *       other DHCP servers to finish. Leases go to SQLite (WAL, synchronous FULL) before the ACK, with group commit.
 *     - Kea: `ip netns exec SRV taskset -c C0 kea-dhcp4 -c CONF` in the foreground, UDP sockets
 *       (`dhcp-socket-type udp`) on the same veth and address, single-threaded (Kea 2.2's default, stated), the
 *       same subnet and pool, valid-lifetime 3600, memfile with `persist: true` and LFC off, its lease file in a
 *       temp dir. Kea's memfile write()s each lease to the CSV file but never fsyncs it (Kea 2.2 has no setting
 *       for it; `strace -c` of kea-dhcp4 under load shows one write() per lease and no fsync or fdatasync): its
 *       leases are not durable across a power cut the way Outpost's are. Ready at its DHCP4_STARTED line.
 *     perfdhcp, pinned to the second core, then sends DORA exchanges at the rate for --duration seconds (shorter
 *     at high rates so that no run needs more than 90% of the pool: every run is a fresh pool, never exhaustion),
 *     `-R 4294967295` simulated clients (random MACs: practically every exchange is a new client and a new
 *     lease), a request unanswered after 1 s counts as dropped, 1 s to collect late answers at the end.
 *     After each run the server is stopped (SIGTERM) and the leases it stored are counted (Outpost: rows in
 *     `leases`; Kea: lines of its CSV file).
 *  3. A table per run (sent, ACKs, failed exchanges, leases/s, latencies, CPU), a table per rate with both
 *     servers, the highest rate each server sustained with < 1% failed exchanges (1 - ACKs/DISCOVERs), the ratio
 *     Outpost/Kea of the lease rates there, and PASS/FAIL against the goals: >= 2,000 leases/s with durable
 *     leases, and >= half of Kea's rate.
 *  This process pins itself to the second core as well (taskset -a -p). Each run reports how busy both cores were,
 *  how much CPU processes outside the benchmark used meanwhile (a warning above 10% of a core: run again on a
 *  quiet machine), and how many datagrams the kernel dropped because the server's or perfdhcp's socket buffer was
 *  full (Udp RcvbufErrors of each namespace). On a shared machine, `--boost 10` runs both servers and perfdhcp
 *  under `nice -n -10` (after taskset), so that other processes on the cores disturb them less (the same for both).
 *  --cpu-prof DIR runs Outpost under `node --cpu-prof` and prints a summary of its profile at the highest rate.
 *  Children, both namespaces (with anything left running in them) and temp dirs are removed on exit, on error and
 *  on Ctrl-C. The whole run is bounded (about 2 minutes with the defaults; a watchdog gives up after at most
 *  4.5). Exit status: 0 when every run was made (goals missed or not), 2 when a run could not be made.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sqlite3 from 'sqlite3';
import { formatSummary, summariseProfile } from './cpuprofile-summary.js';
import { allowedCpus, exited, log, waitExit } from './common.js';
import { parsePerfdhcp, perfdhcpArgs, type PerfdhcpReport } from './dhcp-perfdhcp.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUTPOST_BIN = join(ROOT, 'bin', 'outpost');

const GOAL_LEASES = 2000;
const GOAL_RATIO = 0.5;
/** A rate is sustained when fewer than this share of exchanges fail. */
const CLEAN = 0.01;

const SERVER_IP = '10.20.0.2';
const RELAY_IP = '10.20.0.1';
const PREFIX = 16;
const SUBNET = '10.20.0.0/16';
const POOL: [string, string] = ['10.20.1.0', '10.20.250.255'];
const POOL_SIZE = 250 * 256;
const LEASE_TIME = 3600;
const CLIENTS = 4294967295;
const DROP_TIME_S = 1;
const EXIT_WAIT_S = 1;
/** Outpost probes the segment for other DHCP servers for 2 s after `ready dhcp`; the load waits for it. */
const OUTPOST_PROBE_S = 2.2;

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
      rates: { type: 'string', default: '500,1000,2000,4000,8000' },
      duration: { type: 'string', default: '10' },
      servers: { type: 'string', default: 'outpost,kea' },
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
const DURATION_S = Number(args.duration);
if (!Number.isInteger(DURATION_S) || DURATION_S < 1 || DURATION_S > 60) usage(`--duration must be whole seconds 1..60, not "${args.duration}"`);
const RATES = args.rates.split(',').map((r) => Number(r.trim()));
if (!RATES.length || RATES.some((r) => !Number.isInteger(r) || r < 1 || r > 100_000)) usage(`--rates must be whole numbers 1..100000 separated by commas, not "${args.rates}"`);
RATES.sort((a, b) => a - b);
type ServerName = 'outpost' | 'kea';
const SERVERS = args.servers.split(',').map((s) => s.trim()) as ServerName[];
if (!SERVERS.length || SERVERS.some((s) => s !== 'outpost' && s !== 'kea')) usage(`--servers must be outpost, kea or both, not "${args.servers}"`);
const CPU_PROF_DIR = args['cpu-prof'] ? resolve(args['cpu-prof']) : undefined;
const BOOST = Number(args.boost);
if (!Number.isInteger(BOOST) || BOOST < 0 || BOOST > 20) usage(`--boost must be a whole number 0..20, not "${args.boost}"`);
const NICE = -BOOST;

/** `taskset -c CORE [nice -n -BOOST] COMMAND...`: pinned, and with --boost favoured over the other processes on the core. */
function onCore(core: number, command: string, commandArgs: readonly string[]): string[] {
  return ['taskset', '-c', String(core), ...(NICE !== 0 ? ['nice', '-n', String(NICE)] : []), command, ...commandArgs];
}

/** Seconds of sending at `rate`: --duration, shortened so that a run never needs more than 90% of the pool. */
function periodFor(rate: number): number {
  // perfdhcp takes whole seconds for -p.
  return Math.max(1, Math.min(DURATION_S, Math.floor((0.9 * POOL_SIZE) / rate)));
}

// --- cleanup: children, namespaces and temp dirs go away on every exit path -----------------------------------

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
/** Namespaces this process created (only those: a name is recorded once `ip netns add` succeeded). */
const namespaces: string[] = [];




/** SIGTERM, then SIGKILL after `graceMs`. Both servers stop cleanly on SIGTERM (Outpost writes its CPU profile). */
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

/** Kills whatever still runs inside our namespaces (only ours), then deletes them (the veth pair goes with them). */
function removeNamespaces(): void {
  for (const ns of namespaces.splice(0).reverse()) {
    const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 }).stdout ?? '').split(/\s+/).filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) process.stderr.write(`bench: could not delete namespace ${ns}: ${(r.stderr ?? '').trim()} (remove it with: ip netns del ${ns})\n`);
  }
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c, 3000)));
    removeNamespaces();
    removeTempDirs();
  })());
}

process.on('exit', () => {
  for (const c of children) if (!exited(c)) c.kill('SIGKILL');
  try {
    removeNamespaces();
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

// --- commands ------------------------------------------------------------------------------------------------

/** Runs a short command to completion; throws with its stderr when it fails. */
function sh(command: string, commandArgs: readonly string[], what = `${command} ${commandArgs.join(' ')}`): string {
  const r = spawnSync(command, commandArgs, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim()}`);
  return r.stdout ?? '';
}

function available(command: string, versionArgs: readonly string[]): string | undefined {
  const r = spawnSync(command, versionArgs, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status === null) return undefined;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || '(unknown version)';
}

// --- CPU pinning and accounting (as in http-provisioning.ts) ------------------------------------------------


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
  if (loadgen === undefined) return { server, loadgen: server, note: `only CPU ${server} is available: servers and perfdhcp share it (figures are pessimistic)` };
  const r = spawnSync('taskset', ['-a', '-c', '-p', String(loadgen), String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`could not pin this process to CPU ${loadgen}`);
  return { server, loadgen, note: `servers on CPU ${server} (taskset -c ${server}), perfdhcp and this process on CPU ${loadgen}` };
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system, all threads) a process has used, from /proc. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/**
 * Seconds of one CPU from /proc/stat: `task` (user, nice, system: processes), `irq` (irq, softirq: the kernel's
 * packet work, not charged to any process), `steal` (taken by the hypervisor), `total`.
 */
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

/** Shares (0..1) of a core's time between two readings. */
function coreShares(before: CoreTimes | undefined, after: CoreTimes | undefined): { task: number; irq: number; steal: number } | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  const t = after.total - before.total;
  return { task: (after.task - before.task) / t, irq: (after.irq - before.irq) / t, steal: (after.steal - before.steal) / t };
}

// --- child processes -------------------------------------------------------------------------------------------

interface Child {
  process: ChildProcess;
  stdoutTail: () => string;
  stderrTail: () => string;
}

function start(command: string, commandArgs: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(command, commandArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
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

/** Resolves once a stdout line matches `re`; rejects when the child exits or `ms` passes first. */
function waitForLine(child: Child, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
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
      child.process.stdout!.off('data', onData);
      child.process.off('exit', onExit);
    };
    child.process.stdout!.on('data', onData);
    child.process.once('exit', onExit);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the network -------------------------------------------------------------------------------------------

/** Datagrams the kernel dropped in a namespace because a UDP socket's receive buffer was full (Udp RcvbufErrors). */
function rcvbufErrors(ns: string): number | undefined {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8', timeout: 5000 });
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('Udp: '));
  if (lines.length < 2) return undefined;
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  const i = names.indexOf('RcvbufErrors');
  return i < 0 ? undefined : Number(values[i]);
}

interface Net {
  srv: string;
  cli: string;
  srvIf: string;
  cliIf: string;
}

function createNetwork(): Net {
  const pid = process.pid;
  const net: Net = { srv: `opbench-${pid}-srv`, cli: `opbench-${pid}-cli`, srvIf: `opb${pid}s`, cliIf: `opb${pid}c` };
  const existing = sh('ip', ['netns', 'list']);
  for (const ns of [net.srv, net.cli]) {
    if (existing.split('\n').some((l) => l.split(' ')[0] === ns)) throw new Error(`namespace ${ns} already exists (left by an earlier run with the same pid? remove it with: ip netns del ${ns})`);
  }
  for (const ns of [net.srv, net.cli]) {
    sh('ip', ['netns', 'add', ns]);
    namespaces.push(ns);
  }
  // Both ends created directly inside their namespaces: the pair never exists in the root namespace.
  sh('ip', ['link', 'add', net.srvIf, 'netns', net.srv, 'type', 'veth', 'peer', 'name', net.cliIf, 'netns', net.cli]);
  for (const [ns, ifname, address] of [[net.srv, net.srvIf, SERVER_IP], [net.cli, net.cliIf, RELAY_IP]] as const) {
    sh('ip', ['-n', ns, 'addr', 'add', `${address}/${PREFIX}`, 'dev', ifname]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
  }
  // Wait for the carrier on both ends (a veth is up as soon as both ends are).
  for (let i = 0; i < 50; i++) {
    const up = [[net.srv, net.srvIf], [net.cli, net.cliIf]].every(([ns, ifname]) => /state UP/.test(sh('ip', ['-n', ns!, 'link', 'show', ifname!])));
    if (up) return net;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error(`the veth pair ${net.srvIf}/${net.cliIf} did not come up`);
}

// --- the servers ---------------------------------------------------------------------------------------------

interface RunningServer {
  child: Child;
  pid: number | undefined;
  /** Leases stored, counted once the server has stopped. */
  stopAndCount(): Promise<{ persisted: number | undefined; exit: string }>;
}

function outpostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return { ...env, OUTPOST_ADMIN_PASSWORD: 'bench-only-password' };
}

function countOutpostLeases(dbFile: string): Promise<number> {
  return new Promise((res, rej) => {
    const db = new sqlite3.Database(dbFile, sqlite3.OPEN_READONLY, (err) => {
      if (err) return rej(err);
      db.get<{ n: number }>("SELECT count(*) AS n FROM leases WHERE state = 'bound'", (err2, row) => {
        db.close();
        if (err2) rej(err2);
        else res(row?.n ?? 0);
      });
    });
  });
}

async function startOutpost(net: Net, core: number, dir: string, profileDir: string | undefined): Promise<RunningServer> {
  const dataDir = join(dir, 'data');
  const firmwareDir = join(dir, 'firmware');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(firmwareDir, { recursive: true });
  const siteFile = join(dir, 'site.json');
  const site = {
    advertise: SERVER_IP,
    dhcp: { enabled: true, interface: net.srvIf, subnet: SUBNET, range: POOL, router: RELAY_IP, leaseTime: LEASE_TIME, phonesOnly: false },
  };
  writeFileSync(siteFile, `${JSON.stringify(site, null, 2)}\n`);
  const nodeFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const commandArgs = ['netns', 'exec', net.srv, ...onCore(core, process.execPath, [...nodeFlags, OUTPOST_BIN, '--data', dataDir, '--firmware', firmwareDir, '--config', siteFile, 'serve', '--no-tftp', '--no-sip', '--no-mdns', '--http-port', '8080'])];
  const child = start('ip', commandArgs, outpostEnv());
  await waitForLine(child, /^ready dhcp /, 30_000, 'outpost serve');
  await sleep(OUTPOST_PROBE_S * 1000);
  if (exited(child.process)) throw new Error(`outpost exited after it was ready; its output:\n${child.stdoutTail()}\n${child.stderrTail()}`);
  return {
    child,
    pid: child.process.pid,
    async stopAndCount() {
      await stopChild(child.process, 10_000);
      const exit = child.process.signalCode ?? `status ${child.process.exitCode}`;
      let persisted: number | undefined;
      try {
        persisted = await countOutpostLeases(join(dataDir, 'outpost.db'));
      } catch (err) {
        log(`cannot count Outpost's leases: ${(err as Error).message}`);
      }
      return { persisted, exit };
    },
  };
}

function keaConfig(net: Net, leaseFile: string): object {
  return {
    Dhcp4: {
      'interfaces-config': { interfaces: [`${net.srvIf}/${SERVER_IP}`], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': 0 },
      // Kea 2.2's default, said out loud: one thread, as Outpost's one event loop (both pinned to one core anyway).
      'multi-threading': { 'enable-multi-threading': false },
      'valid-lifetime': LEASE_TIME,
      'renew-timer': LEASE_TIME / 2,
      'rebind-timer': (LEASE_TIME * 7) / 8,
      subnet4: [{ id: 1, subnet: SUBNET, pools: [{ pool: `${POOL[0]} - ${POOL[1]}` }], 'option-data': [{ name: 'routers', data: RELAY_IP }] }],
      loggers: [
        { name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'WARN' },
        // DHCP4_STARTED (the ready line) is INFO on this logger; it logs nothing per packet at INFO.
        { name: 'kea-dhcp4.dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' },
      ],
    },
  };
}

async function startKea(net: Net, core: number, dir: string): Promise<RunningServer> {
  const leaseFile = join(dir, 'kea-leases4.csv');
  const conf = join(dir, 'kea-dhcp4.json');
  writeFileSync(conf, `${JSON.stringify(keaConfig(net, leaseFile), null, 2)}\n`);
  const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
  const child = start('ip', ['netns', 'exec', net.srv, ...onCore(core, 'kea-dhcp4', ['-c', conf])], env);
  await waitForLine(child, /DHCP4_STARTED/, 20_000, 'kea-dhcp4');
  return {
    child,
    pid: child.process.pid,
    async stopAndCount() {
      await stopChild(child.process, 10_000);
      const exit = child.process.signalCode ?? `status ${child.process.exitCode}`;
      let persisted: number | undefined;
      try {
        // One line per lease written (a header first); an update of a lease would add a line, and there are none.
        const lines = readFileSync(leaseFile, 'utf8').split('\n').filter((l) => l.trim());
        persisted = Math.max(0, lines.length - 1);
      } catch (err) {
        log(`cannot count Kea's leases: ${(err as Error).message}`);
      }
      return { persisted, exit };
    },
  };
}

// --- one run -------------------------------------------------------------------------------------------------

interface Run {
  server: ServerName;
  rate: number;
  period: number;
  discovers: number;
  offers: number;
  requests: number;
  acks: number;
  /** Exchanges that did not end in an ACK: 1 - ACKs / DISCOVERs sent. */
  failed: number;
  doDrops: number;
  raDrops: number;
  orphans: number;
  rejected: number;
  nonUnique: number;
  /** ACKs received per second of sending. */
  leasesPerSec: number;
  /** DISCOVERs sent per second of sending (what perfdhcp managed to offer). */
  sentPerSec: number;
  doAvgMs: number;
  doMaxMs: number;
  raAvgMs: number;
  raMaxMs: number;
  /** Server CPU over the run, share of one core. */
  serverCpu: number | undefined;
  cpuUsPerLease: number | undefined;
  loadgenCpu: number | undefined;
  /** How the server's and perfdhcp's cores were used during the run (shares of the core). */
  serverCore: { task: number; irq: number; steal: number } | undefined;
  loadgenCore: { task: number; irq: number; steal: number } | undefined;
  /** CPU (share of one core) of processes other than the server / perfdhcp and this process on each core. */
  othersOnServerCore: number | undefined;
  othersOnLoadgenCore: number | undefined;
  persisted: number | undefined;
  /** Requests the kernel dropped because the server's socket buffer was full (it did not read fast enough). */
  serverSocketDrops: number | undefined;
  /** Answers the kernel dropped because perfdhcp's socket buffer was full (the load generator fell behind). */
  perfdhcpSocketDrops: number | undefined;
  serverExit: string;
  perfdhcpExit: number;
  report: PerfdhcpReport;
}

class RunFailure extends Error {}

async function perfdhcp(net: Net, core: number, rate: number, period: number): Promise<{ report: PerfdhcpReport; exit: number; cpu: number | undefined; wall: number; text: string }> {
  const pargs = perfdhcpArgs({ relay: RELAY_IP, server: SERVER_IP, rate, period, clients: CLIENTS, dropTime: DROP_TIME_S, exitWait: EXIT_WAIT_S });
  const child = start('ip', ['netns', 'exec', net.cli, ...onCore(core, 'perfdhcp', pargs)], process.env);
  const out: string[] = [];
  child.process.stdout!.on('data', (c: string) => out.push(c));
  // perfdhcp's CPU, sampled while it runs (its /proc entry is gone once it has exited; the last ~0.2 s are idle).
  let cpu: number | undefined;
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const c = cpuSeconds(child.process.pid);
    if (c !== undefined) cpu = c;
  }, 200);
  const limit = (period + DROP_TIME_S + EXIT_WAIT_S + 15) * 1000;
  const finished = await waitExit(child.process, limit);
  clearInterval(sampler);
  const wall = (performance.now() - t0) / 1000;
  if (!finished) {
    await stopChild(child.process, 1000);
    throw new RunFailure(`perfdhcp did not finish within ${limit / 1000} s`);
  }
  children.delete(child.process);
  const exit = child.process.exitCode ?? -1;
  const text = out.join('');
  // 0: every exchange completed; 3: some did not (the measurement); anything else: perfdhcp could not run.
  if (exit !== 0 && exit !== 3) throw new RunFailure(`perfdhcp ${pargs.join(' ')} exited with ${child.process.signalCode ?? `status ${exit}`}: ${child.stderrTail() || text.slice(-500)}`);
  const report = parsePerfdhcp(text);
  if (report instanceof Error) throw new RunFailure(`${report.message}; perfdhcp said:\n${text.slice(-1500)}\n${child.stderrTail()}`);
  return { report, exit, cpu, wall, text };
}

async function runOne(server: ServerName, rate: number, net: Net, pinning: Pinning, tmp: string, index: number): Promise<Run> {
  const period = periodFor(rate);
  const dir = join(tmp, `${server}-${rate}`);
  mkdirSync(dir, { recursive: true });
  const profileDir = server === 'outpost' && CPU_PROF_DIR ? join(CPU_PROF_DIR, `outpost-${rate}`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  log(`[${index}] ${server} at ${rate}/s for ${period} s: starting the server`);
  const running = server === 'outpost' ? await startOutpost(net, pinning.server, dir, profileDir) : await startKea(net, pinning.server, dir);
  const serverBefore = cpuSeconds(running.pid);
  const ownBefore = process.cpuUsage();
  const coreBefore = cpuTimes(pinning.server);
  const loadCoreBefore = cpuTimes(pinning.loadgen);
  const srvDropsBefore = rcvbufErrors(net.srv);
  const cliDropsBefore = rcvbufErrors(net.cli);
  const p = await perfdhcp(net, pinning.loadgen, rate, period);
  const srvDropsAfter = rcvbufErrors(net.srv);
  const cliDropsAfter = rcvbufErrors(net.cli);
  const serverAfter = cpuSeconds(running.pid);
  const coreAfter = cpuTimes(pinning.server);
  const loadCoreAfter = cpuTimes(pinning.loadgen);
  const own = process.cpuUsage(ownBefore);
  const { persisted, exit } = await running.stopAndCount();

  const serverCpuS = serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : undefined;
  const serverCpu = serverCpuS !== undefined ? serverCpuS / p.wall : undefined;
  const loadgenCpu = p.cpu !== undefined ? p.cpu / p.wall : undefined;
  const ownCpu = (own.user + own.system) / 1e6 / p.wall;
  const serverCore = coreShares(coreBefore, coreAfter);
  const loadgenCore = coreShares(loadCoreBefore, loadCoreAfter);
  const samePlace = pinning.server === pinning.loadgen;
  const r = p.report;
  const acks = r.requestAck.received;
  const discovers = r.discoverOffer.sent;
  return {
    server,
    rate,
    period,
    discovers,
    offers: r.discoverOffer.received,
    requests: r.requestAck.sent,
    acks,
    failed: discovers > 0 ? 1 - acks / discovers : 1,
    doDrops: r.discoverOffer.drops,
    raDrops: r.requestAck.drops,
    orphans: r.discoverOffer.orphans + r.requestAck.orphans,
    rejected: r.discoverOffer.rejected + r.requestAck.rejected,
    nonUnique: r.discoverOffer.nonUnique + r.requestAck.nonUnique,
    leasesPerSec: acks / period,
    sentPerSec: discovers / period,
    doAvgMs: r.discoverOffer.avgMs,
    doMaxMs: r.discoverOffer.maxMs,
    raAvgMs: r.requestAck.avgMs,
    raMaxMs: r.requestAck.maxMs,
    serverCpu,
    cpuUsPerLease: serverCpuS !== undefined && acks > 0 ? (serverCpuS * 1e6) / acks : undefined,
    loadgenCpu,
    serverCore,
    loadgenCore,
    // Process time on the core that is neither the server's nor (sharing one core) perfdhcp's and ours. The
    // kernel's packet work (softirq) is not in it: it is in serverCore.irq.
    othersOnServerCore: serverCore !== undefined && serverCpu !== undefined ? Math.max(0, serverCore.task - serverCpu - (samePlace ? (loadgenCpu ?? 0) + ownCpu : 0)) : undefined,
    othersOnLoadgenCore: samePlace || loadgenCore === undefined || loadgenCpu === undefined ? undefined : Math.max(0, loadgenCore.task - loadgenCpu - ownCpu),
    persisted,
    serverSocketDrops: srvDropsBefore !== undefined && srvDropsAfter !== undefined ? srvDropsAfter - srvDropsBefore : undefined,
    perfdhcpSocketDrops: cliDropsBefore !== undefined && cliDropsAfter !== undefined ? cliDropsAfter - cliDropsBefore : undefined,
    serverExit: exit,
    perfdhcpExit: p.exit,
    report: r,
  };
}

// --- report ------------------------------------------------------------------------------------------------

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmtMs = (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms` : 'n/a');
const pct = (n: number | undefined) => (n === undefined ? 'n/a' : `${Math.round(n * 100)}%`);
const failPct = (n: number) => (n === 0 ? '0%' : n < 0.001 ? '<0.1%' : `${(n * 100).toFixed(1)}%`);

function table(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function runTable(runs: readonly Run[]): string {
  const header = ['server', 'rate', 'period', 'DISCOVER', 'OFFER', 'ACK', 'failed', 'DO drops', 'RA drops', 'sock drops srv/gen', 'leases/s', 'DO avg', 'RA avg', 'RA max', 'stored', 'server CPU', 'CPU/lease', 'perfdhcp CPU', 'others srv/gen core', 'srv core irq/steal'];
  const rows = runs.map((r) => [
    r.server,
    fmtInt(r.rate),
    `${r.period} s`,
    fmtInt(r.discovers),
    fmtInt(r.offers),
    fmtInt(r.acks),
    failPct(r.failed),
    fmtInt(r.doDrops),
    fmtInt(r.raDrops),
    `${r.serverSocketDrops === undefined ? 'n/a' : fmtInt(r.serverSocketDrops)}/${r.perfdhcpSocketDrops === undefined ? 'n/a' : fmtInt(r.perfdhcpSocketDrops)}`,
    fmtInt(r.leasesPerSec),
    fmtMs(r.doAvgMs),
    fmtMs(r.raAvgMs),
    fmtMs(r.raMaxMs),
    r.persisted === undefined ? 'n/a' : fmtInt(r.persisted),
    pct(r.serverCpu),
    r.cpuUsPerLease === undefined ? 'n/a' : `${Math.round(r.cpuUsPerLease)} µs`,
    pct(r.loadgenCpu),
    `${pct(r.othersOnServerCore)}/${pct(r.othersOnLoadgenCore)}`,
    r.serverCore ? `${pct(r.serverCore.irq)}/${pct(r.serverCore.steal)}` : 'n/a',
  ]);
  return table(header, rows);
}

function best(runs: readonly Run[], server: ServerName): Run | undefined {
  return runs.filter((r) => r.server === server && r.failed < CLEAN).sort((a, b) => b.rate - a.rate)[0];
}

// --- main --------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('run as root: it creates network namespaces and the servers bind port 67');
  for (const [cmd, vargs] of [['ip', ['-V']], ['taskset', ['--version']], ['perfdhcp', ['-v']], ...(SERVERS.includes('kea') ? [['kea-dhcp4', ['-V']]] : [])] as Array<[string, string[]]>) {
    if (!available(cmd, vargs)) throw new Error(`${cmd} is not installed (iproute2, util-linux, kea-admin for perfdhcp, kea-dhcp4-server)`);
  }
  const keaVersion = SERVERS.includes('kea') ? available('kea-dhcp4', ['-V']) : undefined;
  const perfdhcpVersion = /VERSION:\s*(\S+)/.exec(spawnSync('perfdhcp', ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? available('perfdhcp', ['-v']);

  let build = 'n/a';
  if (SERVERS.includes('outpost')) {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first (the server runs the built code)');
    if (!existsSync(join(ROOT, 'build', 'Release', 'bindtodevice.node'))) throw new Error('build/Release/bindtodevice.node is missing: Outpost cannot bind DHCP to an interface (npm install)');
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

  const logicalCpus = availableParallelism(); // before pinning: afterwards this process sees one
  const pinning = pin();
  log(pinning.note);

  const tmp = mkdtempSync(join(tmpdir(), `opbench-${process.pid}-`));
  tempDirs.push(tmp);
  const fsType = (spawnSync('df', ['--output=fstype', tmp], { encoding: 'utf8' }).stdout ?? '').trim().split('\n').slice(1).join('').trim() || 'unknown';
  if (/tmpfs|ramfs/.test(fsType)) log(`WARNING: ${tmp} is on ${fsType}: fsync costs nothing there, so Outpost's durable writes are not measured (set TMPDIR to a disk)`);

  const net = createNetwork();
  log(`namespaces ${net.srv} (${net.srvIf} ${SERVER_IP}/${PREFIX}) and ${net.cli} (${net.cliIf} ${RELAY_IP}/${PREFIX}, the relay)`);

  const runs: Run[] = [];
  let index = 0;
  for (const [i, rate] of RATES.entries()) {
    // Alternate which server goes first, so a slow host moment does not always hit the same one.
    const order = i % 2 === 0 ? SERVERS : [...SERVERS].reverse();
    for (const server of order) {
      const r = await runOne(server, rate, net, pinning, tmp, ++index);
      runs.push(r);
      log(
        `[${index}] ${server} at ${rate}/s: ${fmtInt(r.acks)} ACKs of ${fmtInt(r.discovers)} DISCOVERs (failed ${failPct(r.failed)}), ${fmtInt(r.leasesPerSec)} leases/s, ` +
          `REQUEST-ACK avg ${fmtMs(r.raAvgMs)}, server CPU ${pct(r.serverCpu)}, stored ${r.persisted ?? 'n/a'}, others on the server core ${pct(r.othersOnServerCore)}`,
      );
    }
  }

  // --- report ---
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`DHCPv4 benchmark: 4-way DORA through a relay (perfdhcp -4 -l ${RELAY_IP} ... ${SERVER_IP}), -R ${CLIENTS} clients, rates ${RATES.join(', ')}/s, up to ${DURATION_S} s each`);
  out(`machine: ${logicalCpus} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${keaVersion ? `kea-dhcp4 ${keaVersion}, ` : ''}perfdhcp ${perfdhcpVersion}`);
  out(`outpost: ${build}; leases in SQLite (WAL, synchronous FULL) on ${fsType}, fsync'd before the ACK (group commit)`);
  if (SERVERS.includes('kea')) out(`kea: memfile persist true (CSV on ${fsType}, one write() per lease, no fsync: not durable across a power cut), single-threaded, UDP sockets`);
  out(`pinning: ${pinning.note}${NICE !== 0 ? `, servers and perfdhcp at nice ${NICE}` : ''}; a fresh server and empty lease store for every run; a run uses at most 90% of the ${fmtInt(POOL_SIZE)}-address pool`);
  out(`failed = exchanges without an ACK (1 - ACK/DISCOVER); a request unanswered after ${DROP_TIME_S} s is a drop; leases/s = ACKs / period`);
  out();
  out(runTable(runs));
  out();

  const byRate = RATES.map((rate) => {
    const o = runs.find((r) => r.server === 'outpost' && r.rate === rate);
    const k = runs.find((r) => r.server === 'kea' && r.rate === rate);
    const cell = (r: Run | undefined) => (r ? [failPct(r.failed), fmtInt(r.leasesPerSec), r.failed < CLEAN ? 'ok' : 'FAIL'] : ['-', '-', '-']);
    return [fmtInt(rate), ...cell(o), ...cell(k)];
  });
  out(table(['rate', 'outpost failed', 'outpost leases/s', '< 1%', 'kea failed', 'kea leases/s', '< 1%'], byRate));
  out();

  const o = best(runs, 'outpost');
  const k = best(runs, 'kea');
  const top = RATES[RATES.length - 1]!;
  const clean = (r: Run | undefined, name: string) => (r ? `${name} ${fmtInt(r.leasesPerSec)} leases/s (at ${fmtInt(r.rate)}/s, ${failPct(r.failed)} failed)` : `${name}: no rate with < 1% failed`);
  if (SERVERS.includes('outpost')) out(`highest clean rate: ${clean(o, 'outpost')}`);
  if (SERVERS.includes('kea')) out(`highest clean rate: ${clean(k, 'kea')}`);
  const ratio = o && k ? o.leasesPerSec / k.leasesPerSec : undefined;
  if (ratio !== undefined) out(`ratio    outpost/kea = ${ratio.toFixed(3)}`);
  if (k && k.rate === top) out(`NOTE: Kea was clean at the highest rate tried (${fmtInt(top)}/s): its limit is higher, so the ratio is an upper bound`);
  if (o && o.rate === top) out(`NOTE: Outpost was clean at the highest rate tried (${fmtInt(top)}/s): its limit is higher (a lower bound)`);
  const busy = runs.filter((r) => (r.othersOnServerCore ?? 0) > 0.1 || (r.othersOnLoadgenCore ?? 0) > 0.1 || (r.serverCore?.steal ?? 0) > 0.05);
  if (busy.length) {
    const worst = Math.max(...busy.map((r) => r.othersOnServerCore ?? 0));
    out(
      `WARNING: a busy machine: in ${busy.length} of ${runs.length} runs other processes used more than 10% of a benchmark core (up to ${pct(worst)} of the servers' CPU ${pinning.server}; ` +
        `column "others srv/gen core"): those figures are low and drops come early; run again on a quiet machine${BOOST ? '' : ', or with --boost 10'}`,
    );
  }
  for (const r of runs) {
    if ((r.serverCore?.steal ?? 0) > 0.05) out(`WARNING: the hypervisor took ${pct(r.serverCore?.steal)} of CPU ${pinning.server} (steal) during ${r.server} at ${fmtInt(r.rate)}/s`);
    if (r.sentPerSec < 0.97 * r.rate) out(`NOTE: perfdhcp sent only ${fmtInt(r.sentPerSec)} DISCOVERs/s of ${fmtInt(r.rate)} during ${r.server} at ${fmtInt(r.rate)}/s: the load generator was a limit there`);
    if ((r.perfdhcpSocketDrops ?? 0) > 0) out(`NOTE: the kernel dropped ${fmtInt(r.perfdhcpSocketDrops ?? 0)} answers to perfdhcp (its socket buffer was full) during ${r.server} at ${fmtInt(r.rate)}/s: counted as server drops by perfdhcp`);
    if ((r.loadgenCpu ?? 0) > 0.9) out(`NOTE: perfdhcp used ${pct(r.loadgenCpu)} of its core during ${r.server} at ${fmtInt(r.rate)}/s: it may be the limit, not the server`);
    if (r.persisted !== undefined && r.persisted < r.acks * 0.999) out(`WARNING: ${r.server} at ${fmtInt(r.rate)}/s stored ${fmtInt(r.persisted)} leases but ${fmtInt(r.acks)} ACKs were received`);
    if (r.nonUnique > 0) out(`WARNING: ${r.server} at ${fmtInt(r.rate)}/s: perfdhcp saw ${r.nonUnique} non-unique addresses`);
    if (r.serverExit !== 'status 0') out(`NOTE: ${r.server} after the ${fmtInt(r.rate)}/s run exited with ${r.serverExit}`);
  }
  out();
  const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  if (SERVERS.includes('outpost')) {
    out('goals:');
    const oRate = o?.leasesPerSec ?? 0;
    out(`  ${mark(oRate >= GOAL_LEASES)}  >= ${fmtInt(GOAL_LEASES)} leases/s, durable (fsync'd before the ACK)   outpost ${fmtInt(oRate)} leases/s`);
    if (SERVERS.includes('kea')) {
      const kRate = k?.leasesPerSec ?? 0;
      const r = kRate > 0 ? oRate / kRate : undefined;
      out(`  ${r === undefined ? 'n/a ' : mark(r >= GOAL_RATIO)}  >= ${GOAL_RATIO} x Kea's rate                          ${r === undefined ? 'Kea had no clean rate' : `${r.toFixed(3)} x (${fmtInt(oRate)} / ${fmtInt(kRate)})`}`);
    }
  }
  if (CPU_PROF_DIR) out('NOTE: Outpost ran under --cpu-prof; its figures include the profiler overhead and are not the benchmark');

  if (args.json) {
    writeFileSync(
      args.json,
      `${JSON.stringify({ rates: RATES, duration: DURATION_S, cpus: logicalCpus, cpuModel: cpus()[0]?.model, node: process.version, kea: keaVersion, perfdhcp: perfdhcpVersion, build, fsType, pinning: pinning.note, boost: BOOST, runs, best: { outpost: o?.leasesPerSec, kea: k?.leasesPerSec }, ratio }, null, 2)}\n`,
    );
  }

  if (CPU_PROF_DIR && SERVERS.includes('outpost')) {
    // The profile of the highest rate Outpost ran at: the server saturated, its hot path in the foreground.
    const dir = join(CPU_PROF_DIR, `outpost-${top}`);
    const profiles = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f)) : [];
    const latest = profiles.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    out();
    if (latest) out(`${latest} (outpost at ${fmtInt(top)}/s)\n${formatSummary(summariseProfile(latest, 15))}`);
    else out(`no .cpuprofile in ${dir} (the server did not exit cleanly?)`);
  }
  return 0;
}

// Bounded: whatever happens, the run ends. Per run: start-up (Outpost's probe included), sending, drop time,
// exit wait, stop; the defaults take about 150 s.
const budgetS = Math.round(30 + RATES.reduce((s, rate) => s + SERVERS.length * (periodFor(rate) + DROP_TIME_S + EXIT_WAIT_S + 12), 0));
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
    // After Ctrl-C the children are stopped under main's feet: that is not a failure to report.
    if (!cleaning) process.stderr.write(`bench: FAILED: ${err.message}\n`);
    await cleanup();
    process.exit(2);
  },
);
