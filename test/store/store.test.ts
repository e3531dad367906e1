import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import sqlite3 from 'sqlite3';
import { silentLogger } from '../../src/app/log.js';
import { Database, sqlLiteral } from '../../src/store/db.js';
import { Store } from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { LineInUseError } from '../../src/store/lines.js';
import type { Mac } from '../../src/net/mac.js';

function captureLogger() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
  return { log, lines };
}

function rawExec(file: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file);
    db.exec(sql, (err) => db.close(() => (err ? reject(err) : resolve())));
  });
}

describe('store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('applies the numbered migrations once and records the version', async () => {
    const store = await Store.open(dir, silentLogger);
    const row = await store.db.get<{ user_version: number }>('PRAGMA user_version');
    assert.equal(row?.user_version, MIGRATIONS.at(-1)!.version);
    const mode = await store.db.get<{ journal_mode: string }>('PRAGMA journal_mode');
    assert.equal(mode?.journal_mode, 'wal');
    await store.close();
    const again = await Store.open(dir, silentLogger);
    assert.equal((await again.db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version, MIGRATIONS.at(-1)!.version);
    await again.close();
  });

  it('migration 6 keeps the bindings of a version-5 database and stores them by their key, without the expiry index', async () => {
    const file = join(dir, 'outpost.db');
    const old = await Database.open(file, silentLogger, MIGRATIONS.filter((m) => m.version <= 5));
    await old.exec(`INSERT INTO bindings (aor, contact, call_id, cseq, expires_at, q, source, user_agent, mac, updated_at)
      VALUES ('420234567111', 'sip:111@192.0.2.10:5060', 'c1', 7, 1800000000000, 0.5, 'udp:192.0.2.10:5060', 'Yealink SIP-T22P 7.73.0.50', '001565aabb01', 1799990000000),
             ('420234567112', 'sip:112@192.0.2.11:5060', 'c2', 1, 1800000001000, NULL, 'udp:192.0.2.11:5060', NULL, NULL, 1799990001000)`);
    await old.close();
    const store = await Store.open(dir, silentLogger);
    const listed = await store.bindings.list();
    assert.deepEqual(
      listed.map((b) => [b.aor, b.contact, b.callId, b.cseq, b.expiresAt, b.q, b.source, b.userAgent, b.mac, b.updatedAt]).sort(),
      [
        ['420234567111', 'sip:111@192.0.2.10:5060', 'c1', 7, 1800000000000, 0.5, 'udp:192.0.2.10:5060', 'Yealink SIP-T22P 7.73.0.50', '001565aabb01', 1799990000000],
        ['420234567112', 'sip:112@192.0.2.11:5060', 'c2', 1, 1800000001000, undefined, 'udp:192.0.2.11:5060', undefined, undefined, 1799990001000],
      ],
    );
    const table = await store.db.get<{ sql: string }>("SELECT sql FROM sqlite_schema WHERE name = 'bindings'");
    assert.match(table!.sql, /WITHOUT ROWID/);
    assert.equal(await store.db.get("SELECT name FROM sqlite_schema WHERE name = 'bindings_expires'"), undefined);
    await store.close();
  });

  it('makes a new database with 1 KiB pages and opens one made with 4 KiB pages as it is', async () => {
    const store = await Store.open(dir, silentLogger);
    assert.equal((await store.db.get<{ page_size: number }>('PRAGMA page_size'))?.page_size, 1024);
    assert.equal((await store.db.get<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint'))?.wal_autocheckpoint, 4096, 'a checkpoint every 4 MiB of WAL');
    await store.close();
    const file = join(dir, 'older', 'outpost.db');
    mkdirSync(join(dir, 'older'));
    await rawExec(file, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('x');");
    const older = await Database.open(file, silentLogger, []);
    assert.equal((await older.get<{ page_size: number }>('PRAGMA page_size'))?.page_size, 4096);
    assert.equal((await older.get<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint'))?.wal_autocheckpoint, 1024);
    assert.equal((await older.get<{ v: string }>('SELECT v FROM kept'))?.v, 'x');
    await older.close();
  });

  it('refuses a database from a newer Outpost with a clear message', async () => {
    const store = await Store.open(dir, silentLogger);
    await store.db.exec('PRAGMA user_version = 999');
    await store.close();
    await assert.rejects(Store.open(dir, silentLogger), /schema 999, newer than this Outpost knows/);
  });

  it('keeps lines, devices and events across a reopen', async () => {
    const store = await Store.open(dir, silentLogger);
    assert.equal(await store.lines.upsert({ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: 's3cret' }), 'added');
    assert.equal(await store.lines.upsert({ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: 's3cret' }), 'unchanged');
    assert.equal(await store.devices.put({ mac: '001565aabb01' as Mac, model: 'T22P', vendor: 'Yealink', lines: ['111'], origin: 'added' }), 'added');
    assert.equal(await store.devices.put({ mac: '001565aabb01' as Mac, model: 'T22P', vendor: 'Yealink', lines: ['111'], origin: 'added' }), 'unchanged');
    await store.events.add({ type: 'test', message: 'hello' });
    store.devices.noteSighting('001565aabb01' as Mac, { ip: '10.20.0.101', firmware: '7.73.0.50' });
    await store.close();

    const reopened = await Store.open(dir, silentLogger);
    const line = await reopened.lines.get('111');
    assert.equal(line?.name, 'Jan Novák');
    assert.equal(line?.password, 's3cret');
    const device = await reopened.devices.get('001565aabb01' as Mac);
    assert.deepEqual(device?.lines, ['111']);
    assert.equal(device?.state, 'assigned');
    assert.equal(device?.ip, '10.20.0.101', 'a sighting pending at close is written');
    assert.equal((await reopened.events.list({ type: 'test' }))[0]?.message, 'hello');
    await reopened.close();
  });

  it('refuses to remove a line a device carries', async () => {
    const store = await Store.open(dir, silentLogger);
    await store.lines.upsert({ ext: '111', name: '', user: 'u', password: 'p' });
    await store.devices.put({ mac: '001565aabb01' as Mac, model: 'T22P', vendor: 'Yealink', lines: ['111'], origin: 'added' });
    await assert.rejects(store.lines.remove('111'), LineInUseError);
    await store.devices.remove('001565aabb01' as Mac);
    assert.equal(await store.lines.remove('111'), true);
    await store.close();
  });

  it('sends a provisioned device back to assigned when its line changes', async () => {
    const store = await Store.open(dir, silentLogger);
    await store.lines.upsert({ ext: '111', name: '', user: 'u', password: 'p' });
    await store.devices.put({ mac: '001565aabb01' as Mac, model: 'T22P', vendor: 'Yealink', lines: ['111'], origin: 'added' });
    await store.devices.markProvisioned('001565aabb01' as Mac);
    assert.equal((await store.devices.get('001565aabb01' as Mac))?.state, 'provisioned');
    await store.lines.upsert({ ext: '111', name: '', user: 'u', password: 'new' });
    assert.equal((await store.devices.get('001565aabb01' as Mac))?.state, 'assigned');
    await store.close();
  });

  it('skips and logs corrupt or unexpected rows instead of refusing to start', async () => {
    const store = await Store.open(dir, silentLogger);
    await store.lines.upsert({ ext: '111', name: '', user: 'u', password: 'p' });
    await store.close();
    const now = new Date().toISOString();
    await rawExec(
      join(dir, 'outpost.db'),
      `INSERT INTO devices (mac, state, origin, created_at, updated_at) VALUES ('not-a-mac', 'assigned', 'added', '${now}', '${now}');
       INSERT INTO devices (mac, state, origin, created_at, updated_at) VALUES ('001565000001', 'exploded', 'added', '${now}', '${now}');
       INSERT INTO devices (mac, state, origin, overrides, created_at, updated_at) VALUES ('001565000002', 'assigned', 'added', '{oops', '${now}', '${now}');
       INSERT INTO devices (mac, state, origin, created_at, updated_at) VALUES ('001565000003', 'discovered', 'discovered', '${now}', '${now}');
       INSERT INTO lines (ext, name, user, password, created_at, updated_at) VALUES ('bad ext', '', 'x', 'y', '${now}', '${now}');
       INSERT INTO settings (key, value) VALUES ('network.voiceVlan', '{not json');
       INSERT INTO events (at, type, message, data) VALUES ('${now}', 'x', 'broken data', '{');`,
    );
    const { log, lines } = captureLogger();
    const reopened = await Store.open(dir, log);
    assert.deepEqual((await reopened.devices.list()).map((d) => d.mac), ['001565000003']);
    assert.deepEqual((await reopened.lines.list()).map((l) => l.ext), ['111']);
    assert.equal((await reopened.settings.all()).size, 0);
    assert.equal((await reopened.events.list({ type: 'x' }))[0]?.message, 'broken data');
    const warnings = lines.filter((l) => l.includes('skipping'));
    assert.ok(warnings.length >= 6, `each bad row is logged (${warnings.length})`);
    assert.ok(warnings.some((w) => w.includes('not-a-mac')));
    await reopened.close();
  });

  it('loses nothing acknowledged when the process is killed with SIGKILL', async function () {
    this.timeout(30_000);
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acknowledged = -1;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the writer acknowledged nothing in 20 s')), 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        for (const m of String(chunk).matchAll(/ack (\d+)/g)) acknowledged = Number(m[1]);
        if (acknowledged >= 50) {
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => resolve());
    });
    await new Promise((r) => child.once('exit', r).once('close', r));
    const store = await Store.open(dir, silentLogger);
    const exts = new Set((await store.lines.list()).map((l) => l.ext));
    for (let i = 0; i <= acknowledged; i++) assert.ok(exts.has(String(200 + i)), `acknowledged line ${200 + i} survived`);
    await store.close();
  });

  it('serialises transactions on one connection', async () => {
    const db = await Database.open(join(dir, 't.db'), silentLogger, []);
    await db.exec('CREATE TABLE t (n INTEGER)');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db.transaction(async () => {
          await db.run('INSERT INTO t VALUES (?)', [i]);
          if (i % 5 === 0) throw new Error('rolled back');
        }).catch(() => undefined),
      ),
    );
    const rows = await db.all<{ n: number }>('SELECT n FROM t ORDER BY n');
    assert.deepEqual(rows.map((r) => r.n), Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 5 !== 0));
    await db.close();
  });
  it('group commit: literals carry any text byte-exact, writes of one moment share a transaction, a failure rolls the group back', async () => {
    const db = await Database.open(join(dir, 'g.db'), silentLogger, []);
    await db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, b BLOB)');
    const nasty = ["it's", "'); DROP TABLE t; --", 'nul\u0000inside', 'line\nbreak', 'Přerov žluťoučký', '\u{1F4DE}', '', '\\x27'];
    await Promise.all(nasty.map((v, i) => db.group(`INSERT INTO t (k, v, b) VALUES (${sqlLiteral(i)}, ${sqlLiteral(v)}, ${sqlLiteral(Buffer.from([0, 39, 255]))})`)));
    const rows = await db.all<{ k: number; v: string; b: Buffer }>('SELECT k, v, b FROM t ORDER BY k');
    assert.deepEqual(rows.map((r) => r.v), nasty);
    assert.ok(rows.every((r) => Buffer.from([0, 39, 255]).equals(r.b)));
    assert.throws(() => sqlLiteral(Number.NaN), /finite/);
    // One failing statement fails every caller of its group, and none of the group's rows stay.
    const outcomes = await Promise.allSettled([
      db.group(`INSERT INTO t (k, v) VALUES (100, 'kept?')`),
      db.group(`INSERT INTO t (k, v) VALUES (0, 'duplicate key')`),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
    assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t WHERE k = 100'))?.n, 0);
    // The connection is usable afterwards (no transaction left open).
    await db.group(`INSERT INTO t (k, v) VALUES (101, 'after')`);
    assert.equal((await db.get<{ v: string }>('SELECT v FROM t WHERE k = 101'))?.v, 'after');
    await db.close();
  });

  it('bindings of one moment share one statement; a change to a binding already waiting keeps call order (put, remove, put again)', async () => {
    const store = await Store.open(dir, silentLogger);
    const now = Date.now();
    const b = (user: string, contact: string, cseq: number) => ({ aor: user, contact, callId: `c-${user}`, cseq, expiresAt: now + 60_000, source: 'udp:10.20.0.31:5062', updatedAt: now });
    // The SQL of each group as sqlite gets it: the bindings' rows of one moment are one INSERT.
    const execs: string[] = [];
    const exec = store.db.exec.bind(store.db);
    store.db.exec = (sql: string) => {
      execs.push(sql);
      return exec(sql);
    };
    await Promise.all(['111', '112', '113', '114'].map((u) => store.bindings.apply([b(u, `sip:${u}@10.20.0.31`, 1)], [])));
    const batch = execs.find((s) => s.startsWith('BEGIN IMMEDIATE'))!;
    assert.equal(batch.match(/INSERT INTO bindings/g)?.length, 1, batch);
    assert.deepEqual((await store.bindings.list()).map((x) => x.aor).sort(), ['111', '112', '113', '114']);
    // The same binding put, removed and put again in one moment ends as the last call says, and so does one put then removed.
    execs.length = 0;
    const c = 'sip:111@10.20.0.31';
    await Promise.all([
      store.bindings.apply([b('111', c, 2)], []),
      store.bindings.apply([], [{ aor: '111', contact: c }]),
      store.bindings.apply([b('111', c, 3)], []),
      store.bindings.apply([], [{ aor: '112', contact: 'sip:112@10.20.0.31' }]),
      store.bindings.apply([b('115', 'sip:115@10.20.0.31', 1)], []),
      store.bindings.apply([], [{ aor: '115', contact: 'sip:115@10.20.0.31' }]),
    ]);
    const after = await store.bindings.list();
    assert.deepEqual(after.map((x) => `${x.aor}:${x.cseq}`).sort(), ['111:3', '113:1', '114:1']);
    store.db.exec = exec;
    await store.close();
  });
});
