/**
 * mDNS advertisement (issue 8).
 *
 * Names: the instance and host names Outpost announces, and the interface it announces on (pure functions).
 *
 * Network namespaces (root only; skipped, saying why, when `ip netns add` is not permitted): the real
 * `outpost serve` (bin/outpost, built) in a server namespace, mDNS clients of our own in a client namespace
 * (test/mdns/browser.ts: bonjour-service's browser, a raw client with its own DNS codec, a one-shot querier),
 * joined by one veth pair made with both ends inside the namespaces (test/dhcp/netns.ts). Nothing is added
 * to the root namespace and no real interface is touched; everything is removed in after() and at exit.
 */
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hostLabel, instanceName, mdnsInterface } from '../../src/app/mdns.js';
import { BIN, NetLab, ROOT, ensureBuilt, ip, netnsUnavailable, outpostCli, sleep, type RunResult } from '../dhcp/netns.js';

const BROWSER = join(ROOT, 'test', 'mdns', 'browser.ts');
const SERVER = '10.93.0.2';
const CLIENT = '10.93.0.1';
const HTTP_PORT = 18080;
const ADMIN_PW = 'mdns-test-Pw1';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const HOST = `${hostLabel(hostname())}.local`;

const bytes = (s: string) => Buffer.byteLength(s);

describe('mDNS names', () => {
  it('names the instance "Outpost <site name>"', () => {
    assert.equal(instanceName('Branch Brno'), 'Outpost Branch Brno');
    assert.equal(instanceName('  Pobočka   Olomouc '), 'Outpost Pobočka Olomouc');
    assert.equal(instanceName(''), 'Outpost');
    assert.equal(instanceName(' \t\n'), 'Outpost');
  });

  it('turns control characters into spaces and keeps the name one label (no dots, no backslash)', () => {
    assert.equal(instanceName('Brno\nnorth\r\u0000wing\u200b'), 'Outpost Brno north wing');
    assert.equal(instanceName('St. Pölten'), 'Outpost St Pölten');
    assert.equal(instanceName('Branch 2.1'), 'Outpost Branch 2-1');
    assert.equal(instanceName('Branch.'), 'Outpost Branch');
    assert.equal(instanceName('A\\B'), 'Outpost A-B');
    for (const n of ['St. Pölten', 'Branch 2.1', 'x\u0007y', 'a\\b']) assert.doesNotMatch(instanceName(n), /[.\\\p{Cc}]/u);
  });

  it('is NFC', () => {
    assert.equal(instanceName('Pobo\u0063\u030cka'), 'Outpost Pobočka');
  });

  it('fits in 63 bytes of UTF-8, cut at a character (and grapheme) boundary, with room for a conflict suffix', () => {
    const ascii = instanceName('x'.repeat(100));
    assert.equal(bytes(ascii), 63);
    const czech = instanceName('ž'.repeat(60));
    assert.ok(bytes(czech) <= 63 && bytes(czech) >= 62, czech);
    assert.equal(Buffer.from(czech).toString('utf8'), czech);
    assert.doesNotMatch(czech, /\uFFFD/);
    const flags = instanceName('🇨🇿'.repeat(20));
    assert.ok(bytes(flags) <= 63);
    assert.equal((flags.length - 'Outpost '.length) % '🇨🇿'.length, 0, 'a flag was cut in half');
    const spaced = instanceName(`${'a'.repeat(54)} bbbbbbbbbb`);
    assert.ok(bytes(spaced) <= 63 && !spaced.endsWith(' '), JSON.stringify(spaced));
    const second = instanceName('y'.repeat(100), ' (2)');
    assert.ok(second.endsWith('y (2)'), second);
    assert.equal(bytes(second), 63);
    assert.equal(instanceName('Branch Brno', ' (2)'), 'Outpost Branch Brno (2)');
  });

  it('makes a host label of letters, digits and "-" from the host name', () => {
    assert.equal(hostLabel('vm'), 'vm');
    assert.equal(hostLabel('outpost-brno.corp.example'), 'outpost-brno');
    assert.equal(hostLabel('My_Box 1'), 'My-Box-1');
    assert.equal(hostLabel('Žďár'), 'Zdar');
    assert.equal(hostLabel('--x--'), 'x');
    assert.equal(hostLabel(''), 'outpost');
    assert.equal(hostLabel('___'), 'outpost');
    assert.equal(hostLabel('h'.repeat(80)).length, 63);
    assert.equal(hostLabel('h'.repeat(80), '-2').length, 63);
    assert.equal(hostLabel('vm', '-2'), 'vm-2');
  });

  it('announces on the bind address, else the advertised one, and only on an address of this machine', () => {
    const ifs = {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' as const, mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
      eth0: [{ address: '10.20.0.2', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '02:00:00:00:00:01', internal: false, cidr: '10.20.0.2/24' }],
      eth1: [{ address: '192.168.7.5', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '02:00:00:00:00:02', internal: false, cidr: '192.168.7.5/24' }],
    };
    assert.deepEqual(mdnsInterface('0.0.0.0', '10.20.0.2', ifs), { address: '10.20.0.2', ifname: 'eth0', netmask: '255.255.255.0' });
    assert.deepEqual(mdnsInterface('192.168.7.5', '10.20.0.2', ifs), { address: '192.168.7.5', ifname: 'eth1', netmask: '255.255.255.0' });
    assert.deepEqual(mdnsInterface('::', '10.20.0.2', ifs), { address: '10.20.0.2', ifname: 'eth0', netmask: '255.255.255.0' });
    const reason = (r: ReturnType<typeof mdnsInterface>) => ('reason' in r ? r.reason : `no reason: ${JSON.stringify(r)}`);
    assert.match(reason(mdnsInterface('127.0.0.1', '10.20.0.2', ifs)), /loopback/);
    assert.match(reason(mdnsInterface('0.0.0.0', '127.0.0.1', ifs)), /no LAN address/);
    assert.match(reason(mdnsInterface('0.0.0.0', '203.0.113.9', ifs)), /203\.0\.113\.9 is not an address of this machine \(it has 10\.20\.0\.2, 192\.168\.7\.5\)/);
    assert.match(reason(mdnsInterface('0.0.0.0', 'outpost.example', ifs)), /not an IPv4 address/);
  });
});

