/**
 * The registrar's own cost, without the network: CPU per digest registration spent inside Outpost's process
 * (parsing, the transaction layer, digest, the registrar, SQLite with its fsync, the answers' bytes, GC), for
 * working on the hot path. The sip-register benchmark measures the whole server against Kamailio; this one takes
 * the kernel and sipp away so a change of a few microseconds shows.
 *
 *   npm run bench:hotpath                                  (= npx tsx scripts/bench/sip-hotpath.ts)
 *   npx tsx scripts/bench/sip-hotpath.ts [--users 10000] [--rate 3000] [--seconds 40] [--runs 2] [--cpu-prof DIR]
 *            [--heap-prof DIR]    (what is allocated, garbage included, sampled: a .heapprofile for DevTools)
 *   HOTPATH_LIVE=1 with --heap-prof: only what is still alive at the end. HOTPATH_HEAP=snapshot-mid: a heap snapshot
 *   (os.tmpdir()/hotpath.heapsnapshot) halfway through the first run, when Timer J's answers, the nonces and the
 *   requests in flight are what a storm holds; snapshot-now: one right after the runs; snapshot: one 35 s later.
 *
 * serve() runs in this process (SIP on 127.0.0.1, port 0, a site file with --users lines, MD5 only as in the
 * sip-register benchmark, bindings in SQLite in a temp folder, fsync'd). The SIP transport's receive path is fed
 * datagrams directly and its sends are captured instead of sent. Every user is registered once first (warm-up),
 * then each run starts --rate registrations per second in 1 ms ticks, users in turn, each a new Call-ID: a first
 * REGISTER (answered 401), and on the next tick the REGISTER with the digest answer (answered 200 after the group
 * commit), as sipp does. Figure: process CPU (all threads: SQLite's and V8's too) per registration answered in the
 * second half of each run (steady: Timer J's 32 s of kept answers are full by then), less the driver's own time
 * building messages and digests (timed apart); the median of the runs is the result.
 * Exit status: 0 when measured, 2 when it could not run.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../../src/app/log.js';
import { serve, type RunningOutpost } from '../../src/app/serve.js';
import type { Remote } from '../../src/sip/transport.js';
import { log } from './common.js';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '40' },
    runs: { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
    'heap-prof': { type: 'string' },
  },
  strict: true,
});
const USERS = Number(args.users);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const RUNS = Number(args.runs);
for (const [name, v, min] of [['users', USERS, 10], ['rate', RATE, 10], ['seconds', SECONDS, 1], ['runs', RUNS, 1]] as const) {
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`bench: --${name} must be a whole number >= ${min}\n`);
    process.exit(2);
  }
}

const REALM = 'outpost';
const HOST = '127.0.0.1';
/** A full GC before each run, so what the driver built beforehand is old and costs the run's scavenges nothing. */
v8.setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** CPU time (ms) per thread of this process, from /proc (Linux): the main thread, V8's GC helpers, libuv's pool (SQLite). */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim();
      // Node 20 names no thread but the main one: the others are told apart by their id.
      const name = tid === String(process.pid) ? 'main' : comm === 'node' ? `thread ${tid}` : comm;
      out.set(name, (out.get(name) ?? 0) + ms);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Main-thread GC pauses by kind (ms and count), as V8 reports them to perf_hooks. */
const gcPauses = { minor: 0, minorCount: 0, major: 0, majorCount: 0, other: 0, longest: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = ((e as unknown as { detail?: { kind?: number } }).detail)?.kind;
    gcPauses.longest = Math.max(gcPauses.longest, e.duration);
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      gcPauses.minor += e.duration;
      gcPauses.minorCount++;
    } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
      gcPauses.major += e.duration;
      gcPauses.majorCount++;
    } else gcPauses.other += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

/** How late the event loop runs its timers: the stalls a phone would see as a late answer. */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

interface User {
  name: string;
  password: string;
  ha1: string;
}

