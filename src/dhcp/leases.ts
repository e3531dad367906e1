/**
 * The allocation engine: which address a client gets. Pure: the clock is handed in, the store is not touched
 * (the server persists what `commit` returns before it acknowledges). Kea keeps its allocation engine apart
 * from packets the same way.
 *
 * Order of preference for a client: its current binding, its reservation, the address it asks for (option
 * 50) when free, the next never-used address of the range, and only then the address that expired longest
 * ago (so a returning phone usually finds its old address still free).
 */
import { intToIpv4, ipv4ToInt } from '../net/cidr.js';
import type { Lease } from '../store/leases.js';

export interface PoolConfig {
  first: string;
  last: string;
  /** Addresses reserved for clients (by client key `hw:1:<mac hex>` or `id:<hex>`, or by MAC `mac:<12 hex>`). */
  reservations?: ReadonlyMap<string, string>;
  /** How long an OFFER holds an address for its client. */
  offerMs?: number;
  /** How long a DECLINEd address stays out of use. */
  quarantineMs?: number;
}

interface Entry {
  lease: Lease;
}

export type RequestCheck = { ok: true } | { ok: false; reason: string };

export class LeaseBook {
  private readonly first: number;
  private readonly last: number;
  private readonly byAddress = new Map<number, Entry>();
  private readonly byClient = new Map<string, number>();
  private readonly offers = new Map<number, { client: string; until: number }>();
  private readonly offersByClient = new Map<string, number>();
  private reservedAddresses = new Map<number, string>();
  private reservations: ReadonlyMap<string, string>;
  /** The lowest address that might never have been used. */
  private cursor: number;
  private readonly offerMs: number;
  private readonly quarantineMs: number;

  constructor(private readonly pool: PoolConfig, leases: readonly Lease[], private readonly now: () => number = Date.now) {
    this.first = ipv4ToInt(pool.first)!;
    this.last = ipv4ToInt(pool.last)!;
    this.cursor = this.first;
    this.offerMs = pool.offerMs ?? 30_000;
    this.quarantineMs = pool.quarantineMs ?? 600_000;
    this.reservations = new Map();
    this.setReservations(pool.reservations ?? new Map());
    for (const lease of leases) this.load(lease);
  }

  private load(lease: Lease): void {
    const n = ipv4ToInt(lease.address);
    if (n === undefined) return;
    this.byAddress.set(n, { lease });
    if (lease.state === 'bound') this.byClient.set(lease.client, n);
  }

  inRange(address: string): boolean {
    const n = ipv4ToInt(address);
    return n !== undefined && n >= this.first && n <= this.last;
  }

  /** Replaces the reservations (client key or `mac:<12 hex>` -> address), e.g. when the inventory changes. */
  setReservations(reservations: ReadonlyMap<string, string>): void {
    this.reservations = reservations;
    this.reservedAddresses = new Map();
    for (const [key, address] of reservations) {
      const n = ipv4ToInt(address);
      if (n !== undefined) this.reservedAddresses.set(n, key);
    }
  }

  private reservationOf(client: string, mac: string | undefined): number | undefined {
    const byKey = this.reservations.get(client) ?? (mac ? this.reservations.get(`mac:${mac}`) : undefined);
    return byKey ? ipv4ToInt(byKey) : undefined;
  }

  /** Whether `n` may be given to `client` now. */
  private availableTo(n: number, client: string, mac: string | undefined): boolean {
    const now = this.now();
    const reservedFor = this.reservedAddresses.get(n);
    if (reservedFor && reservedFor !== client && reservedFor !== `mac:${mac}`) return false;
    const offer = this.offers.get(n);
    if (offer && offer.client !== client && offer.until > now) return false;
    const entry = this.byAddress.get(n);
    if (!entry) return true;
    const l = entry.lease;
    if (l.client === client && l.state !== 'declined') return true;
    if (l.state === 'bound') return l.expiresAt <= now;
    if (l.state === 'declined') return l.expiresAt <= now;
    return true; // released or expired
  }

  /** The address to OFFER `client`, held for it a short while; undefined when the pool is exhausted. */
  offer(client: string, mac: string | undefined, requested?: string): string | undefined {
    const now = this.now();
    const pick = (n: number | undefined) => n !== undefined && n >= this.first && n <= this.last && this.availableTo(n, client, mac);
    const current = this.byClient.get(client);
    const reserved = this.reservationOf(client, mac);
    const asked = requested ? ipv4ToInt(requested) : undefined;
    const previousOffer = this.offersByClient.get(client);
    let chosen: number | undefined;
    for (const candidate of [reserved, current, previousOffer, asked]) {
      if (pick(candidate)) {
        chosen = candidate;
        break;
      }
    }
    if (chosen === undefined && reserved !== undefined) return undefined; // a reserved client gets its address or nothing
    if (chosen === undefined) chosen = this.neverUsed(client, mac) ?? this.oldestFree(client, mac) ?? this.oldestOffer(client, mac);
    if (chosen === undefined) return undefined;
    const old = this.offersByClient.get(client);
    if (old !== undefined && old !== chosen) this.offers.delete(old);
    this.offers.set(chosen, { client, until: now + this.offerMs });
    this.offersByClient.set(client, chosen);
    return intToIpv4(chosen);
  }

