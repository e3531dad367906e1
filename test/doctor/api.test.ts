/**
 * `GET /api/v1/doctor` from a real serve on 127.0.0.1: refused without the admin's credentials, and with them
 * the same report as `outpost doctor --json`, made from inside the running service (serve is running; its own
 * ports are not probed).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import type { RunningOutpost } from '../../src/app/serve.js';
import { serveHttpOnly } from '../support/serve.js';

const ADMIN_PASSWORD = 'correct-horse';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('http GET /api/v1/doctor', function () {
  this.timeout(30_000);
  let dir = '';
  let running: RunningOutpost;
  let base = '';
  let savedEnvPassword: string | undefined;

  before(async () => {
    savedEnvPassword = process.env.OUTPOST_ADMIN_PASSWORD;
    delete process.env.OUTPOST_ADMIN_PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'outpost-doctor-api-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'site.json'), JSON.stringify({
      site: { name: 'Brno', timezone: 'Europe/Prague' },
      admin: { password: ADMIN_PASSWORD },
      lines: [{ ext: '111', user: '420234567111', password: 'Api-Doctor-Secret' }],
    }));
    running = await serveHttpOnly({ dataDir: join(dir, 'data'), firmwareDir: join(dir, 'fw'), configFile: join(dir, 'site.json'), log: silentLogger });
    base = `http://127.0.0.1:${running.httpPort}/api/v1`;
  });

  after(async () => {
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (savedEnvPassword === undefined) delete process.env.OUTPOST_ADMIN_PASSWORD;
    else process.env.OUTPOST_ADMIN_PASSWORD = savedEnvPassword;
  });

  it('401 without credentials, with a wrong password or a wrong user', async function () {
    for (const auth of [undefined, basic('admin', 'wrong-horse'), basic('root', ADMIN_PASSWORD)]) {
      const res = await fetch(`${base}/doctor`, { headers: auth ? { authorization: auth } : {} });
      assert.equal(res.status, 401, String(auth));
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      const body = (await res.json()) as { error: string; checks?: unknown };
      assert.equal(body.checks, undefined, 'no report without authentication');
    }
  });

  it('200 with admin:<password>: the report, serve running, its own ports left alone', async function () {
    const res = await fetch(`${base}/doctor?timeout=0.5`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const text = await res.text();
    const report = JSON.parse(text) as { checks: Array<{ id: string; group: string; status: string; title: string; detail: string; fix: string }>; summary: Record<string, number> };
    assert.deepEqual(Object.keys(report.summary).sort(), ['fail', 'pass', 'warn']);
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    assert.equal(byId.get('box.serve')?.status, 'pass');
    assert.match(byId.get('box.serve')!.detail, /serve is running and answers: http 127\.0\.0\.1:\d+/);
    assert.ok(![...byId.keys()].some((id) => id.startsWith('box.port.')), 'a running serve holds its ports: they are not probed');
    assert.equal(byId.get('site.upstream')?.status, 'fail');
    assert.equal(byId.get('site.ntp')?.status, 'fail');
    assert.equal(byId.get('site.admin')?.status, 'pass');
    assert.equal(byId.get('box.database')?.status, 'pass');
    assert.equal(byId.has('network.centrex'), false, 'no Centrex to ask');
    assert.equal(report.summary.fail, report.checks.filter((c) => c.status === 'fail').length);
    assert.ok(!text.includes('Api-Doctor-Secret') && !text.includes(ADMIN_PASSWORD), 'no password in the answer');
  });

  it('400 for a timeout out of range', async function () {
    for (const t of ['0', 'soon', '31']) {
      const res = await fetch(`${base}/doctor?timeout=${t}`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } });
      assert.equal(res.status, 400, t);
      assert.match(((await res.json()) as { error: string }).error, /timeout must be seconds/);
    }
  });
});
