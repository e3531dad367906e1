/**
 * HTTP provisioning benchmark: how many `/prov/<mac>.cfg` requests Outpost answers per second on one core,
 * against a static file server for the same bytes on the same core.
 *
 *   npm run bench:http                                   (= npx tsx scripts/bench/http-provisioning.ts)
 *   npx tsx scripts/bench/http-provisioning.ts [--duration 10] [--warmup 2] [--connections 50] [--devices 1000]
 *                                              [--no-express-static] [--cpu-prof DIR] [--json FILE]
 *
 * What it does:
 *  1. A temp data dir filled with N devices (T22P/T26P alternately, one line each) through Outpost.open in this
 *     process (src/, via tsx): lines checked as putLine checks them (schema, dial-plan collisions; once for the
 *     batch, since putLine compares each line with every stored one) and stored, devices through putDevice.
 *     This process's connection runs with `PRAGMA synchronous = OFF` while seeding only; the server opens the
 *     file itself with its own settings.
 *  2. The server, built (dist/, `npm run build`), as a separate process pinned to one core:
 *     `taskset -c C0 node bin/outpost --data D --firmware F serve --bind 127.0.0.1 --http-port 0 --no-tftp --no-sip --no-mdns`
 *     (port 0: the OS picks a free port, read back from the `ready http` line).
 *  3. Every device fetches its own file once (the first-fetch pass: checks that all N answer 200 and moves them
 *     to `provisioned`, as after a power cut); then autocannon: 50 connections, each request the next MAC with
 *     its Yealink User-Agent (`Yealink SIP-T22P 7.73.0.50 00:15:65:..`), warm-up then a measured run.
 *  4. The same bytes (MAC #0's file, hard-linked under every device's file name so the request stream is
 *     identical) served by scripts/bench/static-server.mjs on the same core: node:http + fs.readFile per request
 *     (the baseline for the ratio), and, for reference, express.static.
 *  The load generator (autocannon, programmatic, in this process) is pinned to another core: this process pins
 *  itself with `taskset -a -p` at start. Traffic goes only to 127.0.0.1. Children are killed and temp dirs
 *  removed on exit, error or Ctrl-C. Exit status: 0 when every request got 200 (goals missed or not), 1 when any
 *  request failed, 2 when the benchmark itself could not run.
 */
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/app/log.js';
import { Outpost } from '../../src/app/outpost.js';
import { lineSchema } from '../../src/config/schema.js';
import { lineConflicts } from '../../src/config/validate.js';
import { formatSummary, summariseProfile } from './cpuprofile-summary.js';
import { allowedCpus, exited, hasTaskset, log, percentile, waitExit } from './common.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATIC_SERVER = join(ROOT, 'scripts', 'bench', 'static-server.mjs');
const OUTPOST_BIN = join(ROOT, 'bin', 'outpost');

const GOAL_RPS = 3000;
const GOAL_COST = 2;
const GOAL_P99_MS = 20;

// --- options -------------------------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    devices: { type: 'string', default: '1000' },
    'no-express-static': { type: 'boolean', default: false },
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
function positive(name: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    process.stderr.write(`bench: --${name} must be a whole number 1..${max}, not "${text}"\n`);
    process.exit(2);
  }
  return n;
}
const DURATION_S = positive('duration', args.duration, 120);
const WARMUP_S = positive('warmup', args.warmup, 60);
const CONNECTIONS = positive('connections', args.connections, 1000);
const DEVICES = positive('devices', args.devices, 60000);
const CPU_PROF_DIR = args['cpu-prof'] ? resolve(args['cpu-prof']) : undefined;

// --- cleanup: children and temp dirs go away on every exit path -------------------------------------------

const children = new Set<ChildProcess>();
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
  for (const c of children) if (!exited(c)) c.kill('SIGKILL');
  try {
    removeTempDirs();
  } catch {
    // best effort at exit
  }
});
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(code));
  });
}

// --- CPU pinning ---------------------------------------------------------------------------------------------



interface Pinning {
  server: number | undefined;
  loadgen: number | undefined;
  note: string;
}
let pinning: Pinning = { server: undefined, loadgen: undefined, note: 'not pinned yet' };

