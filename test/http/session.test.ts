/**
 * The web page's session: login with the admin password (cookie + CSRF token), the delay after wrong passwords,
 * CSRF on writes, HTTP Basic unchanged, no browser login box for the page, logout, and every session dropped when
 * the admin password changes. Against a real `serve()` on 127.0.0.1, plus unit tests of the session store.
 */
import { strict as assert } from 'node:assert';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/app/log.js';
import type { RunningOutpost } from '../../src/app/serve.js';
import { serveHttpOnly } from '../support/serve.js';
import { FAILURE_DELAY_MAX_MS, SessionStore, failureDelay, readCookie } from '../../src/http/session.js';

type Json = any;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
  ms: number;
}

const PW_LINE = 'Session-Secret-151';

describe('http /api/v1/session (real server)', function () {
  let running: RunningOutpost;
  let base = '';
  let dir = '';
  let dataDir = '';
  let logPath = '';
  let logFd: number | undefined;
  let adminPassword = '';
  let savedEnvPassword: string | undefined;
  /** Every cookie token and CSRF token handed out, to look for in the log at the end. */
  const tokens: string[] = [];
  const answers: string[] = [];

  async function call(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const started = Date.now();
    const res = await fetch(`${base}${path}`, { method, headers, body: payload });
    const text = await res.text();
    const ms = Date.now() - started;
    answers.push(`${method} ${path} -> ${res.status} ${text}`);
    let json: Json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json, ms };
  }

  const basic = (password = adminPassword) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;

  async function login(password = adminPassword): Promise<{ cookie: string; token: string; csrf: string; answer: Answer }> {
    const answer = await call('POST', '/api/v1/session', { body: { password } });
    assert.equal(answer.status, 200, answer.text);
    const setCookie = answer.headers.get('set-cookie') ?? '';
    const token = /^outpost_session=([^;]*)/.exec(setCookie)?.[1] ?? '';
    tokens.push(token, answer.json.csrf);
    return { cookie: `outpost_session=${token}`, token, csrf: answer.json.csrf, answer };
  }

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  }

  before(async function () {
    savedEnvPassword = process.env.OUTPOST_ADMIN_PASSWORD;
    delete process.env.OUTPOST_ADMIN_PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'outpost-http-session-'));
    dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    mkdirSync(join(dir, 'firmware'));
    logPath = join(dir, 'outpost.log');
    logFd = openSync(logPath, 'a');
    // No admin password in a site file: one is generated into data/admin-password, and `site set` may change it.
    running = await serveHttpOnly({
      dataDir,
      firmwareDir: join(dir, 'firmware'),
      log: createLogger('debug', logFd),
    });
    base = `http://127.0.0.1:${running.httpPort}`;
    adminPassword = readFileSync(join(dataDir, 'admin-password'), 'utf8').trim();
    assert.ok(adminPassword.length >= 12);
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

  it('POST /session with the right password: 200 {csrf} and an HttpOnly SameSite=Strict cookie of 32 random bytes, no Secure', async function () {
    const { answer, token, csrf } = await login();
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(Object.keys(answer.json), ['csrf']);
    assert.equal(typeof csrf, 'string');
    assert.ok(csrf.length >= 32, csrf);
    const setCookie = answer.headers.get('set-cookie') ?? '';
    const attributes = setCookie.split(';').map((s) => s.trim());
    assert.match(attributes[0]!, /^outpost_session=[A-Za-z0-9_-]{43}$/, setCookie);
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.ok(attributes.includes('HttpOnly'), setCookie);
    assert.ok(attributes.includes('SameSite=Strict'), setCookie);
    assert.ok(attributes.includes('Path=/'), setCookie);
    assert.ok(attributes.includes('Max-Age=43200'), setCookie);
    assert.ok(!attributes.some((a) => /^secure$/i.test(a)), `no Secure on plain HTTP: ${setCookie}`);
    assert.ok(!setCookie.includes(adminPassword));

    const again = await login();
    assert.notEqual(again.token, token, 'every login gets its own token');
    assert.notEqual(again.csrf, csrf);
  });

  it('a wrong password: 401 {"error":"wrong password"} after a delay that grows with each failure from the address, recorded, no cookie', async function () {
    this.timeout(30_000);
    const failuresBefore = await metric('outpost_api_auth_failures_total');
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await call('POST', '/api/v1/session', { body: { password: `${adminPassword}x` } });
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.json, { error: 'wrong password' });
      assert.equal(answer.headers.get('set-cookie'), null);
      assert.equal(answer.headers.get('www-authenticate'), null);
      times.push(answer.ms);
    }
    assert.ok(times[0]! >= 240, `first failure delayed ~0.25 s: ${times.join(', ')}`);
    assert.ok(times[1]! >= 480 && times[1]! > times[0]! + 150, `second ~0.5 s: ${times.join(', ')}`);
    assert.ok(times[2]! >= 960 && times[2]! > times[1]! + 300, `third ~1 s: ${times.join(', ')}`);
    assert.ok(times[2]! < FAILURE_DELAY_MAX_MS + 1000, `bounded: ${times.join(', ')}`);
    assert.equal(await metric('outpost_api_auth_failures_total'), failuresBefore + 3);
    const events = await running.outpost.store.events.list({ type: 'api.auth_failed' });
    assert.ok(events.length >= 1, 'an api.auth_failed event');

    // A good password resets the count: the next failure waits the first delay again.
    await login();
    const reset = await call('POST', '/api/v1/session', { body: { password: 'not-it' } });
    assert.equal(reset.status, 401);
    assert.ok(reset.ms < 900, `after a success the delay starts again: ${reset.ms} ms`);
    await login();
  });

  it('POST /session without a password string or with bad JSON is 400; other methods 405', async function () {
    for (const body of [{}, { password: 5 }, ['x'], { password: null }]) {
      const answer = await call('POST', '/api/v1/session', { body });
      assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
      assert.match(answer.json.error, /password/);
    }
    const bad = await call('POST', '/api/v1/session', { body: '{"password": "x"', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /not valid JSON/);
    assert.equal((await call('PUT', '/api/v1/session', { body: { password: adminPassword } })).status, 405);
  });

  it('GET /session: 200 {authenticated, csrf} with the cookie or Basic, 401 {authenticated:false} (no login box) without', async function () {
    const { cookie, csrf } = await login();
    const withCookie = await call('GET', '/api/v1/session', { headers: { cookie } });
    assert.equal(withCookie.status, 200);
    assert.deepEqual(withCookie.json, { authenticated: true, csrf });
    assert.match(withCookie.headers.get('set-cookie') ?? '', /Max-Age=43200/, 'the cookie is renewed with the idle timeout');

    const withBasic = await call('GET', '/api/v1/session', { headers: { authorization: basic() } });
    assert.equal(withBasic.status, 200);
    assert.equal(withBasic.json.authenticated, true);

    const cases: Array<Record<string, string>> = [{}, { cookie: 'outpost_session=not-a-session' }, { authorization: basic('wrong-password') }];
    for (const headers of cases) {
      const none = await call('GET', '/api/v1/session', { headers });
      assert.equal(none.status, 401, JSON.stringify(headers));
      assert.deepEqual(none.json, { authenticated: false });
      assert.equal(none.headers.get('www-authenticate'), null);
    }
  });

  it('with the cookie, writes need X-CSRF-Token: 403 without or wrong (nothing written), 2xx with it; reads need none', async function () {
    const { cookie, csrf } = await login();
    const line = { ext: '151', name: 'Session', user: '420234567151', password: PW_LINE };

    const missing = await call('POST', '/api/v1/lines', { body: line, headers: { cookie } });
    assert.equal(missing.status, 403, missing.text);
    assert.deepEqual(missing.json, { error: 'missing or wrong X-CSRF-Token header' });
    const wrong = await call('POST', '/api/v1/lines', { body: line, headers: { cookie, 'x-csrf-token': `${csrf.slice(0, -2)}xx` } });
    assert.equal(wrong.status, 403);
    const empty = await call('POST', '/api/v1/lines', { body: line, headers: { cookie, 'x-csrf-token': '' } });
    assert.equal(empty.status, 403);
    const other = await login();
    const otherSessions = await call('POST', '/api/v1/lines', { body: line, headers: { cookie, 'x-csrf-token': other.csrf } });
    assert.equal(otherSessions.status, 403, 'the token of another session does not do');
    assert.equal(await running.outpost.store.lines.get('151'), undefined, 'nothing was written');
    assert.equal((await call('DELETE', '/api/v1/devices/001565aabb01', { headers: { cookie } })).status, 403);

    const ok = await call('POST', '/api/v1/lines', { body: line, headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal((await running.outpost.store.lines.get('151'))?.password, PW_LINE);

    const read = await call('GET', '/api/v1/lines/151', { headers: { cookie } });
    assert.equal(read.status, 200);
    assert.equal(read.json.ext, '151');
    const patched = await call('PATCH', '/api/v1/site', { body: { 'site.name': 'Brno' }, headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.site.name, 'Brno');
    const removed = await call('DELETE', '/api/v1/lines/151', { headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(removed.status, 204);
  });

  it('HTTP Basic works as before and needs no CSRF token', async function () {
    const added = await call('POST', '/api/v1/lines', { body: { ext: '152', name: 'Basic', user: '420234567152', password: PW_LINE }, headers: { authorization: basic() } });
    assert.equal(added.status, 201, added.text);
    const removed = await call('DELETE', '/api/v1/lines/152', { headers: { authorization: basic() } });
    assert.equal(removed.status, 204);
    const wrongBasic = await call('GET', '/api/v1/lines', { headers: { authorization: basic('nope-nope') } });
    assert.equal(wrongBasic.status, 401);
  });

  it('401 carries WWW-Authenticate: Basic, except for the web page (X-Requested-With: outpost-web) and EventSource', async function () {
    for (const path of ['/api/v1/lines', '/api/v1/status', '/api/v1/models', '/api/v1/stream']) {
      const plain = await call('GET', path);
      assert.equal(plain.status, 401, path);
      assert.match(plain.headers.get('www-authenticate') ?? '', /^Basic realm="Outpost"/, path);
      const page = await call('GET', path, { headers: { 'x-requested-with': 'outpost-web' } });
      assert.equal(page.status, 401, path);
      assert.equal(page.headers.get('www-authenticate'), null, path);
      assert.equal(typeof page.json.error, 'string');
      const stale = await call('GET', path, { headers: { 'x-requested-with': 'outpost-web', cookie: 'outpost_session=expired-or-forged' } });
      assert.equal(stale.status, 401);
      assert.equal(stale.headers.get('www-authenticate'), null);
    }
    const eventSource = await call('GET', '/api/v1/stream', { headers: { accept: 'text/event-stream' } });
    assert.equal(eventSource.status, 401);
    assert.equal(eventSource.headers.get('www-authenticate'), null);
    const write = await call('POST', '/api/v1/lines', { body: { ext: '153', user: 'x', password: PW_LINE }, headers: { 'x-requested-with': 'outpost-web' } });
    assert.equal(write.status, 401);
    assert.equal(write.headers.get('www-authenticate'), null);
  });

  it('DELETE /session: 204, the cookie cleared (Max-Age=0), the session gone server-side', async function () {
    const { cookie, csrf } = await login();
    assert.equal((await call('GET', '/api/v1/lines', { headers: { cookie } })).status, 200);
    const out = await call('DELETE', '/api/v1/session', { headers: { cookie } });
    assert.equal(out.status, 204);
    assert.equal(out.text, '');
    const cleared = out.headers.get('set-cookie') ?? '';
    assert.match(cleared, /^outpost_session=;/);
    assert.match(cleared, /Max-Age=0/);
    assert.match(cleared, /HttpOnly/);
    // The browser would drop the cookie; a client that keeps it is refused all the same.
    assert.equal((await call('GET', '/api/v1/lines', { headers: { cookie } })).status, 401);
    assert.equal((await call('GET', '/api/v1/session', { headers: { cookie } })).status, 401);
    assert.equal((await call('POST', '/api/v1/lines', { body: { ext: '154', user: 'u154', password: PW_LINE }, headers: { cookie, 'x-csrf-token': csrf } })).status, 401);
    assert.equal((await call('DELETE', '/api/v1/session')).status, 204, 'logging out twice is harmless');
  });

  it('changing the admin password drops every session; the old password no longer logs in', async function () {
    this.timeout(20_000);
    const a = await login();
    const b = await login();
    assert.equal((await call('GET', '/api/v1/lines', { headers: { cookie: b.cookie } })).status, 200);
    const next = 'Another-Admin-Horse-1';
    const changed = await call('PATCH', '/api/v1/site', { body: { 'admin.password': next }, headers: { cookie: a.cookie, 'x-csrf-token': a.csrf } });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json.admin.password, '********');
    assert.ok(!changed.text.includes(next));
    // serve applies the new password once the change is read back (at once, asynchronously).
    const deadline = Date.now() + 5000;
    while ((await call('GET', '/api/v1/lines', { headers: { authorization: basic(next) } })).status !== 200) {
      assert.ok(Date.now() < deadline, 'the new password was never applied');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const s of [a, b]) {
      assert.equal((await call('GET', '/api/v1/lines', { headers: { cookie: s.cookie } })).status, 401, 'the session is gone');
      assert.equal((await call('GET', '/api/v1/session', { headers: { cookie: s.cookie } })).status, 401);
    }
    assert.equal((await call('POST', '/api/v1/session', { body: { password: adminPassword } })).status, 401, 'the old password is refused');
    const fresh = await login(next);
    assert.equal((await call('GET', '/api/v1/lines', { headers: { cookie: fresh.cookie } })).status, 200);
    tokens.push(next);
  });

  it('no answer and no log line holds a SIP password, the admin password, a cookie or a CSRF token (beyond the answers that hand them out)', async function () {
    const secretsInAnswers = [PW_LINE, adminPassword, 'Another-Admin-Horse-1'];
    for (const answer of answers) for (const secret of secretsInAnswers) assert.ok(!answer.includes(secret), `leaked ${secret}: ${answer.slice(0, 200)}`);
    await running.outpost.store.devices.flush();
    const log = readFileSync(logPath, 'utf8');
    assert.match(log, /api\.auth_failed|site\.changed/, 'the log is written (else this proves nothing)');
    for (const secret of [...secretsInAnswers, ...tokens.filter((t) => t)]) assert.ok(!log.includes(secret), `the log holds ${secret.slice(0, 6)}...`);
  });
});

describe('SessionStore (unit)', function () {
  it('a session expires after the idle time, and each use restarts it', function () {
    let now = 1_000_000;
    const store = new SessionStore({ password: () => 'pw-123456', now: () => now, idleMs: 1000 });
    const { token, session } = store.create();
    now += 900;
    assert.equal(store.touch(token), session);
    now += 900;
    assert.equal(store.touch(token)?.csrf, session.csrf, 'used 900 ms ago: alive');
    assert.equal(store.alive(token), true);
    now += 1001;
    assert.equal(store.alive(token), false);
    assert.equal(store.touch(token), undefined);
    assert.equal(store.size, 0);
  });

  it('keeps at most maxSessions, dropping the least recently used', function () {
    const store = new SessionStore({ password: () => 'pw-123456', maxSessions: 3 });
    const first = store.create().token;
    const second = store.create().token;
    const third = store.create().token;
    store.touch(first);
    const fourth = store.create().token;
    assert.equal(store.size, 3);
    assert.equal(store.touch(second), undefined, 'the least recently used went');
    for (const t of [first, third, fourth]) assert.ok(store.touch(t));
  });

  it('drops every session when the password changes, and checks the password in constant time against the current one', function () {
    let password = 'first-password';
    const store = new SessionStore({ password: () => password });
    const a = store.create().token;
    const b = store.create().token;
    assert.ok(store.checkPassword('first-password'));
    assert.ok(!store.checkPassword('first-passwor'));
    password = 'second-password';
    assert.equal(store.touch(a), undefined);
    assert.equal(store.alive(b), false);
    assert.ok(store.checkPassword('second-password'));
    assert.ok(!store.checkPassword('first-password'));
    const c = store.create().token;
    assert.ok(store.touch(c), 'sessions opened with the new password live');
    password = '';
    assert.ok(!store.checkPassword(''), 'an empty password opens nothing');
  });

  it('failure delays: 0.25 s doubling to at most 4 s, per address, forgotten after a success', function () {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 50].map(failureDelay), [250, 500, 1000, 2000, 4000, 4000, 4000]);
    const store = new SessionStore({ password: () => 'pw-123456' });
    assert.equal(store.failed('10.0.0.1'), 250);
    assert.equal(store.failed('10.0.0.1'), 500);
    assert.equal(store.failed('10.0.0.2'), 250, 'another address starts at the beginning');
    store.succeeded('10.0.0.1');
    assert.equal(store.failed('10.0.0.1'), 250);
  });

  it('reads the session cookie among others', function () {
    assert.equal(readCookie('a=1; outpost_session=abc-_9; b=2', 'outpost_session'), 'abc-_9');
    assert.equal(readCookie('outpost_session="q"', 'outpost_session'), 'q');
    assert.equal(readCookie('xoutpost_session=no', 'outpost_session'), undefined);
    assert.equal(readCookie(undefined, 'outpost_session'), undefined);
  });
});
