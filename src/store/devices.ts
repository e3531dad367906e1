/** Devices (phones and gateways) and the lines assigned to them: the only place that knows their SQL. */
import type { Logger } from '../app/log.js';
import { parseMac, type Mac } from '../net/mac.js';
import { nowIso, type Database } from './db.js';

export const DEVICE_STATES = ['discovered', 'assigned', 'provisioned', 'registered'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];
export type DeviceOrigin = 'discovered' | 'added' | 'site' | 'import';

export interface Device {
  mac: Mac;
  vendor?: string | undefined;
  model?: string | undefined;
  firmware?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
  state: DeviceState;
  origin: DeviceOrigin;
  location?: string | undefined;
  /** The address DHCP reserves for it. */
  address?: string | undefined;
  /** Per-device overrides of site settings, as dotted keys. */
  overrides: Record<string, unknown>;
  /** Extensions in account (or FXS port) order. */
  lines: string[];
  firstSeen?: string | undefined;
  lastSeen?: string | undefined;
  provisionedAt?: string | undefined;
  createdAt: string;
  updatedAt: string;
}

interface DeviceRow {
  mac: string;
  vendor: string | null;
  model: string | null;
  firmware: string | null;
  ip: string | null;
  user_agent: string | null;
  state: string;
  origin: string;
  location: string | null;
  address: string | null;
  overrides: string;
  first_seen: string | null;
  last_seen: string | null;
  provisioned_at: string | null;
  created_at: string;
  updated_at: string;
  lines: string | null;
}

export interface Sighting {
  ip?: string | undefined;
  vendor?: string | undefined;
  model?: string | undefined;
  firmware?: string | undefined;
  userAgent?: string | undefined;
}

const SELECT = `SELECT d.*, (SELECT group_concat(ext, ',') FROM (SELECT ext FROM device_lines dl WHERE dl.mac = d.mac ORDER BY position)) AS lines FROM devices d`;

