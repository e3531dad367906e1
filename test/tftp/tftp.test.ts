/**
 * TFTP against a real server: serve() in-process on 127.0.0.x with a free TFTP port, and real clients run as
 * child processes (tftp-hpa, atftp, curl) next to a raw dgram client (client.ts) for the exact packets.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { Metrics } from '../../src/app/metrics.js';
import { silentLogger } from '../../src/app/log.js';
import { TransferSlots } from '../../src/provisioning/admission.js';
import { TftpService } from '../../src/tftp/server.js';
import type { Mac } from '../../src/net/mac.js';
import {
  OP,
  TftpSocket,
  ackPacket,
  closeAllSockets,
  errorPacket,
  firstAnswer,
  isData,
  isError,
  isOack,
  requestPacket,
  tftpGet,
  type Packet,
} from './client.js';
import { MAC, PASSWORD, UA_T22P, killChildren, ownUdpSockets, run, runningChildren, site, sleep, snapshotTree, startServer, waitFor, type Harness } from './harness.js';

const TFTP = '/usr/bin/tftp';
const ATFTP = '/usr/bin/atftp';
const CURL = '/usr/bin/curl';
const MAC_FILE = `${MAC}.cfg`;
const COMMON_FILE = 'y000000000005.cfg';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function http(h: Harness, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${h.base}${path}`, { headers, signal: AbortSignal.timeout(30_000) });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, ms: Date.now() - started };
}

async function metrics(h: Harness): Promise<string> {
  return (await http(h, '/metrics')).body.toString('utf8');
}

/** tftp-hpa `get`, one command line; the local file's bytes (undefined when none was written). */
async function hpaGet(h: Harness, remote: string, local: string, mode = 'octet'): Promise<{ out: string; data: Buffer | undefined }> {
  const r = await run(TFTP, ['-m', mode, h.host, String(h.tftpPort), '-c', 'get', remote, local]);
  assert.ok(!r.timedOut, `tftp get ${remote} timed out: ${r.stdout}${r.stderr}`);
  return { out: r.stdout + r.stderr, data: existsSync(local) ? readFileSync(local) : undefined };
}

/** The options of atftp's `received OACK <k: v, ...>` trace line. */
function atftpOack(trace: string): Record<string, string> | undefined {
  const m = /received OACK <([^>]*)>/.exec(trace);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const part of m[1]!.split(',')) {
    const kv = /^\s*([A-Za-z]+): (\S+)\s*$/.exec(part);
    if (kv) out[kv[1]!.toLowerCase()] = kv[2]!;
  }
  return out;
}

/** The payload sizes of atftp's `received ... DATA <block: N, size S>` trace lines. */
function atftpDataSizes(trace: string): number[] {
  return [...trace.matchAll(/DATA <block: \d+, size (\d+)>/g)].map((m) => Number(m[1]));
}

function atftpArgs(h: Harness, remote: string, local: string, options: string[]): string[] {
  return [...options.flatMap((o) => ['--option', o]), '--trace', '-g', '-r', remote, '-l', local, h.host, String(h.tftpPort)];
}

/** RFC 1350 netascii, written independently of src/tftp/codec.ts: LF -> CR LF, CR -> CR NUL. */
function netascii(data: Buffer): Buffer {
  const out: number[] = [];
  for (const c of data) {
    if (c === 0x0a) out.push(0x0d, 0x0a);
    else if (c === 0x0d) out.push(0x0d, 0x00);
    else out.push(c);
  }
  return Buffer.from(out);
}

function describePacket(p: Packet | undefined): string {
  if (!p) return 'nothing';
  if (isError(p)) return `ERROR ${p.code} "${p.message}"`;
  if (isData(p)) return `DATA block ${p.block} (${p.data.length} bytes)`;
  if (isOack(p)) return `OACK ${JSON.stringify(p.options)}`;
  return `opcode ${p.op}`;
}