// --- namespaces ------------------------------------------------------------------------------------------------

/** A child process in a namespace whose stdout lines are kept (JSON lines for the clients). */
class Proc {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly listeners = new Set<() => void>();

  constructor(readonly child: ChildProcess, readonly what: string, readonly kind: 'serve' | 'client' = 'client') {
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const l of this.listeners) l();
    });
    child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    void this.exited.then(() => {
      for (const l of this.listeners) l();
    });
  }

  /**
   * Waits (bounded) until serve has logged `service.started`: only then are its SIGTERM/SIGINT handlers in
   * place (the ready lines come earlier; a signal before that ends it the default way). False if it did not.
   */
  async started(timeoutMs = 20_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stderr.includes('"event":"service.started"')) {
      if (!this.running || Date.now() > deadline) return false;
      await sleep(50);
    }
    await sleep(100);
    return true;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first line from index `from` on for which `pick` gives a value, waiting up to `timeoutMs`. */
  wait<T>(pick: (line: string) => T | undefined, timeoutMs: number, from = 0): Promise<T | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        for (const line of this.lines.slice(from)) {
          const v = pick(line);
          if (v !== undefined) return done(v);
        }
        if (!this.running) done(undefined);
      };
      const done = (v: T | undefined) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  waitLine(re: RegExp, timeoutMs: number, from = 0): Promise<string | undefined> {
    return this.wait((l) => (re.test(l) ? l : undefined), timeoutMs, from);
  }

  /** Parsed JSON lines from `from` on. */
  json(from = 0): Msg[] {
    return this.lines.slice(from).flatMap((l) => {
      try {
        return [JSON.parse(l) as Msg];
      } catch {
        return [];
      }
    });
  }

  waitJson(pred: (m: Msg) => boolean, timeoutMs: number, from = 0): Promise<Msg | undefined> {
    return this.wait((l) => {
      try {
        const m = JSON.parse(l) as Msg;
        return pred(m) ? m : undefined;
      } catch {
        return undefined;
      }
    }, timeoutMs, from);
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Sends `signal` (or, for clients, closes stdin) and waits, bounded; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals | 'stdin' = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; forced: boolean }> {
    const started = Date.now();
    if (this.running) {
      if (signal === 'stdin') this.child.stdin?.end();
      else this.child.kill(signal);
    }
    const result = await Promise.race([this.exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      return { ...(await this.exited), ms: Date.now() - started, forced: true };
    }
    return { ...result, ms: Date.now() - started, forced: false };
  }

  describe(): string {
    return `${this.what}\nstdout:\n${this.lines.join('\n').slice(-4000)}\nstderr:\n${this.stderr.slice(-4000)}`;
  }
}