export class DeviceRepository {
  /** Sightings are written behind (every second): last-seen is never promised to anyone, and a boot storm must not cost an fsync per request. */
  private readonly pendingSightings = new Map<Mac, Sighting & { at: string }>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Database, private readonly log: Logger, private readonly flushMs = 1000) {}

  private decode(row: DeviceRow): Device | undefined {
    const mac = parseMac(row.mac);
    let overrides: unknown;
    try {
      overrides = JSON.parse(row.overrides);
    } catch {
      overrides = undefined;
    }
    const problem = !mac
      ? 'its MAC is not a MAC'
      : !(DEVICE_STATES as readonly string[]).includes(row.state)
        ? `unknown state "${row.state}"`
        : typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)
          ? 'its overrides are not a JSON object'
          : undefined;
    if (problem || !mac) {
      this.log.warn({ mac: row.mac, problem }, 'skipping a device row that is not valid');
      return undefined;
    }
    return {
      mac,
      vendor: row.vendor ?? undefined,
      model: row.model ?? undefined,
      firmware: row.firmware ?? undefined,
      ip: row.ip ?? undefined,
      userAgent: row.user_agent ?? undefined,
      state: row.state as DeviceState,
      origin: row.origin as DeviceOrigin,
      location: row.location ?? undefined,
      address: row.address ?? undefined,
      overrides: overrides as Record<string, unknown>,
      lines: row.lines ? row.lines.split(',') : [],
      firstSeen: row.first_seen ?? undefined,
      lastSeen: row.last_seen ?? undefined,
      provisionedAt: row.provisioned_at ?? undefined,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  async list(): Promise<Device[]> {
    const rows = await this.db.all<DeviceRow>(`${SELECT} ORDER BY d.mac`);
    return rows.map((r) => this.decode(r)).filter((d): d is Device => d !== undefined).map((d) => this.withPending(d));
  }

  async get(mac: Mac): Promise<Device | undefined> {
    const row = await this.db.get<DeviceRow>(`${SELECT} WHERE d.mac = ?`, [mac]);
    const device = row ? this.decode(row) : undefined;
    return device ? this.withPending(device) : undefined;
  }

  async count(): Promise<Record<DeviceState, number>> {
    const rows = await this.db.all<{ state: string; n: number }>('SELECT state, count(*) AS n FROM devices GROUP BY state');
    const out = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceState, number>;
    for (const r of rows) if ((DEVICE_STATES as readonly string[]).includes(r.state)) out[r.state as DeviceState] = r.n;
    return out;
  }

  private withPending(device: Device): Device {
    const pending = this.pendingSightings.get(device.mac);
    if (!pending) return device;
    return {
      ...device,
      ip: pending.ip ?? device.ip,
      vendor: device.vendor ?? pending.vendor,
      model: device.model ?? pending.model,
      firmware: pending.firmware ?? device.firmware,
      userAgent: pending.userAgent ?? device.userAgent,
      lastSeen: pending.at,
    };
  }

  /**
   * Adds a device or replaces its model, lines and location (the technician's word). Returns what changed.
   * The caller checks that the model exists and the lines exist and fit.
   */
  async put(input: { mac: Mac; model: string; vendor: string; lines: readonly string[]; origin: DeviceOrigin; location?: string | undefined; address?: string | undefined }): Promise<'added' | 'updated' | 'unchanged'> {
    return this.db.transaction(async () => {
      const now = nowIso();
      const row = await this.db.get<DeviceRow>(`${SELECT} WHERE d.mac = ?`, [input.mac]);
      const existing = row ? this.decode(row) : undefined;
      const lines = [...input.lines];
      if (existing && existing.model === input.model && existing.lines.join(',') === lines.join(',') && (input.location === undefined || existing.location === input.location) && (input.address === undefined || (existing.address ?? '') === input.address)) {
        return 'unchanged';
      }
      if (!row) {
        await this.db.run(
          'INSERT INTO devices (mac, vendor, model, state, origin, location, address, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)',
          [input.mac, input.vendor, input.model, 'assigned', input.origin, input.location ?? null, input.address || null, now, now],
        );
      } else {
        // A device that was only discovered becomes the technician's; a provisioned one must fetch its new file.
        await this.db.run(
          `UPDATE devices SET vendor = ?, model = ?, location = coalesce(?, location), updated_at = ?,
             address = CASE WHEN ? IS NULL THEN address WHEN ? = '' THEN NULL ELSE ? END,
             origin = CASE WHEN origin = 'discovered' THEN ? ELSE origin END,
             state = CASE WHEN state = 'registered' THEN state ELSE 'assigned' END
           WHERE mac = ?`,
          [input.vendor, input.model, input.location ?? null, now, input.address ?? null, input.address ?? null, input.address ?? null, input.origin, input.mac],
        );
        await this.db.run('DELETE FROM device_lines WHERE mac = ?', [input.mac]);
      }
      for (const [i, ext] of lines.entries()) {
        await this.db.run('INSERT INTO device_lines (mac, position, ext) VALUES (?,?,?)', [input.mac, i + 1, ext]);
      }
      return row ? 'updated' : 'added';
    });
  }

  /** Records a device nobody added. Returns true when it was new. */
  async discover(mac: Mac, seen: Sighting): Promise<boolean> {
    const now = nowIso();
    const { changes } = await this.db.transaction(() =>
      this.db.run(
        `INSERT INTO devices (mac, vendor, model, firmware, ip, user_agent, state, origin, first_seen, last_seen, created_at, updated_at)
         VALUES (?,?,?,?,?,?,'discovered','discovered',?,?,?,?) ON CONFLICT(mac) DO NOTHING`,
        [mac, seen.vendor ?? null, seen.model ?? null, seen.firmware ?? null, seen.ip ?? null, seen.userAgent ?? null, now, now, now, now],
      ),
      { quiet: true },
    );
    return changes > 0;
  }

  /** Notes what a request told about a known device; written within `flushMs`. */
  noteSighting(mac: Mac, seen: Sighting): void {
    const previous = this.pendingSightings.get(mac);
    this.pendingSightings.set(mac, { ...previous, ...stripUndefined(seen), at: nowIso() });
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => void this.flush().catch((err: Error) => this.log.error({ err: err.message }, 'cannot record device sightings')), this.flushMs);
      this.flushTimer.unref();
    }
  }

  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pendingSightings.size === 0) return;
    const batch = [...this.pendingSightings];
    this.pendingSightings.clear();
    await this.db.transaction(async () => {
      for (const [mac, s] of batch) {
        await this.db.run(
          `UPDATE devices SET ip = coalesce(?, ip), firmware = coalesce(?, firmware), user_agent = coalesce(?, user_agent),
             vendor = coalesce(vendor, ?), model = coalesce(model, ?), last_seen = ?, first_seen = coalesce(first_seen, ?) WHERE mac = ?`,
          [s.ip ?? null, s.firmware ?? null, s.userAgent ?? null, s.vendor ?? null, s.model ?? null, s.at, s.at, mac],
        );
      }
    }, { quiet: true });
  }

  /** The device fetched its own file with its accounts in it. */
  async markProvisioned(mac: Mac): Promise<void> {
    const now = nowIso();
    await this.db.transaction(() =>
      this.db.run("UPDATE devices SET state = 'provisioned', provisioned_at = ? WHERE mac = ? AND state = 'assigned'", [now, mac]),
      { quiet: true },
    );
  }

  /**
   * The device has a live registration (`registered`) or has just lost its last one (back to `provisioned`).
   * Returns whether the state changed.
   */
  async markRegistered(mac: Mac, registered: boolean): Promise<boolean> {
    const { changes } = await this.db.transaction(
      () =>
        registered
          ? this.db.run("UPDATE devices SET state = 'registered' WHERE mac = ? AND state IN ('assigned', 'provisioned')", [mac])
          : this.db.run("UPDATE devices SET state = 'provisioned' WHERE mac = ? AND state = 'registered'", [mac]),
      { quiet: true },
    );
    return changes > 0;
  }

  async remove(mac: Mac): Promise<boolean> {
    const { changes } = await this.db.transaction(() => this.db.run('DELETE FROM devices WHERE mac = ?', [mac]));
    this.pendingSightings.delete(mac);
    return changes > 0;
  }

  async setOverrides(mac: Mac, overrides: Record<string, unknown>): Promise<void> {
    await this.db.transaction(() =>
      this.db.run("UPDATE devices SET overrides = ?, updated_at = ?, state = CASE WHEN state = 'provisioned' THEN 'assigned' ELSE state END WHERE mac = ?", [
        JSON.stringify(overrides), nowIso(), mac,
      ]),
    );
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