function pin(): Pinning {
  if (!hasTaskset()) return { server: undefined, loadgen: undefined, note: 'taskset not found (util-linux): nothing pinned; the server may use more than one core' };
  const allowed = allowedCpus();
  const server = allowed[0];
  const loadgen = allowed[1];
  if (server === undefined) return { server: undefined, loadgen: undefined, note: 'cannot read the CPU affinity: nothing pinned' };
  if (loadgen === undefined) return { server, loadgen: undefined, note: `only CPU ${server} is available: server and load generator share it (figures are pessimistic)` };
  // Pin this process (every thread: -a) so autocannon never competes with the server for its core.
  const r = spawnSync('taskset', ['-a', '-c', '-p', String(loadgen), String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) return { server, loadgen: undefined, note: `server on CPU ${server}; could not pin the load generator` };
  return { server, loadgen, note: `server on CPU ${server} (taskset -c ${server}), load generator (this process, autocannon) on CPU ${loadgen} (taskset -a -p)` };
}

function pinned(server: number | undefined, command: string, commandArgs: string[]): [string, string[]] {
  return server === undefined ? [command, commandArgs] : ['taskset', ['-c', String(server), command, ...commandArgs]];
}

// --- child processes ---------------------------------------------------------------------------------------

interface Child {
  process: ChildProcess;
  stderrTail: () => string;
}

function start(command: string, commandArgs: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(command, commandArgs, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
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
    const onExit = (code: number | null, signal: string | null) => fail(`exited (${signal ?? `status ${code}`}) before it was ready`);
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

/** CPU seconds (user + system, all threads) a process has used, from /proc; undefined elsewhere. */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
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

// --- the devices -------------------------------------------------------------------------------------------

interface Target {
  mac: string; // 12 hex digits
  model: 'T22P' | 'T26P';
  ext: string;
  path: string;
  userAgent: string;
}

function devices(n: number): Target[] {
  return Array.from({ length: n }, (_, i) => {
    const hex = (0x100000 + i).toString(16).padStart(6, '0');
    const mac = `001565${hex}`;
    const model = i % 2 === 0 ? 'T22P' : 'T26P';
    const firmware = model === 'T22P' ? '7.73.0.50' : '6.73.0.50';
    const colons = mac.match(/../g)!.join(':');
    return { mac, model, ext: String(200000 + i), path: `/prov/${mac}.cfg`, userAgent: `Yealink SIP-${model} ${firmware} ${colons}` };
  });
}

/**
 * The store filled through the application: each line validated as putLine does (schema, then dial-plan
 * collisions: here once for the whole batch, because putLine checks one line against every stored line and so
 * costs O(lines) per call), then stored; each device through putDevice.
 */
async function seed(dataDir: string, firmwareDir: string, targets: readonly Target[]): Promise<number> {
  const started = performance.now();
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
      const { result } = await outpost.putDevice({ mac: t.mac, model: `SIP-${t.model}`, lines: [t.ext] });
      if (result !== 'added') throw new Error(`seeding: device ${t.mac} was ${result}, expected added (is the data dir empty?)`);
    }
  } finally {
    await outpost.close();
  }
  return (performance.now() - started) / 1000;
}

// --- load --------------------------------------------------------------------------------------------------

interface Figures {
  label: string;
  what: string;
  requests: number;
  rps: number;
  mean: number;
  p50: number;
  p975: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  serverCpu: number | undefined; // share of one core, 0..1
  cpuUsPerRequest: number | undefined;
  loadgenCpu: number; // share of one core
  /** Share of the server's core used by anything but the server during the measured run (other processes). */
  othersOnServerCore: number | undefined;
}

function rotation(targets: readonly Target[]): (req: autocannon.Request) => autocannon.Request {
  let next = 0;
  return (req) => {
    const t = targets[next++ % targets.length]!;
    return { ...req, path: t.path, headers: { ...req.headers, 'user-agent': t.userAgent } };
  };
}

async function cannon(url: string, targets: readonly Target[], seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    requests: [{ method: 'GET', setupRequest: rotation(targets) }],
  });
}

