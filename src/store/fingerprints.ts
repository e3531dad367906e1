/**
 * Cheap fingerprints of what the web page shows, for the live stream (http/stream.ts): a string per topic that
 * changes when the rows behind it change, read in one query. The table is polled (not in-process emitters)
 * because a CLI process writes to the same database file.
 */
import type { Database } from './db.js';

export type StoreTopic = 'devices' | 'lines' | 'leases' | 'calls' | 'site';

interface FingerprintRow {
  devices: string | null;
  lines: string | null;
  leases: string | null;
  calls: string | null;
  site: string | null;
}

/** `now` (ms) decides which leases are live: one that expires changes the leases topic. */
export async function storeFingerprints(db: Database, now: number): Promise<Record<StoreTopic, string>> {
  const row = await db.get<FingerprintRow>(
    `SELECT
       (SELECT count(*) || '|' || coalesce(max(updated_at), '') || '|' || coalesce(max(last_seen), '') || '|' || coalesce(max(provisioned_at), '')
          || '|' || coalesce(sum(state = 'discovered'), 0) || '|' || coalesce(sum(state = 'assigned'), 0)
          || '|' || coalesce(sum(state = 'provisioned'), 0) || '|' || coalesce(sum(state = 'registered'), 0) FROM devices)
         || '|' || (SELECT count(*) FROM device_lines) AS devices,
       (SELECT count(*) || '|' || coalesce(max(updated_at), '') FROM lines) AS lines,
       (SELECT count(*) || '|' || coalesce(max(updated_at), '') FROM leases WHERE state = 'bound' AND expires_at > ?) AS leases,
       (SELECT count(*) || '|' || coalesce(max(id), 0) || '|' || count(answered_at) || '|' || count(ended_at) FROM calls) AS calls,
       (SELECT count(*) || '|' || coalesce(group_concat(key || '=' || value, ';'), '') FROM (SELECT key, value FROM settings WHERE key <> 'admin.password' ORDER BY key)) AS site`,
    [now],
  );
  return { devices: row?.devices ?? '', lines: row?.lines ?? '', leases: row?.leases ?? '', calls: row?.calls ?? '', site: row?.site ?? '' };
}
