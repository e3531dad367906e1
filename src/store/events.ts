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

export class EventRepository {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly db: Database, private readonly log: Logger) {}

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async add(event: NewEvent): Promise<OutpostEvent> {
    const at = nowIso();
    const level = event.level ?? 'info';
    const data = event.data ? JSON.stringify(event.data) : null;
    const { lastID } = await this.db.transaction(() =>
      this.db.run('INSERT INTO events (at, type, level, mac, message, data) VALUES (?,?,?,?,?,?)', [at, event.type, level, event.mac ?? null, event.message, data]),
      { quiet: true },
    );
    const stored: OutpostEvent = { id: lastID, at, type: event.type, level, mac: event.mac, message: event.message, data: event.data };
    this.log[level]({ event: event.type, mac: event.mac, ...event.data }, event.message);
    for (const listener of this.listeners) listener(stored);
    return stored;
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
