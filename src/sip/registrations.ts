/**
 * The live registrations: every line's bindings in memory (the registrar and, later, the router read them on
 * every request), written through to the store, reloaded at start, expired by a sweep once a second. REGISTERs
 * for one line are applied one after another, so two arriving together never both act on a stale set.
 */
import type { Binding } from '../store/bindings.js';
import type { Store } from '../store/index.js';

export class RegistrationBook {
  private readonly byAor = new Map<string, Binding[]>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private count = 0;

  constructor(private readonly store: Store) {}

  /** Reads the stored bindings; returns the ones that expired while Outpost was down (already removed). */
  async load(now: number): Promise<Binding[]> {
    const all = await this.store.bindings.list();
    const expired = all.filter((b) => b.expiresAt <= now);
    for (const b of all) if (b.expiresAt > now) this.byAor.set(b.aor, [...(this.byAor.get(b.aor) ?? []), b]);
    this.count = all.length - expired.length;
    await this.store.bindings.apply([], expired);
    return expired;
  }

  /** The line's live bindings. */
  get(aor: string, now = Date.now()): Binding[] {
    return (this.byAor.get(aor) ?? []).filter((b) => b.expiresAt > now);
  }

  all(now = Date.now()): Binding[] {
    return [...this.byAor.values()].flat().filter((b) => b.expiresAt > now);
  }

  size(): number {
    return this.count;
  }

  /** Runs `fn` after every earlier call for the same line has finished. */
  exclusive<T>(aor: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(aor) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(aor, settled);
    void settled.then(() => {
      if (this.locks.get(aor) === settled) this.locks.delete(aor);
    });
    return next;
  }

  /** Makes `bindings` the line's set; durable when it resolves. */
  async replace(aor: string, bindings: Binding[], puts: readonly Binding[], removals: readonly Binding[]): Promise<void> {
    await this.store.bindings.apply(puts, removals);
    const before = this.byAor.get(aor)?.length ?? 0;
    if (bindings.length) this.byAor.set(aor, bindings);
    else this.byAor.delete(aor);
    this.count += bindings.length - before;
  }

  /** Removes what has expired; returns it. */
  async sweep(now = Date.now()): Promise<Binding[]> {
    const expired: Binding[] = [];
    for (const [aor, list] of this.byAor) {
      // Most lines have nothing expired: looked at without making a new list.
      let due = false;
      for (const b of list) if (b.expiresAt <= now) due = true;
      if (!due) continue;
      const live = list.filter((b) => b.expiresAt > now);
      expired.push(...list.filter((b) => b.expiresAt <= now));
      if (live.length) this.byAor.set(aor, live);
      else this.byAor.delete(aor);
    }
    this.count -= expired.length;
    if (expired.length) await this.store.bindings.apply([], expired);
    return expired;
  }

  /** Whether the device has any live binding. */
  hasDevice(mac: string, now = Date.now()): boolean {
    for (const list of this.byAor.values()) if (list.some((b) => b.mac === mac && b.expiresAt > now)) return true;
    return false;
  }
}
