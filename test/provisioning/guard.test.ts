import { strict as assert } from 'node:assert';
import { EnumerationGuard } from '../../src/provisioning/guard.js';

describe('enumeration guard', () => {
  it('blocks a client after more than 20 misses in a minute, for ten minutes', () => {
    let now = 1_000_000;
    const guard = new EnumerationGuard(undefined, () => now);
    for (let i = 0; i < 20; i++) assert.equal(guard.miss('10.0.0.9'), false);
    assert.equal(guard.blockedUntil('10.0.0.9'), undefined);
    assert.equal(guard.miss('10.0.0.9'), true, 'the 21st miss blocks');
    assert.equal(guard.blockedUntil('10.0.0.9'), now + 600_000);
    assert.equal(guard.blockedUntil('10.0.0.10'), undefined, 'other clients are not affected');
    now += 599_999;
    assert.ok(guard.blockedUntil('10.0.0.9'));
    now += 2;
    assert.equal(guard.blockedUntil('10.0.0.9'), undefined, 'the block ends after ten minutes');
  });

  it('forgets misses older than the window', () => {
    let now = 0;
    const guard = new EnumerationGuard(undefined, () => now);
    for (let i = 0; i < 20; i++) guard.miss('c');
    now += 60_001;
    for (let i = 0; i < 20; i++) assert.equal(guard.miss('c'), false);
    assert.equal(guard.blockedUntil('c'), undefined);
  });

  it('keeps its memory bounded', () => {
    const guard = new EnumerationGuard({ limit: 20, windowMs: 60_000, blockMs: 600_000, maxClients: 100 });
    for (let i = 0; i < 10_000; i++) guard.miss(`client-${i}`);
    assert.ok((guard as unknown as { misses: Map<string, number[]> }).misses.size <= 101);
  });
});
