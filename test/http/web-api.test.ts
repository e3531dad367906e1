/**
 * What the technician's web page uses beyond the CLI's API: the live stream (server-sent events), the device
 * file preview with masked passwords, the models, the site fields with their explanations, and the static page
 * itself. Real `serve()` on 127.0.0.1, real sqlite, real fetch; a debug log that must never hold a SIP password.
 */
import { strict as assert } from 'node:assert';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { createLogger, silentLogger } from '../../src/app/log.js';
import { Metrics } from '../../src/app/metrics.js';
import { Outpost } from '../../src/app/outpost.js';
import type { RunningOutpost } from '../../src/app/serve.js';
import { serveHttpOnly } from '../support/serve.js';
import { statusReport } from '../../src/app/status.js';
import { SITE_KEY_EXPLANATIONS, explainSiteKey } from '../../src/config/explain.js';
import { maskSecrets } from '../../src/http/api.js';
import { createHttpHandler, listen } from '../../src/http/server.js';
import { CONTENT_SECURITY_POLICY, defaultWebRoot, projectRoot } from '../../src/http/static.js';
import { StreamHub } from '../../src/http/stream.js';
import { TransferSlots } from '../../src/provisioning/admission.js';
import { settableKeys } from '../../src/provisioning/settings.js';
import type { OutpostEvent } from '../../src/store/events.js';
import { ROOT, ensureBuilt, outpost as runCli, describeRun } from '../cli/helpers.js';

type Json = any;

const ADMIN_PASSWORD = 'web-api-horse';
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const PW_111 = 'Web-Secret-111';
const PW_222 = 'Web&Secret<222>"q"';
const PW_THOMSON = 'Thomson-Secrét-333';
const SECRETS = [PW_111, PW_222, PW_THOMSON];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

interface SseMessage {
  event: string;
  data: string;
  id?: string | undefined;
  comment?: string | undefined;
}

