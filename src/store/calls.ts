/**
 * Calls Outpost routed itself (survival mode): from, to, start, answer, end, result, so the branch can account
 * for its outage calls. Written as they happen; a call left open by a crash is closed as `unknown` at start.
 */
import type { Database } from './db.js';

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
  constructor(private readonly db: Database) {}

  async start(c: { callId: string; caller: string; callee: string; route: string; at: number }): Promise<number> {
    const { lastID } = await this.db.group(() => this.db.run('INSERT INTO calls (call_id, caller, callee, route, started_at) VALUES (?,?,?,?,?)', [c.callId, c.caller, c.callee, c.route, c.at]));
    return lastID;
  }

  async update(id: number, change: { answeredAt?: number; endedAt?: number; result?: string; route?: string }): Promise<void> {
    const sets: string[] = [];
    const params: Array<string | number> = [];
    if (change.answeredAt !== undefined) sets.push('answered_at = ?'), params.push(change.answeredAt);
    if (change.endedAt !== undefined) sets.push('ended_at = ?'), params.push(change.endedAt);
    if (change.result !== undefined) sets.push('result = ?'), params.push(change.result);
    if (change.route !== undefined) sets.push('route = ?'), params.push(change.route);
    if (!sets.length) return;
    await this.db.group(() => this.db.run(`UPDATE calls SET ${sets.join(', ')} WHERE id = ?`, [...params, id]));
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
