/**
 * The four transaction state machines (RFC 3261 §17, RFC 6026) with a recording sender and short timers
 * (T1 = 10 ms): what is sent, when, what the transaction user hears, and that every transaction ends.
 */
import { strict as assert } from 'node:assert';
import { Headers, responseTo, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip/message.js';
import { newBranch, TransactionLayer, type ServerTransaction, type Timers, ownRequest } from '../../src/sip/transaction.js';
import type { Remote } from '../../src/sip/transport.js';

const TIMERS: Timers = { t1: 10, t2: 40, t4: 50, timerC: 400 };
const UDP: Remote = { transport: 'udp', address: '10.20.0.31', port: 5062 };
const TCP: Remote = { transport: 'tcp', address: '10.20.0.31', port: 40000, connection: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function request(method: string, opts: { branch?: string; cseq?: number; via?: string } = {}): SipRequest {
  const h = new Headers();
  h.add('Via', opts.via ?? `SIP/2.0/UDP 10.20.0.31:5062;branch=${opts.branch ?? newBranch()};rport`);
  h.add('From', '<sip:111@b>;tag=f1').add('To', '<sip:121@b>').add('Call-ID', 'call-1').add('CSeq', `${opts.cseq ?? 1} ${method}`).add('Max-Forwards', '70');
  return { kind: 'request', method, uri: 'sip:121@10.20.0.2', version: 'SIP/2.0', headers: h, body: Buffer.alloc(0) };
}

function clone(req: SipRequest): SipRequest {
  return { ...req, headers: req.headers.clone() };
}

function harness() {
  const sent: Array<{ msg: SipMessage; to: Remote; at: number }> = [];
  const heard: { requests: ServerTransaction[]; acks: SipRequest[]; cancels: Array<[ServerTransaction, ServerTransaction | undefined]>; stray: SipResponse[] } = { requests: [], acks: [], cancels: [], stray: [] };
  const layer = new TransactionLayer(
    { send: (msg, to) => sent.push({ msg, to, at: Date.now() }) },
    {
      onRequest: (tx) => heard.requests.push(tx),
      onAck: (req) => heard.acks.push(req),
      onCancel: (cancel, invite) => heard.cancels.push([cancel, invite]),
      onStrayResponse: (res) => heard.stray.push(res),
    },
    TIMERS,
  );
  const statuses = () => sent.filter((s) => s.msg.kind === 'response').map((s) => (s.msg as SipResponse).status);
  const methods = () => sent.filter((s) => s.msg.kind === 'request').map((s) => (s.msg as SipRequest).method);
  return { layer, sent, heard, statuses, methods };
}

describe('SIP transactions', () => {
  describe('non-INVITE server', () => {
    it('answers once, re-sends the final answer to a retransmission without waking the TU, and ends after Timer J', async () => {
      const h = harness();
      const req = request('REGISTER');
      h.layer.receive(clone(req), UDP);
      assert.equal(h.heard.requests.length, 1);
      const tx = h.heard.requests[0]!;
      tx.respond(tx.reply(200));
      h.layer.receive(clone(req), UDP);
      h.layer.receive(clone(req), UDP);
      assert.equal(h.heard.requests.length, 1, 'retransmissions are absorbed');
      assert.deepEqual(h.statuses(), [200, 200, 200]);
      assert.equal(h.layer.counters.retransmissionsAbsorbed, 2);
      assert.equal(h.layer.size().server, 1);
      await sleep(64 * TIMERS.t1 + 50);
      assert.equal(h.layer.size().server, 0, 'Timer J ended it');
    });

    it('a completed one keeps only its answer\'s bytes: retransmissions get the same bytes, the request is let go', async () => {
      const bytes: Buffer[] = [];
      const layer = new TransactionLayer({ send: () => assert.fail('the kept bytes are sent, not re-serialised'), sendBytes: (b) => bytes.push(b) }, { onRequest: (tx) => tx.respond(tx.reply(200)) }, TIMERS);
      const req = request('REGISTER');
      layer.receive(clone(req), UDP);
      layer.receive(clone(req), UDP);
      layer.receive(clone(req), UDP);
      assert.equal(bytes.length, 3);
      assert.ok(bytes.every((b) => b.equals(bytes[0]!)));
      assert.match(bytes[0]!.toString(), /^SIP\/2\.0 200 OK\r\n/);
      assert.equal(layer.size().server, 1);
      // Kept for Timer J (retransmissions still absorbed), then dropped.
      await sleep(64 * TIMERS.t1 - 40);
      assert.equal(layer.size().server, 1, 'still kept just before Timer J');
      layer.receive(clone(req), UDP);
      assert.equal(bytes.length, 4, 'a late retransmission still gets the answer');
      await sleep(120);
      assert.equal(layer.size().server, 0, 'dropped once Timer J is over');
      layer.receive(clone(req), UDP);
      assert.equal(bytes.length, 5);
      assert.equal(layer.size().server, 1, 'after Timer J the same request is a new transaction');
    });

    it('a stateless answer (a challenge) leaves no transaction: a retransmission is a new request', () => {
      const h = harness();
      const req = request('REGISTER');
      h.layer.receive(clone(req), UDP);
      h.heard.requests[0]!.respondStateless(h.heard.requests[0]!.reply(401));
      assert.equal(h.layer.size().server, 0);
      h.layer.receive(clone(req), UDP);
      assert.equal(h.heard.requests.length, 2);
    });

    it('sends the response to the Via received/rport (RFC 3581) and stamps them on the request', () => {
      const h = harness();
      h.layer.receive(request('OPTIONS', { via: 'SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKnat;rport' }), { transport: 'udp', address: '203.0.113.7', port: 31000 });
      const tx = h.heard.requests[0]!;
      assert.equal(tx.via.params.get('received'), '203.0.113.7');
      assert.equal(tx.via.params.get('rport'), '31000');
      tx.respond(tx.reply(200));
      assert.deepEqual(h.sent[0]!.to, { transport: 'udp', address: '203.0.113.7', port: 31000 });
      const via = (h.sent[0]!.msg as SipResponse).headers.get('Via')!;
      assert.match(via, /;received=203\.0\.113\.7(;|$)/);
      assert.match(via, /;rport=31000(;|$)/);
    });

    it('over TCP it ends at once after the final answer, which goes back on the same connection', () => {
      const h = harness();
      h.layer.receive(request('REGISTER', { via: 'SIP/2.0/TCP 10.20.0.31:40000;branch=z9hG4bKtcp' }), TCP);
      h.heard.requests[0]!.respond(h.heard.requests[0]!.reply(200));
      assert.equal(h.sent[0]!.to.connection, 1);
      assert.equal(h.layer.size().server, 0);
    });

    it('a TU that never answers still has its transaction cleaned up', async () => {
      const h = harness();
      h.layer.receive(request('OPTIONS'), UDP);
      assert.equal(h.layer.size().server, 1);
      await sleep(64 * TIMERS.t1 + TIMERS.timerC + 60);
      assert.equal(h.layer.size().server, 0);
    });
  });

  describe('INVITE server', () => {
    it('a TU that answers at once (a 407) gets no 100 before it; otherwise 100 goes out in the same turn of the loop', async () => {
      const h = harness();
      h.layer.receive(request('INVITE'), UDP);
      h.heard.requests[0]!.respond(h.heard.requests[0]!.reply(407));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(h.statuses(), [407]);
      const slow = harness();
      slow.layer.receive(request('INVITE'), UDP);
      assert.deepEqual(slow.statuses(), []);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(slow.statuses(), [100]);
    });

    it('sends 100 when the TU has not answered; a failure is retransmitted (Timer G) until the ACK, absorbed, then Timer I ends it', async () => {
      const h = harness();
      const branch = newBranch();
      h.layer.receive(request('INVITE', { branch }), UDP);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(h.statuses(), [100]);
      const tx = h.heard.requests[0]!;
      tx.respond(tx.reply(486));
      await sleep(TIMERS.t1 * 3 + 15);
      const retransmitted = h.statuses().filter((s) => s === 486).length;
      assert.ok(retransmitted >= 2, `486 retransmitted (${retransmitted} times)`);
      const ack = request('ACK', { branch });
      h.layer.receive(ack, UDP);
      assert.equal(h.heard.acks.length, 0, 'the ACK of a failure belongs to the transaction');
      assert.equal(tx.state, 'confirmed');
      const after = h.statuses().length;
      await sleep(TIMERS.t1 * 4);
      assert.equal(h.statuses().length, after, 'no more retransmissions after the ACK');
      await sleep(TIMERS.t4 + 20);
      assert.equal(h.layer.size().server, 0);
    });

    it('without an ACK, Timer H ends it', async () => {
      const h = harness();
      h.layer.receive(request('INVITE'), UDP);
      h.heard.requests[0]!.respond(h.heard.requests[0]!.reply(603));
      await sleep(64 * TIMERS.t1 + 40);
      assert.equal(h.layer.size().server, 0);
    });

    it('after a 2xx (RFC 6026 Accepted) INVITE retransmissions are absorbed, the ACK goes to the TU, and Timer L ends it', async () => {
      const h = harness();
      const branch = newBranch();
      const invite = request('INVITE', { branch });
      h.layer.receive(clone(invite), UDP);
      const tx = h.heard.requests[0]!;
      tx.respond(tx.reply(200));
      assert.equal(tx.state, 'accepted');
      h.layer.receive(clone(invite), UDP);
      assert.equal(h.heard.requests.length, 1);
      tx.respond(tx.reply(200));
      assert.equal(h.statuses().filter((s) => s === 200).length, 2, 'the TU may retransmit its 2xx');
      h.layer.receive(request('ACK', { branch: newBranch() }), UDP);
      assert.equal(h.heard.acks.length, 1, 'the ACK of a 2xx is the TU\'s');
      await sleep(64 * TIMERS.t1 + 40);
      assert.equal(h.layer.size().server, 0);
    });

    it('CANCEL is matched to its INVITE transaction', () => {
      const h = harness();
      const branch = newBranch();
      h.layer.receive(request('INVITE', { branch }), UDP);
      h.layer.receive(request('CANCEL', { branch }), UDP);
      assert.equal(h.heard.cancels.length, 1);
      assert.equal(h.heard.cancels[0]![1], h.heard.requests[0]);
      h.layer.receive(request('CANCEL', { branch: newBranch() }), UDP);
      assert.equal(h.heard.cancels[1]![1], undefined, 'a CANCEL for nothing');
    });
  });

  describe('non-INVITE client', () => {
    it('retransmits (Timer E, doubling to T2), takes the final answer once, absorbs its retransmission, ends after Timer K', async () => {
      const h = harness();
      const finals: number[] = [];
      const req = request('OPTIONS');
      const tx = h.layer.request(req, UDP, { onFinal: (r) => finals.push(r.status) });
      await sleep(TIMERS.t1 * 7 + 10);
      const times = h.sent.map((s) => s.at - h.sent[0]!.at);
      assert.ok(h.sent.length >= 3, `sent ${h.sent.length} times`);
      assert.ok(times[1]! >= TIMERS.t1 - 2 && times[2]! - times[1]! >= 2 * TIMERS.t1 - 2, `intervals double: ${times.join(', ')}`);
      const res = responseTo(req, 200);
      h.layer.receive(res, UDP);
      h.layer.receive(responseTo(req, 200), UDP);
      assert.deepEqual(finals, [200]);
      assert.equal(tx.state, 'completed');
      await sleep(TIMERS.t4 + 20);
      assert.equal(h.layer.size().client, 0);
    });

    it('no answer: Timer F reports a timeout and the transaction is gone', async () => {
      const h = harness();
      let timedOut = 0;
      h.layer.request(request('OPTIONS'), UDP, { onFinal: () => assert.fail('no final answer came'), onTimeout: () => timedOut++ });
      await sleep(64 * TIMERS.t1 + 40);
      assert.equal(timedOut, 1);
      assert.equal(h.layer.size().client, 0);
      assert.equal(h.layer.counters.timeouts, 1);
    });
  });

  describe('INVITE client', () => {
    it('a failure is ACKed on the same branch (and again for each retransmission); the TU hears it once', async () => {
      const h = harness();
      const finals: number[] = [];
      const invite = request('INVITE');
      h.layer.request(invite, UDP, { onFinal: (r) => finals.push(r.status) });
      h.layer.receive(responseTo(invite, 180, undefined, { toTag: 't' }), UDP);
      h.layer.receive(responseTo(invite, 486, undefined, { toTag: 't' }), UDP);
      h.layer.receive(responseTo(invite, 486, undefined, { toTag: 't' }), UDP);
      assert.deepEqual(finals, [486]);
      const acks = h.sent.filter((s) => s.msg.kind === 'request' && s.msg.method === 'ACK').map((s) => s.msg as SipRequest);
      assert.equal(acks.length, 2);
      assert.equal(acks[0]!.headers.get('Via'), invite.headers.get('Via'), 'same branch as the INVITE');
      assert.equal(acks[0]!.headers.get('CSeq'), '1 ACK');
      assert.match(acks[0]!.headers.get('To')!, /tag=t/);
    });

    it('every 2xx (forks, retransmissions) reaches the TU; Timer M ends it', async () => {
      const h = harness();
      const finals: string[] = [];
      const invite = request('INVITE');
      h.layer.request(invite, UDP, { onFinal: (r) => finals.push(`${r.status}:${r.headers.get('To')}`) });
      h.layer.receive(responseTo(invite, 200, undefined, { toTag: 'a' }), UDP);
      h.layer.receive(responseTo(invite, 200, undefined, { toTag: 'b' }), UDP);
      assert.equal(finals.length, 2);
      await sleep(64 * TIMERS.t1 + 40);
      assert.equal(h.layer.size().client, 0);
    });

    it('CANCEL answered 200 but no 487 ever comes: the INVITE transaction still ends (the npm sip leak)', async () => {
      const h = harness();
      let timedOut = 0;
      const invite = request('INVITE');
      const tx = h.layer.request(invite, UDP, { onFinal: () => assert.fail('no final answer came'), onTimeout: () => timedOut++ });
      tx.cancel();
      assert.deepEqual(h.methods(), ['INVITE'], 'no CANCEL before a provisional answer (§9.1)');
      h.layer.receive(responseTo(invite, 180, undefined, { toTag: 't' }), UDP);
      const cancel = h.sent.map((s) => s.msg).find((m): m is SipRequest => m.kind === 'request' && m.method === 'CANCEL');
      assert.ok(cancel, 'CANCEL sent once the 180 arrived');
      assert.equal(cancel.headers.get('Via'), invite.headers.get('Via'));
      assert.equal(cancel.headers.get('CSeq'), '1 CANCEL');
      h.layer.receive(responseTo(cancel, 200), UDP);
      assert.equal(h.layer.size().client, 2, 'the INVITE and the CANCEL');
      await sleep(64 * TIMERS.t1 + 60);
      assert.equal(timedOut, 1, 'the TU hears a timeout instead of waiting forever');
      assert.deepEqual(h.layer.size(), { server: 0, client: 0 });
    });

    it('Timer C: a call left ringing with no final answer ends too', async () => {
      const h = harness();
      let timedOut = 0;
      const invite = request('INVITE');
      h.layer.request(invite, UDP, { onFinal: () => undefined, onTimeout: () => timedOut++ });
      h.layer.receive(responseTo(invite, 180, undefined, { toTag: 't' }), UDP);
      await sleep(TIMERS.timerC + 60);
      assert.equal(timedOut, 1);
      assert.equal(h.layer.size().client, 0);
    });
  });

  it('a response for no transaction goes to the TU as stray', () => {
    const h = harness();
    h.layer.receive(responseTo(request('INVITE'), 200, undefined, { toTag: 'x' }), UDP);
    assert.equal(h.heard.stray.length, 1);
    assert.equal(h.layer.counters.strayResponses, 1);
  });
  it('ownRequest: Outpost\'s own out-of-dialog request, an IPv6 address in brackets, fresh tag and Call-ID, extras before the User-Agent', () => {
    const a = ownRequest('OPTIONS', { uri: 'sip:[2001:db8::5]:5060', self: { host: '2001:db8::2', port: 5060 }, transport: 'udp', cseq: 7, userAgent: 'Outpost test', extra: [['Accept', 'application/sdp']] });
    const b = ownRequest('OPTIONS', { uri: 'sip:[2001:db8::5]:5060', self: { host: '2001:db8::2', port: 5060 }, transport: 'udp', userAgent: 'Outpost test' });
    assert.match(a.headers.get('Via')!, /^SIP\/2\.0\/UDP \[2001:db8::2\]:5060;branch=z9hG4bK/);
    assert.match(a.headers.get('From')!, /^<sip:outpost@\[2001:db8::2\]:5060>;tag=[0-9a-f]{12}$/);
    assert.equal(a.headers.get('To'), '<sip:[2001:db8::5]:5060>');
    assert.equal(a.headers.get('CSeq'), '7 OPTIONS');
    assert.equal(b.headers.get('CSeq'), '1 OPTIONS');
    assert.notEqual(a.headers.get('Call-ID'), b.headers.get('Call-ID'));
    assert.notEqual(a.headers.get('From'), b.headers.get('From'));
    assert.deepEqual(a.headers.all().map((e) => e.name).slice(-2), ['Accept', 'User-Agent']);
  });
});
