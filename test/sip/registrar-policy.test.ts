/** The registrar's rules (RFC 3261 §10.3) as a pure function: every branch with a request built in the test. */
import { strict as assert } from 'node:assert';
import { Headers, type SipRequest } from '../../src/sip/message.js';
import { contactValues, processRegister, type RegisterInput } from '../../src/sip/registrar.js';
import type { Binding } from '../../src/store/bindings.js';

const NOW = 1_800_000_000_000;
const LIMITS = { minExpires: 60, maxExpires: 3600, defaultExpires: 3600, maxContacts: 5 };

function register(headers: Array<[string, string]>): SipRequest {
  const h = new Headers();
  for (const [n, v] of [['Via', 'SIP/2.0/UDP 10.20.0.31:5062;branch=z9hG4bK1'], ['From', '<sip:111@x>;tag=1'], ['To', '<sip:111@x>'], ['Call-ID', 'c1'], ['CSeq', '5 REGISTER'], ...headers] as Array<[string, string]>) h.add(n, v);
  return { kind: 'request', method: 'REGISTER', uri: 'sip:10.20.0.2', version: 'SIP/2.0', headers: h, body: Buffer.alloc(0) };
}

function input(headers: Array<[string, string]>, over: Partial<RegisterInput> = {}): RegisterInput {
  return { aor: '111', request: register(headers), callId: 'c1', cseq: 5, existing: [], limits: LIMITS, now: NOW, source: 'udp:10.20.0.31:5062', ...over };
}

const binding = (contact: string, over: Partial<Binding> = {}): Binding => ({
  aor: '111', contact, callId: 'c1', cseq: 1, expiresAt: NOW + 100_000, source: 'udp:10.20.0.31:5062', updatedAt: NOW - 1000, ...over,
});