/** Warm-up (not counted), then the measured run, with the server's CPU use over the measured run. */
async function measure(label: string, what: string, url: string, pid: number | undefined, targets: readonly Target[]): Promise<{ figures: Figures; warmup: autocannon.Result }> {
  log(`${label}: warm-up ${WARMUP_S} s, then ${DURATION_S} s with ${CONNECTIONS} connections`);
  const warmup = await cannon(url, targets, WARMUP_S);
  const cpuBefore = cpuSeconds(pid);
  const coreBefore = cpuTimes(pinning.server);
  const ownBefore = process.cpuUsage();
  const t0 = performance.now();
  const r = await cannon(url, targets, DURATION_S);
  const wall = (performance.now() - t0) / 1000;
  const cpuAfter = cpuSeconds(pid);
  const coreAfter = cpuTimes(pinning.server);
  const own = process.cpuUsage(ownBefore);
  const serverCpuS = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
  const completed = r['2xx'] + r.non2xx;
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0;
  return {
    warmup,
    figures: {
      label,
      what,
      requests: completed,
      rps: completed / r.duration,
      mean: r.latency.mean,
      p50: r.latency.p50,
      p975: r.latency.p97_5,
      p99: r.latency.p99,
      max: r.latency.max,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      statusCodes,
      serverCpu: serverCpuS !== undefined ? serverCpuS / wall : undefined,
      cpuUsPerRequest: serverCpuS !== undefined && completed > 0 ? (serverCpuS * 1e6) / completed : undefined,
      loadgenCpu: (own.user + own.system) / 1e6 / wall,
      othersOnServerCore:
        coreBefore && coreAfter && serverCpuS !== undefined && coreAfter.total > coreBefore.total
          ? Math.max(0, (coreAfter.busy - coreBefore.busy) / (coreAfter.total - coreBefore.total) - serverCpuS / wall)
          : undefined,
    },
  };
}

/** A GET with node:http; the body, status and elapsed ms. */
function get(agent: Agent, port: number, path: string, userAgent: string): Promise<{ status: number; body: Buffer; ms: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent, headers: { 'user-agent': userAgent } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => res({ status: response.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      response.on('error', rej);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', rej);
    req.end();
  });
}


