/**
 * Calls Outpost routed itself (survival mode): from, to, start, answer, end, result, so the branch can account
 * for its outage calls. Written as they happen; a call left open by a crash is closed as `unknown` at start.
 */
import { sqlLiteral, type Database } from './db.js';

export interface CallRecord {
  id: number;
  callId: string;
  caller: string;
  callee: string;
  /** `line 121`, `pstn 601234567`, `forward 602123456`, `inbound`, ... */
  route: string;
  startedAt: number;
  answeredAt?: number | undefined;
  endedAt?: number | undefined;
  /** `ringing`, `answered`, `completed`, `busy`, `no-answer`, `cancelled`, `failed <status>`, `unknown`. */
  result: string;
}

interface CallRow {
  id: number;
  call_id: string;
  caller: string;
  callee: string;
  route: string;
  started_at: number;
  answered_at: number | null;
  ended_at: number | null;
  result: string;
}

const decode = (r: CallRow): CallRecord => ({
  id: r.id, callId: r.call_id, caller: r.caller, callee: r.callee, route: r.route, startedAt: r.started_at,
  answeredAt: r.answered_at ?? undefined, endedAt: r.ended_at ?? undefined, result: r.result,
});

export class CallRepository {
  /** Ids are given here (only `serve` writes calls), so a record and its updates go in one group commit each. */
  private nextId: Promise<number> | undefined;

  constructor(private readonly db: Database) {}

  private allocateId(): Promise<number> {
    const mine = this.nextId ?? this.db.get<{ id: number | null }>('SELECT MAX(id) AS id FROM calls').then((r) => (r?.id ?? 0) + 1);
    // Moved on before anyone awaits, so calls started at the same moment get different ids.
    this.nextId = mine.then((id) => id + 1);
    return mine;
  }

  /**
   * Opens a record: resolves with its id as soon as the insert is queued (the call need not wait for the disk);
   * `written` settles when it is durable. Later updates of the id are committed after it, in call order.
   */
  async start(c: { callId: string; caller: string; callee: string; route: string; at: number }): Promise<{ id: number; written: Promise<void> }> {
    const id = await this.allocateId();
    const written = this.db.group(`INSERT INTO calls (id, call_id, caller, callee, route, started_at) VALUES (${[id, c.callId, c.caller, c.callee, c.route, c.at].map(sqlLiteral).join(',')})`);
    return { id, written };
  }

  async update(id: number, change: { answeredAt?: number; endedAt?: number; result?: string; route?: string }): Promise<void> {
    const sets: string[] = [];
    if (change.answeredAt !== undefined) sets.push(`answered_at = ${sqlLiteral(change.answeredAt)}`);
    if (change.endedAt !== undefined) sets.push(`ended_at = ${sqlLiteral(change.endedAt)}`);
    if (change.result !== undefined) sets.push(`result = ${sqlLiteral(change.result)}`);
    if (change.route !== undefined) sets.push(`route = ${sqlLiteral(change.route)}`);
    if (!sets.length) return;
    await this.db.group(`UPDATE calls SET ${sets.join(', ')} WHERE id = ${sqlLiteral(id)}`);
  }

  async list(options: { limit?: number; since?: number } = {}): Promise<CallRecord[]> {
    const rows = await this.db.all<CallRow>('SELECT * FROM calls WHERE started_at >= ? ORDER BY id DESC LIMIT ?', [options.since ?? 0, Math.min(options.limit ?? 200, 10_000)]);
    return rows.map(decode);
  }

  /** Calls still open (after a crash): closed as `unknown`. */
  async closeOpen(at: number): Promise<number> {
    const { changes } = await this.db.transaction(() => this.db.run("UPDATE calls SET ended_at = ?, result = CASE WHEN result = 'answered' THEN 'unknown' ELSE result END WHERE ended_at IS NULL", [at]), { quiet: true });
    return changes;
  }
}
