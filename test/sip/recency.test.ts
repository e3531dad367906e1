/** RecencyOrder: the least recently used key of a Map, in O(1) amortised, whatever is deleted or used again. */
import { strict as assert } from 'node:assert';
import { RecencyOrder } from '../../src/sip/recency.js';

describe('RecencyOrder', () => {
  it('gives the least recently used key against a model, through 50,000 random uses, deletions and evictions', () => {
    const entries = new Map<string, { use: number }>();
    const order = new RecencyOrder(entries);
    const model: string[] = []; // least recent first
    let seed = 11;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let n = 0; n < 50_000; n++) {
      const r = random();
      const key = `k${Math.floor(random() * 3000)}`;
      if (r < 0.6) {
        const entry = entries.get(key) ?? { use: 0 };
        entries.set(key, entry);
        order.touch(key, entry);
        const at = model.indexOf(key);
        if (at >= 0) model.splice(at, 1);
        model.push(key);
      } else if (r < 0.75) {
        entries.delete(key);
        const at = model.indexOf(key);
        if (at >= 0) model.splice(at, 1);
      } else {
        const oldest = order.oldest();
        assert.equal(oldest, model[0], `step ${n}`);
        if (oldest !== undefined && r < 0.9) {
          entries.delete(oldest);
          model.shift();
        }
        order.compact();
      }
    }
    assert.ok(entries.size > 100);
  });
});
