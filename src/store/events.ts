/** The event log: what happened, for the technician. Messages are written by us and never carry a secret. */
import type { Logger } from '../app/log.js';
import { nowIso, type Database, type Param } from './db.js';

export type EventLevel = 'info' | 'warn' | 'error';

export interface OutpostEvent {
  id: number;
  at: string;
  type: string;
  level: EventLevel;
  mac?: string | undefined;
  message: string;
  data?: Record<string, unknown> | undefined;
}

export interface NewEvent {
  type: string;
  level?: EventLevel;
  mac?: string | undefined;
  message: string;
  data?: Record<string, unknown>;
}

interface EventRow {
  id: number;
  at: string;
  type: string;
  level: string;
  mac: string | null;
  message: string;
  data: string | null;
}

export type EventListener = (event: OutpostEvent) => void;

/** 6 values a row; SQLite's default limit is 32,766 host parameters. */
const ROWS_PER_INSERT = 500;

export class EventRepository {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly db: Database, private readonly log: Logger) {}

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private batch: Array<{ row: [string, string, string, string | null, string, string | null]; event: NewEvent; done: (err: Error | undefined, id?: number) => void }> = [];
  private flushing = false;

  /**
   * Records an event; resolves once it is durable. Events that arrive together (a call storm's call.answered,
   * call.ended) share one transaction, so the log costs one fsync per batch, not one per event.
   */
  add(event: NewEvent): Promise<OutpostEvent> {
    const at = nowIso();
    const level = event.level ?? 'info';
    const data = event.data ? JSON.stringify(event.data) : null;
    return new Promise((resolve, reject) => {
      this.batch.push({
        row: [at, event.type, level, event.mac ?? null, event.message, data],
        event,
        done: (err, id) => {
          if (err) return reject(err);
          const stored: OutpostEvent = { id: id!, at, type: event.type, level, mac: event.mac, message: event.message, data: event.data };
          this.log[level]({ event: event.type, mac: event.mac, ...event.data }, event.message);
          for (const listener of this.listeners) listener(stored);
          resolve(stored);
        },
      });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.batch.length) {
        const batch = this.batch;
        this.batch = [];
        const ids: number[] = [];
        try {
          // One statement for the batch, in its own transaction: one round trip and one fsync. Its rows get
          // consecutive ids (no other writer can interleave within a statement), ending at lastID.
          for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) {
            const chunk = batch.slice(i, i + ROWS_PER_INSERT);
            const { lastID } = await this.db.write(`INSERT INTO events (at, type, level, mac, message, data) VALUES ${chunk.map(() => '(?,?,?,?,?,?)').join(',')}`, chunk.flatMap(({ row }) => row));
            for (let k = 0; k < chunk.length; k++) ids.push(lastID - chunk.length + 1 + k);
          }
          batch.forEach(({ done }, i) => done(undefined, ids[i]));
        } catch (err) {
          for (const { done } of batch) done(err as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  async list(filter: { type?: string | undefined; types?: readonly string[]; mac?: string | undefined; sinceId?: number | undefined; limit?: number | undefined } = {}): Promise<OutpostEvent[]> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.type) {
      where.push('type = ?');
      params.push(filter.type);
    }
    if (filter.types?.length) {
      where.push(`type IN (${filter.types.map(() => '?').join(',')})`);
      params.push(...filter.types);
    }
    if (filter.mac) {
      where.push('mac = ?');
      params.push(filter.mac);
    }
    if (filter.sinceId !== undefined) {
      where.push('id > ?');
      params.push(filter.sinceId);
    }
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const rows = await this.db.all<EventRow>(
      `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
      params,
    );
    return rows.flatMap((row) => {
      let data: Record<string, unknown> | undefined;
      try {
        data = row.data ? (JSON.parse(row.data) as Record<string, unknown>) : undefined;
      } catch {
        this.log.warn({ id: row.id }, 'skipping the unreadable data of an event row');
      }
      const level = (['info', 'warn', 'error'].includes(row.level) ? row.level : 'info') as EventLevel;
      return [{ id: row.id, at: row.at, type: row.type, level, mac: row.mac ?? undefined, message: row.message, data }];
    });
  }
}
