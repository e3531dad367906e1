import { strict as assert } from 'node:assert';
import { LeaseBook } from '../../src/dhcp/leases.js';
import type { Lease } from '../../src/store/leases.js';

describe('DHCP allocation engine', () => {
  let now = 1_000_000;
  const clock = () => now;
  beforeEach(() => (now = 1_000_000));

  it('offers the range in order and holds an offer for its client', () => {
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.102' }, [], clock);
    assert.equal(book.offer('hw:1:a', 'a'), '10.20.0.100');
    assert.equal(book.offer('hw:1:b', 'b'), '10.20.0.101');
    assert.equal(book.offer('hw:1:a', 'a'), '10.20.0.100', 'the same client gets the same offer');
    assert.equal(book.offer('hw:1:c', 'c'), '10.20.0.102');
    assert.equal(book.offer('hw:1:d', 'd'), '10.20.0.100', 'with every address offered, the oldest offer is taken back');
    assert.equal(book.offer('hw:1:a', 'a'), '10.20.0.101', 'and its client is offered another one');
    book.commit('hw:1:b', '10.20.0.101', 3600);
    book.commit('hw:1:c', '10.20.0.102', 3600);
    book.commit('hw:1:d', '10.20.0.100', 3600);
    assert.equal(book.offer('hw:1:e', 'e'), undefined, 'exhausted when every address is bound');
  });

  it('honours the requested address when free, and keeps a bound client on its address', () => {
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.199' }, [], clock);
    assert.equal(book.offer('hw:1:a', 'a', '10.20.0.150'), '10.20.0.150');
    book.commit('hw:1:a', '10.20.0.150', 3600);
    assert.equal(book.offer('hw:1:b', 'b', '10.20.0.150'), '10.20.0.100', 'a bound address is not given away');
    assert.equal(book.offer('hw:1:a', 'a'), '10.20.0.150');
    assert.equal(book.offer('hw:1:c', 'c', '10.99.0.1'), '10.20.0.101', 'an address outside the range is not honoured');
  });

  it('checks REQUESTs: its own or a free address is fine, another client\'s or a foreign one is not', () => {
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.199' }, [], clock);
    book.commit('hw:1:a', '10.20.0.120', 3600);
    assert.deepEqual(book.check('hw:1:a', 'a', '10.20.0.120'), { ok: true });
    assert.deepEqual(book.check('hw:1:b', 'b', '10.20.0.130'), { ok: true }, 'INIT-REBOOT of a lease we do not know');
    assert.equal(book.check('hw:1:b', 'b', '10.20.0.120').ok, false);
    assert.match((book.check('hw:1:b', 'b', '192.168.1.5') as { reason: string }).reason, /not in this server's range/);
  });

  it('reuses the address that expired longest ago once the range is used up', () => {
    const leases: Lease[] = [
      { address: '10.20.0.100', client: 'hw:1:a', state: 'bound', expiresAt: now - 5000, updatedAt: 0 },
      { address: '10.20.0.101', client: 'hw:1:b', state: 'bound', expiresAt: now - 9000, updatedAt: 0 },
      { address: '10.20.0.102', client: 'hw:1:c', state: 'bound', expiresAt: now + 9000, updatedAt: 0 },
    ];
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.102' }, leases, clock);
    assert.equal(book.offer('hw:1:a', 'a'), '10.20.0.100', 'a returning client finds its old address');
    assert.equal(book.offer('hw:1:z', 'z'), '10.20.0.101', 'a new client gets the oldest expired');
    book.commit('hw:1:a', '10.20.0.100', 3600);
    book.commit('hw:1:z', '10.20.0.101', 3600);
    assert.equal(book.offer('hw:1:y', 'y'), undefined);
  });

  it('quarantines a declined address and lets a holder release its own', () => {
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.101', quarantineMs: 60_000 }, [], clock);
    book.commit('hw:1:a', '10.20.0.100', 3600);
    assert.equal(book.release('hw:1:b', '10.20.0.100'), undefined, 'only the holder releases');
    assert.equal(book.release('hw:1:a', '10.20.0.100')?.state, 'released');
    assert.equal(book.decline('hw:1:a', '10.20.0.100')?.state, 'declined');
    assert.equal(book.offer('hw:1:c', 'c'), '10.20.0.101');
    book.commit('hw:1:c', '10.20.0.101', 3600);
    assert.equal(book.offer('hw:1:d', 'd'), undefined, 'the declined address stays out of use');
    now += 61_000;
    assert.equal(book.offer('hw:1:d', 'd'), '10.20.0.100');
  });

  it('gives a reserved client its address and nobody else', () => {
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.199', reservations: new Map([['mac:001565aabb01', '10.20.0.150']]) }, [], clock);
    assert.equal(book.offer('hw:1:001565aabb01', '001565aabb01'), '10.20.0.150');
    assert.notEqual(book.offer('hw:1:x', 'x', '10.20.0.150'), '10.20.0.150');
    assert.equal(book.check('hw:1:001565aabb01', '001565aabb01', '10.20.0.120').ok, false);
  });

  it('starts from the stored leases: a restart gives every client its address back', () => {
    const book = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.199' }, [], clock);
    const stored = ['a', 'b', 'c'].map((c) => book.commit(`hw:1:${c}`, book.offer(`hw:1:${c}`, c)!, 3600));
    const restarted = new LeaseBook({ first: '10.20.0.100', last: '10.20.0.199' }, stored, clock);
    for (const lease of stored) assert.equal(restarted.offer(lease.client, undefined), lease.address);
  });
});