  /**
   * The next address nobody has had. The cursor moves past every address it hands out or finds bound, reserved
   * or offered, so each DISCOVER costs O(1) while the range lasts; an offer that lapses without a REQUEST leaves
   * its address behind the cursor, where `oldestFree` finds it once the range is used up.
   */
  private neverUsed(client: string, mac: string | undefined): number | undefined {
    while (this.cursor <= this.last) {
      const n = this.cursor++;
      if (this.byAddress.has(n) || this.reservedAddresses.has(n)) continue;
      if (this.availableTo(n, client, mac)) return n;
    }
    return undefined;
  }

  private oldestFree(client: string, mac: string | undefined): number | undefined {
    let best: number | undefined;
    let bestTime = Infinity;
    for (let n = this.first; n <= this.last; n++) {
      if (!this.availableTo(n, client, mac)) continue;
      const entry = this.byAddress.get(n);
      const time = entry ? entry.lease.expiresAt : -1;
      if (time < bestTime) {
        best = n;
        bestTime = time;
        if (time === -1) break;
      }
    }
    return best;
  }

  /**
   * When every address is bound or offered: an offer is no promise, so the oldest one is taken back (a flood
   * of DISCOVERs from made-up MACs cannot lock the pool for the offer time).
   */
  private oldestOffer(client: string, mac: string | undefined): number | undefined {
    let best: number | undefined;
    let bestUntil = Infinity;
    for (const [n, offer] of this.offers) {
      if (offer.client === client || offer.until >= bestUntil) continue;
      const entry = this.byAddress.get(n);
      const bound = entry && entry.lease.state === 'bound' && entry.lease.expiresAt > this.now();
      const reservedFor = this.reservedAddresses.get(n);
      if (bound || (reservedFor && reservedFor !== client && reservedFor !== `mac:${mac}`)) continue;
      best = n;
      bestUntil = offer.until;
    }
    if (best !== undefined) {
      const previous = this.offers.get(best);
      if (previous) this.offersByClient.delete(previous.client);
      this.offers.delete(best);
    }
    return best;
  }

  /**
   * Whether a REQUEST for `address` may be acknowledged: the address is in the range and either bound to this
   * client, offered to it, or free (INIT-REBOOT of a client whose lease we lost is still served).
   */
  check(client: string, mac: string | undefined, address: string): RequestCheck {
    const n = ipv4ToInt(address);
    if (n === undefined || !this.inRange(address)) return { ok: false, reason: `${address} is not in this server's range` };
    if (!this.availableTo(n, client, mac)) return { ok: false, reason: `${address} belongs to another client` };
    const reserved = this.reservationOf(client, mac);
    if (reserved !== undefined && reserved !== n) return { ok: false, reason: `the client has the reserved address ${intToIpv4(reserved)}` };
    return { ok: true };
  }

  /** The binding to persist before the ACK. */
  commit(client: string, address: string, leaseSeconds: number, info: { mac?: string | undefined; hostname?: string | undefined; vendorClass?: string | undefined } = {}): Lease {
    const now = this.now();
    const n = ipv4ToInt(address)!;
    const previous = this.byClient.get(client);
    if (previous !== undefined && previous !== n) {
      const old = this.byAddress.get(previous);
      if (old && old.lease.client === client) old.lease = { ...old.lease, state: 'released', expiresAt: now, updatedAt: now };
    }
    const lease: Lease = { address, client, mac: info.mac, state: 'bound', expiresAt: now + leaseSeconds * 1000, updatedAt: now, hostname: info.hostname, vendorClass: info.vendorClass };
    this.byAddress.set(n, { lease });
    this.byClient.set(client, n);
    this.offers.delete(n);
    this.offersByClient.delete(client);
    return lease;
  }

  /** DECLINE: the address is in use by someone else on the wire; keep it out of use for a while. */
  decline(client: string, address: string): Lease | undefined {
    const n = ipv4ToInt(address);
    if (n === undefined || !this.inRange(address)) return undefined;
    const entry = this.byAddress.get(n);
    if (entry && entry.lease.client !== client && entry.lease.state === 'bound' && entry.lease.expiresAt > this.now()) return undefined;
    const now = this.now();
    const lease: Lease = { address, client, mac: entry?.lease.mac, state: 'declined', expiresAt: now + this.quarantineMs, updatedAt: now };
    this.byAddress.set(n, { lease });
    if (this.byClient.get(client) === n) this.byClient.delete(client);
    this.offers.delete(n);
    return lease;
  }

  /** RELEASE: the client gives its address back. Only the holder can. */
  release(client: string, address: string): Lease | undefined {
    const n = ipv4ToInt(address);
    const entry = n === undefined ? undefined : this.byAddress.get(n);
    if (!entry || entry.lease.client !== client || entry.lease.state !== 'bound') return undefined;
    const now = this.now();
    entry.lease = { ...entry.lease, state: 'released', expiresAt: now, updatedAt: now };
    this.byClient.delete(client);
    return entry.lease;
  }

  /** The client's binding, if it has a live one. */
  bindingOf(client: string): Lease | undefined {
    const n = this.byClient.get(client);
    const lease = n === undefined ? undefined : this.byAddress.get(n)?.lease;
    return lease && lease.state === 'bound' && lease.expiresAt > this.now() ? lease : undefined;
  }

  /** Bound leases (live), for the API and the TFTP identification. */
  active(): Lease[] {
    const now = this.now();
    return [...this.byAddress.values()].map((e) => e.lease).filter((l) => l.state === 'bound' && l.expiresAt > now);
  }

  leaseAt(address: string): Lease | undefined {
    const n = ipv4ToInt(address);
    const lease = n === undefined ? undefined : this.byAddress.get(n)?.lease;
    return lease && lease.state === 'bound' && lease.expiresAt > this.now() ? lease : undefined;
  }
}