describe('tftp: real clients against serve() (test/tftp)', function () {
  after(function () {
    killChildren();
    closeAllSockets();
  });

  afterEach(function () {
    // A client still running after its test is a leak of this suite.
    const left = runningChildren();
    killChildren();
    closeAllSockets();
    assert.equal(left, 0, 'a client process outlived its test');
  });

  // ---------------------------------------------------------------------------------------------------------------

  describe('tftp: provisioning files with real clients (tftp-hpa, atftp, curl)', function () {
    this.timeout(120_000);
    let h: Harness;

    before(async function () {
      h = await startServer({ site: site() });
    });

    after(async function () {
      await h?.close();
    });

    it('serve() binds a free TFTP port when asked for port 0 and says so in its ready line', function () {
      assert.notEqual(h.tftpPort, 69, 'tftpPort 0 must mean "any free port", not the privileged default');
      const own = ownUdpSockets();
      assert.ok(own.some((s) => s.address === '127.0.0.1' && s.port === h.tftpPort), `the main socket is listed: ${JSON.stringify(own)}`);
    });

    it('1. tftp-hpa gets the MAC file byte-identical to HTTP /prov/, the device becomes provisioned; the common file too', async function () {
      assert.equal((await h.running.outpost.store.devices.get(MAC as Mac))?.state, 'assigned');
      const tftp = await hpaGet(h, MAC_FILE, join(h.work, 'hpa-mac.cfg'));
      assert.ok(tftp.data, `tftp-hpa wrote nothing: ${tftp.out}`);
      assert.doesNotMatch(tftp.out, /Error code/);
      assert.equal((await h.running.outpost.store.devices.get(MAC as Mac))?.state, 'provisioned', 'a TFTP fetch of the MAC file provisions the device');
      const text = tftp.data.toString('utf8');
      assert.ok(text.startsWith('#!version:1.0.0.1'), text.slice(0, 40));
      assert.match(text, new RegExp(`^account\\.1\\.password\\s*=\\s*${PASSWORD}\\s*$`, 'm'), 'the MAC file carries the line (identified by the file name alone)');

      const viaHttp = await http(h, `/prov/${MAC_FILE}`, { 'user-agent': UA_T22P });
      assert.equal(viaHttp.status, 200);
      assert.equal(tftp.data.length, viaHttp.body.length);
      assert.ok(tftp.data.equals(viaHttp.body), 'TFTP and HTTP serve the same bytes');

      const common = await hpaGet(h, COMMON_FILE, join(h.work, 'hpa-common.cfg'));
      const commonHttp = await http(h, `/prov/${COMMON_FILE}`, { 'user-agent': UA_T22P });
      assert.equal(commonHttp.status, 200);
      assert.ok(common.data, common.out);
      assert.ok(common.data.equals(commonHttp.body), 'the common file is the same over TFTP and HTTP');
      assert.ok(!common.data.includes(PASSWORD));

      assert.match(await metrics(h), /^outpost_provisioning_requests_total\{protocol="tftp",status="200"\} [2-9]\d*$/m);
    });

    it('2. default 512-byte blocks (tftp-hpa trace); atftp blksize 1428 + tsize: the OACK carries blksize 1428 and the file size', async function () {
      const reference = (await http(h, `/prov/${MAC_FILE}`, { 'user-agent': UA_T22P })).body;
      assert.ok(reference.length > 1428 * 2, 'the file spans several 1428-byte blocks');

      const local = join(h.work, 'hpa-trace.cfg');
      const r = await run(TFTP, [h.host, String(h.tftpPort)], { input: `mode octet\ntrace\nget ${MAC_FILE} ${local}\nquit\n` });
      const sizes = [...r.stdout.matchAll(/received DATA <block=(\d+), (\d+) bytes>/g)].map((m) => Number(m[2]));
      assert.ok(!/received OACK/.test(r.stdout), 'tftp-hpa sends no options, so no OACK');
      assert.equal(sizes.length, Math.floor(reference.length / 512) + 1, r.stdout);
      assert.ok(sizes.slice(0, -1).every((s) => s === 512), `every block but the last is 512 bytes: ${sizes.join(',')}`);
      assert.equal(sizes.at(-1), reference.length % 512);
      assert.ok(readFileSync(local).equals(reference));

      const local2 = join(h.work, 'atftp-1428.cfg');
      const a = await run(ATFTP, atftpArgs(h, MAC_FILE, local2, ['blksize 1428', 'tsize 0']));
      const trace = a.stdout + a.stderr;
      assert.equal(a.code, 0, trace);
      const oack = atftpOack(trace);
      assert.ok(oack, `no OACK in the trace: ${trace}`);
      assert.equal(oack.blksize, '1428');
      assert.equal(oack.tsize, String(reference.length), 'tsize is the size of the file');
      const dataSizes = atftpDataSizes(trace);
      assert.equal(dataSizes.length, Math.ceil((reference.length + 1) / 1428));
      assert.ok(dataSizes.slice(0, -1).every((s) => s === 1428), dataSizes.join(','));
      assert.ok(readFileSync(local2).equals(reference), 'atftp got the same bytes');

      // One leading slash names the namespace's root, as many phones send it.
      const slash = await tftpGet({ port: h.tftpPort, file: `/${MAC_FILE}` });
      assert.equal(slash.outcome, 'complete');
      assert.ok(slash.data.equals(reference), 'a leading slash is the same file');

      // Outside RFC 2348's 8 to 65464: option negotiation refused (error 8), or the option left out; never such blocks.
      for (const blksize of [7, 65465, 0]) {
        const { packet } = await firstAnswer({ port: h.tftpPort, file: MAC_FILE, options: { blksize } });
        assert.ok(packet, `blksize ${blksize}: no answer`);
        if (isError(packet)) assert.equal(packet.code, 8, `blksize ${blksize}: ${describePacket(packet)}`);
        else if (isOack(packet)) assert.equal(packet.options.blksize, undefined, `blksize ${blksize} acknowledged`);
        else assert.ok(isData(packet) && packet.data.length === 512, `blksize ${blksize}: ${describePacket(packet)}`);
      }

      // The dgram client: the smallest and the largest block size RFC 2348 allows.
      for (const blksize of [8, 65464]) {
        const g = await tftpGet({ port: h.tftpPort, file: MAC_FILE, options: { blksize, tsize: 0 } });
        assert.equal(g.outcome, 'complete', `blksize ${blksize}: ${g.outcome} ${JSON.stringify(g.error)}`);
        assert.deepEqual(g.oack, { blksize: String(blksize), tsize: String(reference.length) });
        assert.ok(g.data.equals(reference), `blksize ${blksize}`);
        assert.ok(g.blockSizes.slice(0, -1).every((s) => s === blksize));
        assert.ok(g.blockSizes.at(-1)! < blksize);
      }
    });

    it('3. netascii: tftp-hpa gets back the original; the DATA bytes are LF -> CR LF', async function () {
      const reference = (await http(h, `/prov/${MAC_FILE}`, { 'user-agent': UA_T22P })).body;
      assert.ok(reference.includes(0x0a) && !reference.includes(Buffer.from('\r\n')), 'the file has bare LFs');
      const got = await hpaGet(h, MAC_FILE, join(h.work, 'netascii.cfg'), 'netascii');
      assert.ok(got.data, got.out);
      assert.ok(got.data.equals(reference), 'the client converts back to the original bytes');

      const raw = await tftpGet({ port: h.tftpPort, file: MAC_FILE, mode: 'netascii' });
      assert.equal(raw.outcome, 'complete');
      assert.ok(raw.data.equals(netascii(reference)), 'on the wire every LF is CR LF');
      assert.equal(raw.data.length, reference.length + reference.filter((c) => c === 0x0a).length);

      // Mixed-case mode names are the same mode (RFC 1350).
      const upper = await tftpGet({ port: h.tftpPort, file: MAC_FILE, mode: 'NetASCII' });
      assert.ok(upper.data.equals(netascii(reference)));
      const octet = await tftpGet({ port: h.tftpPort, file: MAC_FILE, mode: 'OCTET' });
      assert.ok(octet.data.equals(reference), 'octet is not converted');
    });

    it('4. the timeout option is acknowledged (atftp trace), also when it is the only option; an invalid one is not', async function () {
      const reference = (await http(h, `/prov/${MAC_FILE}`, { 'user-agent': UA_T22P })).body;
      for (const options of [['timeout 2'], ['blksize 1428', 'tsize 0', 'timeout 2']]) {
        const local = join(h.work, `atftp-timeout-${options.length}.cfg`);
        const a = await run(ATFTP, atftpArgs(h, MAC_FILE, local, options));
        const trace = a.stdout + a.stderr;
        const oack = atftpOack(trace);
        assert.ok(oack, `no OACK for ${options.join(', ')}: ${trace}`);
        assert.equal(oack.timeout, '2', `${options.join(', ')}: ${trace}`);
        if (options.length > 1) assert.equal(oack.blksize, '1428');
        assert.ok(readFileSync(local).equals(reference));
      }
      const only = await tftpGet({ port: h.tftpPort, file: MAC_FILE, options: { timeout: 2 } });
      assert.deepEqual(only.oack, { timeout: '2' });
      assert.ok(only.data.equals(reference));
      // RFC 2349: 1 to 255 seconds. Anything else is not acknowledged.
      for (const timeout of ['0', '256', 'abc']) {
        const g = await tftpGet({ port: h.tftpPort, file: MAC_FILE, options: { timeout } });
        assert.equal(g.outcome, 'complete', `timeout ${timeout}`);
        assert.equal(g.oack?.timeout, undefined, `timeout ${timeout} must not be acknowledged`);
        assert.ok(g.data.equals(reference));
      }
    });

    it('5. curl tftp:// with --tftp-blksize 1428 gets byte-identical files', async function () {
      for (const file of [MAC_FILE, COMMON_FILE]) {
        const reference = (await http(h, `/prov/${file}`, { 'user-agent': UA_T22P })).body;
        const out = join(h.work, `curl-${file}`);
        const r = await run(CURL, ['-sS', '-v', '--max-time', '25', '--tftp-blksize', '1428', '-o', out, `tftp://${h.host}:${h.tftpPort}/${file}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /blksize parsed from OACK \(1428\)/);
        assert.match(r.stderr, new RegExp(`tsize parsed from OACK \\(${reference.length}\\)`));
        assert.ok(readFileSync(out).equals(reference), file);
      }
    });

    it('7. 100 concurrent fetches by the dgram client and 40 concurrent tftp-hpa children all get the right bytes', async function () {
      const files = [MAC_FILE, COMMON_FILE, 'y000000000000.cfg'];
      const expected = new Map<string, Buffer>();
      for (const f of files) {
        const g = await tftpGet({ port: h.tftpPort, file: f });
        assert.equal(g.outcome, 'complete', f);
        expected.set(f, g.data);
      }
      assert.ok(expected.get(MAC_FILE)!.equals((await http(h, `/prov/${MAC_FILE}`, { 'user-agent': UA_T22P })).body));

      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const file = files[i % files.length]!;
          const options: Record<string, number> = i % 2 ? { blksize: 1428, tsize: 0 } : {};
          return tftpGet({ port: h.tftpPort, file, options, packetTimeoutMs: 10_000 }).then((g) => ({ file, g }));
        }),
      );
      const bad = results.filter(({ file, g }) => g.outcome !== 'complete' || !g.data.equals(expected.get(file)!));
      assert.deepEqual(bad.map(({ file, g }) => `${file}: ${g.outcome} ${g.data.length} ${JSON.stringify(g.error)}`), []);
      for (const { g } of results) g.socket.close();

      const children = await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const file = files[i % files.length]!;
          return hpaGet(h, file, join(h.work, `many-${i}.cfg`)).then((r) => ({ file, r }));
        }),
      );
      const wrong = children.filter(({ file, r }) => !r.data || !r.data.equals(expected.get(file)!));
      assert.deepEqual(wrong.map(({ file, r }) => `${file}: ${r.out}`), []);
    });

    it('8. a write request is refused with error 2 and nothing is written; traversal and absolute names get error packets, never data', async function () {
      const upload = join(h.work, 'upload.bin');
      writeFileSync(upload, randomBytes(5000));
      const remote = `outpost-upload-${process.pid}-${Date.now()}.bin`;
      const dataBefore = snapshotTree(h.dataDir).map((l) => l.split(' ')[0]);
      const firmwareBefore = snapshotTree(h.firmwareDir);
      const r = await run(TFTP, ['-m', 'octet', h.host, String(h.tftpPort), '-c', 'put', upload, remote]);
      assert.ok(!r.timedOut);
      assert.match(r.stdout + r.stderr, /Error code 2: /, r.stdout + r.stderr);

      const w = await TftpSocket.open();
      await w.send(requestPacket(OP.WRQ, remote, 'octet'), h.tftpPort, h.host);
      const answer = await w.next(5000);
      assert.ok(answer && isError(answer), `WRQ answered with ${describePacket(answer)}`);
      assert.equal(answer.code, 2);
      assert.ok(answer.message.length > 0);
      // The server must not wait for data: a DATA block sent anyway is not taken.
      await w.send(Buffer.concat([Buffer.from([0, OP.DATA, 0, 1]), Buffer.from('x')]), answer.from.port, answer.from.address);
      await sleep(300);

      assert.deepEqual(snapshotTree(h.dataDir).map((l) => l.split(' ')[0]), dataBefore, 'no new file in the data folder');
      assert.deepEqual(snapshotTree(h.firmwareDir), firmwareBefore, 'the firmware folder is unchanged');
      for (const where of [h.dir, h.work, process.cwd(), join(process.cwd(), 'data'), join(process.cwd(), 'firmware')]) {
        assert.ok(!existsSync(join(where, remote)), `${remote} written to ${where}`);
      }
      assert.ok(!snapshotTree(h.dir).some((l) => l.includes(remote)));

      const names = ['../../etc/passwd', '/etc/passwd', 'firmware/../outpost.db', 'firmware/../../package.json', '..%2f..%2fpackage.json', '../package.json', 'package.json', '/package.json', 'firmware/../package.json', 'firmware//etc/passwd', '\\..\\package.json', 'data/outpost.db', 'firmware/manifest.json', `./${MAC_FILE}/../../package.json`];
      for (const name of names) {
        for (const mode of ['octet', 'netascii']) {
          const { packet, socket } = await firstAnswer({ port: h.tftpPort, file: name, mode });
          assert.ok(packet, `${name}: no answer`);
          assert.equal(packet.op, OP.ERROR, `${name} (${mode}): ${describePacket(packet)}`);
          assert.ok(isError(packet));
          const more = await socket.drain(200);
          assert.ok(!more.some(isData), `${name}: DATA after the error`);
          assert.ok(!packet.message.includes('root:') && !packet.message.includes('"name"'), packet.message);
          socket.close();
        }
      }
      // The absolute and in-namespace refusals are access violations or not-found, never a file.
      const abs = await firstAnswer({ port: h.tftpPort, file: '/etc/passwd' });
      assert.ok(abs.packet && isError(abs.packet) && [1, 2].includes(abs.packet.code), describePacket(abs.packet));
    });

    it('9. an unknown file is error code 1 exactly', async function () {
      for (const file of ['nothing.cfg', 'y000000000099.cfg', 'firmware/nothing.rom', 'firmware/', 'index.html']) {
        for (const options of [{}, { blksize: 1428, tsize: 0 }] as Array<Record<string, number>>) {
          const { packet, socket } = await firstAnswer({ port: h.tftpPort, file, options });
          assert.ok(packet && isError(packet), `${file}: ${describePacket(packet)}`);
          assert.equal(packet.code, 1, `${file}: ${describePacket(packet)}`);
          socket.close();
        }
      }
      assert.match(await metrics(h), /^outpost_provisioning_requests_total\{protocol="tftp",status="404"\} [1-9]\d*$/m);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------

  describe('tftp: firmware images (20 MB) over TFTP and HTTP', function () {
    this.timeout(180_000);
    let h: Harness;
    let image: { file: string; size: number; sha256: string };
    let bytes: Buffer;

    before(async function () {
      h = await startServer({ site: site() });
      const source = join(h.work, 'T22P-20MB.rom');
      bytes = randomBytes(20 * 1024 * 1024);
      writeFileSync(source, bytes);
      ({ image } = await h.running.outpost.firmware.add(source, 'T22P', '7.73.0.60'));
      assert.equal(image.size, bytes.length);
    });

    after(async function () {
      await h?.close();
    });

    it('6. tftp-hpa (512-byte blocks), atftp (blksize 1428) and HTTP all deliver the same sha256; Range 100-199 is 206 with those bytes', async function () {
      const want = sha256(bytes);
      assert.equal(image.sha256, want);

      const hpa = await hpaGet(h, `firmware/${image.file}`, join(h.work, 'fw-hpa.rom'));
      assert.ok(hpa.data, hpa.out);
      assert.equal(hpa.data.length, bytes.length, hpa.out);
      assert.equal(sha256(hpa.data), want, 'tftp-hpa');

      const local = join(h.work, 'fw-atftp.rom');
      const a = await run(ATFTP, ['--option', 'blksize 1428', '--option', 'tsize 0', '-g', '-r', `firmware/${image.file}`, '-l', local, h.host, String(h.tftpPort)], { timeoutMs: 60_000 });
      assert.equal(a.code, 0, a.stderr);
      assert.equal(sha256(readFileSync(local)), want, 'atftp');

      const viaHttp = await http(h, `/prov/firmware/${image.file}`);
      assert.equal(viaHttp.status, 200);
      assert.equal(sha256(viaHttp.body), want, 'HTTP');

      const range = await http(h, `/prov/firmware/${image.file}`, { range: 'bytes=100-199' });
      assert.equal(range.status, 206);
      assert.equal(range.headers.get('content-length'), '100');
      assert.equal(range.headers.get('content-range'), `bytes 100-199/${bytes.length}`);
      assert.ok(range.body.equals(bytes.subarray(100, 200)));

      assert.equal(h.running.outpost.firmware.image(image.file)?.size, bytes.length);
      assert.match(await metrics(h), /^outpost_firmware_transfers_total\{protocol="tftp"\} 2$/m);
      assert.match(await metrics(h), /^outpost_firmware_transfers_in_flight 0$/m, 'every slot was released');
    });

    it('6b. an image over 32 MB reaches tftp-hpa at 512-byte blocks (the block number rolls over past 65535)', async function () {
      const huge = randomBytes(40 * 1024 * 1024);
      const source = join(h.work, 'T46G-40MB.rom');
      writeFileSync(source, huge);
      const { image: img } = await h.running.outpost.firmware.add(source, 'T46G', '28.73.0.1');
      assert.ok(huge.length / 512 > 65535, 'more blocks than a 16-bit block number counts');
      const local = join(h.work, 'fw-huge.rom');
      const r = await run(TFTP, ['-m', 'octet', h.host, String(h.tftpPort), '-c', 'get', `firmware/${img.file}`, local], { timeoutMs: 90_000 });
      assert.ok(!r.timedOut, 'tftp-hpa finished');
      assert.doesNotMatch(r.stdout + r.stderr, /Error code/);
      const got = readFileSync(local);
      assert.equal(got.length, huge.length);
      assert.equal(sha256(got), sha256(huge));
    });

    it('the OACK of a firmware transfer carries tsize = the image size, blksize and the timeout asked for', async function () {
      const g = await firstAnswer({ port: h.tftpPort, file: `firmware/${image.file}`, options: { blksize: 1428, tsize: 0, timeout: 2 } });
      assert.ok(g.packet && isOack(g.packet), describePacket(g.packet));
      assert.deepEqual(g.packet.options, { blksize: '1428', tsize: String(bytes.length), timeout: '2' });
      await g.socket.send(errorPacket(0, 'enough'), g.packet.from.port, g.packet.from.address);

      const only = await firstAnswer({ port: h.tftpPort, file: `firmware/${image.file}`, options: { timeout: 3 } });
      assert.ok(only.packet && isOack(only.packet), describePacket(only.packet));
      assert.deepEqual(only.packet.options, { timeout: '3' }, 'a timeout-only request is acknowledged (not an empty OACK)');
      await only.socket.send(errorPacket(0, 'enough'), only.packet.from.port, only.packet.from.address);
      await waitFor('the slots are released', 5000, async () => /^outpost_firmware_transfers_in_flight 0$/m.test(await metrics(h)));
    });

    it('3b. netascii firmware with CR and LF: on the wire LF -> CR LF and CR -> CR NUL; tftp-hpa converts back to the original', async function () {
      const content = Buffer.concat([Buffer.from('line one\nline two\r\nbare CR\rend\n\r\r\n\n'), randomBytes(3000), Buffer.from('\rlast')]);
      const source = join(h.work, 'T28P.rom');
      writeFileSync(source, content);
      const { image: img } = await h.running.outpost.firmware.add(source, 'T28P', '2.73.0.1');

      const raw = await tftpGet({ port: h.tftpPort, file: `firmware/${img.file}`, mode: 'netascii' });
      assert.equal(raw.outcome, 'complete', JSON.stringify(raw.error));
      const wire = netascii(content);
      assert.equal(raw.data.length, wire.length, 'the converted length');
      assert.ok(raw.data.subarray(0, 40).equals(wire.subarray(0, 40)), `first bytes: ${JSON.stringify(raw.data.subarray(0, 40).toString('latin1'))}`);
      assert.ok(raw.data.equals(wire), 'LF -> CR LF, CR -> CR NUL');
      const withTsize = await tftpGet({ port: h.tftpPort, file: `firmware/${img.file}`, mode: 'netascii', options: { tsize: 0, blksize: 1428 } });
      assert.ok(withTsize.data.equals(wire));
      // This server's choice (as for configuration files): tsize is the number of bytes it sends.
      assert.equal(withTsize.oack?.tsize, String(wire.length), 'tsize is the number of bytes sent');

      const octet = await tftpGet({ port: h.tftpPort, file: `firmware/${img.file}` });
      assert.ok(octet.data.equals(content), 'octet is the image as it is');

      const hpa = await hpaGet(h, `firmware/${img.file}`, join(h.work, 'fw-netascii.rom'), 'netascii');
      assert.ok(hpa.data, hpa.out);
      assert.ok(hpa.data.equals(content), 'tftp-hpa netascii gives back the original bytes');
    });

    it('10. a transfer socket is bound to 127.0.0.1 (rinfo and /proc/net/udp, ss), never 0.0.0.0', async function () {
      const { packet, socket } = await firstAnswer({ port: h.tftpPort, file: `firmware/${image.file}` });
      assert.ok(packet && isData(packet), describePacket(packet));
      assert.equal(packet.from.address, '127.0.0.1');
      assert.notEqual(packet.from.port, h.tftpPort, 'a transfer has its own port (TID)');
      const own = ownUdpSockets();
      const transfer = own.find((s) => s.port === packet.from.port);
      assert.ok(transfer, `the transfer socket is this process's: ${JSON.stringify(own)}`);
      assert.equal(transfer.address, '127.0.0.1');
      const clientPorts = new Set([socket.port]);
      const wildcard = own.filter((s) => s.address === '0.0.0.0' && !clientPorts.has(s.port));
      assert.deepEqual(wildcard, [], 'no server socket on 0.0.0.0');

      const ss = await run('/usr/bin/ss', ['-uanp']);
      assert.equal(ss.code, 0, ss.stderr);
      const lines = ss.stdout.split('\n').filter((l) => new RegExp(`:${packet.from.port}\\s`).test(l) && l.includes(`pid=${process.pid},`));
      assert.ok(lines.length >= 1, `ss lists the transfer socket: ${ss.stdout}`);
      for (const l of lines) assert.ok(l.includes(`127.0.0.1:${packet.from.port}`) && !l.includes(`0.0.0.0:${packet.from.port}`), l);

      // An error answer (no transfer) also comes from the configured address.
      const err = await firstAnswer({ port: h.tftpPort, file: '../../etc/passwd' });
      assert.ok(err.packet && isError(err.packet));
      assert.equal(err.packet.from.address, '127.0.0.1');

      await socket.send(errorPacket(0, 'done'), packet.from.port, packet.from.address);
      await waitFor('the transfer socket is closed', 5000, () => !ownUdpSockets().some((s) => s.port === packet.from.port));
    });
  });

  // ---------------------------------------------------------------------------------------------------------------

  describe('tftp: transfer sockets on a server bound to 127.0.0.2', function () {
    this.timeout(60_000);
    let h: Harness;

    before(async function () {
      h = await startServer({ site: site(), bind: '127.0.0.2' });
    });

    after(async function () {
      await h?.close();
    });

    it('10b. DATA, OACK and ERROR packets come from 127.0.0.2 and the transfer socket is bound there', async function () {
      assert.equal(h.host, '127.0.0.2');
      const data = await firstAnswer({ host: h.host, port: h.tftpPort, file: MAC_FILE });
      assert.ok(data.packet && isData(data.packet), describePacket(data.packet));
      assert.equal(data.packet.from.address, '127.0.0.2');
      const transfer = ownUdpSockets().find((s) => s.port === data.packet!.from.port);
      assert.equal(transfer?.address, '127.0.0.2', JSON.stringify(ownUdpSockets()));

      const oack = await firstAnswer({ host: h.host, port: h.tftpPort, file: MAC_FILE, options: { blksize: 1428 } });
      assert.ok(oack.packet && isOack(oack.packet));
      assert.equal(oack.packet.from.address, '127.0.0.2');

      for (const file of ['nothing.cfg', '../../etc/passwd']) {
        const err = await firstAnswer({ host: h.host, port: h.tftpPort, file });
        assert.ok(err.packet && isError(err.packet), `${file}: ${describePacket(err.packet)}`);
        assert.equal(err.packet.from.address, '127.0.0.2', file);
      }
      const w = await TftpSocket.open();
      await w.send(requestPacket(OP.WRQ, 'x.bin', 'octet'), h.tftpPort, h.host);
      const refused = await w.next(5000);
      assert.ok(refused && isError(refused));
      assert.equal(refused.from.address, '127.0.0.2');

      const hpa = await hpaGet(h, MAC_FILE, join(h.work, 'alias.cfg'));
      assert.ok(hpa.data?.toString('utf8').startsWith('#!version:1.0.0.1'), hpa.out);
    });

    it('stopping the server ends a transfer in flight with an error packet and closes every server socket', async function () {
      const held = await firstAnswer({ host: h.host, port: h.tftpPort, file: MAC_FILE });
      assert.ok(held.packet && isData(held.packet), describePacket(held.packet));
      const transferPort = held.packet.from.port;
      assert.ok(ownUdpSockets().some((s) => s.address === '127.0.0.2' && s.port === transferPort));
      await h.running.stop();
      const after = await held.socket.drain(500);
      const err = after.find(isError);
      assert.ok(err, `the client is told: ${after.map(describePacket).join(', ')}`);
      assert.equal(err.from.port, transferPort);
      await waitFor('no socket left on 127.0.0.2', 3000, () => !ownUdpSockets().some((s) => s.address === '127.0.0.2'));
    });
  });

  // ---------------------------------------------------------------------------------------------------------------

  describe('tftp: a client that vanishes mid-transfer', function () {
    this.timeout(90_000);
    let h: Harness;
    let file: string;
    let size: number;

    before(async function () {
      h = await startServer({ site: site({ firmware: { maxConcurrent: 1 } }) });
      const source = join(h.work, 'fw.rom');
      writeFileSync(source, randomBytes(2 * 1024 * 1024));
      const added = await h.running.outpost.firmware.add(source, 'T22P', '7.73.0.60');
      file = added.image.file;
      size = added.image.size;
    });

    after(async function () {
      await h?.close();
    });

    it('11. the server retransmits, gives up after (retries+1) x timeout, frees the socket and the admission slot', async function () {
      const serverSockets = () => ownUdpSockets().filter((s) => s.address === '127.0.0.1');
      const baseline = serverSockets().length;
      const started = Date.now();
      const g = await tftpGet({ port: h.tftpPort, file: `firmware/${file}`, stopAfterBlocks: 2 });
      assert.equal(g.outcome, 'stopped');
      assert.equal(g.data.length, 3 * 512, 'blocks 1 to 3 arrived');
      const transferPort = g.from!.port;
      assert.ok(serverSockets().some((s) => s.port === transferPort), 'the transfer socket is open while the client is silent');

      // While it is held, the one slot is taken: HTTP firmware is refused.
      const busy = await http(h, `/prov/firmware/${file}`);
      assert.equal(busy.status, 503);
      assert.match(await metrics(h), /^outpost_firmware_transfers_in_flight 1$/m);

      // Default: 3 retries of 3 s. The socket must be gone by (3 + 1) x 3 s plus a margin.
      const retransmitted: number[] = [];
      const limit = (3 + 1) * 3000 + 4000;
      await waitFor('the transfer socket is freed', limit, async () => {
        for (const p of await g.socket.drain(50)) if (isData(p)) retransmitted.push(p.block);
        return !ownUdpSockets().some((s) => s.port === transferPort);
      });
      const elapsed = Date.now() - started;
      assert.deepEqual(retransmitted, [3, 3, 3], 'the unacknowledged block 3 is retransmitted 3 times (the default retries)');
      assert.ok(elapsed >= 3 * 3000 - 500, `not given up too early (${elapsed} ms)`);
      assert.equal(serverSockets().length, baseline + 1, 'back to the baseline (plus the client socket, still open)');
      g.socket.close();
      await waitFor('back to the baseline', 2000, () => serverSockets().length === baseline);

      assert.match(await metrics(h), /^outpost_firmware_transfers_in_flight 0$/m, 'the slot is released');
      const ok = await http(h, `/prov/firmware/${file}`);
      assert.equal(ok.status, 200, 'HTTP firmware works again');
      assert.equal(ok.body.length, size);
      const again = await tftpGet({ port: h.tftpPort, file: `firmware/${file}`, options: { blksize: 1428 } });
      assert.equal(again.outcome, 'complete');
      assert.equal(again.data.length, size);
    });

    it('11b. a client timeout option shortens the give-up: timeout 1 frees the socket within (3+1) x 1 s', async function () {
      const started = Date.now();
      const g = await tftpGet({ port: h.tftpPort, file: `firmware/${file}`, options: { timeout: 1 }, stopAfterBlocks: 1 });
      assert.equal(g.outcome, 'stopped');
      assert.equal(g.oack?.timeout, '1');
      const port = g.from!.port;
      await waitFor('the transfer socket is freed', (3 + 1) * 1000 + 2500, () => !ownUdpSockets().some((s) => s.port === port));
      assert.ok(Date.now() - started >= 3 * 1000 - 300);
      assert.match(await metrics(h), /^outpost_firmware_transfers_in_flight 0$/m);
    });

    it('11c. a TftpService with retries 1 and 300 ms gives up within 2 x 300 ms (+ margin); activeTransfers returns to 0', async function () {
      const { outpost } = h.running;
      const slots = new TransferSlots(() => 5);
      const service = new TftpService({
        address: '127.0.0.1',
        port: 0,
        catalogue: outpost.catalogue({ host: '127.0.0.1', httpPort: h.httpPort, tftpPort: 0, sipPort: 5060 }),
        firmware: outpost.firmware,
        slots,
        metrics: new Metrics(),
        log: silentLogger,
        retries: 1,
        timeoutMs: 300,
      });
      const bound = await service.start();
      try {
        assert.ok(bound.port > 0 && bound.port !== 69);
        assert.equal(bound.address, '127.0.0.1');
        // A client that never ACKs the OACK is given up the same way.
        const silent = await firstAnswer({ port: bound.port, file: `firmware/${file}`, options: { blksize: 1428, tsize: 0 } });
        assert.ok(silent.packet && isOack(silent.packet), describePacket(silent.packet));
        assert.equal(slots.inFlight, 1);
        const silentPort = silent.packet.from.port;
        await waitFor('the OACK is given up', 2 * 300 + 1500, () => service.activeTransfers === 0 && !ownUdpSockets().some((s) => s.port === silentPort), 20);
        assert.equal(slots.inFlight, 0, 'the slot of a transfer that never started is released');
        assert.equal((await silent.socket.drain(100)).filter(isOack).length, 1, 'the OACK is retransmitted once');
        silent.socket.close();

        for (const name of [`firmware/${file}`, MAC_FILE]) {
          const g = await tftpGet({ port: bound.port, file: name, stopAfterBlocks: 1 });
          assert.equal(g.outcome, 'stopped', name);
          assert.equal(service.activeTransfers, 1, name);
          const port = g.from!.port;
          const took = await waitFor(`${name}: given up`, 2 * 300 + 1500, () => service.activeTransfers === 0 && !ownUdpSockets().some((s) => s.port === port), 20);
          assert.ok(took >= 300, `${name}: one retransmission first (${took} ms)`);
          const retransmissions = (await g.socket.drain(100)).filter(isData);
          assert.equal(retransmissions.length, 1, `${name}: exactly one retransmission`);
          g.socket.close();
        }
        assert.equal(slots.inFlight, 0, 'the firmware slot is released');
      } finally {
        await service.stop();
      }
    });
  });

  // ---------------------------------------------------------------------------------------------------------------

  describe('tftp: firmware admission control shared with HTTP (firmware.maxConcurrent 2)', function () {
    this.timeout(90_000);
    let h: Harness;
    let file: string;
    let bytes: Buffer;

    before(async function () {
      h = await startServer({ site: site({ firmware: { maxConcurrent: 2 } }) });
      const source = join(h.work, 'fw.rom');
      bytes = randomBytes(400 * 1024);
      writeFileSync(source, bytes);
      file = (await h.running.outpost.firmware.add(source, 'T22P', '7.73.0.60')).image.file;
    });

    after(async function () {
      await h?.close();
    });

    it('12. two held transfers: a 3rd TFTP RRQ gets busy, HTTP 503 + Retry-After, config files are served at once, metrics count; released, it works again', async function () {
      const controller = new AbortController();
      // Two slow clients (an ACK every 400 ms): they stay in flight until told to stop.
      const held = [0, 1].map(() => tftpGet({ port: h.tftpPort, file: `firmware/${file}`, ackDelayMs: 400, packetTimeoutMs: 10_000, signal: controller.signal }));
      try {
        await waitFor('two transfers in flight', 5000, async () => /^outpost_firmware_transfers_in_flight 2$/m.test(await metrics(h)));

        const third = await firstAnswer({ port: h.tftpPort, file: `firmware/${file}` });
        assert.ok(third.packet && isError(third.packet), `3rd RRQ: ${describePacket(third.packet)}`);
        assert.match(third.packet.message, /busy/i);
        const thirdOpts = await firstAnswer({ port: h.tftpPort, file: `firmware/${file}`, options: { blksize: 1428, tsize: 0 } });
        assert.ok(thirdOpts.packet && isError(thirdOpts.packet), `3rd RRQ with options: ${describePacket(thirdOpts.packet)}`);
        assert.match(thirdOpts.packet.message, /busy/i);

        const refusedHttp = await http(h, `/prov/firmware/${file}`);
        assert.equal(refusedHttp.status, 503);
        const retryAfter = refusedHttp.headers.get('retry-after');
        assert.ok(retryAfter && /^\d+$/.test(retryAfter) && Number(retryAfter) > 0, `Retry-After: ${retryAfter}`);

        const started = Date.now();
        const cfg = await tftpGet({ port: h.tftpPort, file: MAC_FILE, options: { blksize: 1428 } });
        // Without a User-Agent, as over TFTP: the same identity (the MAC of the file name), so the same bytes.
        const cfgHttp = await http(h, `/prov/${MAC_FILE}`);
        const took = Date.now() - started;
        assert.equal(cfg.outcome, 'complete');
        assert.equal(cfgHttp.status, 200);
        assert.ok(cfg.data.equals(cfgHttp.body), 'the same file over TFTP and HTTP');
        assert.ok(cfg.data.includes(PASSWORD));
        assert.ok(took < 1500, `configuration files are not held back (${took} ms)`);
        const common = await tftpGet({ port: h.tftpPort, file: COMMON_FILE });
        assert.equal(common.outcome, 'complete');

        const m = await metrics(h);
        assert.match(m, /^outpost_firmware_transfers_in_flight 2$/m);
        assert.match(m, /^outpost_firmware_transfers_refused_total\{protocol="tftp"\} 2$/m);
        assert.match(m, /^outpost_firmware_transfers_refused_total\{protocol="http"\} 1$/m);
        assert.match(m, /^outpost_provisioning_requests_total\{protocol="tftp",status="503"\} 2$/m);
      } finally {
        controller.abort();
      }
      const ended = await Promise.all(held);
      for (const g of ended) {
        assert.equal(g.outcome, 'stopped', `a held transfer ended by itself: ${g.outcome} ${JSON.stringify(g.error)}`);
        assert.ok(g.data.length > 0 && bytes.subarray(0, g.data.length).equals(g.data), 'the held transfers were receiving the image');
      }
      await waitFor('the slots are released', 5000, async () => /^outpost_firmware_transfers_in_flight 0$/m.test(await metrics(h)));

      const tftp = await tftpGet({ port: h.tftpPort, file: `firmware/${file}`, options: { blksize: 1428 } });
      assert.equal(tftp.outcome, 'complete');
      assert.ok(tftp.data.equals(bytes));
      const viaHttp = await http(h, `/prov/firmware/${file}`);
      assert.equal(viaHttp.status, 200);
      assert.ok(viaHttp.body.equals(bytes));
    });

    it('12b. an HTTP download that is slow to read holds a slot too: with one HTTP and one TFTP in flight, TFTP is refused', async function () {
      const big = randomBytes(16 * 1024 * 1024);
      const source = join(h.work, 'T28P-big.rom');
      writeFileSync(source, big);
      const bigFile = (await h.running.outpost.firmware.add(source, 'T28P', '2.73.0.1')).image.file;
      await waitFor('no transfer in flight', 5000, async () => /^outpost_firmware_transfers_in_flight 0$/m.test(await metrics(h)));

      // An HTTP client that reads the headers and then stops reading.
      const slowHttp = new Socket();
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        slowHttp.once('error', reject);
        slowHttp.connect(h.httpPort, h.host, () => {
          slowHttp.write(`GET /prov/firmware/${bigFile} HTTP/1.1\r\nHost: ${h.host}\r\nConnection: close\r\n\r\n`);
        });
        slowHttp.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > 0) {
            slowHttp.pause();
            resolve();
          }
        });
      });
      const controller = new AbortController();
      const held = tftpGet({ port: h.tftpPort, file: `firmware/${file}`, ackDelayMs: 400, packetTimeoutMs: 10_000, signal: controller.signal });
      try {
        await waitFor('one HTTP and one TFTP transfer in flight', 5000, async () => /^outpost_firmware_transfers_in_flight 2$/m.test(await metrics(h)));
        assert.ok(received < big.length, 'the HTTP download is not complete');
        const third = await firstAnswer({ port: h.tftpPort, file: `firmware/${bigFile}` });
        assert.ok(third.packet && isError(third.packet), describePacket(third.packet));
        assert.match(third.packet.message, /busy/i);
        const refused = await http(h, `/prov/firmware/${file}`);
        assert.equal(refused.status, 503);
        assert.ok(refused.headers.get('retry-after'));
      } finally {
        controller.abort();
        slowHttp.destroy();
      }
      const g = await held;
      assert.equal(g.outcome, 'stopped');
      await waitFor('both slots are released (the HTTP one when its client goes away)', 5000, async () => /^outpost_firmware_transfers_in_flight 0$/m.test(await metrics(h)));
      const again = await tftpGet({ port: h.tftpPort, file: `firmware/${bigFile}`, options: { blksize: 65464, tsize: 0 } });
      assert.equal(again.outcome, 'complete');
      assert.equal(again.oack?.tsize, String(big.length));
      assert.ok(again.data.equals(big));
    });
  });

  // ---------------------------------------------------------------------------------------------------------------

  describe('tftp: secrets only to clients in provisioning.allow', function () {
    this.timeout(60_000);
    let h: Harness;

    before(async function () {
      h = await startServer({ site: site({ provisioning: { allow: ['10.99.0.0/16'] } }) });
    });

    after(async function () {
      await h?.close();
    });

    it('13. the MAC file (with a password) is refused with error 2 to 127.0.0.1; the common file is served', async function () {
      for (const options of [{}, { blksize: 1428, tsize: 0 }] as Array<Record<string, number>>) {
        const { packet, socket } = await firstAnswer({ port: h.tftpPort, file: MAC_FILE, options });
        assert.ok(packet && isError(packet), describePacket(packet));
        assert.equal(packet.code, 2);
        const rest = await socket.drain(300);
        assert.ok(!rest.some(isData));
        for (const p of [packet, ...rest]) assert.ok(!JSON.stringify(p).includes(PASSWORD));
      }
      const hpa = await hpaGet(h, MAC_FILE, join(h.work, 'refused.cfg'));
      assert.match(hpa.out, /Error code 2/);
      assert.ok(!hpa.data || !hpa.data.includes(PASSWORD));
      assert.equal((await h.running.outpost.store.devices.get(MAC as Mac))?.state, 'assigned', 'not provisioned');
      const refused = await h.running.outpost.store.events.list({ type: 'provisioning.refused', mac: MAC });
      assert.ok(refused.length >= 1);
      assert.equal(refused[0]!.data?.protocol, 'tftp');

      const common = await tftpGet({ port: h.tftpPort, file: COMMON_FILE });
      assert.equal(common.outcome, 'complete');
      assert.ok(common.data.toString('utf8').startsWith('#!version:1.0.0.1'));
      assert.ok(!common.data.includes(PASSWORD));
      assert.match(await metrics(h), /^outpost_provisioning_requests_total\{protocol="tftp",status="403"\} [1-9]\d*$/m);
    });
  });

  describe('tftp: the enumeration guard is shared with HTTP', function () {
    this.timeout(60_000);
    let h: Harness;

    before(async function () {
      h = await startServer({ site: site() });
    });

    after(async function () {
      await h?.close();
    });

    it('more than 20 unknown MAC files over TFTP block the client, over TFTP (error 2) and HTTP (403) alike', async function () {
      const codes: number[] = [];
      for (let i = 0; i < 21; i++) {
        const { packet, socket } = await firstAnswer({ port: h.tftpPort, file: `001565ee${i.toString(16).padStart(4, '0')}.cfg` });
        assert.ok(packet, `request ${i}: no answer`);
        codes.push(isError(packet) ? packet.code : -packet.op);
        socket.close();
      }
      assert.equal(codes[20], 2, `the 21st unknown MAC is refused: ${codes.join(',')}`);
      const own = await firstAnswer({ port: h.tftpPort, file: MAC_FILE });
      assert.ok(own.packet && isError(own.packet), `a blocked client gets no file: ${describePacket(own.packet)}`);
      assert.equal(own.packet.code, 2);
      assert.equal((await http(h, `/prov/${MAC_FILE}`, { 'user-agent': UA_T22P })).status, 403);
      assert.match(await metrics(h), /^outpost_provisioning_blocked_clients 1$/m);
    });
  });

  // The raw packet builders are part of the helper's contract; a broken ACK would make every test above lie.
  describe('tftp: the test client itself', function () {
    it('builds RRQ and ACK packets as RFC 1350 writes them', function () {
      assert.deepEqual([...requestPacket(OP.RRQ, 'a', 'octet', { blksize: 8 })], [0, 1, 97, 0, ...Buffer.from('octet'), 0, ...Buffer.from('blksize'), 0, 56, 0]);
      assert.deepEqual([...ackPacket(65537)], [0, 4, 0, 1]);
    });
  });
});
