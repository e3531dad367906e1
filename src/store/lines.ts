/** Lines (user accounts): the only place that knows their SQL. */
import type { Logger } from '../app/log.js';
import { lineSchema } from '../config/schema.js';
import type { LineRecord } from '../provisioning/settings.js';
import { nowIso, type Database } from './db.js';

export interface Line extends LineRecord {
  createdAt: string;
  updatedAt: string;
}

interface LineRow {
  ext: string;
  number: string | null;
  name: string;
  user: string;
  password: string;
  forward: string | null;
  forward_on_busy: number | null;
  created_at: string;
  updated_at: string;
}

export type UpsertResult = 'added' | 'updated' | 'unchanged';

export class LineInUseError extends Error {
  constructor(readonly ext: string, readonly macs: string[]) {
    super(`line ${ext} is assigned to ${macs.join(', ')}; remove it from the device first (outpost device remove, or re-add the device without it)`);
  }
}

export class LineRepository {
  constructor(private readonly db: Database, private readonly log: Logger) {}

  private decode(row: LineRow): Line | undefined {
    const candidate = { ext: row.ext, number: row.number ?? undefined, name: row.name, user: row.user, password: row.password, forward: row.forward ?? undefined, ...(row.forward_on_busy ? { forwardOnBusy: true } : {}) };
    const parsed = lineSchema.safeParse(candidate);
    if (!parsed.success) {
      this.log.warn({ ext: row.ext, problem: parsed.error.issues[0]?.message }, 'skipping a line row that is not valid');
      return undefined;
    }
    return { ...parsed.data, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async list(): Promise<Line[]> {
    const rows = await this.db.all<LineRow>('SELECT * FROM lines ORDER BY length(ext), ext');
    return rows.map((r) => this.decode(r)).filter((l): l is Line => l !== undefined);
  }

  async get(ext: string): Promise<Line | undefined> {
    const row = await this.db.get<LineRow>('SELECT * FROM lines WHERE ext = ?', [ext]);
    return row ? this.decode(row) : undefined;
  }

  /** The lines of `exts`, in that order; missing or unreadable ones are left out. */
  async getMany(exts: readonly string[]): Promise<Line[]> {
    if (exts.length === 0) return [];
    const rows = await this.db.all<LineRow>(`SELECT * FROM lines WHERE ext IN (${exts.map(() => '?').join(',')})`, exts);
    const byExt = new Map(rows.map((r) => [r.ext, r]));
    return exts.map((e) => byExt.get(e)).flatMap((r) => (r ? [this.decode(r)].filter((l): l is Line => l !== undefined) : []));
  }

  /** Adds or updates by extension. Validation of collisions is the caller's (lineConflicts). */
  async upsert(line: LineRecord): Promise<UpsertResult> {
    return this.db.transaction(async () => {
      const existing = await this.db.get<LineRow>('SELECT * FROM lines WHERE ext = ?', [line.ext]);
      const now = nowIso();
      if (!existing) {
        await this.db.run('INSERT INTO lines (ext, number, name, user, password, forward, forward_on_busy, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)', [
          line.ext, line.number ?? null, line.name, line.user, line.password, line.forward ?? null, line.forwardOnBusy ? 1 : 0, now, now,
        ]);
        return 'added';
      }
      const same =
        existing.number === (line.number ?? null) && existing.name === line.name && existing.user === line.user &&
        existing.password === line.password && existing.forward === (line.forward ?? null) && Boolean(existing.forward_on_busy) === Boolean(line.forwardOnBusy);
      if (same) return 'unchanged';
      await this.db.run('UPDATE lines SET number = ?, name = ?, user = ?, password = ?, forward = ?, forward_on_busy = ?, updated_at = ? WHERE ext = ?', [
        line.number ?? null, line.name, line.user, line.password, line.forward ?? null, line.forwardOnBusy ? 1 : 0, now, line.ext,
      ]);
      // Phones carrying this line must fetch their file again before they are "provisioned".
      await this.db.run(
        "UPDATE devices SET state = 'assigned', updated_at = ? WHERE state = 'provisioned' AND mac IN (SELECT mac FROM device_lines WHERE ext = ?)",
        [now, line.ext],
      );
      return 'updated';
    });
  }

  async remove(ext: string): Promise<boolean> {
    return this.db.transaction(async () => {
      const users = await this.db.all<{ mac: string }>('SELECT DISTINCT mac FROM device_lines WHERE ext = ? ORDER BY mac', [ext]);
      if (users.length) throw new LineInUseError(ext, users.map((u) => u.mac));
      const { changes } = await this.db.run('DELETE FROM lines WHERE ext = ?', [ext]);
      return changes > 0;
    });
  }
}
