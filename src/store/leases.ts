/**
 * DHCP leases: the only place that knows their SQL. A lease is written (and fsync'd) before the client is told
 * (DHCPACK); acknowledgements that arrive together are written in one transaction (group commit), so a storm
 * of phones costs one fsync per batch, not one per phone.
 */
import type { Logger } from '../app/log.js';
import { isIPv4 } from 'node:net';
import type { Database } from './db.js';

export const LEASE_STATES = ['bound', 'declined', 'released', 'expired'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];

export interface Lease {
  address: string;
  /** `id:<hex>` (option 61) or `hw:<htype>:<hex>`. */
  client: string;
  mac?: string | undefined;
  state: LeaseState;
  /** Epoch ms. For `declined`, the end of the quarantine. */
  expiresAt: number;
  updatedAt: number;
  hostname?: string | undefined;
  vendorClass?: string | undefined;
}

interface LeaseRow {
  address: string;
  client: string;
  mac: string | null;
  state: string;
  expires_at: number;
  updated_at: number;
  hostname: string | null;
  vendor_class: string | null;
}

/** 8 values a row, well under sqlite's 32,766 variables a statement. */
const ROWS_PER_STATEMENT = 500;

export class LeaseRepository {
  private batch: Array<{ lease: Lease; done: (err?: Error) => void }> = [];
  private flushing = false;

  constructor(private readonly db: Database, private readonly log: Logger) {}

  /** Every readable lease; a corrupt row is logged and skipped (the failure Kea's CVE-2019-6474 shows). */
  async list(): Promise<Lease[]> {
    const rows = await this.db.all<LeaseRow>('SELECT * FROM leases');
    const out: Lease[] = [];
    for (const row of rows) {
      const ok =
        isIPv4(row.address) && typeof row.client === 'string' && row.client.length > 0 && (LEASE_STATES as readonly string[]).includes(row.state) &&
        Number.isFinite(row.expires_at) && Number.isFinite(row.updated_at);
      if (!ok) {
        this.log.warn({ address: row.address, state: row.state }, 'skipping a lease row that is not valid');
        continue;
      }
      out.push({
        address: row.address,
        client: row.client,
        mac: row.mac ?? undefined,
        state: row.state as LeaseState,
        expiresAt: row.expires_at,
        updatedAt: row.updated_at,
        hostname: row.hostname ?? undefined,
        vendorClass: row.vendor_class ?? undefined,
      });
    }
    return out;
  }

  /** Resolves once the lease is durable. Concurrent saves share one transaction. */
  save(lease: Lease): Promise<void> {
    return new Promise((resolve, reject) => {
      this.batch.push({ lease: { ...lease }, done: (err) => (err ? reject(err) : resolve()) });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.batch.length) {
        const batch = this.batch;
        this.batch = [];
        try {
          // One multi-row statement per chunk: each statement is a round trip to sqlite's thread.
          const latest = new Map(batch.map(({ lease }) => [lease.address, lease]));
          const rows = [...latest.values()];
          await this.db.transaction(async () => {
            for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
              const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
              await this.db.run(
                `INSERT INTO leases (address, client, mac, state, expires_at, updated_at, hostname, vendor_class) VALUES ${chunk.map(() => '(?,?,?,?,?,?,?,?)').join(',')}
                 ON CONFLICT(address) DO UPDATE SET client = excluded.client, mac = excluded.mac, state = excluded.state,
                   expires_at = excluded.expires_at, updated_at = excluded.updated_at, hostname = excluded.hostname, vendor_class = excluded.vendor_class`,
                chunk.flatMap((l) => [l.address, l.client, l.mac ?? null, l.state, l.expiresAt, l.updatedAt, l.hostname ?? null, l.vendorClass ?? null]),
              );
            }
          }, { quiet: true });
          for (const { done } of batch) done();
        } catch (err) {
          for (const { done } of batch) done(err as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