interface Rr {
  name: string;
  type: string;
  ttl: number;
  data: unknown;
}

interface Msg {
  ready?: boolean;
  error?: string;
  event?: string;
  type?: string;
  name?: string;
  host?: string;
  port?: number;
  addresses?: string[];
  txt?: Record<string, string>;
  from?: string;
  id?: number;
  questions?: Array<{ name: string; type: string }>;
  records?: Rr[];
}

/** Outpost's environment: none of the runner's OUTPOST_* variables nor its tsx loader; a known admin password. */
function serveEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return { ...env, OUTPOST_ADMIN_PASSWORD: ADMIN_PW, OUTPOST_LOG_LEVEL: 'info' };
}

function expectCli(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

const sameName = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();

describe('mDNS in network namespaces (real outpost serve, clients in another namespace)', function () {
  this.timeout(120_000);
  let lab: NetLab;
  let serverNs: string;
  let clientNs: string;
  let data: string;
  let otherData: string;
  const procs = new Set<Proc>();
  let serve: Proc | undefined;
  let bonjour: Proc;
  let raw: Proc;

  function startServe(ns: string, dir: string, extra: string[] = []): Proc {
    const args = [BIN, '--data', dir, '--firmware', join(dir, 'firmware'), 'serve', '--no-tftp', '--no-sip', '--no-dhcp', '--bind', '0.0.0.0', '--http-port', String(HTTP_PORT), ...extra];
    const p = new Proc(lab.spawn(ns, process.execPath, args, { env: serveEnv() }), `outpost serve in ${ns} ${extra.join(' ')}`, 'serve');
    procs.add(p);
    return p;
  }

  async function startClient(mode: 'bonjour' | 'raw'): Promise<Proc> {
    const p = new Proc(lab.spawn(clientNs, process.execPath, ['--import', 'tsx', BROWSER, mode, CLIENT], { stdio: ['pipe', 'pipe', 'pipe'] }), `${mode} client in ${clientNs}`);
    procs.add(p);
    const ready = await p.waitJson((m) => m.ready === true || m.error !== undefined, 30_000);
    assert.ok(ready?.ready, `the ${mode} client did not start: ${p.describe()}`);
    return p;
  }

  /** GET /api/v1/status from inside `ns`. */
  async function status(ns: string): Promise<{ services: Record<string, { state: string; address?: string; reason?: string }> }> {
    const script = `fetch('http://127.0.0.1:${HTTP_PORT}/api/v1/status',{headers:{authorization:'Basic '+Buffer.from('admin:${ADMIN_PW}').toString('base64')},signal:AbortSignal.timeout(5000)}).then(async(r)=>{if(r.status!==200)throw new Error('HTTP '+r.status);console.log(await r.text())}).catch((e)=>{console.error(String(e));process.exit(1)})`;
    const r = await lab.exec(ns, process.execPath, ['-e', script], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, `status in ${ns}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { services: Record<string, { state: string; address?: string; reason?: string }> };
  }

  async function startAndWaitHttp(ns: string, dir: string, extra: string[] = []): Promise<Proc> {
    const p = startServe(ns, dir, extra);
    const ready = await p.waitLine(/^ready http /, 40_000);
    assert.ok(ready, `serve did not print ready http: ${p.describe()}`);
    return p;
  }

  /** A fresh bonjour-service browser for `ms`: the Outpost services it saw come up. */
  async function freshLook(ms: number): Promise<Msg[]> {
    const p = await startClient('bonjour');
    await sleep(ms / 2);
    p.send('query');
    await sleep(ms / 2);
    await p.stop('stdin', 5000);
    procs.delete(p);
    return p.json().filter((m) => m.event === 'up' && m.name?.startsWith('Outpost'));
  }

  before(async function () {
    this.timeout(400_000);
    const reason = netnsUnavailable();
    if (reason) {
      console.log(`      SKIPPED: mDNS namespace suite: ${reason.replace(/; the DHCP integration tests need root.*$/, '')}; these tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)`);
      this.skip();
    }
    ensureBuilt();
    if (!existsSync(join(ROOT, 'dist', 'app', 'mdns.js'))) throw new Error('dist/ is older than src/app/mdns.ts: run npm run build first');
    lab = new NetLab();
    serverNs = await lab.namespace('server');
    clientNs = await lab.namespace('client');
    const pair = await lab.veth(serverNs, clientNs, `${SERVER}/24`);
    await ip(['-n', clientNs, 'addr', 'add', `${CLIENT}/24`, 'dev', pair.clientIf]);
    data = join(lab.dir, 'data');
    otherData = join(lab.dir, 'other');
    mkdirSync(data);
    mkdirSync(otherData);
    expectCli(await outpostCli(data, ['site', 'set', 'site.name', 'Branch Brno']), 'site set');
    expectCli(await outpostCli(otherData, ['site', 'set', 'site.name', 'Branch Brno']), 'site set (other)');
    bonjour = await startClient('bonjour');
    raw = await startClient('raw');
  });

  after(async () => {
    for (const p of procs) await p.stop(p.kind === 'serve' ? 'SIGTERM' : 'stdin', 5000).catch(() => undefined);
    await lab?.cleanup();
  });

  it('announces _outpost._tcp and _http._tcp as "Outpost Branch Brno" with the server address, the HTTP port and path=/', async () => {
    serve = startServe(serverNs, data);
    const line = await serve.waitLine(/^(ready|off) mdns/, 40_000);
    assert.ok(line, `no mdns line: ${serve.describe()}`);
    assert.equal(line, `ready mdns http://${HOST}:${HTTP_PORT}/ "Outpost Branch Brno" (_outpost._tcp, _http._tcp on ${SERVER})`);

    for (const type of ['outpost', 'http']) {
      const up = await bonjour.waitJson((m) => m.event === 'up' && m.type === type && m.name === 'Outpost Branch Brno', 15_000);
      assert.ok(up, `the bonjour browser did not see _${type}._tcp: ${bonjour.describe()}`);
      assert.equal(up.port, HTTP_PORT);
      assert.deepEqual(up.addresses, [SERVER], 'only the LAN address, no other interface');
      assert.equal(up.host, HOST);
      assert.equal(up.from, SERVER);
      assert.deepEqual(up.txt, type === 'outpost' ? { path: '/', version: VERSION } : { path: '/' });
    }

    // A fresh query now (not the announcement): answered with SRV, TXT and A.
    const from = raw.lines.length;
    raw.send('query _outpost._tcp.local PTR');
    const answer = await raw.waitJson((m) => m.event === 'response' && m.from === SERVER && !!m.records?.some((r) => r.type === 'PTR' && r.name === '_outpost._tcp.local' && r.ttl > 0), 10_000, from);
    assert.ok(answer, `no answer to a PTR query: ${raw.describe()}`);
    const records = answer.records!;
    const fqdn = 'Outpost Branch Brno._outpost._tcp.local';
    assert.ok(records.some((r) => r.type === 'PTR' && r.data === fqdn), JSON.stringify(records));
    const srv = records.find((r) => r.type === 'SRV' && r.name === fqdn);
    assert.deepEqual(srv?.data, { priority: 0, weight: 0, port: HTTP_PORT, target: HOST });
    const txt = records.find((r) => r.type === 'TXT' && r.name === fqdn);
    assert.ok((txt?.data as string[]).includes('path=/'), JSON.stringify(txt));
    const a = records.filter((r) => (r.type === 'A' || r.type === 'AAAA') && sameName(r.name, HOST));
    assert.deepEqual(a.map((r) => `${r.type} ${String(r.data)}`), [`A ${SERVER}`]);
  });

  it('answers a one-shot query from another port by unicast (legacy querier, RFC 6762 6.7)', async () => {
    const r = await lab.exec(clientNs, process.execPath, ['--import', 'tsx', BROWSER, 'unicast', CLIENT, `${HOST}`, 'A'], { timeoutMs: 30_000 });
    const replies = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Msg).filter((m) => m.event === 'response' && m.from === SERVER);
    assert.ok(replies.length >= 1, `no unicast reply: ${r.stdout} ${r.stderr}`);
    const reply = replies[0]!;
    assert.equal(reply.id, 0x1234, 'the query id is echoed');
    assert.deepEqual(reply.questions, [{ name: HOST, type: 'A' }]);
    assert.deepEqual(reply.records?.map((x) => [x.name, x.type, x.data]), [[HOST, 'A', SERVER]]);
    assert.ok(reply.records!.every((x) => x.ttl <= 10), 'TTL at most 10 s in a legacy unicast answer');
  });

  it('reports services.mdns up in the status', async () => {
    const s = await status(serverNs);
    assert.deepEqual(s.services.mdns, { state: 'up', address: `${SERVER}:5353` });
  });

  it('a second Outpost with the same site name and host name on the LAN takes "Outpost Branch Brno (2)" and <host>-2.local', async () => {
    const second = startServe(clientNs, otherData);
    try {
      const line = await second.waitLine(/^(ready|off) mdns/, 40_000);
      const host2 = `${hostLabel(hostname(), '-2')}.local`;
      assert.equal(line, `ready mdns http://${host2}:${HTTP_PORT}/ "Outpost Branch Brno (2)" (_outpost._tcp, _http._tcp on ${CLIENT})`, second.describe());
      const up = await bonjour.waitJson((m) => m.event === 'up' && m.type === 'outpost' && m.name === 'Outpost Branch Brno (2)', 15_000);
      assert.ok(up, bonjour.describe());
      assert.deepEqual(up.addresses, [CLIENT]);
      assert.equal(up.host, host2);
    } finally {
      const started = await second.started();
      const stopped = await second.stop('SIGTERM');
      procs.delete(second);
      assert.equal(stopped.code, 0, `${JSON.stringify({ started, ...stopped })} ${second.describe()}`);
    }
    // The first one was not disturbed: it still answers under its own name.
    const from = raw.lines.length;
    raw.send('query _outpost._tcp.local PTR');
    const answer = await raw.waitJson((m) => m.from === SERVER && !!m.records?.some((r) => r.type === 'PTR' && r.data === 'Outpost Branch Brno._outpost._tcp.local' && r.ttl > 0), 10_000, from);
    assert.ok(answer, raw.describe());
  });

  it('re-publishes under the new name when the site is renamed while serving', async () => {
    const rawFrom = raw.lines.length;
    const serveFrom = serve!.lines.length;
    expectCli(await outpostCli(data, ['site', 'set', 'site.name', 'Pobočka Olomouc']), 'site set');
    const line = await serve!.waitLine(/^ready mdns /, 20_000, serveFrom);
    assert.equal(line, `ready mdns http://${HOST}:${HTTP_PORT}/ "Outpost Pobočka Olomouc" (_outpost._tcp, _http._tcp on ${SERVER})`, serve!.describe());
    for (const type of ['outpost', 'http']) {
      const up = await bonjour.waitJson((m) => m.event === 'up' && m.type === type && m.name === 'Outpost Pobočka Olomouc', 15_000);
      assert.ok(up, `_${type}._tcp not seen under the new name: ${bonjour.describe()}`);
      assert.deepEqual(up.addresses, [SERVER]);
      const down = await bonjour.waitJson((m) => m.event === 'down' && m.type === type && m.name === 'Outpost Branch Brno', 10_000);
      assert.ok(down, `the old _${type}._tcp name was not withdrawn: ${bonjour.describe()}`);
    }
    const goodbye = await raw.waitJson((m) => m.from === SERVER && !!m.records?.some((r) => r.type === 'PTR' && r.data === 'Outpost Branch Brno._outpost._tcp.local' && r.ttl === 0), 5000, rawFrom);
    assert.ok(goodbye, `no goodbye for the old name: ${raw.describe()}`);
  });

  it('withdraws both services with goodbyes (TTL 0) on SIGTERM and still stops within 5 s', async () => {
    const rawFrom = raw.lines.length;
    const bonjourFrom = bonjour.lines.length;
    const started = await serve!.started();
    const stopped = await serve!.stop('SIGTERM');
    procs.delete(serve!);
    assert.equal(stopped.forced, false, `${JSON.stringify({ started, ...stopped })} ${serve!.describe()}`);
    assert.equal(stopped.code, 0, serve!.describe());
    assert.ok(stopped.ms < 5000, `stopped in ${stopped.ms} ms`);
    for (const type of ['_outpost._tcp.local', '_http._tcp.local']) {
      const bye = await raw.waitJson((m) => m.from === SERVER && !!m.records?.some((r) => r.type === 'PTR' && r.name === type && r.data === `Outpost Pobočka Olomouc.${type}` && r.ttl === 0), 5000, rawFrom);
      assert.ok(bye, `no goodbye for ${type}: ${raw.describe()}`);
    }
    for (const type of ['outpost', 'http']) {
      assert.ok(await bonjour.waitJson((m) => m.event === 'down' && m.type === type && m.name === 'Outpost Pobočka Olomouc', 5000, bonjourFrom), bonjour.describe());
    }
    // A fresh query is not answered any more, and a new browser finds nothing.
    const from = raw.lines.length;
    raw.send('query _outpost._tcp.local PTR');
    raw.send('query _http._tcp.local PTR');
    await sleep(1500);
    assert.deepEqual(raw.json(from).filter((m) => m.from === SERVER), []);
    assert.deepEqual(await freshLook(3000), []);
  });

  it('--no-mdns advertises nothing (and status says disabled)', async () => {
    const rawFrom = raw.lines.length;
    const p = await startAndWaitHttp(serverNs, data, ['--no-mdns']);
    serve = p;
    try {
      raw.send('query _outpost._tcp.local PTR');
      raw.send('query _http._tcp.local PTR');
      assert.deepEqual(await freshLook(3000), []);
      assert.deepEqual(raw.json(rawFrom).filter((m) => m.from === SERVER), [], 'nothing at all from the server');
      assert.ok(!p.lines.some((l) => / mdns/.test(l)), p.describe());
      assert.deepEqual((await status(serverNs)).services.mdns, { state: 'off', reason: 'disabled' });
    } finally {
      const started = await p.started();
      const stopped = await p.stop('SIGTERM');
      procs.delete(p);
      serve = undefined;
      assert.equal(stopped.code, 0, `${JSON.stringify({ started, ...stopped })} ${p.describe()}`);
    }
  });

  it('port 5353 held by another program does not stop serve: off mdns with the reason, HTTP up', async () => {
    const holderScript = "const s=require('dgram').createSocket({type:'udp4'});s.bind(5353,'0.0.0.0',()=>console.log('holding'));process.stdin.resume();process.stdin.on('end',()=>process.exit(0))";
    const holder = new Proc(lab.spawn(serverNs, process.execPath, ['-e', holderScript], { stdio: ['pipe', 'pipe', 'pipe'] }), 'port holder');
    procs.add(holder);
    try {
      assert.ok(await holder.waitLine(/^holding$/, 20_000), holder.describe());
      const p = startServe(serverNs, data);
      serve = p;
      try {
        const line = await p.waitLine(/^(ready|off) mdns/, 40_000);
        assert.match(line ?? '', /^off mdns: UDP port 5353 is in use .*EADDRINUSE/, p.describe());
        assert.ok(p.lines.some((l) => l.startsWith('ready http ')), p.describe());
        assert.ok(await p.started(), p.describe());
        assert.match(p.stderr, /mdns: not announced/);
        const s = await status(serverNs);
        assert.equal(s.services.mdns?.state, 'off');
        assert.match(s.services.mdns?.reason ?? '', /5353 is in use/);
        assert.equal(s.services.http?.state, 'up');
      } finally {
        const started = await p.started();
        const stopped = await p.stop('SIGTERM');
        procs.delete(p);
        serve = undefined;
        assert.equal(stopped.code, 0, `${JSON.stringify({ started, ...stopped })} ${p.describe()}`);
      }
    } finally {
      await holder.stop('stdin', 5000);
      procs.delete(holder);
    }
  });
});
