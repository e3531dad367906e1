/**
 * The sqlite3 connection: WAL, synchronous FULL (a write that a client was told about survives a kill -9 and a
 * power cut), foreign keys, a busy timeout so the CLI and a running server can share the file, and one writer
 * at a time through a queue so transactions never interleave on the shared connection.
 */
import sqlite3 from 'sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../app/log.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Param = string | number | null | bigint | Buffer;

/**
 * How long a group commit waits for more writes to join it. The writes that wait for it are registrations (the
 * 200 OK goes after the commit; a phone waits up to 32 s for it, Timer F) and call records (not waited for). Each
 * commit costs a round trip to sqlite's thread, its SQL compiled and an fsync, on the same core as everything
 * else, so in a storm a longer window is cheaper per write: at 3,000 registrations/s (sip-hotpath benchmark,
 * CPU per registration, all threads, 3 runs each) 2 ms: 169-187 µs, 6 ms: 160-161 µs, 12 ms: 149-166 µs.
 */
const GROUP_WINDOW_MS = 10;

export class Database {
  private writeQueue: Promise<unknown> = Promise.resolve();
  private dataVersion: number | undefined;
  /**
   * Bumped by every committed write that changes what devices are served (not by the quiet ones: events,
   * sightings, state marks) and by any commit of another process (seen through `PRAGMA data_version`).
   * Readers that keep a copy in memory compare it to know when to reload.
   */
  generation = 0;
  /** Rows changed by the statements of the transaction in progress. */
  private changesInTransaction = 0;

  private constructor(private readonly db: sqlite3.Database, readonly file: string) {}

