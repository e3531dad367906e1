/**
 * Survival mode end to end (issue 7), with real SIP peers: a fake Centrex (a sipp UAS answering OPTIONS, and
 * INVITEs in normal mode) that the test kills and restarts; phones as sipp UAs that register and then ring, answer,
 * refuse busy or wait to be cancelled; a sipp UAS as the PSTN gateway. One serve() and one set of registered phones
 * for the whole file; a short monitor (interval 1 s, 3 failures, hold-down 3 s) so mode changes take seconds.
 *
 * Addresses: Outpost and the phones on 127.0.0.1, the Centrex on 127.0.0.2, the gateway on 127.0.0.3, a stranger
 * (wrong password) on 127.0.0.4. The tests run in order and share the state the previous ones leave (mode, phones).
 */
import { strict as assert } from 'node:assert';
import { freeUdpPort, HOST, liveSipp, sleep, startOutpost, startSipp, authRow, waitFor, type CallView, type Outpost, type Sipp } from './harness.js';

const CENTREX_IP = '127.0.0.2';
const GW_IP = '127.0.0.3';
const STRANGER_IP = '127.0.0.4';
const INTERVAL = 1;
const FAILURES = 3;
const HOLD_DOWN = 3;

interface TestLine {
  ext: string;
  name: string;
  user: string;
  password: string;
  number?: string;
  forward?: string;
  forwardOnBusy?: boolean;
}

const LINES: Record<string, TestLine> = {
  '111': { ext: '111', name: 'Jan (caller)', user: '420234567111', password: 'pw111secret', number: '234567111' },
  '121': { ext: '121', name: 'Eva (answers)', user: '420234567121', password: 'pw121secret', number: '234567121' },
  '122': { ext: '122', name: 'Petr (busy)', user: '420234567122', password: 'pw122secret', number: '234567122' },
  '123': { ext: '123', name: 'Ivana (busy, forwards)', user: '420234567123', password: 'pw123secret', forward: '0603111222', forwardOnBusy: true },
  '124': { ext: '124', name: 'Karel (never answers)', user: '420234567124', password: 'pw124secret' },
  '131': { ext: '131', name: 'Jana (away, forwards)', user: '420234567131', password: 'pw131secret', forward: '0602123456' },
};

