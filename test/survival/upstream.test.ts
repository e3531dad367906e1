/** The upstream state machine: when the branch goes to survival mode and when it comes back. */
import { strict as assert } from 'node:assert';
import { UpstreamState, type Probe } from '../../src/survival/upstream.js';

const POLICY = { failures: 3, holdDown: 120 };
const ok = (at: number, status = 200): Probe => ({ outcome: 'answer', status, rtt: 12, at });
const timeout = (at: number): Probe => ({ outcome: 'timeout', at });

describe('upstream monitor policy', () => {
  it('starts unknown in normal mode; one answer makes it up', () => {
    const s = new UpstreamState(0);
    assert.deepEqual([s.status, s.mode], ['unknown', 'normal']);
    assert.equal(s.observe(ok(10_000), POLICY), undefined);
    assert.equal(s.status, 'up');
    assert.equal(s.lastRtt, 12);
  });

  it('three timeouts or 5xx in a row make it down and switch to survival, with the reason and the time', () => {
    const s = new UpstreamState(0);
    s.observe(ok(0), POLICY);
    assert.equal(s.observe(timeout(10_000), POLICY), undefined);
    assert.equal(s.observe({ outcome: 'answer', status: 503, at: 20_000 }, POLICY), undefined);
    const change = s.observe(timeout(30_000), POLICY);
    assert.deepEqual(change && [change.mode, change.status, change.at], ['survival', 'down', 30_000]);
    assert.match(change!.reason, /3 probes in a row \(last: no answer\)/);
    assert.equal(s.since, 30_000);
    assert.equal(s.observe(timeout(40_000), POLICY), undefined, 'no second change while down');
  });

  it('a failure between answers resets the count: 2 failures, an answer, 2 failures stays up', () => {
    const s = new UpstreamState(0);
    for (const p of [timeout(1), timeout(2), ok(3), timeout(4), timeout(5)]) assert.equal(s.observe(p, POLICY), undefined);
    assert.equal(s.mode, 'normal');
    assert.equal(s.status, 'up');
  });

  it('404 or 405 to OPTIONS is an answer: the Centrex is alive', () => {
    const s = new UpstreamState(0);
    for (let i = 0; i < 5; i++) s.observe(ok(i * 1000, i % 2 ? 404 : 405), POLICY);
    assert.equal(s.status, 'up');
  });

  it('back to normal only after holdDown seconds of answers in a row; a failure in between starts the hold-down again', () => {
    const s = new UpstreamState(0);
    for (const at of [0, 10_000, 20_000]) s.observe(timeout(at), POLICY);
    assert.equal(s.mode, 'survival');
    assert.equal(s.observe(ok(30_000), POLICY), undefined);
    assert.equal(s.observe(ok(140_000), POLICY), undefined, '110 s of answers is not enough');
    assert.equal(s.observe(timeout(145_000), POLICY), undefined, 'the link flaps');
    assert.equal(s.mode, 'survival');
    assert.equal(s.observe(ok(150_000), POLICY), undefined);
    assert.equal(s.observe(ok(260_000), POLICY), undefined);
    const back = s.observe(ok(270_000), POLICY);
    assert.deepEqual(back && [back.mode, back.status, back.at], ['normal', 'up', 270_000]);
    assert.match(back!.reason, /120 s in a row/);
  });

  it('holdDown 0 returns at the first answer', () => {
    const s = new UpstreamState(0);
    for (const at of [1, 2, 3]) s.observe(timeout(at), { failures: 3, holdDown: 0 });
    assert.equal(s.observe(ok(4), { failures: 3, holdDown: 0 })?.mode, 'normal');
  });
});
