/**
 * The registrar against the running server: sipp over UDP and TCP (scenarios in test/sip/scenarios), and hand-made
 * datagrams for what sipp cannot easily say. Every answer is checked on the wire and in what Outpost then holds:
 * /api/v1/registrations, the store, the events, the metrics and the log.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Mac } from '../../src/net/mac.js';
import { parseChallenge } from '../../src/sip/digest.js';
import { SipService } from '../../src/sip/service.js';
import {
  api, authRow, digestAnswer, header, headers, HOST, killChildren, registrations, SipClient, sipp, sleep, startSip, waitFor,
  type RegistrationRow, type Response, type SipHarness,
} from './harness.js';

const LINE111 = { ext: '111', name: 'Jan Novak', user: '420234567111', password: 'line111-Secret' };
const UA_T22P = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01';
const MAC = '001565aabb01';
const pw = (user: string) => `pw-${user}-Kx9`;
/** Lines for the sipp cases (s120..s139) and the hand-made ones (h140..h169), extensions 3120..3169. */
const smallLines = [...Array.from({ length: 20 }, (_, i) => 120 + i), ...Array.from({ length: 30 }, (_, i) => 140 + i)].map((n) => {
  const user = `${n < 140 ? 's' : 'h'}${n}`;
  return { ext: `3${n}`, name: `Line ${n}`, user, password: pw(user) };
});
const USERS_1000 = Array.from({ length: 1000 }, (_, i) => `u${2000 + i}`);
const bigLines = USERS_1000.map((user) => ({ ext: user.slice(1), name: '', user, password: pw(user) }));

function mainSite(): Record<string, unknown> {
  return { sip: { minExpires: 10 }, lines: [LINE111, ...smallLines, ...bigLines] };
}

interface EventRow {
  id: number;
  type: string;
  level: string;
  mac: string | null;
  message: string;
  data: Record<string, unknown> | undefined;
}

async function events(h: SipHarness, type?: string): Promise<EventRow[]> {
  const rows = await h.running.outpost.store.db.all<Omit<EventRow, 'data'> & { data: string | null }>(`SELECT * FROM events ${type ? 'WHERE type = ?' : ''} ORDER BY id`, type ? [type] : []);
  return rows.map((r) => ({ ...r, data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : undefined }));
}

/** Waits until `count` events of `type` name `user`, and a little longer to see that no more come. */
async function eventsFor(h: SipHarness, type: string, user: string, count: number): Promise<EventRow[]> {
  const mine = async () => (await events(h, type)).filter((e) => e.data?.user === user);
  await waitFor(`${count} ${type} for ${user}`, 3000, async () => (await mine()).length >= count);
  await sleep(50);
  const found = await mine();
  assert.equal(found.length, count, JSON.stringify(found));
  return found;
}

/** The whole events table as text, for "the password is nowhere" checks. */
async function eventsText(h: SipHarness): Promise<string> {
  return JSON.stringify(await h.running.outpost.store.db.all('SELECT * FROM events'));
}

const within = (value: number, low: number, high: number, what: string) => assert.ok(value >= low && value <= high, `${what}: ${value} not in [${low}, ${high}]`);