const dir = mkdtempSync(join(tmpdir(), 'outpost-hotpath-'));
let running: RunningOutpost | undefined;
const cleanup = async () => {
  await running?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  const users: User[] = Array.from({ length: USERS }, (_, i) => {
    const name = `u${10000 + i}`;
    const password = createHash('sha1').update(name).digest('hex').slice(0, 16);
    return { name, password, ha1: md5(`${name}:${REALM}:${password}`) };
  });
  const dataDir = join(dir, 'data');
  const firmwareDir = join(dir, 'firmware');
  for (const d of [dataDir, firmwareDir]) mkdirSync(d);
  const configFile = join(dir, 'site.json');
  writeFileSync(configFile, JSON.stringify({
    sip: { minExpires: 60, maxExpires: 7200, defaultExpires: 3600, maxContacts: 5, algorithms: ['MD5'] },
    lines: users.map((u, i) => ({ ext: String(10000 + i), user: u.name, password: u.password, name: `User ${i}` })),
  }));
  log(`starting serve() in this process with ${USERS} lines`);
  running = await serve({
    dataDir, firmwareDir, configFile, log: silentLogger, bind: HOST, advertise: HOST,
    httpPort: 0, tftpPort: 0, sipPort: 0, dhcpPort: 0, tftp: false, sip: true, dhcp: false, mdns: false, out: () => undefined,
  });
  const sip = running.sip!;
  const port = sip.transport.port;
  // Answers are captured, not sent. In the warm-up, the first line and the nonce of each are kept; while
  // measuring, a 401 is answered on the next tick (as a phone would) and 200s are counted.
  const answers = new Map<string, { status: number; nonce?: string }>();
  let counting = false;
  let ok200 = 0;
  let others = 0;
  const challenges: Array<{ bytes: Buffer }> = [];
  let driverMs = 0;
  const capture = (bytes: Buffer) => {
    if (counting) {
      if (bytes[8] === 0x34 && bytes[9] === 0x30 && bytes[10] === 0x31) challenges.push({ bytes });
      else if (bytes[8] === 0x32 && bytes[9] === 0x30 && bytes[10] === 0x30) ok200++;
      else others++;
      return;
    }
    const text = bytes.toString('latin1');
    const status = Number(text.slice(8, 11));
    const callId = /\r\nCall-ID: ([^\r]+)/.exec(text)?.[1] ?? '';
    const key = `${callId}|${/\r\nCSeq: (\d+)/.exec(text)?.[1] ?? ''}`;
    answers.set(key, { status, nonce: /nonce="([^"]+)"/.exec(text)?.[1] });
  };
  const transport = sip.transport as unknown as { sendBytes(b: Buffer, r: Remote): void; datagram(b: Buffer, r: Remote): void };
  transport.sendBytes = (bytes) => capture(bytes);
  let deliverMs = 0;
  const deliver = (buf: Buffer, remote: Remote) => {
    const t = performance.now();
    transport.datagram(buf, remote);
    deliverMs += performance.now() - t;
  };

  let serial = 0;
  const uri = `sip:${HOST}:${port}`;
  const register = (u: User, callId: string, cseq: number, authorization?: string) => {
    const lines = [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${serial++}-${callId};rport`,
      'Max-Forwards: 70',
      `From: <sip:${u.name}@${HOST}>;tag=${serial}`,
      `To: <sip:${u.name}@${HOST}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${u.name}@127.0.0.1:5070>`,
      ...(authorization ? [authorization] : []),
      'Expires: 3600',
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER',
      'User-Agent: SIPp register benchmark',
      'Content-Length: 0',
      '', '',
    ];
    return Buffer.from(lines.join('\r\n'), 'latin1');
  };
  const authorization = (u: User, nonce: string) => {
    const cnonce = `c${serial}`;
    const ha2 = md5(`REGISTER:${uri}`);
    const response = md5(`${u.ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
    return `Authorization: Digest username="${u.name}",realm="${REALM}",cnonce="${cnonce}",nc=00000001,qop=auth,uri="${uri}",nonce="${nonce}",response="${response}",algorithm=MD5`;
  };
  const remote: Remote = { transport: 'udp', address: HOST, port: 5070 };
  const until = async (ok: () => boolean, ms: number, what: string) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  /** Nonces per user for the next authorized REGISTER (each nonce used once, nc=1). */
  const challenge = async (from: number, count: number, round: string) => {
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const u = users[(from + i) % USERS]!;
      const callId = `n-${round}-${i}`;
      deliver(register(u, callId, 1), remote);
      keys.push(`${callId}|1`);
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
    await until(() => keys.every((k) => answers.has(k)), 30_000, 'the challenges');
    const nonces = keys.map((k) => answers.get(k)!.nonce!);
    for (const k of keys) answers.delete(k);
    return nonces;
  };

  // Warm-up: every user registered once (the bindings exist: every registration measured is a refresh).
  log('warm-up: every user registers once');
  {
    const nonces = await challenge(0, USERS, 'warm');
    for (let i = 0; i < USERS; i++) {
      deliver(register(users[i]!, `w-${i}`, 2, authorization(users[i]!, nonces[i]!)), remote);
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2));
    }
    await until(() => [...Array(USERS).keys()].every((i) => answers.get(`w-${i}|2`)?.status === 200), 60_000, 'the warm-up 200s');
    answers.clear();
  }

  const perRun = RATE * SECONDS;
  const results: Array<{ cpu: number; wall: number }> = [];
  const profiler = args['cpu-prof'] ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const heapProfiler = args['heap-prof'] ? new Session() : undefined;
  if (heapProfiler) {
    heapProfiler.connect();
    await heapProfiler.post('HeapProfiler.enable');
    // Every allocation is counted, garbage included (what the scavenger has to deal with); HOTPATH_LIVE=1: only what
    // is still alive at the end. (Leaving out only what scavenges collected does not show what is promoted: V8 counts
    // the young garbage a full GC collects as collected by the full GC.)
    const live = !!process.env.HOTPATH_LIVE;
    await heapProfiler.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: !live, includeObjectsCollectedByMinorGC: !live });
  }
  for (let run = 0; run < RUNS; run++) {
    fullGc();
    await new Promise((r) => setTimeout(r, 200));
    counting = true;
    ok200 = 0;
    others = 0;
    challenges.length = 0;
    driverMs = 0;
    const t0 = performance.now();
    let sent = 0;
    // Measured over the second half of the run: by then the transactions waiting out Timer J (32 s) and the
    // garbage are what they are in a steady storm, not what a fresh start has.
    let cpu0: NodeJS.CpuUsage | undefined;
    let threads0 = new Map<string, number>();
    let gc0 = { ...gcPauses };
    const commits = running.outpost.store.db.groupStats;
    let commits0 = { ...commits };
    let driver0 = 0;
    let deliver0 = 0;
    let answered0 = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        // The answers to the challenges of the last tick, then this tick's new registrations.
        const pending = challenges.splice(0);
        for (const { bytes } of pending) {
          const d0 = performance.now();
          const text = bytes.toString('latin1');
          const callId = /\r\nCall-ID: ([^\r]+)/.exec(text)![1]!;
          const u = users[Number(callId.slice(callId.lastIndexOf('-') + 1)) % USERS]!;
          const buf = register(u, callId, 2, authorization(u, /nonce="([^"]+)"/.exec(text)![1]!));
          driverMs += performance.now() - d0;
          deliver(buf, remote);
        }
        const due = Math.min(perRun, Math.round(((performance.now() - t0) / 1000) * RATE));
        for (; sent < due; sent++) {
          const d0 = performance.now();
          const buf = register(users[(run * perRun + sent) % USERS]!, `r${run}-${sent}`, 1);
          driverMs += performance.now() - d0;
          deliver(buf, remote);
        }
        if (!cpu0 && sent >= perRun / 2) {
          if (process.env.HOTPATH_HEAP === 'snapshot-mid') log(`snapshot in the run ${v8.writeHeapSnapshot(join(tmpdir(), 'hotpath.heapsnapshot'))}`);
          cpu0 = process.cpuUsage();
          threads0 = threadCpu();
          gc0 = { ...gcPauses };
          gcPauses.longest = 0;
          loopDelay.reset();
          commits0 = { ...commits };
          commits.maxMs = 0;
          driver0 = driverMs;
          deliver0 = deliverMs;
          answered0 = ok200;
        }
        if (sent < perRun || ok200 + others < perRun) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    await until(() => ok200 + others >= perRun, 60_000, 'every answer').catch((err: Error) => {
      throw new Error(`${err.message}: ${ok200} 200s, ${others} others, ${challenges.length} challenges unanswered`);
    });
    const cpu = process.cpuUsage(cpu0);
    const threads = threadCpu();
    const measured = ok200 - answered0;
    const driver = ((driverMs - driver0) * 1000) / measured;
    const wall = performance.now() - t0;
    counting = false;
    if (ok200 !== perRun) throw new Error(`run ${run + 1}: ${ok200} of ${perRun} registrations answered 200 (${others} other final answers)`);
    const total = (cpu.user + cpu.system) / measured - driver;
    results.push({ cpu: total, wall });
    const split = [...threads]
      .map(([name, ms]) => [name, ((ms - (threads0.get(name) ?? 0)) * 1000) / measured] as const)
      .filter(([, us]) => us >= 0.5)
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => `${name} ${us.toFixed(1)}`)
      .join(', ');
    log(`run ${run + 1}: ${perRun} registrations in ${(wall / 1000).toFixed(1)} s; second half: ${total.toFixed(1)} µs CPU each without the driver's ${driver.toFixed(1)} µs (user ${(cpu.user / measured).toFixed(1)}, system ${(cpu.system / measured).toFixed(1)}), heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB, ${sip.layer.size().server} transactions`);
    log(`run ${run + 1}: inside the receive call (parse, transaction, registrar up to the commit, 401 sent): ${(((deliverMs - deliver0) * 1000) / measured).toFixed(1)} µs per registration`);
    const gc = { ...gcPauses };
    log(
      `run ${run + 1}: GC pauses per registration: ${(((gc.minor - gc0.minor) * 1000) / measured).toFixed(1)} µs in ${gc.minorCount - gc0.minorCount} scavenges, ` +
        `${(((gc.major - gc0.major) * 1000) / measured).toFixed(1)} µs in ${gc.majorCount - gc0.majorCount} mark-compacts, ${(((gc.other - gc0.other) * 1000) / measured).toFixed(1)} µs other; ` +
        `longest pause ${gc.longest.toFixed(1)} ms; event loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`,
    );
    const written = commits.commits - commits0.commits;
    if (written) {
      log(
        `run ${run + 1}: group commits: ${written} (${((written * 1000) / (wall / 2)).toFixed(0)}/s), ${(measured / written).toFixed(1)} registrations each, ` +
          `${((commits.ms - commits0.ms) / written).toFixed(2)} ms each on average, ${commits.maxMs.toFixed(1)} ms at most`,
      );
    }
    if (split) log(`run ${run + 1}: µs per registration by thread (driver included in main): ${split}`);
  }
  if (process.env.HOTPATH_HEAP === 'snapshot-now') {
    // What the run holds at its end (kept answers, bindings, nonces, and whatever else outlives a request).
    log(`snapshot ${v8.writeHeapSnapshot(join(tmpdir(), 'hotpath.heapsnapshot'))}`);
  } else if (process.env.HOTPATH_HEAP) {
    fullGc();
    log(`after the runs: heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB after GC, ${sip.layer.size().server} transactions`);
    await new Promise((r) => setTimeout(r, 35_000));
    fullGc();
    log(`35 s later: heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB after GC, ${sip.layer.size().server} transactions`);
    if (process.env.HOTPATH_HEAP === 'snapshot') log(`snapshot ${v8.writeHeapSnapshot(join(tmpdir(), 'hotpath.heapsnapshot'))}`);
  }
  if (heapProfiler) {
    const { profile } = await heapProfiler.post('HeapProfiler.stopSampling');
    mkdirSync(args['heap-prof']!, { recursive: true });
    const file = join(args['heap-prof']!, `hotpath-${Date.now()}.heapprofile`);
    writeFileSync(file, JSON.stringify(profile));
    log(`heap profile (allocations, sampled): ${file}`);
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    mkdirSync(args['cpu-prof']!, { recursive: true });
    const file = join(args['cpu-prof']!, `hotpath-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    log(`profile: ${file}`);
  }
  const sorted = [...results].sort((a, b) => a.cpu - b.cpu);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  process.stdout.write(
    `sip hot path: ${USERS} users, ${RATE} registrations/s for ${SECONDS} s, ${RUNS} run(s), in-process (no sockets)\n` +
      `CPU per registration (401 + 200, all threads): median ${median.cpu.toFixed(1)} µs, runs ${results.map((r) => r.cpu.toFixed(1)).join(' / ')} µs\n`,
  );
  await cleanup();
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  await cleanup();
  process.exit(2);
}
