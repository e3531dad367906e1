/**
 * The inventory as the provisioning path reads it: site, devices and lines held in memory and reloaded when
 * the store's generation moves (a write of this process, or a commit of another one such as the CLI). A boot
 * storm then costs no query per request; writes of its own that the path makes (a discovery, a device marked
 * provisioned) patch the copy instead of forcing a reload.
 */
import type { SiteSettings } from '../config/schema.js';
import type { Cidr } from '../net/cidr.js';
import type { Mac } from '../net/mac.js';
import type { Device } from '../store/devices.js';
import type { Store } from '../store/index.js';
import type { Line } from '../store/lines.js';

export interface Snapshot {
  readonly generation: number;
  readonly site: SiteSettings;
  readonly allow: readonly Cidr[];
  readonly devices: Map<Mac, Device>;
  readonly lines: Map<string, Line>;
}

export interface InventorySource {
  store: Store;
  /** The effective site from the values `site set` stored. */
  site: (stored: Map<string, unknown>) => SiteSettings;
  allow: (site: SiteSettings) => Cidr[];
}

export class Inventory {
  private snapshot: Snapshot | undefined;
  private loading: { generation: number; promise: Promise<Snapshot> } | undefined;
  private watcher: NodeJS.Timeout | undefined;

  constructor(private readonly source: InventorySource) {}

  /** The current copy; reloads first when the store has changed since it was taken. */
  current(): Promise<Snapshot> {
    const generation = this.source.store.db.generation;
    if (this.snapshot?.generation === generation) return Promise.resolve(this.snapshot);
    if (this.loading?.generation === generation) return this.loading.promise;
    const promise = this.load(generation);
    this.loading = { generation, promise };
    return promise;
  }

  private async load(generation: number): Promise<Snapshot> {
    const { store } = this.source;
    try {
      const [devices, lines, stored] = await Promise.all([store.devices.list(), store.lines.list(), store.settings.all()]);
      const site = this.source.site(stored);
      const snapshot: Snapshot = {
        generation,
        site,
        allow: this.source.allow(site),
        devices: new Map(devices.map((d) => [d.mac, d])),
        lines: new Map(lines.map((l) => [l.ext, l])),
      };
      // A write during the load moved the generation on: this copy is still served until the next call reloads.
      if (!this.snapshot || this.snapshot.generation <= generation) this.snapshot = snapshot;
      return snapshot;
    } finally {
      if (this.loading?.generation === generation) this.loading = undefined;
    }
  }

  /** The last copy taken, without waiting for a reload (for settings read on a synchronous path). */
  latest(): Snapshot | undefined {
    return this.snapshot;
  }

  /** The last copy when the store has not changed since it was taken (current() would hand back the same). */
  fresh(): Snapshot | undefined {
    return this.snapshot?.generation === this.source.store.db.generation ? this.snapshot : undefined;
  }

  /** The lines of a device, in account order. */
  linesOf(snapshot: Snapshot, device: Device): Line[] {
    return device.lines.map((ext) => snapshot.lines.get(ext)).filter((l): l is Line => l !== undefined);
  }

  /** A device this process just recorded (quietly) in the store. */
  remember(device: Device): void {
    this.snapshot?.devices.set(device.mac, device);
  }

  /**
   * Notices commits of other processes (the CLI beside a running serve) within `intervalMs`, and keeps the copy
   * `latest()` returns no older than that. Only `serve` needs this; a command's own writes move the generation
   * directly.
   */
  watch(intervalMs = 250): void {
    if (this.watcher) return;
    // Also reloads eagerly: readers on synchronous paths (the SIP service's latest()) see a change within one tick.
    const tick = () =>
      void this.source.store.db
        .checkExternalChanges()
        .then(() => (this.snapshot?.generation !== this.source.store.db.generation ? this.current() : undefined))
        .catch(() => undefined);
    tick();
    this.watcher = setInterval(tick, intervalMs);
    this.watcher.unref();
  }

  stop(): void {
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = undefined;
  }
}