describe('registrar rules (RFC 3261 §10.3)', () => {
  it('binds a contact with the Expires header, or the default, capped at maxExpires', () => {
    const a = processRegister(input([['Contact', '<sip:111@10.20.0.31:5062>'], ['Expires', '600']]));
    assert.equal(a.status, 200);
    if (a.status !== 200) return;
    assert.equal(a.bindings.length, 1);
    assert.equal(a.bindings[0]!.expiresAt, NOW + 600_000);
    const d = processRegister(input([['Contact', '<sip:111@10.20.0.31:5062>']]));
    assert.equal(d.status === 200 && d.bindings[0]!.expiresAt, NOW + 3_600_000, 'the default');
    const capped = processRegister(input([['Contact', '<sip:111@10.20.0.31:5062>'], ['Expires', '999999']]));
    assert.equal(capped.status === 200 && capped.bindings[0]!.expiresAt, NOW + 3_600_000, 'cut to maxExpires');
  });

  it('the expires parameter wins over the header; several contacts, in one header or several, with q-values', () => {
    const r = processRegister(input([['Contact', '<sip:111@10.20.0.31:5062>;expires=120;q=0.7, <sip:111@10.20.0.32>;q=1'], ['Contact', 'sip:111@10.20.0.33;expires=300'], ['Expires', '900']]));
    assert.equal(r.status, 200);
    if (r.status !== 200) return;
    assert.deepEqual(r.bindings.map((b) => [b.contact, (b.expiresAt - NOW) / 1000, b.q]), [
      ['sip:111@10.20.0.31:5062', 120, 0.7],
      ['sip:111@10.20.0.32', 900, 1],
      ['sip:111@10.20.0.33', 300, undefined],
    ]);
    assert.deepEqual(contactValues(r.bindings, NOW), ['<sip:111@10.20.0.31:5062>;expires=120;q=0.7', '<sip:111@10.20.0.32>;expires=900;q=1', '<sip:111@10.20.0.33>;expires=300']);
  });

  it('423 with Min-Expires for a registration shorter than minExpires; 0 is not "too brief"', () => {
    const r = processRegister(input([['Contact', '<sip:111@10.20.0.31>'], ['Expires', '30']]));
    assert.deepEqual(r, { status: 423, reason: 'Interval Too Brief', headers: [['Min-Expires', '60']] });
    const existing = [binding('sip:111@10.20.0.31')];
    const zero = processRegister(input([['Contact', '<sip:111@10.20.0.31>'], ['Expires', '0']], { existing }));
    assert.equal(zero.status, 200);
    assert.deepEqual(zero.status === 200 && [zero.bindings.length, zero.removals.length], [0, 1]);
  });

  it('a refresh replaces the binding it matches by URI equivalence (RFC 3261 §19.1.4), not by text', () => {
    const existing = [binding('sip:111@10.20.0.31:5062;transport=udp', { cseq: 4 })];
    const r = processRegister(input([['Contact', '<sip:111@10.20.0.31:5062;TRANSPORT=UDP>'], ['Expires', '600']], { existing }));
    assert.equal(r.status, 200);
    if (r.status !== 200) return;
    assert.equal(r.bindings.length, 1);
    assert.equal(r.bindings[0]!.contact, 'sip:111@10.20.0.31:5062;transport=udp', 'the stored spelling is kept');
    assert.equal(r.bindings[0]!.cseq, 5);
    assert.equal(r.bindings[0]!.expiresAt, NOW + 600_000);
  });

  it('Call-ID/CSeq ordering: the same Call-ID with a CSeq not above the stored one fails (500), another Call-ID wins', () => {
    const existing = [binding('sip:111@10.20.0.31', { cseq: 5 })];
    assert.equal(processRegister(input([['Contact', '<sip:111@10.20.0.31>']], { existing })).status, 500);
    assert.equal(processRegister(input([['Contact', '<sip:111@10.20.0.31>']], { existing, cseq: 4 })).status, 500);
    assert.equal(processRegister(input([['Contact', '<sip:111@10.20.0.31>']], { existing, cseq: 6 })).status, 200);
    assert.equal(processRegister(input([['Contact', '<sip:111@10.20.0.31>']], { existing, callId: 'other', cseq: 1 })).status, 200, 'a rebooted phone has a new Call-ID');
  });

  it('Contact: * with Expires: 0 removes every binding; with another Expires or another contact it is 400', () => {
    const existing = [binding('sip:111@10.20.0.31', { callId: 'old' }), binding('sip:111@10.20.0.32', { callId: 'old' })];
    const r = processRegister(input([['Contact', '*'], ['Expires', '0']], { existing }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.status === 200 && [r.bindings.length, r.removals.length], [0, 2]);
    assert.equal(processRegister(input([['Contact', '*'], ['Expires', '300']], { existing })).status, 400);
    assert.equal(processRegister(input([['Contact', '*']], { existing })).status, 400);
    assert.equal(processRegister(input([['Contact', '*, <sip:111@10.20.0.33>'], ['Expires', '0']], { existing })).status, 400);
    assert.equal(processRegister(input([['Contact', '*'], ['Expires', '0']], { existing: [binding('sip:111@10.20.0.31', { cseq: 9 })] })).status, 500, 'a later CSeq of the same Call-ID stays');
  });

  it('no Contact is a query: the current bindings, nothing changed', () => {
    const existing = [binding('sip:111@10.20.0.31')];
    const r = processRegister(input([], { existing }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.status === 200 && [r.bindings, r.puts, r.removals], [existing, [], []]);
  });

  it('at most maxContacts a line: a sixth contact is refused (403) and nothing is applied', () => {
    const existing = [1, 2, 3, 4, 5].map((n) => binding(`sip:111@10.20.0.${30 + n}`, { callId: `c${n}` }));
    const r = processRegister(input([['Contact', '<sip:111@10.20.0.40>']], { existing }));
    assert.equal(r.status, 403);
    assert.match(r.status === 403 ? r.reason : '', /at most 5/);
    assert.equal(processRegister(input([['Contact', '<sip:111@10.20.0.31>']], { existing, callId: 'c9', cseq: 1 })).status, 200, 'a refresh of one of the five is fine');
  });

  it('contacts only from allowed networks; bad contacts, expires and q-values are 400', () => {
    const allowed = (uri: { host: string }) => uri.host.startsWith('10.20.');
    assert.equal(processRegister(input([['Contact', '<sip:111@192.0.2.9>']], { contactAllowed: allowed })).status, 403);
    assert.equal(processRegister(input([['Contact', '<sip:111@10.20.0.9>']], { contactAllowed: allowed })).status, 200);
    for (const bad of [['Contact', '<sip:111@10.20.0.31'], ['Contact', '<tel:+420234567111>'], ['Contact', '<sip:111@10.20.0.31>;expires=soon'], ['Contact', '<sip:111@10.20.0.31>;q=2'], ['Expires', 'x']] as Array<[string, string]>) {
      const headers: Array<[string, string]> = bad[0] === 'Expires' ? [['Contact', '<sip:111@10.20.0.31>'], bad] : [bad];
      assert.equal(processRegister(input(headers)).status, 400, bad.join(': '));
    }
  });
});
