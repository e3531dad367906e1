/**
 * SIP registrations (bindings of a line's address of record to a contact): the only place that knows their SQL.
 * A binding is durable before the phone hears 200 OK; REGISTERs that arrive together share one transaction
 * (group commit), as DHCP leases do.
 */
import type { Logger } from '../app/log.js';
import { sqlLiteral, type Database } from './db.js';

export interface Binding {
  /** The line's SIP user (the address of record's user part). */
  aor: string;
  /** The contact URI, as the phone wrote it. */
  contact: string;
  callId: string;
  cseq: number;
  /** Epoch ms. */
  expiresAt: number;
  q?: number | undefined;
  /** `udp:10.20.0.31:5062`: where the REGISTER came from. */
  source: string;
  userAgent?: string | undefined;
  /** The device this contact belongs to, when it could be matched. */
  mac?: string | undefined;
  updatedAt: number;
}

interface BindingRow {
  aor: string;
  contact: string;
  call_id: string;
  cseq: number;
  expires_at: number;
  q: number | null;
  source: string;
  user_agent: string | null;
  mac: string | null;
  updated_at: number;
}

/** 10 values a row. */
const ROWS_PER_STATEMENT = 300;

export class BindingRepository {
  constructor(private readonly db: Database, private readonly log: Logger) {}

  /** Every readable binding; a corrupt row is logged and skipped. */
  async list(): Promise<Binding[]> {
    const rows = await this.db.all<BindingRow>('SELECT * FROM bindings');
    const out: Binding[] = [];
    for (const row of rows) {
      if (typeof row.aor !== 'string' || !row.aor || typeof row.contact !== 'string' || !row.contact || !Number.isFinite(row.expires_at) || !Number.isFinite(row.cseq)) {
        this.log.warn({ aor: row.aor }, 'skipping a registration row that is not valid');
        continue;
      }
      out.push({
        aor: row.aor,
        contact: row.contact,
        callId: row.call_id,
        cseq: row.cseq,
        expiresAt: row.expires_at,
        q: row.q ?? undefined,
        source: row.source,
        userAgent: row.user_agent ?? undefined,
        mac: row.mac ?? undefined,
        updatedAt: row.updated_at,
      });
    }
    return out;
  }

  /** Rows not yet written, shared by every apply() until their group commit is written. */
  private open: { puts: Binding[]; removals: Array<{ aor: string; contact: string }>; keys: Set<string>; written: Promise<void> } | undefined;

  /**
   * Applies puts and removals; resolves once they are durable. Calls of the same moment share one transaction
   * and one fsync (the database's group commit), and their rows one INSERT and one DELETE (sqlite compiles one
   * statement, not one per registration). A call touching a binding already waiting starts a new statement, so
   * each binding's changes are applied in call order.
   */
  apply(puts: readonly Binding[], removals: ReadonlyArray<{ aor: string; contact: string }>): Promise<void> {
    if (!puts.length && !removals.length) return Promise.resolve();
    const keys: string[] = [];
    for (const b of puts) keys.push(`${b.aor}\0${b.contact}`);
    for (const r of removals) keys.push(`${r.aor}\0${r.contact}`);
    let batch = this.open;
    if (!batch || keys.some((k) => batch!.keys.has(k))) {
      const fresh: NonNullable<typeof this.open> = { puts: [], removals: [], keys: new Set(), written: Promise.resolve() };
      fresh.written = this.db.group(() => {
        if (this.open === fresh) this.open = undefined;
        return statements(fresh.puts, fresh.removals);
      });
      this.open = batch = fresh;
    }
    batch.puts.push(...puts);
    batch.removals.push(...removals);
    for (const k of keys) batch.keys.add(k);
    return batch.written;
  }
}

/** The SQL of a batch: its removals, then its puts (upserts), at most ROWS_PER_STATEMENT rows a statement. */
function statements(puts: readonly Binding[], removals: ReadonlyArray<{ aor: string; contact: string }>): string {
  const out: string[] = [];
  for (let i = 0; i < removals.length; i += ROWS_PER_STATEMENT) {
    const chunk = removals.slice(i, i + ROWS_PER_STATEMENT);
    out.push(`DELETE FROM bindings WHERE ${chunk.map((r) => `(aor = ${sqlLiteral(r.aor)} AND contact = ${sqlLiteral(r.contact)})`).join(' OR ')}`);
  }
  for (let i = 0; i < puts.length; i += ROWS_PER_STATEMENT) {
    const chunk = puts.slice(i, i + ROWS_PER_STATEMENT);
    const rows = chunk.map((b) => `(${[b.aor, b.contact, b.callId, b.cseq, b.expiresAt, b.q ?? null, b.source, b.userAgent ?? null, b.mac ?? null, b.updatedAt].map(sqlLiteral).join(',')})`);
    out.push(
      `INSERT INTO bindings (aor, contact, call_id, cseq, expires_at, q, source, user_agent, mac, updated_at) VALUES ${rows.join(',')}
       ON CONFLICT(aor, contact) DO UPDATE SET call_id = excluded.call_id, cseq = excluded.cseq, expires_at = excluded.expires_at, q = excluded.q,
         source = excluded.source, user_agent = excluded.user_agent, mac = excluded.mac, updated_at = excluded.updated_at`,
    );
  }
  return out.join(';\n');
}