/** A server-sent-events client on fetch: collects every message, waits for the ones a test expects. */
class SseClient {
  readonly messages: SseMessage[] = [];
  raw = '';
  status = 0;
  headers: Headers | undefined;
  ended = false;
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  static async open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const client = new SseClient();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: client.abort.signal });
    client.status = res.status;
    client.headers = res.headers;
    if (res.status !== 200 || !res.body) {
      client.raw = await res.text();
      client.ended = true;
      return client;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    client.done = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const text = decoder.decode(value, { stream: true });
          client.raw += text;
          buffer += text;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const message: SseMessage = { event: 'message', data: '' };
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) message.comment = line.slice(1).trim();
              else if (line.startsWith('event: ')) message.event = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
              else if (line.startsWith('id: ')) message.id = line.slice(4);
            }
            message.data = data.join('\n');
            if (message.comment !== undefined && data.length === 0) message.event = '';
            client.messages.push(message);
          }
        }
      } catch {
        /* aborted */
      } finally {
        client.ended = true;
      }
    })();
    return client;
  }

  async waitFor(predicate: (m: SseMessage) => boolean, timeoutMs: number, what: string, from = 0): Promise<SseMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got: ${JSON.stringify(this.messages.slice(from)).slice(0, 1500)}`);
      if (this.ended) throw new Error(`the stream ended before ${what}; got: ${JSON.stringify(this.messages).slice(0, 1500)}`);
      await sleep(20);
    }
  }

  async waitEnded(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await sleep(20);
    return this.ended;
  }

  outpostEvents(): OutpostEvent[] {
    return this.messages.filter((m) => m.event === 'outpost-event').map((m) => JSON.parse(m.data) as OutpostEvent);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

/** A request with the path exactly as given (fetch would normalise `..`). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('http: what the web page uses (real server)', function () {
  this.timeout(60_000);
  let running: RunningOutpost;
  let stopped = false;
  let base = '';
  let dir = '';
  let dataDir = '';
  let logPath = '';
  let logFd: number | undefined;
  let savedEnvPassword: string | undefined;
  const answers: string[] = [];
  const streams: SseClient[] = [];

  async function api(method: string, path: string, body?: unknown, options: { auth?: string | null; headers?: Record<string, string>; secretAllowed?: boolean } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    const auth = options.auth === undefined ? AUTH : options.auth;
    if (auth !== null) headers.authorization = auth;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: payload });
    const text = await res.text();
    if (!options.secretAllowed) answers.push(`${method} ${path} -> ${res.status} ${text}`);
    let json: Json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  async function openStream(headers: Record<string, string> = { authorization: AUTH }): Promise<SseClient> {
    const client = await SseClient.open(`${base}/api/v1/stream`, headers);
    streams.push(client);
    return client;
  }

  async function newestEventId(): Promise<number> {
    return (await api('GET', '/events?limit=1')).json[0]?.id ?? 0;
  }

  before(async function () {
    savedEnvPassword = process.env.OUTPOST_ADMIN_PASSWORD;
    delete process.env.OUTPOST_ADMIN_PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'outpost-http-web-'));
    dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    mkdirSync(join(dataDir, 'firmware'));
    const configFile = join(dir, 'site.json');
    writeFileSync(configFile, JSON.stringify({ admin: { password: ADMIN_PASSWORD } }));
    logPath = join(dir, 'outpost.log');
    logFd = openSync(logPath, 'a');
    running = await serveHttpOnly({
      dataDir,
      firmwareDir: join(dataDir, 'firmware'),
      configFile,
      log: createLogger('debug', logFd),
    });
    base = `http://127.0.0.1:${running.httpPort}`;
    for (const [ext, password] of [['111', PW_111], ['222', PW_222], ['333', PW_THOMSON]] as const) {
      const added = await api('POST', '/lines', { ext, name: `Line ${ext}`, user: `420234567${ext}`, password });
      assert.equal(added.status, 201, added.text);
    }
    assert.equal((await api('POST', '/devices', { mac: '00:15:65:aa:bb:02', model: 'SIP-T22P', lines: ['111', '222'] })).status, 201);
    assert.equal((await api('POST', '/devices', { mac: '00:14:7f:aa:bb:03', model: 'ST2030', lines: ['333'] })).status, 201);
  });

  after(async function () {
    try {
      for (const s of streams) await s.close();
      if (!stopped) await running?.stop();
    } finally {
      if (logFd !== undefined) closeSync(logFd);
      rmSync(dir, { recursive: true, force: true });
      if (savedEnvPassword === undefined) delete process.env.OUTPOST_ADMIN_PASSWORD;
      else process.env.OUTPOST_ADMIN_PASSWORD = savedEnvPassword;
    }
  });

  it('every action the page takes: 401 without credentials, 403 with the cookie but no CSRF token, and nothing changes', async function () {
    assert.equal((await api('POST', '/lines', { ext: '515', name: 'Guarded', user: '420234567515', password: 'Guarded-Secret-515' })).status, 201);
    assert.equal((await api('POST', '/devices', { mac: '00:15:65:aa:bb:55', model: 'SIP-T22P', lines: ['515'] })).status, 201);
    const login = await api('POST', '/session', { password: ADMIN_PASSWORD }, { auth: null });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const before = JSON.stringify([(await api('GET', '/lines/515')).json, (await api('GET', '/devices/001565aabb55')).json, (await api('GET', '/site')).json]);
    const actions: Array<[string, string, unknown]> = [
      ['POST', '/lines', { ext: '516', name: 'Intruder', user: '420234567516', password: 'Intruder-Secret-516' }],
      ['PUT', '/lines/515', { name: 'Changed' }],
      ['DELETE', '/lines/515', undefined],
      ['POST', '/devices', { mac: '00:15:65:aa:bb:56', model: 'SIP-T22P' }],
      ['PUT', '/devices/001565aabb55', { model: 'SIP-T22P', lines: [] }],
      ['DELETE', '/devices/001565aabb55', undefined],
      ['PUT', '/devices/001565aabb55/settings/network.voiceVlan', { value: 30 }],
      ['DELETE', '/devices/001565aabb55/settings/network.voiceVlan', undefined],
      ['POST', '/devices/001565aabb55/resync', {}],
      ['POST', '/devices/import', 'mac,model,ext\n001565aabb57,SIP-T22P,\n'],
      ['PATCH', '/site', { 'qos.sipDscp': 24 }],
    ];
    for (const [method, path, body] of actions) {
      const none = await api(method, path, body, { auth: null });
      assert.equal(none.status, 401, `${method} ${path} without credentials`);
      const noToken = await api(method, path, body, { auth: null, headers: { cookie } });
      assert.equal(noToken.status, 403, `${method} ${path} with the cookie and no X-CSRF-Token`);
      const wrongToken = await api(method, path, body, { auth: null, headers: { cookie, 'x-csrf-token': 'not-the-token' } });
      assert.equal(wrongToken.status, 403, `${method} ${path} with a wrong X-CSRF-Token`);
    }
    for (const path of ['/registrations', '/calls', '/leases', '/events', '/status', '/devices', '/lines']) {
      assert.equal((await api('GET', path, undefined, { auth: null })).status, 401, `GET ${path}`);
    }
    const after = JSON.stringify([(await api('GET', '/lines/515')).json, (await api('GET', '/devices/001565aabb55')).json, (await api('GET', '/site')).json]);
    assert.equal(after, before, 'nothing changed');
    assert.equal((await api('GET', '/lines/516')).status, 404);
    assert.equal((await api('GET', '/devices/001565aabb56')).status, 404);
  });

  it('every new route answers 401 without credentials and 200 with Basic or a session cookie', async function () {
    const paths = ['/models', '/site/fields', '/devices/001565aabb02/files', '/devices/001565aabb02/files/001565aabb02.cfg', '/handover', '/stream'];
    for (const path of paths) {
      const none = await api('GET', path, undefined, { auth: null });
      assert.equal(none.status, 401, path);
      assert.equal(typeof none.json.error, 'string', path);
      assert.ok(!none.text.includes('password ='), path);
    }
    const login = await api('POST', '/session', { password: ADMIN_PASSWORD }, { auth: null });
    assert.equal(login.status, 200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    for (const path of paths.filter((p) => p !== '/stream')) {
      assert.equal((await api('GET', path)).status, 200, `Basic ${path}`);
      assert.equal((await api('GET', path, undefined, { auth: null, headers: { cookie } })).status, 200, `cookie ${path}`);
    }
    const viaCookie = await openStream({ cookie });
    assert.equal(viaCookie.status, 200);
    await viaCookie.waitFor((m) => m.event === 'hello', 2000, 'hello');
    await viaCookie.close();
  });

  it('GET /models lists every model with vendor, accounts and a label, as outpost device models', async function () {
    const models = await api('GET', '/models');
    assert.equal(models.status, 200);
    const t22p = models.json.find((m: Json) => m.model === 'T22P');
    assert.deepEqual({ model: t22p.model, vendor: t22p.vendor, accounts: t22p.accounts }, { model: 'T22P', vendor: 'yealink', accounts: 3 });
    assert.match(t22p.label, /T22P/);
    assert.match(t22p.label, /3 accounts/);
    const st2030 = models.json.find((m: Json) => m.model === 'ST2030');
    assert.deepEqual([st2030.vendor, st2030.accounts], ['thomson', 4]);
    const gateway = models.json.find((m: Json) => m.model === '4104');
    assert.equal(gateway.vendor, 'mediatrix');
    assert.match(gateway.label, /4 FXS ports/);
    assert.equal(models.json.length, running.outpost.models.all().length);
    assert.ok(models.json.every((m: Json) => typeof m.label === 'string' && Number.isInteger(m.accounts) && m.accounts > 0));
  });

  it('GET /site/fields: every settable key with section, type, value (admin password masked) and its explanation', async function () {
    const fields = await api('GET', '/site/fields');
    assert.equal(fields.status, 200);
    assert.deepEqual(fields.json.map((f: Json) => f.key), [...settableKeys().keys()]);
    const byKey = new Map<string, Json>(fields.json.map((f: Json) => [f.key, f]));
    assert.deepEqual(byKey.get('network.voiceVlan'), {
      key: 'network.voiceVlan',
      section: 'network',
      type: 'integer',
      value: 0,
      explanation: SITE_KEY_EXPLANATIONS['network.voiceVlan'],
      source: 'default',
      perDevice: true,
    });
    assert.equal(byKey.get('site.name').type, 'string');
    assert.equal(byKey.get('site.ntp').type, 'list');
    assert.deepEqual(byKey.get('dialplan.emergency').value, ['112', '150', '155', '158']);
    assert.equal(byKey.get('fax.t38').type, 'boolean');
    assert.equal(byKey.get('dhcp.leaseTime').perDevice, false);
    assert.equal(byKey.get('dhcp.untagged.range').section, 'dhcp');
    const admin = byKey.get('admin.password');
    assert.equal(admin.value, '********');
    assert.equal(admin.source, 'file');
    assert.ok(!fields.text.includes(ADMIN_PASSWORD));
    for (const f of fields.json) assert.ok(typeof f.explanation === 'string' && f.explanation.length > 20, f.key);
  });

  it('PATCH /site: a refused value is 400 naming the field and stores nothing, not even the good keys before it', async function () {
    const ok = await api('PATCH', '/site', { 'network.voiceVlan': 20 });
    assert.equal(ok.status, 200, ok.text);
    const set = (await api('GET', '/site/fields')).json.find((f: Json) => f.key === 'network.voiceVlan');
    assert.deepEqual([set.value, set.source], [20, 'set']);

    const mixed = await api('PATCH', '/site', { 'qos.sipDscp': 30, 'network.voiceVlan': 5000 });
    assert.equal(mixed.status, 400, mixed.text);
    assert.equal(mixed.json.field, 'network.voiceVlan');
    assert.match(mixed.text, /network\.voiceVlan/);
    assert.match(mixed.text, /4094/);
    const site = (await api('GET', '/site')).json;
    assert.equal(site.qos.sipDscp, 26, 'the good key before the bad one was not stored');
    assert.equal(site.network.voiceVlan, 20, 'the refused value lost nothing');

    const text = await api('PATCH', '/site', { 'site.name': 'Olomouc', 'network.dataVlan': 'thirty' });
    assert.equal(text.status, 400);
    assert.equal(text.json.field, 'network.dataVlan');
    assert.match(text.json.error, /whole number/);
    assert.equal((await api('GET', '/site')).json.site.name, 'Branch');
    const unknown = await api('PATCH', '/site', { 'network.voiceVLAN': 3 });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.field, 'network.voiceVLAN');
    assert.equal((await api('PATCH', '/site', { 'admin.password': 'another-password' })).json.field, 'admin.password');

    const both = await api('PATCH', '/site', { 'qos.sipDscp': 30, 'site.name': 'Olomouc' });
    assert.equal(both.status, 200, both.text);
    assert.deepEqual([both.json.qos.sipDscp, both.json.site.name], [30, 'Olomouc']);
  });

  it('GET /devices/:mac/files lists what the device fetches, with its /prov/ path', async function () {
    const files = await api('GET', '/devices/00-15-65-AA-BB-02/files');
    assert.equal(files.status, 200);
    assert.deepEqual(files.json, [
      { name: 'y000000000005.cfg', path: '/prov/y000000000005.cfg' },
      { name: '001565aabb02.cfg', path: '/prov/001565aabb02.cfg' },
    ]);
    const thomson = await api('GET', '/devices/00147faabb03/files');
    assert.deepEqual(thomson.json.map((f: Json) => f.name), ['ST2030S.inf', 'ST2030S-common.txt', 'ST2030S_00147FAABB03.txt']);
    assert.equal((await api('GET', '/devices/001565aabb99/files')).status, 404);
    assert.equal((await api('GET', '/devices/not-a-mac/files')).status, 400);
  });

  it('GET /devices/:mac/files/:name: the file as the device gets it, passwords masked; ?secrets=1 shows them, byte for byte', async function () {
    const masked = await api('GET', '/devices/001565aabb02/files/001565aabb02.cfg');
    assert.equal(masked.status, 200);
    assert.match(masked.headers.get('content-type') ?? '', /^text\/plain; charset=utf-8/);
    assert.match(masked.text, /^account\.1\.password = \*{8}$/m);
    assert.match(masked.text, /^account\.2\.password = \*{8}$/m);
    assert.match(masked.text, /^account\.3\.password = %NULL%$/m, 'an unused account stays as it is');
    assert.match(masked.text, /^account\.1\.user_name = 420234567111$/m, 'the rest is untouched');
    for (const secret of SECRETS) assert.ok(!masked.text.includes(secret), secret);

    const shown = await api('GET', '/devices/001565aabb02/files/001565aabb02.cfg?secrets=1', undefined, { secretAllowed: true });
    assert.equal(shown.status, 200);
    assert.match(shown.text, new RegExp(`^account\\.1\\.password = ${PW_111}$`, 'm'));
    const phone = await fetch(`${base}/prov/001565aabb02.cfg`, { headers: { 'user-agent': 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:02' } });
    assert.equal(phone.status, 200);
    assert.equal(await phone.text(), shown.text, 'exactly what the phone gets');
    assert.equal(masked.text.split('\n').length, shown.text.split('\n').length);

    const common = await api('GET', '/devices/001565aabb02/files/y000000000005.cfg');
    assert.equal(common.status, 200);
    assert.equal(common.text, await (await fetch(`${base}/prov/y000000000005.cfg`)).text());
  });

  it('the preview of a Thomson file (ISO-8859-1) masks its password too', async function () {
    const name = 'ST2030S_00147FAABB03.txt';
    const masked = await fetch(`${base}/api/v1/devices/00147faabb03/files/${name}`, { headers: { authorization: AUTH } });
    assert.equal(masked.status, 200);
    assert.match(masked.headers.get('content-type') ?? '', /charset=iso-8859-1/);
    const maskedText = Buffer.from(await masked.arrayBuffer()).toString('latin1');
    answers.push(maskedText);
    assert.match(maskedText, /^regpwd1=\*{8}\r?$/m);
    assert.ok(!maskedText.includes(PW_THOMSON));
    const shown = await fetch(`${base}/api/v1/devices/00147faabb03/files/${name}?secrets=1`, { headers: { authorization: AUTH } });
    const shownBytes = Buffer.from(await shown.arrayBuffer());
    assert.ok(shownBytes.toString('latin1').includes(PW_THOMSON), 'é survives in Latin-1');
    const device = Buffer.from(await (await fetch(`${base}/prov/${name}`)).arrayBuffer());
    assert.ok(device.equals(shownBytes), 'byte for byte what the phone gets');
  });

  it('a file the device does not fetch is 404 with a JSON error, whatever the name', async function () {
    for (const name of ['nothing.cfg', '001565aabb99.cfg', 'ST2030S_00147FAABB03.txt', '..%2F..%2Fpackage.json', '%2e%2e', 'y000000000000.cfg']) {
      // Sent as written: fetch would resolve `%2e%2e` itself.
      const answer = await rawGet(running.httpPort, `/api/v1/devices/001565aabb02/files/${name}`, { authorization: AUTH });
      answers.push(answer.body);
      assert.ok(answer.status === 404 || answer.status === 400, `${name}: ${answer.status}`);
      assert.match(String(answer.headers['content-type'] ?? ''), /^application\/json/, name);
      assert.equal(typeof JSON.parse(answer.body).error, 'string');
      assert.ok(!answer.body.includes('"name": "outpost"') && !answer.body.includes('account.1.password'), name);
    }
    const missing = await api('GET', '/devices/001565aabb02/files/nothing.cfg');
    assert.match(missing.json.error, /001565aabb02\.cfg/, 'the error names the files it does fetch');
  });

  it('the stream: text/event-stream, no-cache, X-Accel-Buffering: no; hello first with the newest event id', async function () {
    const newest = await newestEventId();
    const stream = await openStream();
    assert.equal(stream.status, 200);
    assert.equal(stream.headers?.get('content-type'), 'text/event-stream');
    assert.equal(stream.headers?.get('cache-control'), 'no-cache');
    assert.equal(stream.headers?.get('x-accel-buffering'), 'no');
    const hello = await stream.waitFor(() => true, 2000, 'a first message');
    assert.equal(hello.event, 'hello');
    assert.deepEqual(JSON.parse(hello.data), { lastEventId: newest });
    assert.equal(hello.id, String(newest));
    await stream.close();
  });

  it('an event written by the store arrives within 3 s, exactly as GET /events lists it', async function () {
    const stream = await openStream();
    await stream.waitFor((m) => m.event === 'hello', 2000, 'hello');
    const started = Date.now();
    const written = await running.outpost.store.events.add({ type: 'test.ping', message: 'ping from the store', data: { n: 1 } });
    const message = await stream.waitFor((m) => m.event === 'outpost-event' && JSON.parse(m.data).id === written.id, 3000, 'the store event');
    assert.ok(Date.now() - started < 3000);
    assert.equal(message.id, String(written.id));
    const listed = (await api('GET', `/events?since=${written.id - 1}`)).json.find((e: Json) => e.id === written.id);
    assert.deepEqual(JSON.parse(message.data), listed);
    assert.equal(message.data, JSON.stringify(listed), 'the same JSON');
    await stream.close();
  });

  it('an event written by a separate CLI process (bin/outpost on the same data folder) arrives within 3 s, with a devices change', async function () {
    ensureBuilt();
    const stream = await openStream();
    await stream.waitFor((m) => m.event === 'hello', 2000, 'hello');
    const from = stream.messages.length;
    const cli = await runCli(dataDir, ['device', 'add', '--mac', '00:15:65:cc:dd:01', '--model', 'T26P', '--location', 'from the CLI']);
    assert.equal(cli.code, 0, describeRun(cli));
    const finished = Date.now();
    const added = await stream.waitFor((m) => m.event === 'outpost-event' && JSON.parse(m.data).type === 'device.added' && JSON.parse(m.data).mac === '001565ccdd01', 3000, 'the CLI\'s device.added', from);
    assert.ok(Date.now() - finished < 3000);
    assert.match(JSON.parse(added.data).message, /001565ccdd01|00:15:65:cc:dd:01/);
    await stream.waitFor((m) => m.event === 'change' && JSON.parse(m.data).topics.includes('devices'), 3000, 'a devices change', from);
    await stream.close();
  });

  it('a phone discovered by an HTTP provisioning request (Yealink User-Agent) produces a change with devices', async function () {
    await running.outpost.store.devices.flush();
    await sleep(1100);
    const stream = await openStream();
    await stream.waitFor((m) => m.event === 'hello', 2000, 'hello');
    // One poll after connecting sets the baseline; nothing about devices may change until the phone asks.
    await sleep(1500);
    assert.equal(stream.messages.filter((m) => m.event === 'change' && JSON.parse(m.data).topics.includes('devices')).length, 0, `quiet before: ${JSON.stringify(stream.messages)}`);
    const res = await fetch(`${base}/prov/y000000000005.cfg`, { headers: { 'user-agent': 'Yealink SIP-T22P 7.73.0.50 00:15:65:ee:ff:07' } });
    assert.equal(res.status, 200);
    await res.text();
    const change = await stream.waitFor((m) => m.event === 'change', 3000, 'a change');
    const topics = JSON.parse(change.data).topics as string[];
    assert.ok(topics.includes('devices'), topics.join(','));
    assert.ok(topics.every((t) => ['devices', 'lines', 'leases', 'registrations', 'calls', 'status', 'site'].includes(t)), topics.join(','));
    const discovered = await stream.waitFor((m) => m.event === 'outpost-event' && JSON.parse(m.data).type === 'device.discovered', 3000, 'device.discovered');
    assert.equal(JSON.parse(discovered.data).mac, '001565eeff07');
    await stream.close();
  });

  it('lines and site changes name their topics', async function () {
    const stream = await openStream();
    await stream.waitFor((m) => m.event === 'hello', 2000, 'hello');
    await sleep(1200);
    let from = stream.messages.length;
    assert.equal((await api('POST', '/lines', { ext: '444', name: 'Stream', user: '420234567444', password: 'Stream-Secret-444' })).status, 201);
    SECRETS.push('Stream-Secret-444');
    await stream.waitFor((m) => m.event === 'change' && JSON.parse(m.data).topics.includes('lines'), 3000, 'a lines change', from);
    from = stream.messages.length;
    assert.equal((await api('PATCH', '/site', { 'network.dataVlan': 40 })).status, 200);
    const site = await stream.waitFor((m) => m.event === 'change' && JSON.parse(m.data).topics.includes('site'), 3000, 'a site change', from);
    assert.ok(!JSON.parse(site.data).topics.includes('lines'), site.data);
    await stream.close();
  });

  it('Last-Event-ID resumes after what the client had: the events it missed come first, in order', async function () {
    const first = await openStream();
    const hello = await first.waitFor((m) => m.event === 'hello', 2000, 'hello');
    const had = Number(hello.id);
    await first.close();
    const a = await running.outpost.store.events.add({ type: 'test.missed', message: 'missed one' });
    const b = await running.outpost.store.events.add({ type: 'test.missed', message: 'missed two' });

    const resumed = await openStream({ authorization: AUTH, 'last-event-id': String(had) });
    const again = await resumed.waitFor((m) => m.event === 'hello', 2000, 'hello');
    assert.deepEqual(JSON.parse(again.data), { lastEventId: had });
    await resumed.waitFor((m) => m.event === 'outpost-event' && JSON.parse(m.data).id === b.id, 3000, 'the second missed event');
    const ids = resumed.outpostEvents().map((e) => e.id);
    assert.deepEqual(ids.filter((id) => id === a.id || id === b.id), [a.id, b.id]);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in id order');
    assert.ok(ids.every((id) => id > had), ids.join(','));
    assert.equal(new Set(ids).size, ids.length, 'none twice');
    await resumed.close();

    const fresh = await openStream();
    const freshHello = await fresh.waitFor((m) => m.event === 'hello', 2000, 'hello');
    assert.ok(Number(JSON.parse(freshHello.data).lastEventId) >= b.id, 'without Last-Event-ID it starts at the newest');
    await sleep(1300);
    assert.ok(fresh.outpostEvents().every((e) => e.id > b.id), 'and sends nothing old');
    await fresh.close();

    const future = await openStream({ authorization: AUTH, 'last-event-id': '99999999' });
    const clamped = await future.waitFor((m) => m.event === 'hello', 2000, 'hello');
    assert.ok(JSON.parse(clamped.data).lastEventId <= (await newestEventId()), 'an id from the future is clamped to the newest');
    await future.close();
  });

  it('a stream opened with a session ends when the session is logged out', async function () {
    const login = await api('POST', '/session', { password: ADMIN_PASSWORD }, { auth: null });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const stream = await openStream({ cookie });
    await stream.waitFor((m) => m.event === 'hello', 2000, 'hello');
    assert.equal(stream.ended, false);
    assert.equal((await api('DELETE', '/session', undefined, { auth: null, headers: { cookie } })).status, 204);
    assert.ok(await stream.waitEnded(3000), 'the stream ended');
  });

  it('no SIP password in any answer (without secrets=1), in any stream, or in the log', async function () {
    assert.ok(answers.length > 30, `exercised: ${answers.length}`);
    const streamed = streams.map((s) => s.raw).join('\n');
    assert.match(streamed, /event: outpost-event/);
    for (const secret of [...SECRETS, ADMIN_PASSWORD]) {
      for (const answer of answers) assert.ok(!answer.includes(secret), `leaked ${secret}: ${answer.slice(0, 300)}`);
      assert.ok(!streamed.includes(secret), `the stream leaked ${secret}`);
    }
    await running.outpost.store.devices.flush();
    const log = readFileSync(logPath, 'utf8');
    assert.match(log, /"event":"device\.added"/, 'the log is written');
    for (const secret of [...SECRETS, ADMIN_PASSWORD]) assert.ok(!log.includes(secret), `the log holds ${secret}`);
  });

  it('stopping the server ends open streams at once (well before the 2 s forced close)', async function () {
    const stream = await openStream();
    await stream.waitFor((m) => m.event === 'hello', 2000, 'hello');
    const started = Date.now();
    await running.stop();
    stopped = true;
    const took = Date.now() - started;
    assert.ok(took < 1500, `stop took ${took} ms`);
    assert.ok(await stream.waitEnded(1000), 'the stream ended');
  });
});

describe('http: the web page files (dist/web)', function () {
  let dir = '';
  let webRoot = '';
  let outpost: Outpost;
  let server: Server | undefined;
  let port = 0;

  async function start(root: string): Promise<void> {
    const catalogue = outpost.catalogue({ host: '127.0.0.1', httpPort: 0, tftpPort: 69, sipPort: 5060 });
    const handler = createHttpHandler({
      outpost,
      catalogue,
      metrics: new Metrics(),
      log: silentLogger,
      adminPassword: () => ADMIN_PASSWORD,
      status: () => statusReport(outpost, {}),
      healthy: () => true,
      firmwareSlots: new TransferSlots(() => 5),
      webRoot: root,
    });
    server = await listen(handler, 0, '127.0.0.1');
    port = (server.address() as { port: number }).port;
  }

  async function stopServer(): Promise<void> {
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
  }

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'outpost-http-static-'));
    webRoot = join(dir, 'web');
    mkdirSync(join(webRoot, 'assets', 'js'), { recursive: true });
    writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>Outpost test page</title>');
    writeFileSync(join(webRoot, 'assets', 'app.css'), 'body { color: black; }');
    writeFileSync(join(webRoot, 'assets', 'js', 'main.js'), 'export const main = 1;');
    writeFileSync(join(webRoot, 'assets', '.hidden'), 'HIDDEN-DOTFILE');
    writeFileSync(join(webRoot, 'secret.txt'), 'OUTSIDE-ASSETS');
    writeFileSync(join(dir, 'secret.txt'), 'OUTSIDE-WEB-ROOT');
    mkdirSync(join(dir, 'data'));
    outpost = await Outpost.open({ dataDir: join(dir, 'data'), firmwareDir: join(dir, 'firmware'), log: silentLogger });
  });

  afterEach(stopServer);

  after(async function () {
    await outpost?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the project root from the module (src under tsx, dist when built) and serves <root>/dist/web', function () {
    assert.equal(join(projectRoot(), '/'), join(ROOT, '/'));
    assert.equal(defaultWebRoot(), join(ROOT, 'dist', 'web'));
    assert.equal(join(projectRoot(join(ROOT, 'dist', 'http')), '/'), join(ROOT, '/'));
  });

  it('GET / is index.html with the Content-Security-Policy and no-cache', async function () {
    await start(webRoot);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(
      CONTENT_SECURITY_POLICY,
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(await res.text(), '<!doctype html><title>Outpost test page</title>');
  });

  it('GET /assets/* with the right content types, no-cache and the policy', async function () {
    await start(webRoot);
    const css = await fetch(`http://127.0.0.1:${port}/assets/app.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.equal(css.headers.get('cache-control'), 'no-cache');
    assert.equal(css.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(await css.text(), 'body { color: black; }');
    const js = await fetch(`http://127.0.0.1:${port}/assets/js/main.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^(text|application)\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'no-cache');
    assert.equal((await fetch(`http://127.0.0.1:${port}/assets/nothing.js`)).status, 404);
    const post = await fetch(`http://127.0.0.1:${port}/assets/app.css`, { method: 'POST' });
    assert.equal(post.status, 405);
  });

  it('no directory listing, no dot files, no path traversal out of assets (raw paths, encoded or not)', async function () {
    await start(webRoot);
    for (const path of ['/assets/', '/assets/js/', '/assets/js', '/assets']) {
      const res = await rawGet(port, path);
      assert.equal(res.status, 404, `${path}: ${res.status} ${res.body}`);
      assert.ok(!res.body.includes('main.js') && !res.body.includes('app.css'), path);
    }
    const attacks = [
      '/assets/../secret.txt',
      '/assets/../../secret.txt',
      '/assets/%2e%2e/secret.txt',
      '/assets/%2e%2e%2fsecret.txt',
      '/assets/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/js/..%2f..%2fsecret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
      '/assets/..%5csecret.txt',
      '/assets/.hidden',
      '/assets/%2ehidden',
      '/assets/app.css%00.js',
      '/assets/%zz',
    ];
    for (const path of attacks) {
      const res = await rawGet(port, path);
      assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
      for (const secret of ['OUTSIDE-ASSETS', 'OUTSIDE-WEB-ROOT', 'HIDDEN-DOTFILE', '"name": "outpost"']) assert.ok(!res.body.includes(secret), `${path} gave ${secret}`);
    }
  });

  it('without a built page, / keeps the plain-text answer', async function () {
    await start(join(dir, 'no-such-web'));
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await res.text(), /^Outpost is running/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/assets/app.css`)).status, 404);
  });
});

describe('live stream hub (unit, a real express server)', function () {
  let server: Server | undefined;
  let hub: StreamHub;
  let polls = 0;
  let fingerprint = 'a';
  const events: OutpostEvent[] = [];

  beforeEach(async function () {
    polls = 0;
    fingerprint = 'a';
    events.length = 0;
    events.push({ id: 1, at: new Date().toISOString(), type: 'x', level: 'info', message: 'one' });
    hub = new StreamHub(
      {
        events: async (filter) => {
          const since = filter.sinceId ?? 0;
          return events.filter((e) => e.id > since).sort((a, b) => b.id - a.id).slice(0, filter.limit ?? 100);
        },
        fingerprints: async () => {
          polls++;
          return { devices: fingerprint };
        },
        log: silentLogger,
      },
      { pollMs: 100, keepaliveMs: 150 },
    );
    const app = express();
    app.get('/s', hub.handle);
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
  });

  afterEach(async function () {
    hub.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
  });

  const url = () => `http://127.0.0.1:${(server!.address() as { port: number }).port}/s`;

  it('one poller for all clients, stopped when the last one leaves; keepalive comments', async function () {
    assert.equal(hub.polling, false, 'no poller without clients');
    const clients = await Promise.all([1, 2, 3].map(() => SseClient.open(url(), {})));
    for (const c of clients) await c.waitFor((m) => m.event === 'hello', 1000, 'hello');
    assert.equal(hub.clientCount, 3);
    assert.equal(hub.polling, true);
    const before = polls;
    await sleep(1000);
    const perSecond = polls - before;
    assert.ok(perSecond >= 6 && perSecond <= 12, `one poll per 100 ms for three clients, not three: ${perSecond}`);
    await clients[0]!.waitFor((m) => m.comment === 'keepalive', 1000, 'a keepalive');

    fingerprint = 'b';
    const changes = await Promise.all(clients.map((c) => c.waitFor((m) => m.event === 'change', 1000, 'change')));
    for (const c of changes) assert.deepEqual(JSON.parse(c.data), { topics: ['devices'] });

    events.push({ id: 2, at: new Date().toISOString(), type: 'y', level: 'warn', message: 'two' });
    for (const c of clients) {
      const m = await c.waitFor((x) => x.event === 'outpost-event', 1000, 'event 2');
      assert.equal(m.id, '2');
      assert.equal(JSON.parse(m.data).message, 'two');
    }

    for (const c of clients) await c.close();
    const deadline = Date.now() + 1000;
    while (hub.clientCount > 0 && Date.now() < deadline) await sleep(10);
    assert.equal(hub.clientCount, 0);
    assert.equal(hub.polling, false, 'the poller stopped with the last client');
    const after = polls;
    await sleep(350);
    assert.equal(polls, after, 'no polls without clients');
  });

  it('close() ends every stream and refuses new ones', async function () {
    const client = await SseClient.open(url(), {});
    await client.waitFor((m) => m.event === 'hello', 1000, 'hello');
    hub.close();
    assert.ok(await client.waitEnded(1000));
    const refused = await fetch(url());
    assert.equal(refused.status, 503);
    await refused.text();
  });
});

describe('maskSecrets and the site explanations (unit)', function () {
  it('masks password values in every vendor\'s syntax, and the secrets wherever else they appear', function () {
    const text = [
      'account.1.password = abc"d\\e',
      'account.2.password = %NULL%',
      'regpwd1=Rericha-heslo',
      'SipEp.Authentication[Index=1].Password="x\\"y"',
      'SipEp.Authentication[Index=2].Password=""',
      '  <sipUAAuthPassword Instance="1.1" ValueType="OCTET_STRING" Value="a&amp;b&lt;c"/>',
      '  <sipUAAuthPassword Instance="2.1" ValueType="OCTET_STRING" Value=""/>',
      'account.1.label = Long-Secret-9',
      'account.1.user_name = 420234567111',
    ].join('\n');
    const masked = maskSecrets(text, ['Long-Secret-9', 'Řeřicha-heslo', 'a&b<c']);
    assert.deepEqual(masked.split('\n'), [
      'account.1.password = ********',
      'account.2.password = %NULL%',
      'regpwd1=********',
      'SipEp.Authentication[Index=1].Password="********"',
      'SipEp.Authentication[Index=2].Password=""',
      '  <sipUAAuthPassword Instance="1.1" ValueType="OCTET_STRING" Value="********"/>',
      '  <sipUAAuthPassword Instance="2.1" ValueType="OCTET_STRING" Value=""/>',
      'account.1.label = ********',
      'account.1.user_name = 420234567111',
    ]);
  });

  it('every key outpost site set accepts has a sentence, and no sentence is for a key that does not exist', function () {
    const keys = [...settableKeys().keys()];
    assert.ok(keys.length > 40);
    for (const key of keys) {
      const sentence = SITE_KEY_EXPLANATIONS[key];
      assert.equal(typeof sentence, 'string', `no explanation for ${key}`);
      assert.ok(sentence!.length > 20 && /[.]$/.test(sentence!), `${key}: ${sentence}`);
      assert.equal(explainSiteKey(key), sentence);
    }
    assert.deepEqual(Object.keys(SITE_KEY_EXPLANATIONS).filter((k) => !keys.includes(k)), []);
  });
});
