/**
 * The answers of completed non-INVITE server transactions over UDP, kept for Timer J (64*T1, 32 s) so that a
 * retransmitted request gets the same answer again (RFC 3261 §17.2.2), stored without a JavaScript object per
 * answer.
 *
 * A registration storm keeps hundreds of thousands of them (6,000 registrations a second for 32 s: 190,000). As
 * objects (the bytes' Buffer, the destination, a key string, a map entry) they were a million small objects that
 * every scavenge copied and every major GC marked; here they are records in one byte ring, in the order they were
 * kept (every answer waits the same Timer J, so the oldest is always the first to go), found by a 30-bit hash of
 * the transaction key in a Map of small integers. A record holds the destination, the key (to tell hash collisions
 * apart) and the answer's bytes.
 *
 * Memory: the ring starts at 256 KiB, doubles as needed up to `maxBytes` (64 MiB by default, about 140,000 answers
 * of 480 bytes), and goes back to its first size once empty. When it is full the oldest answers are let go before
 * their Timer J (`evictedEarly` counts them): a retransmission that late is answered by handling the request anew.
 */
import { randomBytes } from 'node:crypto';
import type { Remote } from './transport.js';

/** Record header: u32 length of the whole record, u16 port, u8 address length, u16 key length. */
const HEADER = 9;
/** Record ids are kept modulo 2**30 in the index, so they stay small integers (no heap number per entry). */
const ID_MASK = 0x3fffffff;
/** At most this many records with the same hash are compared on a lookup (an adversary has no way to aim at the seed). */
const MAX_CHAIN = 32;

export interface KeptAnswerOptions {
  /** Largest size of the ring, bytes. */
  maxBytes?: number;
  /** First size of the ring, bytes. */
  initialBytes?: number;
  /** The key's hash (30 bits); tests give one that collides. By default seeded FNV-1a. */
  hash?: (key: string) => number;
}

export class KeptAnswers {
  readonly maxBytes: number;
  private readonly initialBytes: number;
  private ring: Buffer;
  /** Where the next record goes. */
  private writeAt = 0;
  /** While the records wrap around the ring's end: where the last one before the end stops. */
  private wrapEnd = 0;
  /** Per record, by id & mask: where it starts in the ring, when it is dropped, its hash, the previous id with the same hash (-1: none). */
  private offsets: Int32Array;
  private untils: Float64Array;
  private hashes: Int32Array;
  private prevs: Int32Array;
  private mask: number;
  /** Ids of the oldest live record and of the next one; live records are [tail, head). */
  private tail = 0;
  private head = 0;
  /** hash -> id & ID_MASK of the newest record with that hash. */
  private readonly index = new Map<number, number>();
  private readonly seed = randomBytes(4).readInt32LE(0);
  /** Answers dropped before their time because the ring was at maxBytes. */
  evictedEarly = 0;

  constructor(options: KeptAnswerOptions = {}) {
    this.maxBytes = Math.max(4096, options.maxBytes ?? 64 * 2 ** 20);
    this.initialBytes = Math.min(this.maxBytes, Math.max(1024, options.initialBytes ?? 256 * 1024));
    this.ring = Buffer.allocUnsafe(this.initialBytes);
    this.mask = 1023;
    this.offsets = new Int32Array(1024);
    this.untils = new Float64Array(1024);
    this.hashes = new Int32Array(1024);
    this.prevs = new Int32Array(1024);
    if (options.hash) {
      const hash = options.hash;
      this.hash = (key) => hash(key) & ID_MASK;
    }
  }

  /** Answers kept. */
  get size(): number {
    return this.head - this.tail;
  }

  /** Bytes the ring takes now. */
  get capacity(): number {
    return this.ring.length;
  }

  /**
   * Keeps an answer, `head` (Latin-1 text: start line and headers, blank line included) then `body`, for the
   * request whose transaction key is `key` until `until` (ms, Date.now() time); it goes to `to` (UDP). Returns
   * the answer's bytes in the store (what to send now: no other copy is made), or undefined when it cannot be
   * kept (larger than a quarter of the largest ring, or a destination or key longer than a record holds): the
   * request is then handled anew if it comes again.
   */
  keep(key: string, head: string, body: Buffer, to: Remote, until: number): Buffer | undefined {
    const addressLength = to.address.length;
    if (addressLength > 255 || key.length > 65535) return undefined;
    const answerAt = HEADER + addressLength + key.length;
    const length = answerAt + head.length + body.length;
    if (length > this.maxBytes / 4) return undefined;
    const at = this.place(length);
    const ring = this.ring;
    ring.writeUInt32LE(length, at);
    ring.writeUInt16LE(to.port, at + 4);
    ring[at + 6] = addressLength;
    ring.writeUInt16LE(key.length, at + 7);
    ring.write(to.address, at + HEADER, addressLength, 'latin1');
    ring.write(key, at + HEADER + addressLength, key.length, 'latin1');
    ring.write(head, at + answerAt, head.length, 'latin1');
    if (body.length) body.copy(ring, at + answerAt + head.length);
    this.writeAt = at + length;
    if (this.head - this.tail > this.mask) this.growIds();
    const id = this.head++;
    const slot = id & this.mask;
    const hash = this.hash(key);
    this.offsets[slot] = at;
    this.untils[slot] = until;
    this.hashes[slot] = hash;
    const previous = this.index.get(hash);
    this.prevs[slot] = previous === undefined ? -1 : previous;
    this.index.set(hash, id & ID_MASK);
    return ring.subarray(at + answerAt, at + length);
  }