/** Every device fetches its own file once, CONNECTIONS at a time: all must be 200. */
async function firstFetch(port: number, targets: readonly Target[]): Promise<{ seconds: number; rps: number; p50: number; p99: number; failures: string[]; first: Buffer }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  const failures: string[] = [];
  let first: Buffer | undefined;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < targets.length) {
        const i = next++;
        const t = targets[i]!;
        try {
          const r = await get(agent, port, t.path, t.userAgent);
          latencies.push(r.ms);
          if (r.status !== 200) failures.push(`${t.path}: HTTP ${r.status} ${r.body.toString('utf8').trim().slice(0, 200)}`);
          else if (!r.body.toString('utf8').includes(t.ext)) failures.push(`${t.path}: 200 but the body does not name line ${t.ext}`);
          if (i === 0) first = r.body;
        } catch (err) {
          failures.push(`${t.path}: ${(err as Error).message}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { seconds, rps: targets.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failures, first: first ?? Buffer.alloc(0) };
}

// --- report ------------------------------------------------------------------------------------------------

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
/** autocannon records latencies in whole milliseconds; means and our own timings have fractions. */
const ms = (n: number) => (Number.isInteger(n) ? `${n} ms` : `${n.toFixed(2)} ms`);
const pct = (n: number | undefined) => (n === undefined ? 'n/a' : `${Math.round(n * 100)}%`);

function table(rows: readonly Figures[]): string {
  const header = ['', 'requests', 'req/s', 'mean', 'p50', 'p97.5', 'p99', 'max', 'errors', 'non-2xx', 'server CPU', 'CPU/req', 'loadgen CPU', 'others on server CPU'];
  const body = rows.map((f) => [
    `${f.label.padEnd(16)} ${f.what}`,
    fmtInt(f.requests),
    fmtInt(f.rps),
    ms(f.mean),
    ms(f.p50),
    ms(f.p975),
    ms(f.p99),
    ms(f.max),
    String(f.errors + f.timeouts),
    String(f.non2xx),
    pct(f.serverCpu),
    f.cpuUsPerRequest === undefined ? 'n/a' : `${Math.round(f.cpuUsPerRequest)} µs`,
    pct(f.loadgenCpu),
    pct(f.othersOnServerCore),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...body.map(line)].join('\n');
}

// --- main --------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const logicalCpus = availableParallelism();
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  pinning = pin();
  log(pinning.note);

  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first (the server runs the built code)');
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

  const tmp = mkdtempSync(join(tmpdir(), 'outpost-bench-'));
  tempDirs.push(tmp);
  const dataDir = join(tmp, 'data');
  const firmwareDir = join(tmp, 'firmware');
  const staticDir = join(tmp, 'static');
  for (const d of [dataDir, firmwareDir, staticDir]) mkdirSync(d, { recursive: true });

  const targets = devices(DEVICES);
  log(`seeding ${DEVICES} devices (T22P/T26P alternately, one line each) into ${dataDir}`);
  const seedSeconds = await seed(dataDir, firmwareDir, targets);
  log(`seeded in ${seedSeconds.toFixed(1)} s`);

  // --- Outpost ---
  const nodeFlags = CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [];
  if (CPU_PROF_DIR) mkdirSync(CPU_PROF_DIR, { recursive: true });
  const outpostArgs = [...nodeFlags, OUTPOST_BIN, '--data', dataDir, '--firmware', firmwareDir, 'serve', '--bind', '127.0.0.1', '--http-port', '0', '--no-tftp', '--no-sip', '--no-mdns'];
  const [cmd, cmdArgs] = pinned(pinning.server, process.execPath, outpostArgs);
  log(`starting: ${[cmd === process.execPath ? 'node' : cmd, ...cmdArgs.map((a) => (a === process.execPath ? 'node' : a))].join(' ')}`);
  const outpost = start(cmd, cmdArgs, { ...process.env, OUTPOST_LOG_LEVEL: 'info', OUTPOST_ADMIN_PASSWORD: 'bench-only' });
  const ready = await waitForLine(outpost, /^ready http .*\(bound to 127\.0\.0\.1:(\d+)\)/, 20_000, 'outpost serve');
  const outpostPort = Number(ready[1]);
  const outpostUrl = `http://127.0.0.1:${outpostPort}`;
  log(`outpost ready on ${outpostUrl}`);

  const first = await firstFetch(outpostPort, targets);
  log(`first fetch of all ${DEVICES} devices: ${first.seconds.toFixed(2)} s, ${fmtInt(first.rps)} req/s, p50 ${ms(first.p50)}, p99 ${ms(first.p99)}, ${first.failures.length} failed`);
  if (first.failures.length) {
    for (const f of first.failures.slice(0, 10)) log(`  FAILED ${f}`);
    throw new RequestFailure(`${first.failures.length} of ${DEVICES} devices did not get their file`);
  }
  const bytes = first.first;

  const rows: Figures[] = [];
  const warmups: Record<string, number> = {};
  const o = await measure('outpost', '/prov/<mac>.cfg', outpostUrl, outpost.process.pid, targets);
  rows.push(o.figures);
  warmups.outpost = o.warmup['2xx'] + o.warmup.non2xx;
  const outpostWarmupFailed = o.warmup.errors + o.warmup.timeouts + o.warmup.non2xx;
  await stopChild(outpost.process);
  if (outpost.process.exitCode !== 0) log(`WARNING: outpost exited with ${outpost.process.signalCode ?? `status ${outpost.process.exitCode}`}; stderr:\n${outpost.stderrTail()}`);

  // --- the same bytes, static ---
  writeFileSync(join(staticDir, `${targets[0]!.mac}.cfg`), bytes);
  for (const t of targets.slice(1)) {
    const name = join(staticDir, `${t.mac}.cfg`);
    try {
      linkSync(join(staticDir, `${targets[0]!.mac}.cfg`), name);
    } catch {
      copyFileSync(join(staticDir, `${targets[0]!.mac}.cfg`), name);
    }
  }
  const staticModes: Array<['node-http' | 'express-static', string, string]> = [['node-http', 'static', 'same bytes, node:http + fs.readFile']];
  if (!args['no-express-static']) staticModes.push(['express-static', 'express.static', 'same bytes, express 5 express.static']);
  let staticWarmupFailed = 0;
  for (const [mode, label, what] of staticModes) {
    const [scmd, sargs] = pinned(pinning.server, process.execPath, [STATIC_SERVER, staticDir, mode]);
    const server = start(scmd, sargs, process.env);
    const sready = await waitForLine(server, /^ready (\d+)$/, 10_000, `static server (${mode})`);
    const port = Number(sready[1]);
    const check = await get(new Agent(), port, targets[1]!.path, targets[1]!.userAgent);
    if (check.status !== 200 || !check.body.equals(bytes)) throw new Error(`static server (${mode}) does not serve the same bytes (HTTP ${check.status}, ${check.body.length} vs ${bytes.length} bytes)`);
    const s = await measure(label, what, `http://127.0.0.1:${port}`, server.process.pid, targets);
    rows.push(s.figures);
    warmups[label] = s.warmup['2xx'] + s.warmup.non2xx;
    staticWarmupFailed += s.warmup.errors + s.warmup.timeouts + s.warmup.non2xx;
    await stopChild(server.process);
  }

  // --- report ---
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const outpostRow = rows[0]!;
  const staticRow = rows[1]!;
  const ratio = outpostRow.rps / staticRow.rps;
  const cost = staticRow.rps / outpostRow.rps;
  out();
  out(`HTTP provisioning benchmark: ${DEVICES} devices, ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s per target`);
  out(`machine: ${logicalCpus} CPUs (${cpuModel}), node ${process.version}; server: ${build}`);
  out(`pinning: ${pinning.note}`);
  out(`seeding ${seedSeconds.toFixed(1)} s; response ${bytes.length} bytes (MAC #0, T22P, one line); warm-up requests: ${Object.entries(warmups).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')}`);
  out(`first fetch (every device once, ${CONNECTIONS} at a time, node:http client): ${fmtInt(first.rps)} req/s, p50 ${ms(first.p50)}, p99 ${ms(first.p99)}`);
  out();
  out(table(rows));
  out();
  out(`ratio    outpost/static = ${ratio.toFixed(2)}  (cost ${cost.toFixed(2)} times static)`);
  if (outpostRow.cpuUsPerRequest !== undefined && staticRow.cpuUsPerRequest !== undefined) {
    out(`         server CPU per request: outpost ${Math.round(outpostRow.cpuUsPerRequest)} µs, static ${Math.round(staticRow.cpuUsPerRequest)} µs (${(outpostRow.cpuUsPerRequest / staticRow.cpuUsPerRequest).toFixed(2)} times)`);
  }
  const expressRow = rows[2];
  if (expressRow) out(`         outpost/express.static = ${(outpostRow.rps / expressRow.rps).toFixed(2)}  (cost ${(expressRow.rps / outpostRow.rps).toFixed(2)} times express.static)`);
  for (const f of rows) {
    if (f.othersOnServerCore !== undefined && f.othersOnServerCore > 0.05) {
      out(`WARNING: other processes used ${pct(f.othersOnServerCore)} of CPU ${pinning.server} during the ${f.label} run: its figures are low; run again on a quiet machine`);
    }
    if (f.serverCpu !== undefined && f.serverCpu < 0.9) out(`NOTE: the ${f.label} server used ${pct(f.serverCpu)} of its core: the load generator (${pct(f.loadgenCpu)} of its core) may be the limit, not the server`);
  }
  out();
  const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  out('goals:');
  out(`  ${mark(outpostRow.rps >= GOAL_RPS)}  >= ${fmtInt(GOAL_RPS)} req/s on one core   outpost ${fmtInt(outpostRow.rps)} req/s`);
  out(`  ${mark(cost <= GOAL_COST)}  cost <= ${GOAL_COST}x static            ${cost.toFixed(2)}x`);
  out(`  ${mark(outpostRow.p99 < GOAL_P99_MS)}  p99 < ${GOAL_P99_MS} ms                   outpost p99 ${ms(outpostRow.p99)}`);
  if (CPU_PROF_DIR) out('NOTE: the server ran under --cpu-prof; its figures include the profiler overhead and are not the benchmark');

  const failed = rows.filter((f) => f.errors + f.timeouts + f.non2xx > 0);
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ devices: DEVICES, connections: CONNECTIONS, warmup: WARMUP_S, duration: DURATION_S, cpus: logicalCpus, cpuModel, node: process.version, build, pinning: pinning.note, seedSeconds, bytes: bytes.length, firstFetch: { rps: first.rps, p50: first.p50, p99: first.p99 }, rows, ratio, cost }, null, 2)}\n`);
  }

  if (CPU_PROF_DIR) {
    const profiles = readdirSync(CPU_PROF_DIR).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(CPU_PROF_DIR, f));
    const latest = profiles.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    out();
    if (latest) out(`${latest}\n${formatSummary(summariseProfile(latest, 15))}`);
    else out(`no .cpuprofile in ${CPU_PROF_DIR} (the server did not exit cleanly?)`);
  }

  if (failed.length || outpostWarmupFailed || staticWarmupFailed) {
    out();
    for (const f of failed) out(`FAILED REQUESTS: ${f.label}: ${f.errors} errors, ${f.timeouts} timeouts, ${f.non2xx} non-2xx; status codes ${JSON.stringify(f.statusCodes)}`);
    if (outpostWarmupFailed) out(`FAILED REQUESTS: outpost warm-up: ${outpostWarmupFailed}`);
    if (staticWarmupFailed) out(`FAILED REQUESTS: static warm-up: ${staticWarmupFailed}`);
    return 1;
  }
  return 0;
}

class RequestFailure extends Error {}

// Bounded: whatever happens, the run ends (the defaults take about 45 s).
const budgetS = 60 + 3 * (WARMUP_S + DURATION_S) + DEVICES / 20;
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
    process.exit(err instanceof RequestFailure ? 1 : 2);
  },
);