describe('survival mode end to end with sipp (Centrex, phones, PSTN gateway)', function () {
  this.timeout(180_000);

  let op: Outpost;
  let centrexPort = 0;
  let gwPort = 0;
  let centrex: Sipp | undefined;
  /** The port each phone registered from (and rings on). */
  const phonePort: Record<string, number> = {};
  /** The Expires the 200 OK gave each phone's first registration (normal mode, 300 asked). */
  const firstExpires: Record<string, number> = {};
  let seq = 0;
  /** The phones, gateway and callers a test started: stopped after it, whatever happened. */
  let peers: Sipp[] = [];
  const peer = (s: Sipp): Sipp => {
    peers.push(s);
    return s;
  };

  const centrexUp = async (scenario = 'centrex.xml'): Promise<number> => {
    centrex = startSipp(op.work, { scenario, name: `centrex-${scenario}`, ip: CENTREX_IP, port: centrexPort, timeoutS: 170 });
    await centrex.ready();
    return Date.now();
  };
  /** SIGKILL: the Centrex vanishes (no answer, no goodbye). Returns when it was killed. */
  const centrexDown = async (): Promise<number> => {
    const at = Date.now();
    await centrex?.stop();
    centrex = undefined;
    return at;
  };

  /** REGISTER from `port` (a fresh one by default) asking `expires`; the Expires the 200 OK's Contact gave. */
  const register = async (ext: string, expires: number, port?: number): Promise<{ expires: number; port: number }> => {
    const line = LINES[ext]!;
    const from = port ?? (await freeUdpPort(HOST));
    const ua = startSipp(op.work, { scenario: 'register.xml', name: `register-${ext}`, ip: HOST, port: from, remote: `${HOST}:${op.sipPort}`, rows: [authRow(line.user, line.password, String(expires))], calls: 1, timeoutS: 10 });
    const exit = await ua.finished();
    assert.equal(exit.code, 0, `registration of ${ext} failed${ua.report()}`);
    // The 200 lists every binding of the line (a Contact each) with its expires: this phone's is the one at its port.
    const ok200 = ua.received().filter((m) => m.startsWith('SIP/2.0 200')).at(-1) ?? '';
    const contacts = ok200.split(/\r?\n/).filter((l) => /^(Contact|m):/i.test(l));
    const mine = contacts.find((c) => c.includes(`@${HOST}:${from};`) || c.includes(`@${HOST}:${from}>`));
    const m = /;expires=(\d+)/.exec(mine ?? '');
    assert.ok(m, `no expires for port ${from} in ${JSON.stringify(contacts)}${ua.report()}`);
    return { expires: Number(m[1]), port: from };
  };

  /** A phone's UAS on the port it registered from, for one call. */
  const phone = async (ext: string, scenario: string): Promise<Sipp> =>
    peer(startSipp(op.work, { scenario, name: `phone-${ext}-${scenario}`, ip: HOST, port: phonePort[ext]!, calls: 1, timeoutS: 20 })).ready();

  /** The PSTN gateway's UAS on gateway.host:port, for one call. */
  const gateway = async (scenario = 'uas-answer.xml'): Promise<Sipp> =>
    peer(startSipp(op.work, { scenario, name: `gateway-${scenario}`, ip: GW_IP, port: gwPort, calls: 1, timeoutS: 20 })).ready();

  /** One call from a line (its digest credentials) to `dial`; resolves when the caller's sipp has finished. */
  const dial = async (dialled: string, o: { scenario?: string; from?: string; password?: string; ip?: string } = {}): Promise<{ ua: Sipp; callId: string; code: number | null }> => {
    const line = LINES[o.from ?? '111']!;
    const tag = `call${++seq}-${dialled}`;
    const ip = o.ip ?? HOST;
    const ua = peer(startSipp(op.work, {
      scenario: o.scenario ?? 'uac-call.xml', name: `caller-${tag}`, ip, port: await freeUdpPort(ip), remote: `${HOST}:${op.sipPort}`,
      rows: [authRow(line.user, o.password ?? line.password, dialled)], calls: 1, timeoutS: 15, callId: tag,
    }));
    const exit = await ua.finished(20_000);
    return { ua, callId: `${tag}-1@${ip}`, code: exit.code };
  };

  /** The call's record once `ready` holds (records are written as the call goes, not before the answer leaves). */
  const record = async (callId: string, ready: (c: CallView) => boolean = (c) => c.endedAt !== undefined): Promise<CallView> => {
    let last: CallView | undefined;
    try {
      return await waitFor(`the record of ${callId}`, 3000, async () => {
        last = await op.call(callId);
        return last && ready(last) ? last : undefined;
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}; record now: ${JSON.stringify(last)}`);
    }
  };

  const ok = (s: Sipp, code: number | null | undefined, what: string) => assert.equal(code, 0, `${what}${s.report()}`);
  const mode = async () => (await op.status()).mode;

  before(async function () {
    this.timeout(60_000);
    try {
      centrexPort = await freeUdpPort(CENTREX_IP);
      gwPort = await freeUdpPort(GW_IP);
      await freeUdpPort(STRANGER_IP);
    } catch (err) {
      throw new Error(`this machine cannot bind 127.0.0.2-4 (the Centrex, the gateway, a stranger): ${(err as Error).message}`);
    }
    op = await startOutpost({
      site: { name: 'Survival branch' },
      // upstream.proxy and gateway.keepPrefix are set through the API (the tests change them).
      upstream: { transport: 'udp', interval: INTERVAL, failures: FAILURES, holdDown: HOLD_DOWN },
      gateway: { host: GW_IP, port: gwPort, inbound: ['121'] },
      survival: { registerExpires: 60, forwardAfter: 20 },
      dialplan: { outsidePrefix: '0', emergency: ['112', '150', '155', '158'] },
      lines: Object.values(LINES),
    });
    await centrexUp();
    await op.setSite({ 'upstream.proxy': `${CENTREX_IP}:${centrexPort}` });
    await waitFor('the Centrex seen up', 5000, async () => (await op.status()).upstream === 'up', 100);
    // The phones register while the Centrex is up (normal mode: the 300 s they ask), each from its own port.
    for (const ext of ['121', '122', '123', '124']) {
      const r = await register(ext, 300);
      phonePort[ext] = r.port;
      firstExpires[ext] = r.expires;
    }
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      console.log(`--- Outpost log (last lines) for "${this.currentTest.title}":\n${op?.logs.slice(-25).join('')}`);
    }
    const left = peers;
    peers = [];
    await Promise.all(left.map((s) => s.stop()));
  });

  after(async () => {
    await op?.close(); // kills every sipp still running, stops serve, removes the temp folder
    assert.equal(liveSipp(), 0);
  });

  // -------------------------------------------------------------------------------------------------------------
  // Normal mode: the Centrex answers

  it('normal mode: phones register for the time they ask (300 s), and Outpost knows where each one is', async () => {
    assert.equal(await mode(), 'normal');
    assert.deepEqual(firstExpires, { '121': 300, '122': 300, '123': 300, '124': 300 });
    const regs = await op.registrations();
    for (const ext of ['121', '122', '123', '124']) {
      const r = regs.find((x) => x.line === ext);
      assert.ok(r, `line ${ext} registered`);
      assert.equal(r.source, `udp:${HOST}:${phonePort[ext]}`);
      assert.ok(r.expiresIn > 290 && r.expiresIn <= 300, `expiresIn ${r.expiresIn}`);
    }
    assert.equal(regs.find((x) => x.line === '131'), undefined, '131 is not registered');
  });

  it('normal mode: a call is relayed to the Centrex (the fake Centrex gets the INVITE and answers), not rung locally', async () => {
    const eva = await phone('121', 'uas-answer.xml');
    const call = await dial('121');
    ok(call.ua, call.code, 'the caller completes the call through the Centrex');
    const invites = centrex!.invites();
    assert.ok(invites.some((i) => i.callId === call.callId && i.uri === `sip:121@${CENTREX_IP}:${centrexPort}`), `Centrex INVITEs: ${JSON.stringify(invites)}`);
    await sleep(200);
    await eva.stop();
    assert.deepEqual(eva.invites(), [], 'the phone was not rung');
    assert.equal(await op.call(call.callId), undefined, 'a relayed call is not a local call record');
  });

  it('normal mode: an emergency call (112) goes straight to the gateway, never to the Centrex', async () => {
    const gw = await gateway();
    const before = centrex!.invites().length;
    const call = await dial('112');
    ok(call.ua, call.code, 'the emergency call connects');
    ok(gw, (await gw.finished()).code, 'the gateway answered and got ACK and BYE');
    assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:112@${GW_IP}:${gwPort}`]);
    assert.equal(centrex!.invites().length, before, 'the Centrex got no INVITE');
    const rec = await record(call.callId);
    assert.equal(rec.route, 'pstn 112 (emergency)');
    assert.equal(rec.result, 'completed');
  });

  it('normal mode: a Centrex that answers OPTIONS but refuses calls (503): the branch routes the call itself', async () => {
    await centrexDown();
    await centrexUp('centrex-503.xml');
    const eva = await phone('121', 'uas-answer.xml');
    const call = await dial('121');
    ok(call.ua, call.code, 'the caller is connected to 121');
    ok(eva, (await eva.finished()).code, '121 rang, answered, got ACK and BYE');
    assert.ok(centrex!.invites().some((i) => i.callId === call.callId), 'the Centrex was asked first');
    const rec = await record(call.callId);
    assert.equal(rec.route, 'line 121');
    assert.equal(rec.result, 'completed');
    assert.equal(await mode(), 'normal', 'answering OPTIONS keeps the branch in normal mode');
  });

  it('normal mode: a Centrex that answers OPTIONS but is silent to the INVITE: the call rings locally after 2 s', async () => {
    await centrexDown();
    await centrexUp('centrex-silent.xml');
    const eva = await phone('121', 'uas-answer.xml');
    const started = Date.now();
    const call = await dial('121');
    const took = Date.now() - started;
    ok(call.ua, call.code, 'the caller is connected to 121');
    ok(eva, (await eva.finished()).code, '121 rang and answered');
    assert.ok(centrex!.invites().some((i) => i.callId === call.callId), 'the Centrex was asked first');
    assert.ok(took >= 2000, `the branch waited for the Centrex (${took} ms)`);
    assert.ok(op.logs.some((l) => l.includes(call.callId) && l.includes('no answer in 2000 ms')), 'the fallback was the silence timer');
    assert.equal((await record(call.callId, (c) => c.result === 'completed')).route, 'line 121');
    assert.equal(await mode(), 'normal');
  });

  // -------------------------------------------------------------------------------------------------------------
  // The Centrex dies

  it(`the Centrex is killed: survival mode within interval x failures + interval (${INTERVAL * FAILURES + INTERVAL} s), with an event and a reason`, async () => {
    assert.equal(await mode(), 'normal');
    const killedAt = await centrexDown();
    const seenAt = await waitFor('survival mode', 10_000, async () => ((await op.status()).mode === 'survival' ? Date.now() : undefined), 100);
    const event = (await op.events('survival.started'))[0];
    assert.ok(event, 'a survival.started event');
    const changedAt = Date.parse(String(event.data?.at));
    const failover = changedAt - killedAt;
    console.log(`      failover: the mode changed ${failover} ms after the Centrex was killed (seen by polling after ${seenAt - killedAt} ms)`);
    assert.ok(failover > 0 && failover <= (INTERVAL * FAILURES + INTERVAL) * 1000, `failover took ${failover} ms`);
    assert.ok(seenAt - killedAt <= (INTERVAL * FAILURES + INTERVAL) * 1000 + 300, `status showed survival after ${seenAt - killedAt} ms`);
    assert.match(String(event.data?.reason), /failed 3 probes in a row \(last: no answer\)/);
    const status = await op.status();
    assert.equal(status.upstream, 'down');
    assert.match(status.modeReason ?? '', /failed 3 probes/);
    assert.equal(status.modeChanges[0]?.mode, 'survival');
    assert.ok(Math.abs(Date.parse(status.modeSince!) - changedAt) < 5, 'modeSince is the change');
    const metrics = await op.metrics();
    assert.equal(metrics.get('outpost_survival_mode'), 1);
  });

  // -------------------------------------------------------------------------------------------------------------
  // Survival mode: Outpost routes the branch's calls

  it('survival: a REGISTER asking 3600 s is given at most survival.registerExpires (60 s)', async () => {
    const r = await register('111', 3600);
    assert.ok(r.expires > 0 && r.expires <= 60, `the 200 OK gave ${r.expires}`);
    const reg = (await op.registrations()).find((x) => x.line === '111');
    assert.ok(reg && reg.expiresIn <= 60 && reg.expiresIn > 50, JSON.stringify(reg));
  });

  it('survival: 111 calls extension 121: 180 then 200, ACK and BYE through Outpost, recorded answered and completed', async () => {
    const eva = await phone('121', 'uas-answer.xml');
    const started = Date.now();
    const call = await dial('121');
    ok(call.ua, call.code, 'the caller saw 180 then 200 and its BYE was answered');
    ok(eva, (await eva.finished()).code, '121 got INVITE, ACK and BYE');
    assert.match(eva.invites()[0]!.uri, new RegExp(`^sip:420234567121@${HOST}:${phonePort['121']}`));
    assert.deepEqual(eva.logLines().map((l) => l.split(' ')[0]), ['INVITE', 'ACK', 'BYE']);
    // The 200 the caller got carries Outpost's Record-Route, so ACK and BYE went through it.
    assert.ok(call.ua.logLines().some((l) => /^ANSWERED record-route=\s*<sip:([\d.]+):(\d+);lr>$/.exec(l)?.slice(1).join(':') === `${HOST}:${op.sipPort}`), call.ua.logLines().join('\n'));
    const rec = await record(call.callId, (c) => c.result === 'completed');
    assert.deepEqual([rec.caller, rec.callee, rec.route], ['111', '121', 'line 121']);
    assert.ok(rec.answeredAt && Date.parse(rec.answeredAt) >= started, 'answeredAt set');
    assert.ok(rec.endedAt && Date.parse(rec.endedAt) >= Date.parse(rec.answeredAt), 'endedAt after answeredAt');
  });

  it('survival: 111 dials the national number of 121 (234567121): 121 rings and answers', async () => {
    const eva = await phone('121', 'uas-answer.xml');
    const call = await dial('234567121');
    ok(call.ua, call.code, 'the caller is connected');
    ok(eva, (await eva.finished()).code, '121 answered');
    assert.equal(eva.invites()[0]?.callId, call.callId);
    const rec = await record(call.callId, (c) => c.result === 'completed');
    assert.equal(rec.route, 'line 121');
  });

  it('survival: CANCEL while 124 rings: 487 for the caller, CANCEL for the callee, recorded cancelled', async () => {
    const karel = await phone('124', 'uas-ring-cancel.xml');
    const calling = dial('124', { scenario: 'uac-cancel.xml' });
    // While it rings (the caller waits 1 s after the 180), the call is one Outpost is setting up.
    await waitFor('the ringing call counted in outpost_calls_in_setup', 5000, async () => (await op.metrics()).get('outpost_calls_in_setup') === 1);
    const call = await calling;
    ok(call.ua, call.code, 'the caller got 180, 200 to its CANCEL, then 487');
    assert.equal((await op.metrics()).get('outpost_calls_in_setup'), 0);
    ok(karel, (await karel.finished()).code, '124 got the CANCEL and answered 487');
    assert.deepEqual(karel.logLines().map((l) => l.split(' ')[0]), ['INVITE', 'CANCEL']);
    const rec = await record(call.callId);
    assert.equal(rec.result, 'cancelled');
    assert.equal(rec.answeredAt, undefined);
  });

  it('survival: a busy callee (486, no forward): the caller gets 486, recorded busy', async () => {
    const petr = await phone('122', 'uas-busy.xml');
    const call = await dial('122', { scenario: 'uac-busy.xml' });
    ok(call.ua, call.code, 'the caller got 486');
    ok(petr, (await petr.finished()).code, '122 answered 486 and got the ACK');
    const rec = await record(call.callId);
    assert.equal(rec.result, 'busy');
    assert.equal(rec.route, 'line 122');
  });

  it('survival: busy with forwardOnBusy: the call goes to the forward number (0603111222) through the gateway', async () => {
    const ivana = await phone('123', 'uas-busy.xml');
    const gw = await gateway();
    const call = await dial('123');
    ok(call.ua, call.code, 'the caller is connected to the forward number');
    ok(ivana, (await ivana.finished()).code, '123 was rung first and answered 486');
    ok(gw, (await gw.finished()).code, 'the gateway answered');
    assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:603111222@${GW_IP}:${gwPort}`]);
    const rec = await record(call.callId, (c) => c.result === 'completed');
    assert.equal(rec.route, 'forward pstn 603111222 (busy)');
  });

  it('survival: 131 is not registered: the call goes to its forward 0602123456 as 602123456 at the gateway', async () => {
    assert.equal((await op.registrations()).find((r) => r.line === '131'), undefined);
    const gw = await gateway();
    const call = await dial('131');
    ok(call.ua, call.code, 'the caller is connected');
    ok(gw, (await gw.finished()).code, 'the gateway answered');
    assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:602123456@${GW_IP}:${gwPort}`]);
    const rec = await record(call.callId, (c) => c.result === 'completed');
    assert.equal(rec.route, 'forward pstn 602123456 (not registered)');
  });

  it('survival: 0 + a national number reaches the gateway without the prefix (0601234567 -> 601234567)', async () => {
    const gw = await gateway();
    const call = await dial('0601234567');
    ok(call.ua, call.code, 'the caller is connected');
    ok(gw, (await gw.finished()).code, 'the gateway answered');
    assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:601234567@${GW_IP}:${gwPort}`]);
    assert.equal((await record(call.callId, (c) => c.result === 'completed')).route, 'pstn 601234567');
  });

  it('survival: 0 + 00 + an international number (000421212345678 -> 00421212345678)', async () => {
    const gw = await gateway();
    const call = await dial('000421212345678');
    ok(call.ua, call.code, 'the caller is connected');
    ok(gw, (await gw.finished()).code, 'the gateway answered');
    assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:00421212345678@${GW_IP}:${gwPort}`]);
  });

  it('survival: with gateway.keepPrefix the gateway gets the number as dialled (0601234567)', async () => {
    await op.setSite({ 'gateway.keepPrefix': true });
    try {
      const gw = await gateway();
      const call = await dial('0601234567');
      ok(call.ua, call.code, 'the caller is connected');
      ok(gw, (await gw.finished()).code, 'the gateway answered');
      assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:0601234567@${GW_IP}:${gwPort}`]);
    } finally {
      await op.setSite({ 'gateway.keepPrefix': false });
    }
  });

  it('survival: emergency 112 and 0112 reach the gateway as 112', async () => {
    for (const dialled of ['112', '0112']) {
      const gw = await gateway();
      const call = await dial(dialled);
      ok(call.ua, call.code, `${dialled}: the caller is connected`);
      ok(gw, (await gw.finished()).code, `${dialled}: the gateway answered`);
      assert.deepEqual(gw.invites().map((i) => i.uri), [`sip:112@${GW_IP}:${gwPort}`], dialled);
      assert.equal((await record(call.callId, (c) => c.result === 'completed')).route, 'pstn 112 (emergency)');
    }
  });

  it('survival: a call from the gateway\'s address (no authentication) rings the gateway.inbound line 121', async () => {
    const eva = await phone('121', 'uas-answer.xml');
    const tag = `inbound${++seq}`;
    const ua = peer(startSipp(op.work, { scenario: 'gateway-uac.xml', name: 'gateway-caller', ip: GW_IP, port: await freeUdpPort(GW_IP), remote: `${HOST}:${op.sipPort}`, rows: ['234567111'], calls: 1, timeoutS: 15, callId: tag }));
    ok(ua, (await ua.finished()).code, 'the PSTN caller is connected');
    ok(eva, (await eva.finished()).code, '121 rang and answered');
    assert.ok(!ua.messages().includes('407 Proxy'), 'no challenge for the gateway');
    const rec = await record(`${tag}-1@${GW_IP}`, (c) => c.result === 'completed');
    assert.deepEqual([rec.caller, rec.route], ['pstn', 'inbound 121']);
  });

  it('survival: a caller with a wrong password gets 407 again, and no call is made', async () => {
    const eva = await phone('121', 'uas-answer.xml');
    const callsBefore = (await op.calls()).length;
    const call = await dial('121', { scenario: 'uac-wrong-password.xml', password: 'not-the-password', ip: STRANGER_IP });
    ok(call.ua, call.code, 'the caller got 407, then 407 again');
    await sleep(300);
    await eva.stop();
    assert.deepEqual(eva.invites(), [], '121 was never rung');
    assert.equal(await op.call(call.callId), undefined);
    assert.equal((await op.calls()).length, callsBefore);
  });

  it('a stray ACK addressed to Outpost itself (a 407 ACKed on a new branch) is dropped, not sent round to Outpost again', async () => {
    const transport = op.running.sip!.transport;
    const before = transport.counters.received;
    const ua = peer(startSipp(op.work, { scenario: 'stray-ack.xml', name: 'stray-ack', ip: STRANGER_IP, port: await freeUdpPort(STRANGER_IP), remote: `${HOST}:${op.sipPort}`, rows: ['121'], calls: 1, timeoutS: 10 }));
    ok(ua, (await ua.finished()).code, 'the ACK was sent');
    await sleep(500);
    // Only the ACK itself came in (nothing answers the probes of the dead Centrex); a loop adds one per hop.
    assert.equal(transport.counters.received - before, 1, 'messages Outpost received');
  });

  // -------------------------------------------------------------------------------------------------------------
  // The Centrex comes back

  /** Probes the Centrex answered so far (/metrics). */
  const answered = async () => (await op.metrics()).get('outpost_upstream_probes{outcome="answered"}') ?? 0;

  it('a flapping Centrex (back, then gone again within the hold-down) keeps the branch in survival', async () => {
    const before = await answered();
    await centrexUp();
    await waitFor('a first answer', 3000, async () => (await answered()) > before, 50);
    await sleep((HOLD_DOWN - 1.5) * 1000);
    assert.equal(await mode(), 'survival', 'still in the hold-down');
    await centrexDown();
    const until = Date.now() + (HOLD_DOWN + 2 * INTERVAL) * 1000;
    while (Date.now() < until) {
      const s = await op.status();
      assert.equal(s.mode, 'survival', `left survival mode while the Centrex flapped: ${JSON.stringify(s)}`);
      await sleep(200);
    }
    assert.equal((await op.events('survival.ended')).length, 0);
  });

  it(`the Centrex is back: normal mode only after the hold-down (${HOLD_DOWN} s of answers), within hold-down + 2 intervals`, async () => {
    const before = await answered();
    const upAt = await centrexUp();
    let firstAnswerAt = 0;
    const polls: Array<{ at: number; mode: string }> = [];
    const normalAt = await waitFor('normal mode', (HOLD_DOWN + 4 * INTERVAL) * 1000, async () => {
      const [s, n] = await Promise.all([op.status(), answered()]);
      const at = Date.now();
      if (!firstAnswerAt && n > before) firstAnswerAt = at;
      polls.push({ at, mode: s.mode });
      return s.mode === 'normal' ? at : undefined;
    }, 50);
    assert.ok(firstAnswerAt > 0, 'the answers were seen');
    const event = (await op.events('survival.ended'))[0];
    assert.ok(event, 'a survival.ended event');
    const changedAt = Date.parse(String(event.data?.at));
    console.log(`      return: first answer seen ${firstAnswerAt - upAt} ms after the restart, normal mode ${changedAt - firstAnswerAt} ms after it (${changedAt - upAt} ms after the restart; seen by polling after ${normalAt - upAt} ms)`);
    // firstAnswerAt is when polling saw the first answer (at most ~60 ms late), so this under-estimates the hold-down.
    assert.ok(changedAt - firstAnswerAt >= (HOLD_DOWN - 0.5) * 1000, `normal ${changedAt - firstAnswerAt} ms after the first answer`);
    assert.ok(changedAt - upAt <= (HOLD_DOWN + 2 * INTERVAL) * 1000, `normal ${changedAt - upAt} ms after the restart`);
    assert.ok(polls.filter((p) => p.at < firstAnswerAt + (HOLD_DOWN - 0.5) * 1000).every((p) => p.mode === 'survival'), 'survival throughout the hold-down');
    assert.match(String(event.data?.reason), new RegExp(`answered for ${HOLD_DOWN} s in a row`));
    const status = await op.status();
    assert.deepEqual([status.mode, status.upstream], ['normal', 'up']);
    assert.deepEqual(status.modeChanges.slice(0, 2).map((c) => c.mode), ['normal', 'survival']);
  });

  it('back in normal mode: a REGISTER gets the Expires it asks again (3600)', async () => {
    const r = await register('111', 3600);
    assert.equal(r.expires, 3600);
  });

  it('nothing leaks: no call in setup, every call record closed, every transaction ended within the timers', async function () {
    this.timeout(60_000);
    assert.equal((await op.metrics()).get('outpost_calls_in_setup'), 0);
    const open = (await op.calls()).filter((c) => c.endedAt === undefined || ['ringing', 'answered'].includes(c.result));
    assert.deepEqual(open, [], 'every recorded call ended');
    // The monitor's own OPTIONS would keep transactions alive forever: no upstream, no probes.
    // (The Centrex stays up: a probe already in flight is answered, and ends by Timer K, not Timer F.)
    await op.setSite({ 'upstream.proxy': '' });
    const started = Date.now();
    const layer = op.running.sip!.layer;
    const alive = layer.size();
    await waitFor('transactions back to zero', 35_000, () => layer.size().server === 0 && layer.size().client === 0, 250).catch((err: Error) => {
      throw new Error(`${err.message}: still ${JSON.stringify(layer.size())}`);
    });
    console.log(`      transactions: ${JSON.stringify(alive)} alive at the end of the calls, zero ${Date.now() - started} ms later`);
    const m = await op.metrics();
    assert.equal(m.get('outpost_sip_transactions{side="server"}'), 0);
    assert.equal(m.get('outpost_sip_transactions{side="client"}'), 0);
    assert.equal(m.get('outpost_calls_in_setup'), 0);
  });
});
