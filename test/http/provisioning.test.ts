/**
 * `/prov/`, `/healthz` and `/metrics` against a real server: `serve()` listening on 127.0.0.1 with a free port,
 * a fresh data folder per suite, Node's fetch, and a raw socket where fetch would normalise the path.
 */
import { strict as assert } from 'node:assert';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger, type Logger } from '../../src/app/log.js';
import { adminPassword, type RunningOutpost } from '../../src/app/serve.js';
import { serveHttpOnly } from '../support/serve.js';
import type { Mac } from '../../src/net/mac.js';

// The exact User-Agents of /work/shared/reference/device-formats.md section 1.2.
const UA_T22P = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01';
const UA_T22P_OTHER = 'Yealink SIP-T22P 7.72.0.30 00:15:65:39:31:fc';
const UA_T28P = 'yealink SIP-T28P 2.70.0.140 00:15:65:13:ae:0b';
const UA_VP530P = 'VP530P 23.70.0.40 00:15:65:31:4b:c0';
const UA_T46G = 'Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37';
const UA_WELL = 'Well SIP-T26P 6.73.0.50 00:15:65:4b:57:d2';

const mac = (s: string) => s as Mac;

// ---------------------------------------------------------------------------------------------------------------
// Harness

interface Harness {
  running: RunningOutpost;
  port: number;
  base: string;
  dir: string;
  logPath: string | undefined;
  close(): Promise<void>;
}