describe('SIP registrar, end to end (sipp and hand-made datagrams against serve())', function () {
  this.timeout(180_000);
  let h: SipHarness;
  const clients: SipClient[] = [];
  const client = async (local = HOST) => {
    const c = await SipClient.open({ host: HOST, port: h.sipPort }, local);
    clients.push(c);
    return c;
  };
  const bindingsOf = async (user: string) => (await registrations(h)).filter((r) => r.user === user);
  const sip = () => h.running.sip!;
  let before1000: RegistrationRow[] = [];

  before(async () => {
    h = await startSip({ site: mainSite() });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    killChildren();
  });
  after(async () => {
    killChildren();
    await h?.close();
  });

  const sippCase = (transport: 'udp' | 'tcp', n: number) => `s${transport === 'udp' ? n : n + 1}`;

  for (const transport of ['udp', 'tcp'] as const) {
    describe(`sipp over ${transport.toUpperCase()}`, () => {
      it('REGISTER with digest: 401, credentials, 200 with the Contact and its expires; the binding is listed with contact, source and expiry', async () => {
        const user = sippCase(transport, 120);
        const before = Date.now();
        const r = await sipp(h, 'register.xml', [authRow(user, pw(user))], { transport, keys: { expires: '300' } });
        const after = Date.now();
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.successful, 1);
        assert.equal(r.failed, 0);
        assert.equal(r.logLines.length, 1, r.logLines.join('\n'));
        const m = new RegExp(`^registered ${user} contact=sip:${user}@127\\.0\\.0\\.1:(\\d+);transport=${transport.toUpperCase()} expires=(\\d+) `).exec(r.logLines[0]!);
        assert.ok(m, r.logLines[0]);
        within(Number(m[2]), 299, 300, 'expires in the 200');
        const sippPort = Number(m[1]);
        const list = await bindingsOf(user);
        assert.equal(list.length, 1, JSON.stringify(list));
        const b = list[0]!;
        assert.equal(b.line, `3${user.slice(1)}`);
        assert.equal(b.contact, `sip:${user}@127.0.0.1:${sippPort};transport=${transport.toUpperCase()}`);
        if (transport === 'udp') assert.equal(b.source, `udp:127.0.0.1:${sippPort}`);
        else assert.match(b.source, /^tcp:127\.0\.0\.1:\d+$/);
        assert.equal(b.userAgent, 'sipp');
        within(Date.parse(b.expiresAt), before + 299_000, after + 300_000, 'expiresAt');
        within(b.expiresIn, 295, 300, 'expiresIn');
        // The event follows the 200 (only the binding is durable before it).
        const registered = await eventsFor(h, 'sip.registered', user, 1);
        assert.equal(registered[0]!.data?.contact, b.contact);
      });

      it('wrong password: the credentials get another 401, nothing is bound, sip.auth_failed is recorded without the password', async () => {
        const user = sippCase(transport, 122);
        const wrong = `Wr0ng-${transport}-Pa55`;
        const failedBefore = h.running.sip!.counters.registers.failed;
        const r = await sipp(h, 'wrong-password.xml', [authRow(user, wrong)], { transport, keys: { expires: '300' } });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.successful, 1); // the scenario expects the second 401
        assert.deepEqual(r.logLines, [`refused ${user} challenge=Digest realm=`]);
        assert.deepEqual(await bindingsOf(user), []);
        assert.equal(h.running.sip!.counters.registers.failed, failedBefore + 1);
        const failed = await eventsFor(h, 'sip.auth_failed', user, 1);
        assert.equal(failed[0]!.data?.reason, 'bad-response');
        assert.match(String(failed[0]!.data?.source), new RegExp(`^${transport}:127\\.0\\.0\\.1:\\d+$`));
        // Neither the wrong password nor the line's real one is anywhere in the events or the log.
        const all = await eventsText(h);
        for (const secret of [wrong, pw(user)]) {
          assert.ok(!all.includes(secret), `events contain ${secret}`);
          assert.ok(!h.logs.some((l) => l.includes(secret)), `log contains ${secret}`);
        }
        // The failure is logged, with the digest response redacted.
        const logged = h.logs.filter((l) => l.includes('SIP authentication failed') && l.includes(user));
        assert.equal(logged.length, 1);
        assert.doesNotMatch(logged[0]!, /[0-9a-f]{32}/, 'no digest response in the log');
      });

      it('unregister: Expires: 0 after registering removes the binding; the last 200 lists no Contact', async () => {
        const user = sippCase(transport, 124);
        const r = await sipp(h, 'unregister.xml', [authRow(user, pw(user))], { transport, keys: { expires: '300' } });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.successful, 1);
        assert.equal(r.logLines.length, 2, r.logLines.join('\n'));
        assert.match(r.logLines[0]!, new RegExp(`^registered ${user} .* expires=300 `));
        assert.equal(r.logLines[1], `unregistered ${user} contact=`);
        assert.deepEqual(await bindingsOf(user), []);
        assert.equal((await h.running.outpost.store.bindings.list()).filter((b) => b.aor === user).length, 0, 'gone from sqlite too');
        await eventsFor(h, 'sip.unregistered', user, 1);
      });

      it('refresh: a second REGISTER on the same Call-ID with a higher CSeq keeps one binding with the later expiry', async () => {
        const user = sippCase(transport, 126);
        const r = await sipp(h, 'refresh.xml', [authRow(user, pw(user))], { transport, keys: { expires: '300', expires2: '600' } });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.successful, 1);
        assert.equal(r.logLines.length, 2, r.logLines.join('\n'));
        const first = /contact=(\S+) expires=(\d+)/.exec(r.logLines[0]!)!;
        const second = /contact=(\S+) expires=(\d+)/.exec(r.logLines[1]!)!;
        assert.match(r.logLines[1]!, /^refreshed /);
        within(Number(first[2]), 299, 300, 'first expires');
        within(Number(second[2]), 599, 600, 'refreshed expires');
        assert.equal(second[1], first[1], 'the same contact');
        const list = await bindingsOf(user);
        assert.equal(list.length, 1, JSON.stringify(list));
        within(list[0]!.expiresIn, 595, 600, 'expiresIn after the refresh');
        const stored = (await h.running.outpost.store.bindings.list()).filter((b) => b.aor === user);
        assert.equal(stored.length, 1);
        assert.equal(stored[0]!.cseq, 4, 'the refresh (CSeq 4) is what is stored');
        await sleep(200);
        await eventsFor(h, 'sip.registered', user, 1); // a refresh is not a new registration
      });

      it('query: a REGISTER without Contact is answered with the current bindings', async () => {
        const user = sippCase(transport, 128);
        const r = await sipp(h, 'query.xml', [authRow(user, pw(user))], { transport, keys: { expires: '300' } });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.successful, 1);
        assert.equal(r.logLines.length, 2, r.logLines.join('\n'));
        const registered = /contact=(\S+) expires=(\d+)/.exec(r.logLines[0]!)!;
        const queried = /^queried \S+ contact=(\S+) expires=(\d+)/.exec(r.logLines[1]!)!;
        assert.ok(queried, r.logLines[1]);
        assert.equal(queried[1], registered[1]);
        within(Number(queried[2]), 298, 300, 'expires in the query answer');
        assert.equal((await bindingsOf(user)).length, 1);
      });
    });
  }

  describe('expiry and scale (sipp over UDP)', () => {
    it('expiry: a 10 s registration (site sip.minExpires 10) is gone after about 11 s, with a sip.expired event', async () => {
      const user = 's130';
      const r = await sipp(h, 'register.xml', [authRow(user, pw(user))], { transport: 'udp', keys: { expires: '10' } });
      const registeredAt = Date.now();
      assert.equal(r.successful, 1, r.stdout + r.stderr);
      assert.match(r.logLines[0] ?? '', / expires=(10|9) /);
      const list = await bindingsOf(user);
      assert.equal(list.length, 1);
      within(list[0]!.expiresIn, 8, 10, 'expiresIn');
      await sleep(8000);
      assert.equal((await bindingsOf(user)).length, 1, 'still there before its time');
      await waitFor('the binding to expire', 6000, async () => (await bindingsOf(user)).length === 0, 100);
      const gone = Date.now() - registeredAt;
      within(gone, 9000, 12_500, 'ms until it was gone');
      // The sweep (once a second) removes it from sqlite and records the event.
      await waitFor('sip.expired', 3000, async () => (await events(h, 'sip.expired')).some((e) => e.data?.user === user));
      await waitFor('removed from sqlite', 3000, async () => !(await h.running.outpost.store.bindings.list()).some((b) => b.aor === user));
    });

    it('1,000 distinct users registered by one sipp run: 1,000 successful calls, exactly 1,000 registrations', async function () {
      const rows = USERS_1000.map((u) => authRow(u, pw(u)));
      const rate = 250;
      const r = await sipp(h, 'register.xml', rows, { transport: 'udp', rate, calls: 1000, keys: { expires: '3600' }, timeoutS: 40 });
      assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-2000));
      assert.equal(r.successful, 1000);
      assert.equal(r.failed, 0);
      assert.equal(r.logLines.length, 1000);
      assert.ok(r.logLines.every((l) => / expires=(3600|3599) /.test(l)), 'every 200 carries the contact with its expires');
      const list = (await registrations(h)).filter((x) => /^u\d{4}$/.test(x.user));
      assert.equal(list.length, 1000);
      assert.deepEqual(new Set(list.map((x) => x.user)), new Set(USERS_1000));
      for (const x of list) {
        assert.equal(x.line, x.user.slice(1));
        assert.equal(x.contact.startsWith(`sip:${x.user}@127.0.0.1:`), true);
      }
      assert.equal((await h.running.outpost.store.bindings.list()).filter((b) => /^u\d{4}$/.test(b.aor)).length, 1000, 'all in sqlite');
      console.log(`      1,000 users over UDP: ${r.ms} ms for the sipp run at -r ${rate}, ${(1000 / (r.ms / 1000)).toFixed(0)} registrations/s (each a 401 and a 200)`);
      before1000 = list;
    });
  });

  describe('hand-made REGISTERs (UDP)', () => {
    it('two contacts in one REGISTER with q-values: both bound, q kept; Contact: * with Expires: 0 removes them all', async () => {
      const c = await client();
      const user = 'h140';
      const contacts = [`<sip:${user}@127.0.0.1:5071>;q=0.9`, `<sip:${user}@127.0.0.1:5072;transport=udp>;q=0.4`];
      const { final } = await c.registerWithAuth(user, pw(user), { contacts, expires: 300 });
      assert.equal(final?.status, 200, final?.raw);
      const answered = headers(final!, 'Contact');
      assert.equal(answered.length, 2, final!.raw);
      assert.ok(answered.some((v) => /^<sip:h140@127\.0\.0\.1:5071>;expires=(300|299);q=0\.9$/.test(v)), answered.join(' | '));
      assert.ok(answered.some((v) => /^<sip:h140@127\.0\.0\.1:5072;transport=udp>;expires=(300|299);q=0\.4$/.test(v)), answered.join(' | '));
      const list = await bindingsOf(user);
      assert.deepEqual(list.map((b) => [b.contact, b.q]).sort(), [[`sip:${user}@127.0.0.1:5071`, 0.9], [`sip:${user}@127.0.0.1:5072;transport=udp`, 0.4]]);
      assert.ok(list.every((b) => b.source === `udp:127.0.0.1:${c.port}`));

      const star = await c.registerWithAuth(user, pw(user), { contacts: ['*'], expires: 0 });
      assert.equal(star.final?.status, 200, star.final?.raw);
      assert.equal(headers(star.final!, 'Contact').length, 0);
      assert.deepEqual(await bindingsOf(user), []);
      await eventsFor(h, 'sip.unregistered', user, 2);
    });

    it('Contact: * with Expires 300 is a 400, and Contact: * next to another contact too; nothing changes', async () => {
      const c = await client();
      const user = 'h141';
      assert.equal((await c.registerWithAuth(user, pw(user), { expires: 300 })).final?.status, 200);
      const bad = await c.registerWithAuth(user, pw(user), { contacts: ['*'], expires: 300 });
      assert.equal(bad.final?.status, 400, bad.final?.raw);
      const mixed = await c.registerWithAuth(user, pw(user), { contacts: ['*', `<sip:${user}@127.0.0.1:5099>`], expires: 0 });
      assert.equal(mixed.final?.status, 400, mixed.final?.raw);
      assert.equal((await bindingsOf(user)).length, 1);
    });

    it('Expires 5 is answered 423 with Min-Expires: 10; the expires parameter wins over the header; a long one is cut to maxExpires', async () => {
      const c = await client();
      const user = 'h142';
      const brief = await c.registerWithAuth(user, pw(user), { expires: 5 });
      assert.equal(brief.final?.status, 423, brief.final?.raw);
      assert.equal(header(brief.final!, 'Min-Expires'), '10');
      assert.deepEqual(await bindingsOf(user), []);
      // The parameter overrides the header (§10.3 step 7).
      const param = await c.registerWithAuth(user, pw(user), { expires: 5, contacts: [`<sip:${user}@127.0.0.1:${c.port}>;expires=120`] });
      assert.equal(param.final?.status, 200, param.final?.raw);
      assert.match(header(param.final!, 'Contact')!, /;expires=(120|119)$/);
      within((await bindingsOf(user))[0]!.expiresIn, 118, 120, 'expiresIn from the parameter');
      // Longer than sip.maxExpires (3600): shortened, not refused.
      const long = await c.registerWithAuth(user, pw(user), { expires: 999_999 });
      assert.equal(long.final?.status, 200);
      assert.match(header(long.final!, 'Contact')!, /;expires=(3600|3599)$/);
      // Without Expires at all: sip.defaultExpires (3600).
      const none = await c.registerWithAuth(user, pw(user), { expires: undefined });
      assert.equal(none.final?.status, 200);
      assert.match(header(none.final!, 'Contact')!, /;expires=(3600|3599)$/);
      assert.equal((await bindingsOf(user)).length, 1);
    });

    it('Call-ID/CSeq ordering: the same Call-ID with a lower CSeq is a 500 and changes nothing', async () => {
      const c = await client();
      const user = 'h143';
      const callId = 'order-test-call-id@127.0.0.1';
      const first = await c.registerWithAuth(user, pw(user), { callId, cseq: 10, expires: 300 });
      assert.equal(first.final?.status, 200);
      const [bound] = await bindingsOf(user);
      const older = await c.registerWithAuth(user, pw(user), { callId, cseq: 3, expires: 900 });
      assert.equal(older.final?.status, 500, older.final?.raw);
      const after = await bindingsOf(user);
      assert.equal(after.length, 1);
      assert.equal(after[0]!.expiresAt, bound!.expiresAt, 'the binding is untouched');
      const stored = (await h.running.outpost.store.bindings.list()).filter((b) => b.aor === user);
      assert.deepEqual(stored.map((b) => [b.callId, b.cseq]), [[callId, 11]]);
      // A higher CSeq on that Call-ID is a refresh again.
      const newer = await c.registerWithAuth(user, pw(user), { callId, cseq: 20, expires: 900 });
      assert.equal(newer.final?.status, 200);
      within((await bindingsOf(user))[0]!.expiresIn, 895, 900, 'refreshed');
    });

    it('the To user must be the authenticated user: valid credentials of h144 for h145\'s line are a 403 and a sip.rejected event', async () => {
      const c = await client();
      const res = await c.registerWithAuth('h144', pw('h144'), { toUser: 'h145', expires: 300 });
      assert.equal(res.challenge?.status, 401);
      assert.equal(res.final?.status, 403, res.final?.raw);
      assert.deepEqual(await bindingsOf('h145'), []);
      assert.deepEqual(await bindingsOf('h144'), []);
      const rejected = await eventsFor(h, 'sip.rejected', 'h144', 1);
      assert.equal(rejected[0]!.data?.to, 'h145');
    });

    it('at most sip.maxContacts (5) a line: 6 contacts are a 403; 5 are bound; a sixth later is a 403 too', async () => {
      const c = await client();
      const user = 'h146';
      const contact = (n: number) => `<sip:${user}@127.0.0.1:${6000 + n}>`;
      // Three lines of two comma-separated contacts: the same as six lines (RFC 3261 §7.3.1).
      const six = await c.registerWithAuth(user, pw(user), { contacts: [0, 2, 4].map((n) => `${contact(n)}, ${contact(n + 1)}`), expires: 300 });
      assert.equal(six.final?.status, 403, six.final?.raw);
      assert.match(six.final!.reason, /Too many contacts/);
      assert.deepEqual(await bindingsOf(user), []);
      const five = await c.registerWithAuth(user, pw(user), { contacts: [0, 1, 2, 3, 4].map(contact), expires: 300 });
      assert.equal(five.final?.status, 200, five.final?.raw);
      assert.equal(headers(five.final!, 'Contact').length, 5);
      assert.equal((await bindingsOf(user)).length, 5);
      const sixth = await c.registerWithAuth(user, pw(user), { contacts: [contact(5)], expires: 300 });
      assert.equal(sixth.final?.status, 403);
      assert.equal((await bindingsOf(user)).length, 5);
      // Replacing one within the five is fine (remove one, add one in one REGISTER).
      const swap = await c.registerWithAuth(user, pw(user), { contacts: [`${contact(0)};expires=0`, contact(5)], expires: 300 });
      assert.equal(swap.final?.status, 200, swap.final?.raw);
      assert.deepEqual((await bindingsOf(user)).map((b) => b.contact).sort(), [1, 2, 3, 4, 5].map((n) => `sip:${user}@127.0.0.1:${6000 + n}`).sort());
    });

    it('a contact outside the allowed networks is a 403 and a sip.rejected event', async () => {
      const c = await client();
      const user = 'h147';
      const res = await c.registerWithAuth(user, pw(user), { contacts: [`<sip:${user}@192.0.2.10:5060>`], expires: 300 });
      assert.equal(res.final?.status, 403, res.final?.raw);
      assert.deepEqual(await bindingsOf(user), []);
      await eventsFor(h, 'sip.rejected', user, 1);
    });

    it('a line added while Outpost runs registers at once; once removed it is refused', async () => {
      const outpost = h.running.outpost;
      const user = 'h190';
      assert.equal(await outpost.putLine({ ext: '3190', name: 'Added live', user, password: pw(user) }), 'added');
      const c = await client();
      const res = await c.registerWithAuth(user, pw(user), { expires: 300 });
      assert.equal(res.final?.status, 200, res.final?.raw);
      assert.equal((await bindingsOf(user))[0]?.line, '3190');
      assert.equal((await c.registerWithAuth(user, pw(user), { expires: 0 })).final?.status, 200);
      await outpost.removeLine('3190');
      const gone = await c.registerWithAuth(user, pw(user), { expires: 300 });
      assert.equal(gone.final?.status, 401, 'no line has this user any more');
      assert.deepEqual(await bindingsOf(user), []);
    });

    it('a line whose password is changed while Outpost runs takes the new password at once and refuses the old one', async () => {
      const outpost = h.running.outpost;
      const user = 'h191';
      assert.equal(await outpost.putLine({ ext: '3191', name: 'Password changed', user, password: 'first-Pa55' }), 'added');
      const c = await client();
      assert.equal((await c.registerWithAuth(user, 'first-Pa55', { expires: 300 })).final?.status, 200);
      assert.equal(await outpost.putLine({ ext: '3191', name: 'Password changed', user, password: 'second-Pa55' }), 'updated');
      assert.equal((await c.registerWithAuth(user, 'first-Pa55', { expires: 300 })).final?.status, 401, 'the old password is refused');
      assert.equal((await c.registerWithAuth(user, 'second-Pa55', { expires: 0 })).final?.status, 200, 'the new one is taken');
      await outpost.removeLine('3191');
    });

    it('a stale nonce (older than its 300 s life) with the right password gets 401 stale=true; the fresh challenge then succeeds', async () => {
      // The running service uses the real clock; a second SipService on the same store and inventory has an injected one.
      let clock = Date.now();
      const side = new SipService({ host: HOST, port: 0, store: h.running.outpost.store, inventory: h.running.outpost.inventory, vendors: h.running.outpost.vendors, log: pino({ level: 'silent' }), now: () => clock });
      const { port } = await side.start();
      try {
        const c = await SipClient.open({ host: HOST, port });
        clients.push(c);
        const user = 'h148';
        const uri = `sip:${HOST}:${port}`;
        const first = c.register(user, { callId: 'stale-1', cseq: 1, expires: 300 });
        const challenge = await c.send(first.text, first.branch);
        assert.equal(challenge?.status, 401);
        clock += 301_000;
        const late = c.register(user, { callId: 'stale-1', cseq: 2, expires: 300, authorization: digestAnswer(challenge!, user, pw(user), uri) });
        const stale = await c.send(late.text, late.branch);
        assert.equal(stale?.status, 401, stale?.raw);
        const offered = headers(stale!, 'WWW-Authenticate').map((v) => parseChallenge(v));
        assert.ok(offered.length >= 1 && offered.every((x) => typeof x !== 'string' && x.stale), JSON.stringify(offered));
        assert.equal(side.counters.registers.stale, 1);
        assert.equal(side.counters.registers.failed, 0, 'a stale nonce is not an authentication failure');
        // A wrong password against an old nonce is not told "stale".
        const guess = c.register(user, { callId: 'stale-1', cseq: 3, expires: 300, authorization: digestAnswer(challenge!, user, 'guess', uri) });
        const guessed = await c.send(guess.text, guess.branch);
        assert.equal(guessed?.status, 401);
        assert.ok(headers(guessed!, 'WWW-Authenticate').every((v) => !/stale/i.test(v)));
        const retry = c.register(user, { callId: 'stale-1', cseq: 4, expires: 300, authorization: digestAnswer(stale!, user, pw(user), uri) });
        const ok = await c.send(retry.text, retry.branch);
        assert.equal(ok?.status, 200, ok?.raw);
        // Clean up through the same service, so the shared store holds nothing dated by the fake clock.
        const un = c.register(user, { callId: 'stale-1', cseq: 5, expires: 0 });
        const ch = await c.send(un.text, un.branch);
        const done = c.register(user, { callId: 'stale-1', cseq: 6, expires: 0, authorization: digestAnswer(ch!, user, pw(user), uri) });
        assert.equal((await c.send(done.text, done.branch))?.status, 200);
        assert.equal((await h.running.outpost.store.bindings.list()).filter((b) => b.aor === user).length, 0);
      } finally {
        await side.stop();
      }
    });

    it("credentials for the Centrex's realm beside Outpost's: Outpost's count, whichever comes first", async () => {
      const c = await client();
      const user = 'h160';
      const uri = `sip:${HOST}:${h.sipPort}`;
      const centrex = `Digest username="${user}", realm="centrex.example", nonce="abc", uri="${uri}", response="${'0'.repeat(32)}", algorithm=MD5`;
      for (const [n, order] of [[1, 'centrex first'], [3, 'ours first']] as const) {
        const first = c.register(user, { callId: `two-realms-${n}`, cseq: 1, expires: 300 });
        const challenge = await c.send(first.text, first.branch);
        assert.equal(challenge?.status, 401, order);
        const ours = digestAnswer(challenge!, user, pw(user), uri);
        const both = n === 1 ? [centrex, ours] : [ours, centrex];
        const second = c.register(user, { callId: `two-realms-${n}`, cseq: 2, expires: 300, extra: both.map((v) => `Authorization: ${v}`) });
        const res = await c.send(second.text, second.branch);
        assert.equal(res?.status, 200, `${order}: ${res?.raw}`);
      }
      // Only the Centrex's: challenged again (not refused as malformed), nothing more bound.
      const only = c.register(user, { callId: 'two-realms-5', cseq: 1, expires: 300, authorization: centrex });
      assert.equal((await c.send(only.text, only.branch))?.status, 401);
      assert.equal((await bindingsOf(user)).length, 1);
    });

    it('the tarpit: from the 6th wrong password one source is answered late, after 30 not at all; other sources are unaffected; no password is logged', async () => {
      const source = '127.0.0.77';
      const c = await client(source);
      const user = 'h149';
      const uri = `sip:${HOST}:${h.sipPort}`;
      const guess = 'tarpit-Guess-123';
      const delays: number[] = [];
      let lastChallenge: Response | undefined;
      for (let i = 1; i <= 7; i++) {
        const first = c.register(user, { expires: 300 });
        lastChallenge = await c.send(first.text, first.branch);
        assert.equal(lastChallenge?.status, 401, `challenge ${i}`);
        const wrong = c.register(user, { expires: 300, authorization: digestAnswer(lastChallenge!, user, guess, uri) });
        const res = await c.send(wrong.text, wrong.branch, 4000);
        assert.equal(res?.status, 401, `failure ${i} answered`);
        delays.push(res!.ms);
      }
      console.log(`      answers to failures 1-7 after ${delays.join(', ')} ms`);
      for (const ms of delays.slice(0, 5)) assert.ok(ms < 300, `free failures answered at once: ${delays.join(', ')}`);
      assert.ok(delays[5]! >= 400, `the 6th answer came after ${delays[5]} ms`);
      assert.ok(delays[6]! >= 900, `the 7th answer came after ${delays[6]} ms`);
      // Failures 8 to 30 at once: the 30th blocks the source.
      for (let i = 8; i <= 30; i++) {
        const wrong = c.register(user, { expires: 300, authorization: digestAnswer(lastChallenge!, user, guess, uri) });
        void c.send(wrong.text, wrong.branch, 100);
      }
      await waitFor('sip.blocked', 3000, async () => (await events(h, 'sip.blocked')).some((e) => String(e.data?.source).includes(source)));
      // Blocked: not even a challenge, nor an answer to the right password; and what it sends is not kept.
      const alive = sip().layer.size().server;
      const probes = Array.from({ length: 20 }, () => c.register(user, { expires: 300 }));
      const answers = await Promise.all(probes.map((p) => c.send(p.text, p.branch, 1500)));
      assert.deepEqual(answers.filter((a) => a !== undefined), [], 'a blocked source gets no answer');
      assert.ok(sip().layer.size().server - alive < 5, `transactions of a blocked source are dropped, not kept for minutes (${alive} -> ${sip().layer.size().server})`);
      const right = await c.registerWithAuth(user, pw(user), { expires: 300 }, 1000);
      assert.equal(right.challenge, undefined);
      assert.deepEqual(await bindingsOf(user), []);
      // Another address is challenged and registers as usual.
      const other = await client('127.0.0.78');
      const fine = await other.registerWithAuth(user, pw(user), { expires: 300 });
      assert.equal(fine.final?.status, 200);
      assert.ok(fine.challenge!.ms < 300 && fine.final!.ms < 300);
      assert.ok(h.running.sip!.counters.tarpitted >= 2);
      const all = await eventsText(h);
      assert.ok(!all.includes(guess) && !all.includes(pw(user)));
      assert.ok(!h.logs.some((l) => l.includes(guess) || l.includes(pw(user))));
      const failures = h.logs.filter((l) => l.includes('SIP authentication failed') && l.includes(source));
      assert.ok(failures.length >= 29, `${failures.length} failures logged`);
      assert.ok(failures.every((l) => !/[0-9a-f]{32}/.test(l)), 'no digest response in the log');
    });

    it('a device in the inventory: the registration lists its MAC, the device becomes registered, and provisioned again after unregistering', async () => {
      const outpost = h.running.outpost;
      await outpost.putDevice({ mac: '00:15:65:aa:bb:01', model: 'SIP-T22P', lines: ['111'] });
      const stateBefore = (await outpost.store.devices.get(MAC as Mac))!.state;
      assert.notEqual(stateBefore, 'registered');
      const c = await client();
      const res = await c.registerWithAuth(LINE111.user, LINE111.password, { expires: 300, userAgent: UA_T22P });
      assert.equal(res.final?.status, 200, res.final?.raw);
      const list = await bindingsOf(LINE111.user);
      assert.equal(list.length, 1);
      assert.equal(list[0]!.mac, MAC);
      assert.equal(list[0]!.line, '111');
      assert.equal(list[0]!.userAgent, UA_T22P);
      // The device's state follows the 200.
      await waitFor('the device registered', 3000, async () => (await outpost.store.devices.get(MAC as Mac))!.state === 'registered');
      await waitFor('device.registered', 3000, async () => (await events(h, 'device.registered')).some((e) => e.mac === MAC));
      const status = await api<{ registrations: number }>(h, '/api/v1/status');
      assert.equal(status.registrations, (await registrations(h)).length);
      const un = await c.registerWithAuth(LINE111.user, LINE111.password, { expires: 0, userAgent: UA_T22P });
      assert.equal(un.final?.status, 200);
      assert.deepEqual(await bindingsOf(LINE111.user), []);
      await waitFor('the device provisioned again', 3000, async () => (await outpost.store.devices.get(MAC as Mac))!.state === 'provisioned');
      await waitFor('device.unregistered', 3000, async () => (await events(h, 'device.unregistered')).some((e) => e.mac === MAC));
    });

    it('a Via naming port 0 or 70000 (nothing can be sent there): no answer, nothing thrown, the server carries on', async () => {
      const c = await client();
      const errorsBefore = h.logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 50).length;
      const failedBefore = sip().counters.registers.error;
      const request = (method: string, via: string, n: number) => [
        `${method} sip:${method === 'INVITE' ? '3141' : ''}${method === 'INVITE' ? '@' : ''}${HOST}:${h.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP ${via};branch=z9hG4bKport${n}`, 'Max-Forwards: 70',
        `From: <sip:h150@${HOST}>;tag=p${n}`, `To: <sip:h150@${HOST}>`, `Call-ID: port-${n}`, `CSeq: 1 ${method}`, `Contact: <sip:h150@${HOST}:${c.port}>`, 'Content-Length: 0', '', '',
      ].join('\r\n');
      const vias = [`${HOST}:0`, `${HOST}:70000`, `${HOST}:${c.port};rport=0`, `${HOST}:${c.port};rport=99999`];
      let n = 0;
      for (const via of vias) {
        for (const method of ['REGISTER', 'INVITE', 'OPTIONS']) {
          c.socket.send(Buffer.from(request(method, via, n++)), h.sipPort, HOST);
        }
      }
      await sleep(300);
      assert.equal(h.logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 50).length, errorsBefore, h.logs.slice(-3).join(''));
      assert.equal(sip().counters.registers.error, failedBefore);
      // Still answering, on a port that exists.
      const ok = await c.registerWithAuth('h150', pw('h150'), { expires: 0 });
      assert.equal(ok.final?.status, 200);
    });

    it('a Via carrying its own received and rport values: the answer still goes back to where the request came from', async () => {
      const c = await client();
      const { text, branch } = c.register('h151', { expires: 300 });
      // Another loopback address and port: before the fix the 401 went there (an attacker's reflection target).
      const aimed = text.replace(/;rport\r\n/, ';received=127.0.0.99;rport=9\r\n');
      assert.notEqual(aimed, text);
      const res = await c.send(aimed, branch, 2000);
      assert.equal(res?.status, 401);
      assert.match(header(res!, 'Via')!, new RegExp(`;rport=${c.port}`));
      assert.doesNotMatch(header(res!, 'Via')!, /received=127\.0\.0\.99/);
    });

    it('OPTIONS is answered 200 with Allow', async () => {
      const c = await client();
      const branch = 'z9hG4bKoptions1';
      const text = [
        `OPTIONS sip:${HOST}:${h.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP ${HOST}:${c.port};branch=${branch};rport`, `From: <sip:probe@${HOST}>;tag=1`,
        `To: <sip:${HOST}:${h.sipPort}>`, 'Call-ID: options-1', 'CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'Content-Length: 0', '', '',
      ].join('\r\n');
      const res = await c.send(text, branch);
      assert.equal(res?.status, 200);
      const allow = header(res!, 'Allow')!.split(/\s*,\s*/);
      for (const m of ['REGISTER', 'INVITE', 'OPTIONS', 'ACK', 'BYE', 'CANCEL']) assert.ok(allow.includes(m), allow.join());
    });

    it('/metrics shows outpost_sip_registrations and the REGISTER outcomes', async () => {
      const text = await (await fetch(`http://${HOST}:${h.httpPort}/metrics`)).text();
      const gauge = /^outpost_sip_registrations (\d+)$/m.exec(text);
      assert.ok(gauge, text.slice(0, 2000));
      assert.equal(Number(gauge[1]), (await registrations(h)).length);
      assert.ok(Number(gauge[1]) >= 1000);
      const outcome = (result: string) => Number(new RegExp(`^outpost_sip_register_requests\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? -1);
      assert.ok(outcome('ok') >= 1000, `ok ${outcome('ok')}`);
      assert.ok(outcome('challenged') >= 1000, `challenged ${outcome('challenged')}`);
      assert.ok(outcome('failed') >= 30, `failed ${outcome('failed')}`);
      assert.ok(outcome('rejected') >= 4, `rejected ${outcome('rejected')}`);
      assert.equal(outcome('error'), 0);
      assert.match(text, /^outpost_sip_messages\{kind="received"\} \d+$/m);
      // Every 200 OK waited for a group commit: at least one was written, and took some time.
      const commits = Number(/^outpost_db_group_commits (\d+)$/m.exec(text)?.[1] ?? -1);
      assert.ok(commits >= 1 && commits <= outcome('ok'), `commits ${commits}`);
      assert.ok(Number(/^outpost_db_group_commit_seconds\{stat="sum"\} ([\d.e-]+)$/m.exec(text)?.[1] ?? 0) > 0, text.slice(0, 2000));
      // The 200 OKs of the last 32 s are kept for Timer J (UDP), in a store that has not overflowed.
      const kept = (stat: string) => Number(new RegExp(`^outpost_sip_kept_answers\\{stat="${stat}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? -1);
      assert.ok(kept('answers') >= 1, `kept answers ${kept('answers')}`);
      assert.ok(kept('bytes') >= 1024, `kept bytes ${kept('bytes')}`);
      assert.equal(kept('evicted_early'), 0);
    });
  });

  describe('restart', () => {
    it('restart: serve stopped and started again on the same data dir lists the same bindings', async () => {
      const beforeRestart = await registrations(h);
      assert.ok(beforeRestart.length >= 1000);
      assert.deepEqual(before1000.map((x) => x.user).sort(), beforeRestart.filter((x) => /^u\d{4}$/.test(x.user)).map((x) => x.user).sort());
      const key = (x: RegistrationRow) => JSON.stringify([x.user, x.line, x.contact, x.source, x.expiresAt, x.mac ?? null, x.q ?? null, x.userAgent ?? null]);
      await h.restart();
      const afterRestart = await registrations(h);
      assert.equal(afterRestart.length, beforeRestart.length);
      assert.deepEqual(afterRestart.map(key).sort(), beforeRestart.map(key).sort());
      assert.equal(h.running.sip!.book.size(), beforeRestart.length);
      // And the restarted registrar serves: a query from one of the 1,000 lists its binding.
      const c = await client();
      const q = await c.registerWithAuth('u2000', pw('u2000'), { contacts: [] });
      assert.equal(q.final?.status, 200, q.final?.raw);
      assert.equal(headers(q.final!, 'Contact').length, 1);
    });
  });
});

describe('SIP registrar: a REGISTER from outside provisioning.allow', function () {
  this.timeout(60_000);
  let h: SipHarness;
  let c: SipClient | undefined;
  before(async () => {
    h = await startSip({ site: { provisioning: { allow: ['10.99.0.0/24'] }, lines: [LINE111] } });
  });
  after(async () => {
    c?.close();
    await h?.close();
  });

  it('127.0.0.1 is outside 10.99.0.0/24: 403 before any challenge, a sip.rejected event, nothing bound', async () => {
    c = await SipClient.open({ host: HOST, port: h.sipPort });
    const res = await c.registerWithAuth(LINE111.user, LINE111.password, { expires: 300 });
    assert.equal(res.challenge?.status, 403, res.challenge?.raw);
    assert.match(res.challenge!.reason, /network not allowed/);
    assert.deepEqual(await registrations(h), []);
    await waitFor('sip.rejected', 3000, async () => (await events(h, 'sip.rejected')).length > 0);
    const rejected = await events(h, 'sip.rejected');
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]!.data?.source, `udp:127.0.0.1:${c.port}`);
    assert.equal(h.running.sip!.counters.registers.rejected, 1);
    assert.equal(h.running.sip!.counters.registers.challenged, 0);
  });
});
