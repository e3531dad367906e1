/**
 * `/api/v1` against a real server: `serve()` listening on 127.0.0.1 with a free port, a site file with the admin
 * password, and a pino logger at debug level writing to a file that must never hold a SIP password.
 */
import { strict as assert } from 'node:assert';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/app/log.js';
import type { RunningOutpost } from '../../src/app/serve.js';
import { serveHttpOnly } from '../support/serve.js';
import type { Mac } from '../../src/net/mac.js';

const ADMIN_PASSWORD = 'correct-horse';
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const UA_T22P = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01';
const UA_T22P_BB02 = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:02';

// SIP passwords of the lines made below: none may appear in any API answer or in the log.
const PW_111 = 'Api-Secret-111';
const PW_222 = 'Api-Secret-222';
const PW_REJECTED = 'Api-Secret-112';
const PW_CSV = 'Csv-Secret-131';
const PW_UNAUTHENTICATED = 'Never-Stored-199';
const SECRETS = [PW_111, PW_222, PW_REJECTED, PW_CSV, PW_UNAUTHENTICATED];

const mac = (s: string) => s as Mac;

type Json = any;

interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

describe('http /api/v1 (real server, debug log to a file)', function () {
  let running: RunningOutpost;
  let base = '';
  let dir = '';
  let logPath = '';
  let logFd: number | undefined;
  let savedEnvPassword: string | undefined;
  /** Every API answer body, to search for passwords at the end. */
  const answers: string[] = [];

  async function api(method: string, path: string, body?: unknown, options: { auth?: string | null; contentType?: string } = {}): Promise<ApiAnswer> {
    const headers: Record<string, string> = {};
    const auth = options.auth === undefined ? AUTH : options.auth;
    if (auth !== null) headers.authorization = auth;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: payload });
    const text = await res.text();
    answers.push(`${method} ${path} -> ${res.status} ${text}`);
    let json: Json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** The device file as the phone gets it (not an API answer: this one must hold the password). */
  async function macFile(file: string, userAgent: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${base}/prov/${file}`, { headers: { 'user-agent': userAgent } });
    return { status: res.status, text: await res.text() };
  }

  function setting(text: string, key: string): string | undefined {
    for (const line of text.split(/\r?\n/)) {
      const m = /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m && m[1] === key) return m[2];
    }
    return undefined;
  }

  function assertError(answer: ApiAnswer, pattern: RegExp, status = 400) {
    assert.equal(answer.status, status, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json\b/);
    assert.equal(typeof answer.json?.error, 'string', answer.text);
    assert.ok(answer.json.error.length > 10, `a clear message: ${answer.text}`);
    assert.match(answer.text, pattern);
  }

  before(async function () {
    savedEnvPassword = process.env.OUTPOST_ADMIN_PASSWORD;
    delete process.env.OUTPOST_ADMIN_PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'outpost-http-api-'));
    const dataDir = join(dir, 'data');
    const firmwareDir = join(dir, 'firmware');
    mkdirSync(dataDir);
    mkdirSync(firmwareDir);
    const configFile = join(dir, 'site.json');
    writeFileSync(configFile, JSON.stringify({ admin: { password: ADMIN_PASSWORD } }));
    logPath = join(dir, 'outpost.log');
    logFd = openSync(logPath, 'a');
    running = await serveHttpOnly({
      dataDir,
      firmwareDir,
      configFile,
      log: createLogger('debug', logFd),
    });
    base = `http://127.0.0.1:${running.httpPort}`;
  });

  after(async function () {
    try {
      await running?.stop();
    } finally {
      if (logFd !== undefined) closeSync(logFd);
      rmSync(dir, { recursive: true, force: true });
      if (savedEnvPassword === undefined) delete process.env.OUTPOST_ADMIN_PASSWORD;
      else process.env.OUTPOST_ADMIN_PASSWORD = savedEnvPassword;
    }
  });

  it('answers 401 without credentials, with a wrong password and with a wrong user', async function () {
    const cases: Array<[string, string | null]> = [
      ['no credentials', null],
      ['wrong password', `Basic ${Buffer.from('admin:wrong-horse').toString('base64')}`],
      ['wrong user', `Basic ${Buffer.from(`root:${ADMIN_PASSWORD}`).toString('base64')}`],
      ['empty password', `Basic ${Buffer.from('admin:').toString('base64')}`],
      ['not Basic', `Bearer ${ADMIN_PASSWORD}`],
    ];
    for (const [what, auth] of cases) {
      for (const path of ['/lines', '/devices', '/site', '/status', '/events', '/leases']) {
        const answer = await api('GET', path, undefined, { auth });
        assert.equal(answer.status, 401, `${what} ${path}`);
        assert.match(answer.headers.get('www-authenticate') ?? '', /^Basic realm=/, what);
        assert.equal(typeof answer.json?.error, 'string');
      }
    }
    const refusedWrite = await api('POST', '/lines', { ext: '199', user: '420234567199', password: PW_UNAUTHENTICATED }, { auth: null });
    assert.equal(refusedWrite.status, 401);
    assert.equal(await running.outpost.store.lines.get('199'), undefined, 'nothing was written');
    const events = await running.outpost.store.events.list({ type: 'api.auth_failed' });
    assert.ok(events.length >= 1);

    const ok = await api('GET', '/lines');
    assert.equal(ok.status, 200, 'the right credentials are accepted');
  });

  it('lines: POST adds, GET lists and shows, PUT without a password keeps it, DELETE removes', async function () {
    const added = await api('POST', '/lines', { ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: PW_111 });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.json.result, 'added');
    assert.equal(added.json.line.ext, '111');
    assert.equal(added.json.line.name, 'Jan Novák');
    assert.equal(added.json.line.hasPassword, true);
    assert.ok(!('password' in added.json.line));

    const duplicate = await api('POST', '/lines', { ext: '111', name: 'Someone else', user: '420234567999', password: PW_REJECTED });
    assert.equal(duplicate.status, 409, duplicate.text);
    assert.match(duplicate.json.error, /already a line/);
    assert.equal((await api('GET', '/lines/111')).json.user, '420234567111', 'the existing line is untouched');
    const second = await api('POST', '/lines', { ext: '222', name: 'Sklad', user: '420234567222', password: PW_222 });
    assert.equal(second.status, 201, second.text);

    const list = await api('GET', '/lines');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.map((l: Json) => l.ext).sort(), ['111', '222']);
    assert.ok(list.json.every((l: Json) => !('password' in l)));

    const one = await api('GET', '/lines/111');
    assert.equal(one.status, 200);
    assert.equal(one.json.user, '420234567111');
    assert.equal(one.json.number, '234567111');

    const put = await api('PUT', '/lines/111', { name: 'Jan N.', user: '420234567111', number: '234567111' });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.result, 'updated');
    assert.equal(put.json.line.name, 'Jan N.');
    const stored = await running.outpost.store.lines.get('111');
    assert.equal(stored?.password, PW_111, 'a PUT without password keeps the stored one');
    assert.equal(stored?.name, 'Jan N.');

    const missing = await api('GET', '/lines/999');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error, /999/);

    const removed = await api('DELETE', '/lines/222');
    assert.equal(removed.status, 204);
    assert.equal(removed.text, '');
    assert.equal((await api('GET', '/lines/222')).status, 404);
    assert.equal(await running.outpost.store.lines.get('222'), undefined);
    assertError(await api('DELETE', '/lines/222'), /222/, 404);
  });

  it('devices: POST takes any MAC notation and stores 12 lowercase hex digits; GET shows files; DELETE removes', async function () {
    const dashed = await api('POST', '/devices', { mac: '00-15-65-AA-BB-02', model: 'SIP-T22P', lines: ['111'] });
    assert.equal(dashed.status, 201, dashed.text);
    assert.equal(dashed.json.result, 'added');
    assert.equal(dashed.json.device.mac, '001565aabb02');
    assert.equal(dashed.json.device.model, 'T22P');
    assert.equal(dashed.json.device.state, 'assigned');
    assert.deepEqual(dashed.json.device.lines, ['111']);
    assert.deepEqual(dashed.json.device.files, ['y000000000005.cfg', '001565aabb02.cfg']);

    const dotted = await api('POST', '/devices', { mac: '0015.65aa.bb03', model: 'Yealink SIP-T26P' });
    assert.equal(dotted.status, 201, dotted.text);
    assert.equal(dotted.json.device.mac, '001565aabb03');
    assert.equal(dotted.json.device.model, 'T26P');

    assert.ok(await running.outpost.store.devices.get(mac('001565aabb02')));
    assert.ok(await running.outpost.store.devices.get(mac('001565aabb03')));

    const again = await api('POST', '/devices', { mac: '001565AABB02', model: 't22p', lines: ['111'] });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.result, 'unchanged', 'the same device in another notation is the same device');

    const list = await api('GET', '/devices');
    assert.equal(list.status, 200);
    const macs = list.json.map((d: Json) => d.mac);
    assert.ok(macs.includes('001565aabb02') && macs.includes('001565aabb03'), JSON.stringify(macs));
    assert.ok(macs.every((m: string) => /^[0-9a-f]{12}$/.test(m)));

    for (const notation of ['00:15:65:AA:BB:03', '001565aabb03', '0015.65AA.BB03']) {
      const shown = await api('GET', `/devices/${encodeURIComponent(notation)}`);
      assert.equal(shown.status, 200, `${notation}: ${shown.text}`);
      assert.equal(shown.json.mac, '001565aabb03');
      assert.deepEqual(shown.json.files, ['y000000000004.cfg', '001565aabb03.cfg']);
    }

    const removed = await api('DELETE', '/devices/00-15-65-aa-bb-03');
    assert.equal(removed.status, 204);
    assert.equal(await running.outpost.store.devices.get(mac('001565aabb03')), undefined);
    const gone = await api('GET', '/devices/001565aabb03');
    assert.ok(gone.status === 404 || gone.status === 400, `${gone.status}`);
    assert.match(gone.json.error, /no device/);

    const inUse = await api('DELETE', '/lines/111');
    assertError(inUse, /111/);
    assert.ok(await running.outpost.store.lines.get('111'), 'a line a device uses is kept');
  });

  it('400 with a clear error for a bad MAC, an unknown model, an emergency-number extension, a missing line, bad JSON', async function () {
    const before = (await running.outpost.store.devices.list()).length;
    assertError(await api('POST', '/devices', { mac: '00:15:65:aa:bb', model: 'SIP-T22P' }), /not a MAC address/);
    assertError(await api('POST', '/devices', { mac: '00:15:65:aa:bb:zz', model: 'SIP-T22P' }), /not a MAC address/);
    assertError(await api('GET', '/devices/not-a-mac'), /not a MAC address/);
    assertError(await api('POST', '/devices', { mac: '00:15:65:aa:bb:04', model: 'SIP-T99X' }), /unknown model/);
    assertError(await api('POST', '/devices', { mac: '00:15:65:aa:bb:05', model: 'SIP-T22P', lines: ['999'] }), /no line 999/);
    assertError(await api('POST', '/devices', { mac: '00:15:65:aa:bb:06', model: 'SIP-T22P', lines: ['111', '111'] }), /twice/);
    assert.equal((await running.outpost.store.devices.list()).length, before, 'no bad device was stored');

    const emergency = await api('POST', '/lines', { ext: '112', name: 'Tísňová', user: '420234567112', password: PW_REJECTED });
    assertError(emergency, /emergency/);
    assert.equal(await running.outpost.store.lines.get('112'), undefined);

    assertError(await api('POST', '/lines', { ext: '1', user: 'x', password: PW_REJECTED }), /ext/);

    const badJson = await api('POST', '/lines', `{"ext": "113", "user": "420234567113", "password": "${PW_REJECTED}" x}`, { contentType: 'application/json' });
    assertError(badJson, /not valid JSON/);
    const notObject = await api('POST', '/devices', '["00:15:65:aa:bb:07"]', { contentType: 'application/json' });
    assertError(notObject, /JSON object/);

    const badPath = await api('GET', '/lines/%zz');
    assert.equal(badPath.status, 400, `a malformed path is the client's mistake: ${badPath.text}`);
  });

  it('PATCH /site network.voiceVlan 20 reaches the rendered MAC file; 5000 is refused naming 4094', async function () {
    const beforeFile = await macFile('001565aabb02.cfg', UA_T22P_BB02);
    assert.equal(beforeFile.status, 200);
    assert.equal(setting(beforeFile.text, 'network.vlan.internet_port_vid'), '%NULL%');
    assert.equal(setting(beforeFile.text, 'account.1.password'), PW_111);

    const patched = await api('PATCH', '/site', { 'network.voiceVlan': 20 });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.network.voiceVlan, 20);

    const afterFile = await macFile('001565aabb02.cfg', UA_T22P_BB02);
    assert.equal(afterFile.status, 200);
    assert.equal(setting(afterFile.text, 'network.vlan.internet_port_vid'), '20');
    assert.equal(setting(afterFile.text, 'network.vlan.internet_port_enable'), '1');

    const tooBig = await api('PATCH', '/site', { 'network.voiceVlan': 5000 });
    assertError(tooBig, /4094/);
    assert.equal((await api('GET', '/site')).json.network.voiceVlan, 20, 'the refused value was not stored');

    assertError(await api('PATCH', '/site', { 'network.voiceVLAN_typo': 5 }), /unknown key/);
    assertError(await api('PATCH', '/site', { 'admin.password': 'another-horse' }), /site file/);
  });

  it('PUT /devices/:mac/settings/:key gives one phone its own VLAN; DELETE returns it to the site; bad ones are 400/404', async function () {
    const set = await api('PUT', '/devices/00-15-65-AA-BB-02/settings/network.voiceVlan', { value: 30 });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.json.device.overrides, { 'network.voiceVlan': 30 });
    assert.equal(setting((await macFile('001565aabb02.cfg', UA_T22P_BB02)).text, 'network.vlan.internet_port_vid'), '30');
    assert.equal((await api('GET', '/site')).json.network.voiceVlan, 20, 'the site keeps its VLAN');
    const asText = await api('PUT', '/devices/001565aabb02/settings/qos.rtpDscp', { value: '40' });
    assert.equal(asText.status, 200, asText.text);
    assert.equal(asText.json.device.overrides['qos.rtpDscp'], 40, 'text is coerced to the key\'s type');

    assertError(await api('PUT', '/devices/001565aabb02/settings/network.voiceVlan', { value: 5000 }), /4094/);
    assertError(await api('PUT', '/devices/001565aabb02/settings/network.voiceVlan', { value: 'thirty' }), /whole number/);
    assertError(await api('PUT', '/devices/001565aabb02/settings/dhcp.leaseTime', { value: 600 }), /setting of the box/);
    assertError(await api('PUT', '/devices/001565aabb02/settings/network.voiceVlan', {}), /value/);
    assertError(await api('PUT', '/devices/001565aabb99/settings/network.voiceVlan', { value: 30 }), /no device/, 404);
    assert.equal((await api('GET', '/devices/001565aabb02')).json.overrides['network.voiceVlan'], 30, 'refused values changed nothing');
    assert.equal((await api('PUT', '/devices/001565aabb02/settings/network.voiceVlan', { value: 30 }, { auth: null })).status, 401);

    assert.equal((await api('DELETE', '/devices/001565aabb02/settings/network.voiceVlan')).status, 204);
    assert.equal((await api('DELETE', '/devices/001565aabb02/settings/qos.rtpDscp')).status, 204);
    assert.equal(setting((await macFile('001565aabb02.cfg', UA_T22P_BB02)).text, 'network.vlan.internet_port_vid'), '20');
    assertError(await api('DELETE', '/devices/001565aabb02/settings/network.voiceVlan'), /no setting of its own/, 404);
  });

  it('GET /site masks the admin password', async function () {
    const site = await api('GET', '/site');
    assert.equal(site.status, 200);
    assert.equal(site.json.admin.password, '********');
    assert.ok(!site.text.includes(ADMIN_PASSWORD));
    assert.equal(site.json.network.voiceVlan, 20);
    assert.ok(Array.isArray(site.json.dialplan.emergency));
  });

  it('GET /status has upstream, mode and registrations', async function () {
    const status = await api('GET', '/status');
    assert.equal(status.status, 200);
    assert.ok(['up', 'down', 'unknown'].includes(status.json.upstream), status.text);
    assert.ok(['normal', 'survival'].includes(status.json.mode), status.text);
    assert.equal(typeof status.json.registrations, 'number');
    assert.equal(status.json.services.http.state, 'up');
    assert.equal(status.json.devices.assigned + status.json.devices.provisioned >= 1, true, status.text);
  });

  it('GET /events lists events, newest first, filtered by type and MAC', async function () {
    const all = await api('GET', '/events');
    assert.equal(all.status, 200);
    assert.ok(Array.isArray(all.json));
    const types = new Set(all.json.map((e: Json) => e.type));
    for (const t of ['service.started', 'device.added', 'line.removed', 'site.changed']) assert.ok(types.has(t), `${t} in ${[...types].join(',')}`);
    const ids = all.json.map((e: Json) => e.id);
    assert.deepEqual(ids, [...ids].sort((a: number, b: number) => b - a));

    const filtered = await api('GET', '/events?type=device.added&mac=00:15:65:AA:BB:02');
    assert.equal(filtered.status, 200);
    assert.ok(filtered.json.length >= 1);
    assert.ok(filtered.json.every((e: Json) => e.type === 'device.added' && e.mac === '001565aabb02'), filtered.text);

    const limited = await api('GET', '/events?limit=1');
    assert.equal(limited.json.length, 1);
    assertError(await api('GET', '/events?mac=zz'), /not a MAC address/);
  });

  it('POST /devices/import with text/csv: per-row results, the bad row reported, the good rows kept', async function () {
    const csv = [
      'mac,model,ext,number,name,user,password,forward',
      `00:15:65:aa:bb:10,SIP-T22P,131,234567131,Petr,420234567131,${PW_CSV},`,
      '00:15:65:aa:bb:zz,SIP-T22P,,,,,,',
      '0015.65aa.bb12,T26P,,,,,,',
      '',
    ].join('\n');
    const imported = await api('POST', '/devices/import', csv, { contentType: 'text/csv' });
    assert.equal(imported.status, 200, imported.text);
    assert.equal(imported.json.imported, 2);
    assert.equal(imported.json.failed, 1);
    assert.deepEqual(
      imported.json.rows.map((r: Json) => [r.row, r.ok]),
      [
        [2, true],
        [3, false],
        [4, true],
      ],
    );
    assert.match(imported.json.rows[1].message, /not a MAC address/);

    const d10 = await running.outpost.store.devices.get(mac('001565aabb10'));
    assert.equal(d10?.model, 'T22P');
    assert.deepEqual(d10?.lines, ['131']);
    assert.equal(d10?.origin, 'import');
    assert.equal((await running.outpost.store.lines.get('131'))?.password, PW_CSV);
    assert.equal((await running.outpost.store.devices.get(mac('001565aabb12')))?.model, 'T26P');

    const again = await api('POST', '/devices/import', csv, { contentType: 'text/csv' });
    assert.equal(again.status, 200);
    assert.equal(again.json.imported, 2, 'importing the same file twice is harmless');

    assertError(await api('POST', '/devices/import', { csv }), /text\/csv/);
    assertError(await api('POST', '/devices/import', 'foo,bar\n1,2\n', { contentType: 'text/csv' }), /header/);
  });

  it('GET /leases lists the live DHCP leases (not the expired or released ones)', async function () {
    const now = Date.now();
    await running.outpost.store.leases.save({ address: '10.20.0.150', client: 'hw:1:001565aabb50', mac: '001565aabb50', state: 'bound', expiresAt: now + 3_600_000, updatedAt: now });
    await running.outpost.store.leases.save({ address: '10.20.0.151', client: 'hw:1:001565aabb51', mac: '001565aabb51', state: 'bound', expiresAt: now - 1000, updatedAt: now });
    await running.outpost.store.leases.save({ address: '10.20.0.152', client: 'hw:1:001565aabb52', mac: '001565aabb52', state: 'released', expiresAt: now, updatedAt: now });
    const leases = await api('GET', '/leases');
    assert.equal(leases.status, 200);
    assert.deepEqual(leases.json.map((l: { address: string }) => l.address), ['10.20.0.150']);
    assert.equal(leases.json[0].mac, '001565aabb50');
    assert.ok(!Number.isNaN(Date.parse(leases.json[0].expiresAt)));
  });

  it('the MAC file a phone gets holds its password, and fetching it marks the device provisioned', async function () {
    const file = await macFile('001565aabb02.cfg', UA_T22P_BB02);
    assert.equal(file.status, 200);
    assert.equal(setting(file.text, 'account.1.password'), PW_111);
    assert.equal(setting(file.text, 'account.1.label'), '111');
    assert.equal((await api('GET', '/devices/001565aabb02')).json.state, 'provisioned');
    // A request the catalogue refuses, so the debug log has a "provisioning refused" line.
    assert.equal((await macFile('001565aabb02.cfg', UA_T22P)).status, 403);
  });

  it('no API answer ever contained a SIP password', function () {
    assert.ok(answers.length > 50, `the API was exercised (${answers.length} answers)`);
    for (const answer of answers) {
      for (const secret of [...SECRETS, ADMIN_PASSWORD]) assert.ok(!answer.includes(secret), `leaked ${secret}: ${answer.slice(0, 300)}`);
    }
  });

  it('the debug log holds the requests but never a SIP password (or the admin password)', async function () {
    await running.outpost.store.devices.flush();
    const log = readFileSync(logPath, 'utf8');
    assert.match(log, /"event":"device\.added"/, 'the log is written (else this test proves nothing)');
    assert.match(log, /"level":20/, 'debug lines are in it');
    assert.match(log, /provisioning refused/);
    for (const secret of [...SECRETS, ADMIN_PASSWORD]) assert.ok(!log.includes(secret), `the log contains ${secret}`);
  });
});