async function startServer(options: { site?: unknown; logToFile?: boolean } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-http-prov-'));
  let fd: number | undefined;
  try {
    const dataDir = join(dir, 'data');
    const firmwareDir = join(dir, 'firmware');
    mkdirSync(dataDir);
    mkdirSync(firmwareDir);
    let configFile: string | undefined;
    if (options.site !== undefined) {
      configFile = join(dir, 'site.json');
      writeFileSync(configFile, JSON.stringify(options.site, null, 2));
    }
    let log: Logger = silentLogger;
    let logPath: string | undefined;
    if (options.logToFile) {
      logPath = join(dir, 'outpost.log');
      fd = openSync(logPath, 'a');
      log = createLogger('debug', fd);
    }
    const running = await serveHttpOnly({
      dataDir,
      firmwareDir,
      configFile,
      log,
    });
    const logFd = fd;
    return {
      running,
      port: running.httpPort,
      base: `http://127.0.0.1:${running.httpPort}`,
      dir,
      logPath,
      async close() {
        try {
          await running.stop();
        } finally {
          if (logFd !== undefined) closeSync(logFd);
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Every byte the server sent. */
  raw: Buffer;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Sends `METHOD <target> HTTP/1.1` with the target exactly as given (no normalisation), reads until close. */
function rawRequest(port: number, target: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const method = options.method ?? 'GET';
  const headerLines = Object.entries({ Host: `127.0.0.1:${port}`, Connection: 'close', ...options.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no complete answer to ${method} ${target}`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', (hadError) => {
      if (hadError) return;
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`not an HTTP answer to ${method} ${target}: ${JSON.stringify(raw.toString('latin1'))}`));
        return;
      }
      const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body: Buffer = raw.subarray(split + 4);
      if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body);
      resolve({ status, headers, body, raw });
    });
    socket.connect(port, '127.0.0.1', () => {
      socket.write(Buffer.from(`${method} ${target} HTTP/1.1\r\n${headerLines}\r\n`, 'latin1'));
    });
  });
}

function prov(h: Harness, file: string, userAgent?: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (userAgent !== undefined) headers['user-agent'] = userAgent;
  return fetch(`${h.base}/prov/${file}`, { method: init.method ?? 'GET', headers });
}

/** `key = value` lines whose key mentions a password and whose value is a real one (not empty, not %NULL%). */
function passwordValues(text: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((l) => !l.trimStart().startsWith('#'))
    .map((l) => /^\s*([^=\s]*password[^=\s]*)\s*=\s*(.*?)\s*$/i.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[2] !== '' && m[2] !== '%NULL%')
    .map((m) => `${m[1]} = ${m[2]}`);
}

/** The value of one `key = value` line, or undefined when the key is absent. */
function setting(text: string, key: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && m[1] === key) return m[2];
  }
  return undefined;
}

const PACKAGE_JSON = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
/** Distinctive fragments of package.json: none may ever reach a client through /prov/. */
const PACKAGE_MARKERS = ['"name": "outpost"', '"private": true', '"license": "UNLICENSED"', '"dependencies"', '"devDependencies"'];

// ---------------------------------------------------------------------------------------------------------------

describe('http /prov/: provisioning over HTTP (real server)', function () {
  let h: Harness;
  const PASSWORD_111 = 'Prov-Secret-111';
  const PASSWORD_111_NEW = 'Prov-Secret-111-rotated';
  const PASSWORD_121 = 'Well-Secret-121';

  before(async function () {
    assert.ok(PACKAGE_MARKERS.every((m) => PACKAGE_JSON.includes(m)), 'the markers must be in package.json for the traversal test to mean anything');
    h = await startServer({ logToFile: true });
  });

  after(async function () {
    await h?.close();
  });

  it('serves y000000000005.cfg to an unknown T22P and records the phone as discovered', async function () {
    const res = await prov(h, 'y000000000005.cfg', UA_T22P);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    const text = body.toString('utf8');
    assert.ok(text.startsWith('#!version:1.0.0.1\n') || text.startsWith('#!version:1.0.0.1\r\n'), `first line: ${JSON.stringify(text.slice(0, 40))}`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain\b/);
    assert.equal(res.headers.get('content-length'), String(body.length));
    assert.match(res.headers.get('etag') ?? '', /^(W\/)?"[^"]+"$/);
    assert.deepEqual(passwordValues(text), []);
    assert.equal(setting(text, 'account.1.password'), undefined, 'the common file has no account section');

    const device = await h.running.outpost.store.devices.get(mac('001565aabb01'));
    assert.ok(device, 'the phone is in the inventory');
    assert.equal(device.state, 'discovered');
    assert.equal(device.origin, 'discovered');
    assert.equal(device.model, 'T22P');
    assert.equal(device.firmware, '7.73.0.50');
    assert.equal(device.ip, '127.0.0.1');
    assert.equal(device.userAgent, UA_T22P);
    assert.deepEqual(device.lines, []);

    const events = await h.running.outpost.store.events.list({ type: 'device.discovered', mac: '001565aabb01' });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data?.ip, '127.0.0.1');
    assert.equal(events[0]!.data?.model, 'T22P');
  });

  it('the discovered phone is listed by GET /api/v1/devices too (with credentials)', async function () {
    const password = process.env.OUTPOST_ADMIN_PASSWORD || adminPassword(h.running.outpost.options.dataDir, '', silentLogger);
    const res = await fetch(`${h.base}/api/v1/devices`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } });
    assert.equal(res.status, 200);
    const devices = (await res.json()) as Array<{ mac: string; state: string; model?: string; firmware?: string; ip?: string }>;
    const found = devices.find((d) => d.mac === '001565aabb01');
    assert.ok(found, JSON.stringify(devices));
    assert.deepEqual({ state: found.state, model: found.model, firmware: found.firmware, ip: found.ip }, { state: 'discovered', model: 'T22P', firmware: '7.73.0.50', ip: '127.0.0.1' });
  });

  it('identifies the other reference User-Agents (lowercase vendor, bare VP530P, T46G) by their common files', async function () {
    const cases = [
      { ua: UA_T28P, file: 'y000000000000.cfg', mac: '00156513ae0b', model: 'T28P', firmware: '2.70.0.140' },
      { ua: UA_VP530P, file: 'y000000000023.cfg', mac: '001565314bc0', model: 'VP530', firmware: '23.70.0.40' },
      { ua: UA_T46G, file: 'y000000000028.cfg', mac: '0015654aa937', model: 'T46G', firmware: '28.72.0.1' },
    ];
    for (const c of cases) {
      const res = await prov(h, c.file, c.ua);
      assert.equal(res.status, 200, `${c.file} for ${c.ua}`);
      const text = await res.text();
      assert.ok(text.startsWith('#!version:1.0.0.1'), c.file);
      assert.deepEqual(passwordValues(text), []);
      const device = await h.running.outpost.store.devices.get(mac(c.mac));
      assert.ok(device, `${c.ua} recorded`);
      assert.equal(device.state, 'discovered', c.ua);
      assert.equal(device.model, c.model, c.ua);
      assert.equal(device.firmware, c.firmware, c.ua);
    }
  });

  it('serves a known T22P its <mac>.cfg with the line (password, label, Outpost as server 2) and marks it provisioned', async function () {
    const { outpost } = h.running;
    assert.equal(await outpost.putLine({ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: PASSWORD_111 }), 'added');
    await outpost.putDevice({ mac: '00:15:65:AA:BB:01', model: 'SIP-T22P', lines: ['111'] });
    assert.equal((await outpost.store.devices.get(mac('001565aabb01')))?.state, 'assigned');

    const res = await prov(h, '001565aabb01.cfg', UA_T22P);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    const text = body.toString('utf8');
    assert.ok(text.startsWith('#!version:1.0.0.1'));
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain\b/);
    assert.equal(res.headers.get('content-length'), String(body.length));
    assert.equal(setting(text, 'account.1.enable'), '1');
    assert.equal(setting(text, 'account.1.password'), PASSWORD_111);
    assert.equal(setting(text, 'account.1.label'), '111');
    assert.equal(setting(text, 'account.1.user_name'), '420234567111');
    assert.equal(setting(text, 'account.1.sip_server.2.address'), '127.0.0.1');
    assert.equal(setting(text, 'account.2.enable'), '0');
    assert.deepEqual(passwordValues(text), [`account.1.password = ${PASSWORD_111}`], 'only account 1 has a password');

    const device = await outpost.store.devices.get(mac('001565aabb01'));
    assert.equal(device?.state, 'provisioned');
    assert.ok(device?.provisionedAt);
  });

  it('the provisioning URL in the files names the port the server really listens on', async function () {
    // serve() is started with httpPort 0 ("pick a free port"); a phone told to come back to port 0 never returns.
    const res = await prov(h, '001565aabb01.cfg', UA_T22P);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.equal(setting(text, 'auto_provision.server.url'), `http://127.0.0.1:${h.port}/prov/`);
  });

  it('serves a "Well" rebrand (Well SIP-T26P) exactly like a Yealink', async function () {
    const res1 = await prov(h, 'y000000000004.cfg', UA_WELL);
    assert.equal(res1.status, 200);
    assert.ok((await res1.text()).startsWith('#!version:1.0.0.1'));
    const discovered = await h.running.outpost.store.devices.get(mac('0015654b57d2'));
    assert.equal(discovered?.state, 'discovered');
    assert.equal(discovered?.model, 'T26P');
    assert.equal(discovered?.vendor, 'Well');
    assert.equal(discovered?.firmware, '6.73.0.50');

    await h.running.outpost.putLine({ ext: '121', name: 'Recepce', user: '420234567121', password: PASSWORD_121 });
    await h.running.outpost.putDevice({ mac: '0015654b57d2', model: 'T26P', lines: ['121'] });
    const res2 = await prov(h, '0015654b57d2.cfg', UA_WELL);
    assert.equal(res2.status, 200);
    const text = await res2.text();
    assert.ok(text.startsWith('#!version:1.0.0.1'));
    assert.equal(setting(text, 'account.1.password'), PASSWORD_121);
    assert.equal(setting(text, 'account.1.label'), '121');
    assert.equal(setting(text, 'account.1.sip_server.2.address'), '127.0.0.1');
    assert.equal((await h.running.outpost.store.devices.get(mac('0015654b57d2')))?.state, 'provisioned');
  });

  it('an unknown MAC\'s <mac>.cfg never carries a password value', async function () {
    // With its own User-Agent: a discovered phone without lines gets a file with every account empty.
    const res1 = await prov(h, '0015653931fc.cfg', UA_T22P_OTHER);
    const text1 = await res1.text();
    assert.ok(res1.status === 200 || res1.status === 404, `status ${res1.status}`);
    assert.deepEqual(passwordValues(text1), []);
    for (const pw of [PASSWORD_111, PASSWORD_121]) assert.ok(!text1.includes(pw));
    if (res1.status === 200) assert.equal(setting(text1, 'account.1.enable'), '0');

    // Without any User-Agent.
    const res2 = await prov(h, '001565ccddee.cfg');
    const text2 = await res2.text();
    assert.ok(res2.status === 404 || res2.status === 200, `status ${res2.status}`);
    assert.deepEqual(passwordValues(text2), []);
    for (const pw of [PASSWORD_111, PASSWORD_121]) assert.ok(!text2.includes(pw));
  });

  it('refuses with 403 a <mac>.cfg whose MAC differs from the one in the User-Agent', async function () {
    // The T22P 00:15:65:aa:bb:01 asks for the Well phone's file, which holds line 121's password.
    const res = await prov(h, '0015654b57d2.cfg', UA_T22P);
    assert.equal(res.status, 403);
    const text = await res.text();
    assert.ok(!text.includes(PASSWORD_121));
    assert.deepEqual(passwordValues(text), []);
    const head = await prov(h, '0015654b57d2.cfg', UA_T22P, { method: 'HEAD' });
    assert.equal(head.status, 403);
  });

  it('answers If-None-Match with 304 and no body, HEAD with the headers and no body, and a new password changes the ETag', async function () {
    const first = await prov(h, '001565aabb01.cfg', UA_T22P);
    assert.equal(first.status, 200);
    const body = Buffer.from(await first.arrayBuffer());
    const etag = first.headers.get('etag');
    assert.ok(etag);
    assert.equal(first.headers.get('cache-control'), 'no-cache');

    const again = await prov(h, '001565aabb01.cfg', UA_T22P);
    assert.equal(again.headers.get('etag'), etag, 'the same bytes have the same ETag');
    await again.arrayBuffer();

    const notModified = await prov(h, '001565aabb01.cfg', UA_T22P, { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('etag'), etag);
    assert.equal(await notModified.text(), '');

    const raw304 = await rawRequest(h.port, '/prov/001565aabb01.cfg', { headers: { 'User-Agent': UA_T22P, 'If-None-Match': etag } });
    assert.equal(raw304.status, 304);
    assert.equal(raw304.body.length, 0, 'a 304 has no body');
    assert.ok(!raw304.raw.toString('utf8').includes(PASSWORD_111));
    // Several tags, one of them weak, as caches send them.
    const listed = await rawRequest(h.port, '/prov/001565aabb01.cfg', { headers: { 'User-Agent': UA_T22P, 'If-None-Match': `"other", W/${etag}` } });
    assert.equal(listed.status, 304);
    const otherTag = await prov(h, '001565aabb01.cfg', UA_T22P, { headers: { 'if-none-match': '"something-else"' } });
    assert.equal(otherTag.status, 200, 'a tag that does not match gets the file');
    await otherTag.arrayBuffer();

    const head = await prov(h, '001565aabb01.cfg', UA_T22P, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('etag'), etag);
    assert.equal(head.headers.get('content-length'), String(body.length));
    assert.match(head.headers.get('content-type') ?? '', /^text\/plain\b/);
    assert.equal(await head.text(), '');

    const rawHead = await rawRequest(h.port, '/prov/001565aabb01.cfg', { method: 'HEAD', headers: { 'User-Agent': UA_T22P } });
    assert.equal(rawHead.status, 200);
    assert.equal(rawHead.headers['content-length'], String(body.length));
    assert.equal(rawHead.body.length, 0, 'HEAD sends no body bytes');
    assert.ok(!rawHead.raw.toString('utf8').includes(PASSWORD_111));

    // Rotate the password: the file changes, so the old ETag no longer matches.
    await h.running.outpost.putLine({ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: PASSWORD_111_NEW });
    const changed = await prov(h, '001565aabb01.cfg', UA_T22P, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    const newEtag = changed.headers.get('etag');
    assert.ok(newEtag);
    assert.notEqual(newEtag, etag);
    const text = await changed.text();
    assert.equal(setting(text, 'account.1.password'), PASSWORD_111_NEW);
    assert.ok(!text.includes(`= ${PASSWORD_111}\n`));

    const notModifiedAgain = await prov(h, '001565aabb01.cfg', UA_T22P, { headers: { 'if-none-match': newEtag } });
    assert.equal(notModifiedAgain.status, 304);
  });

  it('refuses traversal, NUL, over-long and badly encoded names with 400 or 404 and never a byte of package.json', async function () {
    const targets = [
      '/prov/../package.json',
      '/prov/%2e%2e/package.json',
      '/prov/%2E%2E/package.json',
      '/prov/%2e%2e%2fpackage.json',
      '/prov/..%2fpackage.json',
      '/prov/..%5cpackage.json',
      '/prov/..\\package.json',
      '/prov/%00.cfg',
      '/prov/a%00b.cfg',
      `/prov/${'a'.repeat(296)}.cfg`,
      '/prov/%zz',
      '/prov/%',
      '/prov//package.json',
      '/prov/%2fpackage.json',
      '/prov/.%2e/package.json',
      '/prov/firmware/../../package.json',
      '/prov/firmware/%2e%2e/%2e%2e/package.json',
      '/prov/firmware/..%2f..%2fpackage.json',
      '/prov/firmware/%2e%2e%2f%2e%2e%2fpackage.json',
      '/prov/firmware/%00',
      '/prov/firmware/%zz',
    ];
    for (const target of targets) {
      for (const method of ['GET', 'HEAD']) {
        const res = await rawRequest(h.port, target, { method, headers: { 'User-Agent': UA_T22P } });
        assert.ok(res.status === 400 || res.status === 404, `${method} ${target}: ${res.status}`);
        const all = res.raw.toString('utf8');
        for (const marker of PACKAGE_MARKERS) assert.ok(!all.includes(marker), `${method} ${target} leaked ${marker}`);
        assert.ok(!/node_modules|URIError|<html/i.test(all), `${method} ${target} answered with a stack trace or an HTML error page`);
      }
    }
    const long = await rawRequest(h.port, `/prov/${'a'.repeat(296)}.cfg`);
    assert.equal(long.status, 400, 'a 300-character name');
    const nul = await rawRequest(h.port, '/prov/a%00b.cfg');
    assert.equal(nul.status, 400, 'a NUL');
    const badEncoding = await rawRequest(h.port, '/prov/%zz');
    assert.equal(badEncoding.status, 400, 'bad percent-encoding');
  });

  it('answers an unknown file name with 404', async function () {
    for (const file of ['nothing.cfg', 'y000000000099.cfg', 'package.json', 'index.html']) {
      const res = await prov(h, file, UA_T22P);
      assert.equal(res.status, 404, file);
      const text = await res.text();
      for (const marker of PACKAGE_MARKERS) assert.ok(!text.includes(marker));
    }
  });

  it('/healthz answers 200 without credentials', async function () {
    const res = await fetch(`${h.base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('/metrics is Prometheus text with outpost_provisioning_requests_total', async function () {
    const res = await fetch(`${h.base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain\b/);
    const text = await res.text();
    assert.match(text, /^# TYPE outpost_provisioning_requests_total counter$/m);
    assert.match(text, /^outpost_provisioning_requests_total\{[^}]*status="200"[^}]*\} [1-9]\d*$/m);
    assert.match(text, /^outpost_provisioning_requests_total\{[^}]*status="304"[^}]*\} [1-9]\d*$/m);
    assert.match(text, /^outpost_provisioning_requests_total\{[^}]*status="403"[^}]*\} [1-9]\d*$/m);
    assert.match(text, /^outpost_devices\{state="provisioned"\} 2$/m);
  });

  it('the debug log names the requests but never a SIP password', async function () {
    await h.running.outpost.store.devices.flush();
    const log = readFileSync(h.logPath!, 'utf8');
    assert.match(log, /"event":"device\.discovered"/, 'the log is written (else this test proves nothing)');
    assert.match(log, /provisioning refused/, 'debug lines are in it');
    for (const secret of [PASSWORD_111, PASSWORD_111_NEW, PASSWORD_121]) assert.ok(!log.includes(secret), `the log contains ${secret}`);
  });
});

describe('http /prov/: secrets only to clients in provisioning.allow', function () {
  let h: Harness;
  const PASSWORD = 'Allow-Secret-131';

  before(async function () {
    h = await startServer({ site: { provisioning: { allow: ['10.99.0.0/16'] } } });
    await h.running.outpost.putLine({ ext: '131', name: 'Sklad', user: '420234567131', password: PASSWORD });
    await h.running.outpost.putDevice({ mac: '00:15:65:aa:bb:01', model: 'SIP-T22P', lines: ['131'] });
  });

  after(async function () {
    await h?.close();
  });

  it('refuses the MAC file of a device with lines with 403 to 127.0.0.1, GET and HEAD alike', async function () {
    const res = await prov(h, '001565aabb01.cfg', UA_T22P);
    assert.equal(res.status, 403);
    const text = await res.text();
    assert.ok(!text.includes(PASSWORD));
    const head = await prov(h, '001565aabb01.cfg', UA_T22P, { method: 'HEAD' });
    assert.equal(head.status, 403);
    assert.equal((await h.running.outpost.store.devices.get(mac('001565aabb01')))?.state, 'assigned', 'not provisioned');
    const refused = await h.running.outpost.store.events.list({ type: 'provisioning.refused', mac: '001565aabb01' });
    assert.ok(refused.length >= 1);
  });

  it('still serves the common file (no secrets) with 200', async function () {
    const res = await prov(h, 'y000000000005.cfg', UA_T22P);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.startsWith('#!version:1.0.0.1'));
    assert.ok(!text.includes(PASSWORD));
  });

  it('does not render or record an unknown phone for a client outside the allow list', async function () {
    const res = await prov(h, '0015654b57d2.cfg', UA_WELL);
    assert.equal(res.status, 404);
    assert.deepEqual(passwordValues(await res.text()), []);
    assert.equal(await h.running.outpost.store.devices.get(mac('0015654b57d2')), undefined);
  });
});

describe('http /prov/: enumeration guard', function () {
  let h: Harness;
  const PASSWORD = 'Enum-Secret-141';

  before(async function () {
    h = await startServer();
    await h.running.outpost.putLine({ ext: '141', name: 'Kancl', user: '420234567141', password: PASSWORD });
    await h.running.outpost.putDevice({ mac: '001565aabb01', model: 'T22P', lines: ['141'] });
  });

  after(async function () {
    await h?.close();
  });

  it('serves the files normally before anything happened', async function () {
    assert.equal((await prov(h, 'y000000000005.cfg', UA_T22P)).status, 200);
    assert.equal((await prov(h, '001565aabb01.cfg', UA_T22P)).status, 200);
  });

  it('blocks a client after more than 20 unknown MACs within a minute, even for files it would get', async function () {
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) {
      const res = await prov(h, `001565ee${i.toString(16).padStart(4, '0')}.cfg`);
      statuses.push(res.status);
      const text = await res.text();
      assert.ok(!text.includes(PASSWORD));
    }
    assert.ok(statuses.slice(0, 20).every((s) => s !== 403), `the first 20 are not yet blocked: ${statuses.join(',')}`);
    assert.equal(statuses[20], 403, 'the 21st unknown MAC is refused');

    const common = await prov(h, 'y000000000005.cfg', UA_T22P);
    assert.equal(common.status, 403, 'the common file is refused to a blocked client');
    const own = await prov(h, '001565aabb01.cfg', UA_T22P);
    assert.equal(own.status, 403, 'a known device file is refused to a blocked client');
    assert.ok(!(await own.text()).includes(PASSWORD));

    const blocked = await h.running.outpost.store.events.list({ type: 'provisioning.blocked' });
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0]!.data?.ip, '127.0.0.1');
    assert.equal(blocked[0]!.level, 'warn');

    const metrics = await (await fetch(`${h.base}/metrics`)).text();
    assert.match(metrics, /^outpost_provisioning_blocked_clients 1$/m);
  });

  it('a blocked client still gets /healthz', async function () {
    assert.equal((await fetch(`${h.base}/healthz`)).status, 200);
  });
});
