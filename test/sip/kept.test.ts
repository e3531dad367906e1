/** The store of kept answers for Timer J: found again byte for byte, dropped in time, bounded in memory. */
import { strict as assert } from 'node:assert';
import { KeptAnswers } from '../../src/sip/kept.js';
import type { Remote } from '../../src/sip/transport.js';

const to = (i: number): Remote => ({ transport: 'udp', address: `10.20.${(i >> 8) & 255}.${i & 255}`, port: 5060 + (i % 7) });
const head = (i: number) => `SIP/2.0 200 OK\r\nCall-ID: ${i}\r\n${'x'.repeat(i % 300)}\r\n\r\n`;
const body = (i: number) => (i % 5 === 0 ? Buffer.from(`v=0 ${i}`) : Buffer.alloc(0));
const answer = (i: number) => Buffer.concat([Buffer.from(head(i), 'latin1'), body(i)]);
const key = (i: number) => `z9hG4bK-${i}|10.20.0.${i % 250}:5060|REGISTER`;

describe('kept answers (Timer J store)', () => {
  it('gives back the bytes and destination of a kept answer, nothing for another key, and lets go at its time', () => {
    const kept = new KeptAnswers();
    assert.ok(kept.keep(key(1), head(1), body(1), to(1), 1000)!.equals(answer(1)), 'the bytes kept are the answer');
    assert.ok(kept.keep(key(2), head(2), body(2), to(2), 1001));
    const found = kept.find(key(1));
    assert.ok(found);
    assert.ok(found.bytes.equals(answer(1)));
    assert.deepEqual(found.to, to(1));
    assert.equal(kept.find(`${key(1)}x`), undefined);
    assert.equal(kept.find(key(3)), undefined);
    assert.equal(kept.size, 2);
    assert.equal(kept.expire(999), 2);
    assert.equal(kept.expire(1000), 1);
    assert.equal(kept.find(key(1)), undefined);
    assert.ok(kept.find(key(2))!.bytes.equals(answer(2)));
    assert.equal(kept.expire(5000), 0);
    assert.equal(kept.find(key(2)), undefined);
  });

  it('keeps every answer right while the ring wraps around, grows and empties, against a model, 20,000 answers', () => {
    const kept = new KeptAnswers({ initialBytes: 1024, maxBytes: 8 * 2 ** 20 });
    const model = new Map<string, { i: number; until: number }>();
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      now += 1;
      // Bursts and lulls: the number kept rises and falls, so the ring wraps at many sizes.
      const ttl = 200 + 150 * Math.sin(i / 900);
      assert.ok(kept.keep(key(i), head(i), body(i), to(i), now + 300)!.equals(answer(i)));
      model.set(key(i), { i, until: now + 300 });
      if (i % Math.round(ttl / 10) === 0) {
        kept.expire(now);
        for (const [k, v] of model) if (v.until <= now) model.delete(k);
        assert.equal(kept.size, model.size);
      }
      if (i % 997 === 0) {
        for (const [k, v] of model) {
          const found = kept.find(k);
          assert.ok(found && found.bytes.equals(answer(v.i)) && found.to.address === to(v.i).address && found.to.port === to(v.i).port, `answer ${v.i}`);
        }
      }
    }
    assert.equal(kept.evictedEarly, 0);
    kept.expire(now + 1000);
    assert.equal(kept.size, 0);
    assert.equal(kept.capacity, 1024, 'back to its first size once empty');
  });

  it('grows while its records wrap around the end of the ring and keeps them all, in order', () => {
    const kept = new KeptAnswers({ initialBytes: 1024 });
    // 82-byte records (60 of answer): 12 fill 984 of 1,024 bytes; the first 8 go, 6 more wrap to the start, 30 more make it grow.
    const small = (i: number) => `SIP/2.0 200 OK ${String(i).padStart(2, '0')}\r\n${'x'.repeat(37)}\r\n\r\n`;
    for (let i = 0; i < 12; i++) kept.keep(`k${i}`, small(i), Buffer.alloc(0), to(i), i);
    kept.expire(7);
    for (let i = 12; i < 18; i++) kept.keep(`k${i}`, small(i), Buffer.alloc(0), to(i), i);
    assert.equal(kept.capacity, 1024, 'wrapped, not grown');
    for (let i = 18; i < 48; i++) kept.keep(`k${i}`, small(i), Buffer.alloc(0), to(i), i);
    assert.ok(kept.capacity > 1024);
    for (let i = 8; i < 48; i++) assert.equal(kept.find(`k${i}`)?.bytes.toString('latin1'), small(i), `record ${i}`);
    assert.equal(kept.expire(30), 17);
    for (let i = 31; i < 48; i++) assert.equal(kept.find(`k${i}`)?.bytes.toString('latin1'), small(i), `record ${i} after expiry`);
  });

  it('at its largest size lets the oldest go early and counts them; the newest are still found', () => {
    const kept = new KeptAnswers({ initialBytes: 4096, maxBytes: 64 * 1024 });
    for (let i = 0; i < 2000; i++) kept.keep(key(i), head(i), body(i), to(i), 1_000_000);
    assert.ok(kept.capacity <= 64 * 1024);
    assert.ok(kept.evictedEarly > 1000, `${kept.evictedEarly} evicted`);
    assert.equal(kept.size + kept.evictedEarly, 2000);
    assert.equal(kept.find(key(0)), undefined);
    for (let i = 1990; i < 2000; i++) assert.ok(kept.find(key(i))!.bytes.equals(answer(i)));
    assert.equal(kept.keep('k', 'x'.repeat(20_000), Buffer.alloc(0), to(1), 1), undefined, 'an answer larger than a quarter of the ring is not kept');
  });

  it('tells keys with the same hash apart, and finds them again after older ones of the chain are gone', () => {
    const kept = new KeptAnswers({ hash: (k) => (k.endsWith('0|10.20.0.0:5060|REGISTER') ? 7 : 9) });
    for (let i = 0; i < 40; i++) kept.keep(key(i), head(i), body(i), to(i), 100 + i);
    for (let i = 10; i < 40; i++) assert.ok(kept.find(key(i))!.bytes.equals(answer(i)), `answer ${i}`);
    kept.expire(120);
    for (let i = 0; i <= 20; i++) assert.equal(kept.find(key(i)), undefined);
    for (let i = 21; i < 40; i++) assert.ok(kept.find(key(i))!.bytes.equals(answer(i)), `answer ${i} after expiry`);
    kept.keep(key(5), head(5), body(5), to(5), 500);
    assert.ok(kept.find(key(5))!.bytes.equals(answer(5)), 'kept again after it had gone');
  });
});
