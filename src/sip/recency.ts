/**
 * The keys of a Map in order of last use, least recent first, for forgetting the least recently used entry in
 * O(1) amortised. A use appends the key with a new use number; its earlier place goes stale (the number no longer
 * matches the entry's) and is skipped when reached. Not the Map's own order: a Map whose oldest entries keep being
 * deleted keeps their slots until it is rehashed, and a loop starting at its head walks every one of them (12-90 µs
 * per nonce use once 100,000 nonces were tracked; 35 µs per failure in the tarpit with 5,000 blocked sources).
 */
export class RecencyOrder<E extends { use: number }> {
  private keys: string[] = [];
  private uses: number[] = [];
  private head = 0;
  private counter = 0;

  constructor(private readonly entries: ReadonlyMap<string, E>) {}

  /** Marks `entry`, stored under `key`, as the most recently used. */
  touch(key: string, entry: E): void {
    entry.use = ++this.counter;
    this.keys.push(key);
    this.uses.push(entry.use);
  }

  /** The least recently used key still in the map (not removed from the order: delete or touch it, then ask again). */
  oldest(): string | undefined {
    for (; this.head < this.keys.length; this.head++) {
      const key = this.keys[this.head]!;
      if (this.entries.get(key)?.use === this.uses[this.head]) return key;
    }
    return undefined;
  }

  /**
   * Drops what has been read, once it is half the arrays; rebuilds the order from the entries once stale places
   * (keys used again and again, or deleted) outnumber them twice over. Call after a round of evictions.
   */
  compact(): void {
    if (this.keys.length - this.head > 2 * Math.max(this.entries.size, 4096)) {
      const live = [...this.entries].sort((a, b) => a[1].use - b[1].use);
      this.keys = live.map(([key]) => key);
      this.uses = live.map(([, e]) => e.use);
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.uses = this.uses.slice(this.head);
      this.head = 0;
    }
  }
}
