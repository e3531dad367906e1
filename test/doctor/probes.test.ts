/**
 * The doctor's probes against real peers on loopback: a tiny SNTP server (right, 10 s off, silent), a SIP peer
 * answering OPTIONS over UDP and TCP (and silence), the database write that is rolled back, a port that is
 * taken, and the whole report from an open Outpost. Nothing leaves 127.0.0.1.
 */
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { Outpost } from '../../src/app/outpost.js';
import { clockCheck, databaseCheck, portCheck, probeDatabase, sntpQuery, tryBind } from '../../src/doctor/box.js';
import { doctorReport } from '../../src/doctor/doctor.js';
import { centrexCheck, sendOptions } from '../../src/doctor/network.js';
import { parseSntpReply, toNtp } from '../../src/doctor/sntp.js';
import { parseMessage, responseTo, serializeMessage, type SipRequest } from '../../src/sip/message.js';

/** An SNTP server on 127.0.0.1 whose clock is `skewMs` off ours; `silent` answers nothing. */
async function sntpServer(opts: { skewMs: number; silent?: boolean }): Promise<{ port: number; socket: Socket; asked: number }> {
  const socket = createSocket('udp4');
  const server = { port: 0, socket, asked: 0 };
  socket.on('message', (req, rinfo) => {
    server.asked++;
    if (opts.silent || req.length < 48) return;
    const reply = Buffer.alloc(48);
    reply[0] = (0 << 6) | (4 << 3) | 4;
    reply[1] = 2;
    req.copy(reply, 24, 40, 48);
    toNtp(Date.now() + opts.skewMs).copy(reply, 32);
    toNtp(Date.now() + opts.skewMs).copy(reply, 40);
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  server.port = socket.address().port;
  return server;
}

/** A SIP peer on 127.0.0.1 answering every OPTIONS with `status` over UDP; `silent` answers nothing. */
async function sipUdpPeer(status: number | 'silent'): Promise<{ port: number; socket: Socket; received: SipRequest[] }> {
  const socket = createSocket('udp4');
  const received: SipRequest[] = [];
  socket.on('message', (bytes, rinfo) => {
    const msg = parseMessage(bytes);
    if (msg.kind !== 'request') return;
    received.push(msg);
    if (status !== 'silent') socket.send(serializeMessage(responseTo(msg, status, undefined, { toTag: 'peer' })), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket, received };
}

async function sipTcpPeer(status: number): Promise<{ port: number; server: Server }> {
  const server = createServer((conn) => {
    let buffered = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!buffered.includes('\r\n\r\n')) return;
      const msg = parseMessage(buffered, { stream: true });
      buffered = Buffer.alloc(0);
      if (msg.kind !== 'request') return;
      // A provisional answer first, in two pieces, to exercise the framing.
      const trying = serializeMessage(responseTo(msg, 100));
      conn.write(trying.subarray(0, 10));
      setTimeout(() => conn.write(Buffer.concat([trying.subarray(10), serializeMessage(responseTo(msg, status, undefined, { toTag: 'peer' }))])), 20);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('doctor probes on loopback', function () {
  this.timeout(30_000);
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  describe('SNTP', function () {
    it('a server in step: PASS with the offset', async function () {
      const ntp = await sntpServer({ skewMs: 0 });
      closers.push(() => ntp.socket.close());
      const sample = await sntpQuery('127.0.0.1', { port: ntp.port, timeoutMs: 2000 });
      assert.ok(sample.ok, JSON.stringify(sample));
      assert.ok(Math.abs(sample.offsetMs) < 200, String(sample.offsetMs));
      const check = clockCheck(Date.now(), [sample]);
      assert.equal(check.status, 'pass', check.detail);
      assert.match(check.detail, /within 0\.\d\d s of 127\.0\.0\.1/);
    });

    it('a server 10 s ahead: WARN saying by how much', async function () {
      const ntp = await sntpServer({ skewMs: 10_000 });
      closers.push(() => ntp.socket.close());
      const sample = await sntpQuery('127.0.0.1', { port: ntp.port, timeoutMs: 2000 });
      assert.ok(sample.ok && Math.abs(sample.offsetMs - 10_000) < 300, JSON.stringify(sample));
      const check = clockCheck(Date.now(), [sample]);
      assert.equal(check.status, 'warn');
      assert.match(check.detail, /(9\.\d|10\.\d) s behind 127\.0\.0\.1/);
    });

    it('a silent server: WARN within the timeout (asked twice)', async function () {
      const ntp = await sntpServer({ skewMs: 0, silent: true });
      closers.push(() => ntp.socket.close());
      const started = Date.now();
      const sample = await sntpQuery('127.0.0.1', { port: ntp.port, timeoutMs: 1000 });
      assert.ok(Date.now() - started < 1500);
      assert.equal(sample.ok, false);
      assert.equal(ntp.asked, 2, 'resent half-way');
      const check = clockCheck(Date.now(), [sample]);
      assert.equal(check.status, 'warn');
      assert.match(check.detail, /127\.0\.0\.1: no answer within 1\.0 s/);
    });

    it('ignores a reply that does not echo our request', async function () {
      const socket = createSocket('udp4');
      closers.push(() => socket.close());
      socket.on('message', (_req, rinfo) => {
        const reply = Buffer.alloc(48);
        reply[0] = 0x24;
        reply[1] = 2;
        toNtp(Date.now() + 99_000).copy(reply, 40);
        assert.ok(!(parseSntpReply(reply) instanceof Error));
        socket.send(reply, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const sample = await sntpQuery('127.0.0.1', { port: socket.address().port, timeoutMs: 600 });
      assert.equal(sample.ok, false, 'a spoofed answer is not taken');
    });
  });

  describe('Centrex OPTIONS', function () {
    it('UDP: a peer answering 200 -> PASS with the status and the round trip', async function () {
      const peer = await sipUdpPeer(200);
      closers.push(() => peer.socket.close());
      const result = await sendOptions('127.0.0.1', '127.0.0.1', peer.port, 'udp', 2000);
      assert.ok(result.answered, JSON.stringify(result));
      assert.equal(result.status, 200);
      assert.ok(result.rttMs >= 0 && result.rttMs < 1000);
      assert.equal(peer.received.length, 1);
      assert.equal(peer.received[0]!.method, 'OPTIONS');
      const check = centrexCheck(`127.0.0.1:${peer.port}`, result);
      assert.equal(check.status, 'pass');
      assert.match(check.detail, new RegExp(`127\\.0\\.0\\.1:${peer.port} \\(udp 127\\.0\\.0\\.1:${peer.port}\\) answered 200 OK in \\d+ ms`));
    });

    it('UDP: silence -> FAIL after the timeout, with RFC 3261 retransmissions', async function () {
      const peer = await sipUdpPeer('silent');
      closers.push(() => peer.socket.close());
      const started = Date.now();
      const result = await sendOptions('127.0.0.1', '127.0.0.1', peer.port, 'udp', 1000);
      const took = Date.now() - started;
      assert.ok(took >= 950 && took < 1500, String(took));
      assert.equal(result.answered, false);
      assert.equal(peer.received.length, 2, 'sent at 0 and 500 ms');
      assert.equal(new Set(peer.received.map((r) => r.headers.get('Via'))).size, 1, 'retransmissions are the same request');
      const check = centrexCheck(`127.0.0.1:${peer.port}`, result);
      assert.equal(check.status, 'fail');
      assert.match(check.fix, /WAN.*firewall.*phones will fail over to Outpost/);
    });

    it('UDP: nobody on the port -> FAIL at once (port unreachable)', async function () {
      const peer = await sipUdpPeer('silent');
      const port = peer.port;
      await new Promise<void>((resolve) => peer.socket.close(resolve));
      const started = Date.now();
      const result = await sendOptions('127.0.0.1', '127.0.0.1', port, 'udp', 3000);
      assert.equal(result.answered, false);
      assert.ok(Date.now() - started < 1000);
      assert.match((result as { error: string }).error, /port unreachable/);
    });

    it('UDP: 503 -> FAIL (the monitor counts 5xx as down)', async function () {
      const peer = await sipUdpPeer(503);
      closers.push(() => peer.socket.close());
      const check = centrexCheck('centrex', await sendOptions('127.0.0.1', '127.0.0.1', peer.port, 'udp', 2000));
      assert.equal(check.status, 'fail');
      assert.match(check.detail, /503 Service Unavailable/);
    });

    it('TCP: the final answer after a 100 Trying, framed by Content-Length', async function () {
      const peer = await sipTcpPeer(200);
      closers.push(() => new Promise<void>((resolve) => peer.server.close(() => resolve())));
      const result = await sendOptions('127.0.0.1', '127.0.0.1', peer.port, 'tcp', 2000);
      assert.ok(result.answered, JSON.stringify(result));
      assert.equal(result.status, 200);
      assert.equal(result.transport, 'tcp');
    });
  });

  describe('box', function () {
    let dir = '';
    let outpost: Outpost | undefined;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'outpost-doctor-'));
      mkdirSync(join(dir, 'data'));
    });
    afterEach(async () => {
      await outpost?.close();
      outpost = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    it('the database write is rolled back: nothing is left, and the check passes', async function () {
      outpost = await Outpost.open({ dataDir: join(dir, 'data'), firmwareDir: join(dir, 'fw'), log: silentLogger });
      const generation = outpost.store.db.generation;
      const probe = await probeDatabase(outpost.store.db, join(dir, 'data', 'outpost.db'));
      assert.equal(probe.writeError, undefined);
      assert.equal(probe.integrity, 'ok');
      assert.equal(databaseCheck(probe).status, 'pass');
      const tables = await outpost.store.db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE name LIKE 'doctor%'");
      assert.deepEqual(tables, [], 'the probe table was rolled back');
      assert.equal(outpost.store.db.generation, generation, 'nobody reloads for it');
      // The store still takes writes after the probe.
      await outpost.putLine({ ext: '111', user: '420234567111', password: 'Secret-111-pw' });
      assert.ok(await outpost.store.lines.get('111'));
    });

    it('a port someone else holds is FAIL, a free one PASS', async function () {
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '0.0.0.0', resolve));
      closers.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
      const port = (holder.address() as { port: number }).port;
      const taken = portCheck({ id: 'box.port.http', service: 'HTTP', flag: '--http-port', port, results: [{ proto: 'TCP', outcome: await tryBind('tcp', port) }] }, 0);
      assert.equal(taken.status, 'fail', taken.detail);
      assert.match(taken.detail, /taken by another program/);
      const udp = createSocket('udp4');
      await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
      const udpPort = udp.address().port;
      const udpTaken = await tryBind('udp', udpPort);
      udp.close();
      assert.deepEqual(udpTaken.ok ? 'free' : udpTaken.code, 'EADDRINUSE');
      assert.deepEqual(await tryBind('udp', udpPort), { ok: true }, 'free once let go');
    });

    it('the whole report from an open Outpost: NTP and the Centrex on loopback, serve not running', async function () {
      const ntp = await sntpServer({ skewMs: 0 });
      const peer = await sipUdpPeer(200);
      closers.push(() => ntp.socket.close(), () => peer.socket.close());
      const site = join(dir, 'site.json');
      writeFileSync(site, JSON.stringify({
        site: { name: 'T', timezone: 'Europe/Prague', ntp: ['127.0.0.1'] },
        upstream: { proxy: `127.0.0.1:${peer.port}` },
        gateway: { host: '127.0.0.5' },
        admin: { password: 'correct-horse' },
        lines: [{ ext: '111', user: '420234567111', password: 'Secret-111-pw' }],
        devices: [{ mac: '00:15:65:aa:bb:01', model: 'T22P', lines: ['111'] }],
      }));
      outpost = await Outpost.open({ dataDir: join(dir, 'data'), firmwareDir: join(dir, 'fw'), configFile: site, log: silentLogger });
      const free = await freeTcpPort();
      const started = Date.now();
      const report = await doctorReport({ outpost }, { dataDir: join(dir, 'data'), timeoutMs: 1500, ports: { http: free, tftp: free, sip: free, dhcp: free }, ntpPort: ntp.port });
      assert.ok(Date.now() - started < 5000);
      const byId = new Map(report.checks.map((c) => [c.id, c]));
      assert.equal(byId.get('box.clock')?.status, 'pass', byId.get('box.clock')?.detail);
      assert.equal(byId.get('network.centrex')?.status, 'pass', byId.get('network.centrex')?.detail);
      assert.equal(byId.get('network.dns'), undefined, 'an address needs no DNS');
      assert.equal(byId.get('box.serve')?.status, 'warn');
      assert.equal(byId.get('box.database')?.status, 'pass');
      assert.equal(byId.get('site.file')?.status, 'pass');
      assert.equal(byId.get('site.assignments')?.status, 'pass');
      assert.equal(report.summary.fail, 0, JSON.stringify(report.checks.filter((c) => c.status === 'fail')));
      assert.deepEqual([...new Set(report.checks.map((c) => c.group))], ['site', 'box', 'network']);
    });
  });
});

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