  /** The kept answer for `key` (a copy of its bytes) and where it goes; undefined when there is none. */
  find(key: string): { bytes: Buffer; to: Remote } | undefined {
    let id = this.index.get(this.hash(key));
    for (let steps = 0; id !== undefined && id >= 0 && steps < MAX_CHAIN && this.live(id); steps++) {
      const at = this.offsets[id & this.mask]!;
      const ring = this.ring;
      const addressLength = ring[at + 6]!;
      const keyLength = ring.readUInt16LE(at + 7);
      const keyAt = at + HEADER + addressLength;
      if (keyLength === key.length && ring.toString('latin1', keyAt, keyAt + keyLength) === key) {
        return {
          bytes: Buffer.from(ring.subarray(keyAt + keyLength, at + ring.readUInt32LE(at))),
          to: { transport: 'udp', address: ring.toString('latin1', at + HEADER, keyAt), port: ring.readUInt16LE(at + 4) },
        };
      }
      id = this.prevs[id & this.mask]!;
    }
    return undefined;
  }

  /** Lets go of every answer whose time is up; returns how many are left. */
  expire(now: number): number {
    while (this.head > this.tail && this.untils[this.tail & this.mask]! <= now) this.dropOldest();
    return this.head - this.tail;
  }

  /** Lets go of every answer. */
  clear(): void {
    while (this.head > this.tail) this.dropOldest();
  }

  private live(id30: number): boolean {
    const age = (this.head - id30) & ID_MASK;
    return age >= 1 && age <= this.head - this.tail;
  }

  private dropOldest(): void {
    const id = this.tail++;
    const hash = this.hashes[id & this.mask]!;
    // Older records with the same hash went before this one: the chain ends here.
    if (this.index.get(hash) === (id & ID_MASK)) this.index.delete(hash);
    if (this.head === this.tail) {
      this.writeAt = 0;
      if (this.ring.length > this.initialBytes) this.ring = Buffer.allocUnsafe(this.initialBytes);
    }
  }

  /** Where a record of `length` bytes goes: after the last one, or at the ring's start; grows or evicts for room. */
  private place(length: number): number {
    for (;;) {
      if (this.head === this.tail) {
        if (length <= this.ring.length) return 0;
      } else {
        const oldest = this.offsets[this.tail & this.mask]!;
        if (this.writeAt > oldest) {
          // [oldest, writeAt) is used: room after it, or from the start up to the oldest.
          if (this.ring.length - this.writeAt >= length) return this.writeAt;
          if (oldest > length) {
            this.wrapEnd = this.writeAt;
            return 0;
          }
        } else if (oldest - this.writeAt > length) return this.writeAt; // wrapped: room between the newest and the oldest
      }
      if (this.ring.length < this.maxBytes) this.growRing(length);
      else {
        this.evictedEarly++;
        this.dropOldest();
      }
    }
  }

  /** A ring at least twice as large, the live records moved to its start in order (one or two block copies). */
  private growRing(needed: number): void {
    let size = this.ring.length * 2;
    while (size < needed * 2) size *= 2;
    const ring = Buffer.allocUnsafe(Math.min(this.maxBytes, size));
    if (this.head > this.tail) {
      const oldest = this.offsets[this.tail & this.mask]!;
      // Not wrapped: [oldest, writeAt). Wrapped: [oldest, wrapEnd) then [0, writeAt).
      const firstEnd = this.writeAt > oldest ? this.writeAt : this.wrapEnd;
      const firstLength = firstEnd - oldest;
      this.ring.copy(ring, 0, oldest, firstEnd);
      if (this.writeAt <= oldest) this.ring.copy(ring, firstLength, 0, this.writeAt);
      for (let id = this.tail; id < this.head; id++) {
        const slot = id & this.mask;
        const from = this.offsets[slot]!;
        this.offsets[slot] = from >= oldest ? from - oldest : from + firstLength;
      }
      this.writeAt = this.writeAt > oldest ? firstLength : firstLength + this.writeAt;
    } else this.writeAt = 0;
    this.ring = ring;
  }

  /** Twice as many id slots, the live ones moved to their new places. */
  private growIds(): void {
    const mask = this.mask * 2 + 1;
    const offsets = new Int32Array(mask + 1);
    const untils = new Float64Array(mask + 1);
    const hashes = new Int32Array(mask + 1);
    const prevs = new Int32Array(mask + 1);
    for (let id = this.tail; id < this.head; id++) {
      const from = id & this.mask;
      const to = id & mask;
      offsets[to] = this.offsets[from]!;
      untils[to] = this.untils[from]!;
      hashes[to] = this.hashes[from]!;
      prevs[to] = this.prevs[from]!;
    }
    this.mask = mask;
    this.offsets = offsets;
    this.untils = untils;
    this.hashes = hashes;
    this.prevs = prevs;
  }

  /** FNV-1a over the key's characters (Latin-1: one byte each), seeded, cut to 30 bits (a small integer). */
  private hash(key: string): number {
    let h = 0x811c9dc5 ^ this.seed;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return (h ^ (h >>> 12)) & ID_MASK;
  }
}