  static async open(file: string, log: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<Database> {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
      const db = new sqlite3.Database(file, (err) => (err ? reject(new Error(`cannot open the database ${file}: ${err.message}`)) : resolve(db)));
    });
    const db = new Database(raw, file);
    raw.configure('busyTimeout', 5000);
    // 1 KiB pages for a new database (an existing one keeps its own: WAL mode cannot change it). A registration
    // refresh rewrites one row of a binding spread over the table, so a commit of 40 writes 40 pages: 1 KiB pages
    // write a quarter of the bytes of the default 4 KiB (less wear on an appliance's flash) and cost sqlite's thread
    // 16-18 µs a row instead of 24-27 (40-row upserts into 10,000 bindings, fsync'd). Every key of this schema fits
    // a 1 KiB page's index cell (231 bytes) and every row a table cell (989 bytes) unless it holds long free text.
    await db.exec('PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;');
    // Checkpoint when the WAL holds 4 MiB, as sqlite's default does with 4 KiB pages (1,000 pages): with 1 KiB pages
    // the default would checkpoint four times as often, each time rewriting the same hot pages into the database
    // (40-row upserts: 19-20 µs a row with 1,000 pages, 17-18 with 4,000).
    const page = await db.get<{ page_size: number }>('PRAGMA page_size');
    await db.exec(`PRAGMA wal_autocheckpoint = ${Math.max(1000, Math.round((4 * 2 ** 20) / (page?.page_size || 4096)))};`);
    await db.migrate(migrations, log);
    return db;
  }

  private async migrate(migrations: readonly Migration[], log: Logger): Promise<void> {
    const row = await this.get<{ user_version: number }>('PRAGMA user_version');
    const current = row?.user_version ?? 0;
    const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
    if (current > latest) {
      throw new Error(`the database ${this.file} is at schema ${current}, newer than this Outpost knows (${latest}); upgrade Outpost or restore a backup`);
    }
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (migration.version <= current) continue;
      await this.transaction(async () => {
        await this.exec(migration.sql);
        await this.exec(`PRAGMA user_version = ${migration.version}`);
      });
      log.info({ version: migration.version, migration: migration.name }, 'database migrated');
    }
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  run(sql: string, params: readonly Param[] = []): Promise<{ changes: number; lastID: number }> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- sqlite3 hands the statement result as `this`.
    const db = this;
    return new Promise((resolve, reject) =>
      this.db.run(sql, params as Param[], function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else {
          db.changesInTransaction += this.changes;
          resolve({ changes: this.changes, lastID: this.lastID });
        }
      }),
    );
  }

  get<T>(sql: string, params: readonly Param[] = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => this.db.get(sql, params as Param[], (err, row) => (err ? reject(err) : resolve(row as T | undefined))));
  }

  all<T>(sql: string, params: readonly Param[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all(sql, params as Param[], (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  }

  /**
   * Runs `fn` inside BEGIN IMMEDIATE .. COMMIT, after every earlier write has finished. `quiet` writes do not
   * bump the generation: their callers keep in-memory copies right themselves.
   */
  transaction<T>(fn: () => Promise<T>, options: { quiet?: boolean } = {}): Promise<T> {
    const next = this.writeQueue.then(async () => {
      await this.exec('BEGIN IMMEDIATE');
      this.changesInTransaction = 0;
      try {
        const result = await fn();
        await this.exec('COMMIT');
        // A transaction that changed no row (an unchanged re-import) leaves in-memory copies valid.
        if (!options.quiet && this.changesInTransaction > 0) this.generation++;
        return result;
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    this.writeQueue = next.catch(() => undefined);
    return next;
  }

  private grouped: Array<{ sql: string | (() => string); done: (err?: Error) => void }> = [];
  /** Group commits written since the start: how many, and their time (ms) in all and at most. */
  readonly groupStats = { commits: 0, ms: 0, maxMs: 0 };
  private groupScheduled = false;
  private groupInFlight = false;

  /**
   * Commits `sql` (statements whose values are literals from `sqlLiteral`, never text from outside) in one quiet
   * transaction shared with every other `group` call of this turn of the event loop and of the time the
   * previous group was being written (group commit): one round trip to sqlite's thread and one fsync for the
   * lot, in call order. A failing statement fails the whole group (rolled back); each caller hears it. `sql` may
   * be a function, called when the group is written: a caller can then keep adding rows to one statement of its
   * own until that moment (see BindingRepository.apply).
   */
  group(sql: string | (() => string)): Promise<void> {
    return new Promise((resolve, reject) => {
      this.grouped.push({ sql, done: (err) => (err ? reject(err) : resolve()) });
      this.scheduleGroup();
    });
  }

  private scheduleGroup(): void {
    if (this.groupScheduled || this.groupInFlight) return;
    this.groupScheduled = true;
    // A short window gathers the writes of a burst into one commit (see GROUP_WINDOW_MS).
    setTimeout(() => {
      this.groupScheduled = false;
      void this.flushGroup();
    }, GROUP_WINDOW_MS);
  }

  private async flushGroup(): Promise<void> {
    if (this.groupInFlight || !this.grouped.length) return;
    const batch = this.grouped;
    this.grouped = [];
    this.groupInFlight = true;
    const write = this.writeQueue.then(async () => {
      try {
        const started = performance.now();
        await this.exec(`BEGIN IMMEDIATE;\n${batch.map((b) => (typeof b.sql === 'string' ? b.sql : b.sql())).join(';\n')};\nCOMMIT;`);
        const ms = performance.now() - started;
        const stats = this.groupStats;
        stats.commits++;
        stats.ms += ms;
        if (ms > stats.maxMs) stats.maxMs = ms;
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    this.writeQueue = write.catch(() => undefined);
    try {
      await write;
      for (const { done } of batch) done();
    } catch (err) {
      for (const { done } of batch) done(err as Error);
    } finally {
      this.groupInFlight = false;
      if (this.grouped.length) this.scheduleGroup();
    }
  }

  /**
   * For `outpost doctor`: a write that is rolled back (a table made and filled inside a transaction that never
   * commits: the file is left as it was) and `PRAGMA quick_check`.
   */
  async selfCheck(): Promise<{ writeError?: string | undefined; integrity: string }> {
    class RolledBack extends Error {}
    let writeError: string | undefined;
    try {
      await this.transaction(async () => {
        await this.run('CREATE TABLE doctor_write_probe (at TEXT NOT NULL)');
        await this.run('INSERT INTO doctor_write_probe (at) VALUES (?)', [new Date().toISOString()]);
        throw new RolledBack('rolled back on purpose');
      }, { quiet: true });
    } catch (err) {
      if (!(err instanceof RolledBack)) writeError = (err as Error).message;
    }
    let integrity: string;
    try {
      const rows = await this.all<{ quick_check: string }>('PRAGMA quick_check');
      integrity = rows.map((r) => r.quick_check).join('; ') || 'no answer';
    } catch (err) {
      integrity = (err as Error).message;
    }
    return { writeError, integrity };
  }

  /** One statement in its own (autocommit) transaction, after every earlier write: one round trip, one fsync. */
  write(sql: string, params: readonly Param[] = []): Promise<{ changes: number; lastID: number }> {
    const next = this.writeQueue.then(() => this.run(sql, params));
    this.writeQueue = next.catch(() => undefined);
    return next;
  }


  /** Checks whether another process committed since the last check; if so, bumps the generation. */
  async checkExternalChanges(): Promise<boolean> {
    const row = await this.get<{ data_version: number }>('PRAGMA data_version');
    const version = row?.data_version;
    const changed = this.dataVersion !== undefined && version !== this.dataVersion;
    this.dataVersion = version;
    if (changed) this.generation++;
    return changed;
  }

  close(): Promise<void> {
    return this.writeQueue.then(
      () => new Promise<void>((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve()))),
    );
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * A value as an SQL literal for `Database.group`: numbers must be finite, printable ASCII text is quoted (SQLite
 * has no backslash escapes; a quote is doubled), any other text goes as hex cast to TEXT, so no value can end
 * the literal whatever bytes it holds.
 */
export function sqlLiteral(v: Param | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a finite number for SQL: ${v}`);
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `X'${v.toString('hex')}'`;
  if (/^[\x20-\x7e]*$/.test(v)) return `'${v.replace(/'/g, "''")}'`;
  return `CAST(X'${Buffer.from(v, 'utf8').toString('hex')}' AS TEXT)`;
}
