/**
 * The enumeration guard. A MAC is not a secret (2^24 per vendor prefix), so a client that names many MACs the
 * store does not know is hunting for configurations: past `limit` misses in `windowMs`, it is refused
 * everything for `blockMs`. Pure: the clock is handed in.
 */
export interface GuardOptions {
  limit: number;
  windowMs: number;
  blockMs: number;
  /** At most this many clients are tracked; the oldest entries are dropped first. */
  maxClients: number;
}

export const DEFAULT_GUARD: GuardOptions = { limit: 20, windowMs: 60_000, blockMs: 600_000, maxClients: 10_000 };

export class EnumerationGuard {
  private readonly misses = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();

  constructor(private readonly options: GuardOptions = DEFAULT_GUARD, private readonly now: () => number = Date.now) {}

  /** Until when `client` is refused, or undefined when it is not. */
  blockedUntil(client: string): number | undefined {
    const until = this.blocked.get(client);
    if (until === undefined) return undefined;
    if (until <= this.now()) {
      this.blocked.delete(client);
      return undefined;
    }
    return until;
  }

  /** Counts a miss; returns true when this miss is the one that blocks the client. */
  miss(client: string): boolean {
    const now = this.now();
    const recent = (this.misses.get(client) ?? []).filter((t) => t > now - this.options.windowMs);
    recent.push(now);
    this.misses.delete(client);
    this.misses.set(client, recent);
    if (this.misses.size > this.options.maxClients) this.misses.delete(this.misses.keys().next().value!);
    if (recent.length > this.options.limit && !this.blockedUntil(client)) {
      this.blocked.set(client, now + this.options.blockMs);
      this.misses.delete(client);
      return true;
    }
    return false;
  }

  blockedClients(): number {
    return [...this.blocked.keys()].filter((c) => this.blockedUntil(c) !== undefined).length;
  }
}
