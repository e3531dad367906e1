/**
 * Digest authentication: the RFCs' own vectors, a registrar's round trips through challenge -> client ->
 * verify, everything a network peer can get wrong on purpose or not, the nonce-count map's bound, the tarpit.
 */
import { strict as assert } from 'node:assert';
import { createHmac, randomBytes } from 'node:crypto';
import {
  ALGORITHMS,
  DEFAULT_TARPIT,
  FailureTarpit,
  HmacSha256,
  MAX_CREDENTIALS_LENGTH,
  NonceIssuer,
  challenge,
  computeHA1,
  computeResponse,
  computeResponseFromHA1,
  parseChallenge,
  parseCredentials,
  parseCredentialsGeneral,
  redactAuthorization,
  verify,
  type DigestAlgorithm,
  type DigestChallenge,
  type DigestCredentials,
  type VerifyOptions,
} from '../../src/sip/digest.js';
import { Rng } from '../support/rng.js';

/** A fixed instant on a whole second, so nonce ages are exact. */
const T0 = 1_700_000_000_000;
const SECRET = Buffer.alloc(32, 0x5a);
const REALM = 'branch.example';
const USER = '201';
const PASSWORD = 'Kx9-wall-lamp';

function credentials(value: string): DigestCredentials {
  const c = parseCredentials(value);
  if (typeof c === 'string') throw new Error(`unparsable: ${c}`);
  return c;
}

function parsedChallenge(value: string): DigestChallenge {
  const c = parseChallenge(value);
  if (typeof c === 'string') throw new Error(`unparsable challenge: ${c}`);
  return c;
}

/** Writes an Authorization value the way a phone does: quoted strings, bare algorithm, qop and nc. */
function authorization(p: Record<string, string | undefined>): string {
  const bare = new Set(['algorithm', 'qop', 'nc']);
  const parts = Object.entries(p)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => (bare.has(k) ? `${k}=${v}` : `${k}="${v.replace(/(["\\])/g, '\\$1')}"`));
  return `Digest ${parts.join(', ')}`;
}

interface ClientOptions {
  username?: string;
  password?: string;
  method?: string;
  uri?: string;
  nc?: number;
  cnonce?: string;
  /** Answer in the RFC 2069 form. */
  noQop?: boolean;
  /** Override what the client writes, after computing. */
  override?: Record<string, string | undefined>;
}

/** A client answering a challenge: the header value it would send. */
function answer(challengeValue: string, o: ClientOptions = {}): string {
  const c = parsedChallenge(challengeValue);
  const algorithm = (c.algorithm ?? 'MD5') as DigestAlgorithm;
  const username = o.username ?? USER;
  const method = o.method ?? 'REGISTER';
  const uri = o.uri ?? 'sip:branch.example';
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'c0ffee42';
  const base = { algorithm, method, uri, nonce: c.nonce, username, realm: c.realm, password: o.password ?? PASSWORD };
  const response = o.noQop ? computeResponse(base) : computeResponse({ ...base, qop: 'auth', nc, cnonce });
  return authorization({
    username, realm: c.realm, nonce: c.nonce, uri, response, algorithm, opaque: c.opaque,
    ...(o.noQop ? {} : { qop: 'auth', nc, cnonce }),
    ...o.override,
  });
}

describe('SIP digest authentication', () => {
  describe('the RFCs\' vectors', () => {
    it('RFC 2617 §3.5: MD5, qop=auth (Mufasa / "Circle Of Life")', () => {
      const response = computeResponse({
        algorithm: 'MD5', method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        qop: 'auth', nc: '00000001', cnonce: '0a4f113b', username: 'Mufasa', realm: 'testrealm@host.com', password: 'Circle Of Life',
      });
      assert.equal(response, '6629fae49393a05397450978507c4ef1');
    });

    it('RFC 2617 §3.5: its Authorization header, parsed, gives back its own response', () => {
      const c = credentials(
        'Digest username="Mufasa",\n realm="testrealm@host.com",\n nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\n uri="/dir/index.html",\n' +
        ' qop=auth,\n nc=00000001,\n cnonce="0a4f113b",\n response="6629fae49393a05397450978507c4ef1",\n opaque="5ccc069c403ebaf9f0171e9517f40e41"',
      );
      assert.deepEqual(c, {
        username: 'Mufasa', realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', uri: '/dir/index.html',
        response: '6629fae49393a05397450978507c4ef1', algorithm: undefined, cnonce: '0a4f113b', opaque: '5ccc069c403ebaf9f0171e9517f40e41',
        qop: 'auth', nc: '00000001',
      });
      assert.equal(
        computeResponse({ algorithm: 'MD5', method: 'GET', uri: c.uri, nonce: c.nonce, qop: c.qop!, nc: c.nc!, cnonce: c.cnonce!, username: c.username, realm: c.realm, password: 'Circle Of Life' }),
        c.response,
      );
    });

    // RFC 7616 §3.9.1: the password is "Circle of Life" (lower-case "of"), unlike RFC 2617's.
    const rfc7616 = {
      method: 'GET', uri: '/dir/index.html', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', qop: 'auth', nc: '00000001',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', username: 'Mufasa', realm: 'http-auth@example.org', password: 'Circle of Life',
    };

    it('RFC 7616 §3.9.1: SHA-256', () => {
      assert.equal(computeResponse({ ...rfc7616, algorithm: 'SHA-256' }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    });

    it('RFC 7616 §3.9.1: MD5', () => {
      assert.equal(computeResponse({ ...rfc7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
    });

    it('the precomputed-HA1 form gives the same responses (HA1 in either case)', () => {
      for (const algorithm of ALGORITHMS) {
        const ha1 = computeHA1(algorithm, rfc7616.username, rfc7616.realm, rfc7616.password);
        assert.equal(ha1.length, algorithm === 'MD5' ? 32 : 64);
        const direct = computeResponse({ ...rfc7616, algorithm });
        assert.equal(computeResponseFromHA1(ha1, { ...rfc7616, algorithm }), direct);
        assert.equal(computeResponseFromHA1(ha1.toUpperCase(), { ...rfc7616, algorithm }), direct);
      }
    });

    it('RFC 2069 form without qop: H(HA1:nonce:HA2) (RFC 2069 §2.4 example, corrected by erratum 749)', () => {
      const response = computeResponse({
        algorithm: 'MD5', method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        username: 'Mufasa', realm: 'testrealm@host.com', password: 'CircleOfLife',
      });
      assert.equal(response, '1949323746fe6a43ef61f9606e7febea');
    });
  });

  describe('challenges', () => {
    const issuer = new NonceIssuer({ secret: SECRET });

    it('one per algorithm, in the order the site asks (MD5 first by default: old phones read only the first), each complete', () => {
      const values = challenge({ issuer, realm: REALM, algorithms: ['MD5', 'SHA-256', 'MD5'], now: T0 });
      assert.equal(values.length, 2, 'each algorithm once');
      const [first, second] = values.map(parsedChallenge);
      assert.equal(first!.algorithm, 'MD5');
      assert.equal(second!.algorithm, 'SHA-256');
      assert.deepEqual(challenge({ issuer, realm: REALM, algorithms: ['SHA-256', 'MD5'], now: T0 }).map((v) => parsedChallenge(v).algorithm), ['SHA-256', 'MD5']);
      for (const c of [first!, second!]) {
        assert.equal(c.realm, REALM);
        assert.deepEqual(c.qop, ['auth']);
        assert.equal(c.opaque, issuer.opaque);
        assert.equal(c.stale, false);
        assert.equal(issuer.check(c.nonce, REALM, c.algorithm as DigestAlgorithm, T0), 'valid');
      }
      assert.doesNotMatch(values[0]!, /stale/i);
    });

    it('MD5 only for an old phone\'s line; stale=true only when asked', () => {
      const [only, ...rest] = challenge({ issuer, realm: REALM, algorithms: ['MD5'], stale: true, now: T0 });
      assert.equal(rest.length, 0);
      assert.match(only!, /^Digest realm="branch\.example", nonce="[A-Za-z0-9_-]{48}", opaque="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth", stale=true$/);
      assert.equal(parsedChallenge(only!).stale, true);
    });

    it('every challenge gets its own nonce, even within one second', () => {
      const nonces = new Set<string>();
      for (let i = 0; i < 1000; i++) nonces.add(parsedChallenge(challenge({ issuer, realm: REALM, algorithms: ['MD5'], now: T0 })[0]!).nonce);
      assert.equal(nonces.size, 1000);
    });

    it('quotes an odd realm and writes a non-ASCII one as UTF-8 bytes, both read back', () => {
      const odd = 'Outpost "Brno", 2nd floor \\ east';
      assert.equal(parsedChallenge(challenge({ issuer, realm: odd, algorithms: ['MD5'], now: T0 })[0]!).realm, odd);
      const value = challenge({ issuer, realm: 'Plzeň', algorithms: ['MD5'], now: T0 })[0]!;
      assert.ok(value.includes('realm="Plze\u00c5\u0088"'), value);
      assert.equal(parsedChallenge(value).realm, 'Plzeň');
    });

    it('refuses to offer nothing', () => {
      assert.throws(() => challenge({ issuer, realm: REALM, algorithms: [], now: T0 }), /no digest algorithm/);
    });
  });

  describe('HMAC-SHA256 for the nonce tags', () => {
    it('equals createHmac for keys of 16 to 100 bytes (a long key is hashed first) and data of 0 to 300 bytes', () => {
      for (const keyLength of [16, 32, 63, 64, 65, 100]) {
        const key = randomBytes(keyLength);
        const mac = new HmacSha256(key);
        // Data longer than the first buffer (128 bytes) makes it grow; shorter data after it must still be right.
        for (const dataLength of [0, 1, 47, 64, 128, 129, 300, 20]) {
          const data = randomBytes(dataLength);
          assert.equal(mac.hex(data), createHmac('sha256', key).update(data).digest('hex'), `key ${keyLength}, data ${dataLength}`);
        }
      }
      // RFC 4231 test case 2 (key "Jefe").
      assert.equal(new HmacSha256(Buffer.from('Jefe')).hex(Buffer.from('what do ya want for nothing?')), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    });
  });

  describe('nonces', () => {
    const issuer = new NonceIssuer({ secret: SECRET });

    it('valid for the realm and algorithm they were issued for, nothing else', () => {
      const nonce = issuer.issue(REALM, 'SHA-256', T0);
      assert.equal(issuer.check(nonce, REALM, 'SHA-256', T0 + 1000), 'valid');
      assert.equal(issuer.check(nonce, 'other.example', 'SHA-256', T0), 'invalid');
      assert.equal(issuer.check(nonce, REALM, 'MD5', T0), 'invalid');
    });

    it('expire after their lifetime: stale, not invalid', () => {
      const nonce = issuer.issue(REALM, 'MD5', T0);
      assert.equal(issuer.lifetimeMs, 300_000);
      assert.equal(issuer.check(nonce, REALM, 'MD5', T0 + 300_000), 'valid');
      assert.equal(issuer.check(nonce, REALM, 'MD5', T0 + 301_000), 'stale');
      const short = new NonceIssuer({ secret: SECRET, lifetimeMs: 10_000 });
      assert.equal(short.check(short.issue(REALM, 'MD5', T0), REALM, 'MD5', T0 + 11_000), 'stale');
    });

    it('a nonce dated in the future (the clock was set back) is stale', () => {
      const nonce = issuer.issue(REALM, 'MD5', T0 + 3_600_000);
      assert.equal(issuer.check(nonce, REALM, 'MD5', T0), 'stale');
      assert.equal(issuer.check(nonce, REALM, 'MD5', T0 + 3_590_000), 'valid');
    });

    it('another server\'s (another secret) are invalid', () => {
      const other = new NonceIssuer();
      assert.equal(issuer.check(other.issue(REALM, 'MD5', T0), REALM, 'MD5', T0), 'invalid');
      assert.notEqual(other.opaque, issuer.opaque);
    });

    it('changing any one character makes a nonce invalid', () => {
      const nonce = issuer.issue(REALM, 'MD5', T0);
      for (let i = 0; i < nonce.length; i++) {
        const swapped = nonce[i] === 'A' ? 'B' : 'A';
        const tampered = `${nonce.slice(0, i)}${swapped}${nonce.slice(i + 1)}`;
        assert.equal(issuer.check(tampered, REALM, 'MD5', T0), 'invalid', `position ${i}`);
      }
    });

    it('garbage is invalid, without throwing', () => {
      const nonce = issuer.issue(REALM, 'MD5', T0);
      for (const bad of ['', 'abc', `${nonce}A`, nonce.slice(1), `${nonce.slice(0, -1)}=`, `${nonce.slice(0, -1)}+`, 'ž'.repeat(48), 'dcd98b7102dd2f0e8b11d0f600bfb0c093']) {
        assert.equal(issuer.check(bad, REALM, 'MD5', T0), 'invalid', JSON.stringify(bad));
      }
    });

    it('nonce counts: each must be above the last; a nonce used without qop is used up', () => {
      const nonce = issuer.issue(REALM, 'MD5', T0);
      assert.equal(issuer.recordUse(nonce, 1, T0), true);
      assert.equal(issuer.recordUse(nonce, 1, T0), false);
      assert.equal(issuer.recordUse(nonce, 3, T0), true);
      assert.equal(issuer.recordUse(nonce, 2, T0), false);
      assert.equal(issuer.recordUse(nonce, 0xffffffff, T0), true);
      const once = issuer.issue(REALM, 'MD5', T0);
      assert.equal(issuer.recordUse(once, undefined, T0), true);
      assert.equal(issuer.recordUse(once, undefined, T0), false);
      assert.equal(issuer.recordUse(once, 7, T0), false);
      assert.equal(issuer.recordUse(issuer.issue(REALM, 'MD5', T0), 0, T0), false);
    });

    it('the nonce-count map stays within its bound under 200,000 nonces, and evicted nonces cannot be replayed', function () {
      this.timeout(120_000);
      const big = new NonceIssuer({ secret: SECRET });
      assert.equal(big.maxTracked, 100_000);
      const first = big.issue(REALM, 'MD5', T0);
      assert.equal(big.recordUse(first, 1, T0), true);
      let last = first;
      for (let i = 1; i < 200_000; i++) {
        // Spread over 4 minutes, all alive: eviction, not expiry, must keep the bound.
        const now = T0 + Math.floor(i / 1000) * 1200;
        last = big.issue(REALM, 'MD5', now);
        assert.equal(big.recordUse(last, 1, now), true);
        if (big.tracked > big.maxTracked) assert.fail(`${big.tracked} tracked after ${i + 1} nonces`);
      }
      const now = T0 + 240_000;
      assert.equal(big.tracked, 100_000);
      // The first nonce is forgotten but not expired: it must not come back as valid with its count reset.
      assert.equal(big.check(first, REALM, 'MD5', now), 'stale');
      assert.equal(big.recordUse(first, 1, now), false);
      // The last is remembered: its replay is still refused.
      assert.equal(big.check(last, REALM, 'MD5', now), 'valid');
      assert.equal(big.recordUse(last, 1, now), false);
      assert.equal(big.recordUse(last, 2, now), true);
      // A fresh nonce is unaffected by the evictions.
      const fresh = big.issue(REALM, 'MD5', now + 1000);
      assert.equal(big.check(fresh, REALM, 'MD5', now + 1000), 'valid');
    });

    it('the least recently used nonce is forgotten first, also after one nonce was used 10,000 times', () => {
      const small = new NonceIssuer({ secret: SECRET, maxTracked: 3 });
      const [a, b, c, d] = Array.from({ length: 4 }, () => small.issue(REALM, 'MD5', T0));
      // Issued a second later: one issued no later than an evicted nonce counts as evicted too (class comment).
      const e = small.issue(REALM, 'MD5', T0 + 1000);
      for (const n of [a, b, c]) assert.equal(small.recordUse(n!, 1, T0), true);
      assert.equal(small.recordUse(a!, 2, T0), true); // a is now the most recent: b is the least
      assert.equal(small.recordUse(d!, 1, T0), true);
      assert.equal(small.tracked, 3);
      assert.equal(small.check(b!, REALM, 'MD5', T0), 'stale', 'b was the least recently used');
      assert.equal(small.recordUse(b!, 1, T0), false);
      assert.equal(small.check(a!, REALM, 'MD5', T0), 'valid');
      assert.equal(small.recordUse(a!, 2, T0), false, 'a kept its count');
      // Many uses of one nonce leave places behind in the use order; they must not make others forgotten early.
      for (let nc = 3; nc < 10_003; nc++) assert.equal(small.recordUse(a!, nc, T0), true);
      assert.equal(small.recordUse(c!, 2, T0), true);
      assert.equal(small.tracked, 3);
      assert.equal(small.recordUse(e, 1, T0 + 1000), true); // d is now the least recently used
      assert.equal(small.tracked, 3);
      assert.equal(small.check(d!, REALM, 'MD5', T0), 'stale');
      assert.equal(small.recordUse(c!, 3, T0), true);
      assert.equal(small.recordUse(a!, 10_002, T0), false, 'a is still tracked with its last count');
    });

    it('expired entries leave the map without an overflow', () => {
      const small = new NonceIssuer({ secret: SECRET, lifetimeMs: 10_000 });
      for (let i = 0; i < 50; i++) small.recordUse(small.issue(REALM, 'MD5', T0), 1, T0);
      assert.equal(small.tracked, 50);
      small.recordUse(small.issue(REALM, 'MD5', T0 + 20_000), 1, T0 + 20_000);
      assert.equal(small.tracked, 1);
    });

    it('refuses a short secret', () => {
      assert.throws(() => new NonceIssuer({ secret: Buffer.alloc(8) }), /at least 16 bytes/);
    });
  });

  describe('parsing credentials', () => {
    it('odd but valid: spaces around "=", tabs, empty elements, bare values, mixed-case names and scheme', () => {
      const c = credentials(
        'digest   UserName = "201" ,REALM="branch.example",\tnonce="abc" , , uri = "sip:branch.example" ,' +
        'Response="0123456789abcdef0123456789ABCDEF", ALGORITHM=md5,QOP=auth,NC=0000000a, cnonce=xyz, foo=bar',
      );
      assert.deepEqual(c, {
        username: '201', realm: 'branch.example', nonce: 'abc', uri: 'sip:branch.example', response: '0123456789abcdef0123456789ABCDEF',
        algorithm: 'md5', cnonce: 'xyz', opaque: undefined, qop: 'auth', nc: '0000000a',
      });
    });

    it('commas, equals signs and escaped quotes inside quoted strings', () => {
      const c = credentials('Digest username="a\\"b", realm="r, with comma", nonce="n=, x", uri="sip:201@branch.example;transport=tcp?subject=a,b", response="r"');
      assert.equal(c.username, 'a"b');
      assert.equal(c.realm, 'r, with comma');
      assert.equal(c.nonce, 'n=, x');
      assert.equal(c.uri, 'sip:201@branch.example;transport=tcp?subject=a,b');
    });

    it('a UTF-8 username as the codec gives it (Latin-1 form) comes back as Unicode', () => {
      const wire = Buffer.from('Digest username="Jürgen", realm="r", nonce="n", uri="sip:r", response="x"', 'utf8').toString('latin1');
      assert.equal(credentials(wire).username, 'Jürgen');
    });

    const garbage: Array<[string, string, RegExp]> = [
      ['empty', '', /no authentication scheme/],
      ['only the scheme', 'Digest', /missing username, realm, nonce, uri, response/],
      ['Basic', 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', /not Digest/],
      ['an unterminated quote', 'Digest username="201, realm=r', /unterminated/],
      ['a quote inside a quoted string', 'Digest username="2"0"1", realm="r", nonce="n", uri="u", response="x"', /bad quoted string/],
      ['a 10 kB value', `Digest username="${'a'.repeat(10_000)}", realm="r", nonce="n", uri="u", response="x"`, /longer than 4096/],
      ['a parameter twice', 'Digest username="201", realm="r", nonce="n", uri="u", response="x", response="y"', /given more than once/],
      ['a missing response', 'Digest username="201", realm="r", nonce="n", uri="u"', /missing response/],
      ['a parameter without a value', 'Digest username, realm="r"', /without a value/],
      ['an empty name', 'Digest ="x", realm="r"', /bad parameter name/],
      ['an unquoted value with a space', 'Digest username=20 1, realm="r", nonce="n", uri="u", response="x"', /bad value/],
      ['an empty unquoted value', 'Digest username=, realm="r", nonce="n", uri="u", response="x"', /bad value/],
      ['bytes that are not UTF-8', 'Digest username="\xff\xfe", realm="r", nonce="n", uri="u", response="x"', /not UTF-8/],
      ['characters above U+00FF', 'Digest username="☎", realm="r", nonce="n", uri="u", response="x"', /above U\+00FF/],
      ['no space after the scheme', 'Digestusername="201"', /no authentication scheme/],
    ];
    for (const [what, value, why] of garbage) {
      it(`refuses ${what} with a message`, () => {
        const r = parseCredentials(value);
        assert.equal(typeof r, 'string');
        assert.match(r as string, why);
      });
    }

    it('never throws, whatever it is given', () => {
      const alphabet = ['Digest ', 'digest ', '"', '\\', ',', '=', ' ', '\t', 'a', 'response', 'nonce', '<', '>', '\x00', '\xff', '\u2603', ';'];
      let seed = 12345;
      const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
      for (let i = 0; i < 5000; i++) {
        let s = '';
        const n = next() % 40;
        for (let j = 0; j < n; j++) s += alphabet[next() % alphabet.length];
        assert.doesNotThrow(() => parseCredentials(s), JSON.stringify(s));
        assert.doesNotThrow(() => parseChallenge(s), JSON.stringify(s));
        assert.doesNotThrow(() => redactAuthorization(s), JSON.stringify(s));
      }
    });

    it('reads the common form as the general reader does, whatever the variation', () => {
      // parseCredentials reads the form phones send in one pass and leaves the rest to the general reader: both
      // must agree on every input, accepted or refused.
      const rng = new Rng(777);
      const next = (n: number): number => rng.int(n);
      const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)]!;
      const names = ['username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'cnonce', 'opaque', 'qop', 'nc', 'USERNAME', 'Realm', 'foo', 'nonce'];
      const values = ['"201"', '201', '"outpost"', '"sip:10.0.0.1"', 'sip:10.0.0.1', '"a,b"', '"a\\"b"', '"é"', '"\xc3\xa9"', '00000001', 'auth', '"auth"', '""', '',
        '"a<b>"', '<a,b>', 'a"b', '"x" y', '"\x00"', 'MD5', '"\xa0"', 'a\\b', '"a\\\\b"', '"unterminated'];
      const gaps = ['', ' ', '\t', '  ', '\r\n ', '\xa0'];
      let accepted = 0;
      for (let i = 0; i < 20_000; i++) {
        const usual = next(2) === 0;
        let s = `${pick(['', ' ', '\t'])}${usual ? pick(['Digest', 'digest', 'DIGEST']) : pick(['Digest', 'Digestx', 'Basic'])}${pick([' ', '  ', '\t', usual ? ' ' : ''])}`;
        const required = ['username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'cnonce', 'opaque', 'qop', 'nc'];
        const count = next(8) === 0 ? next(12) : 5 + next(6);
        // Half the variants keep to the usual shapes, with now and then one odd part; the rest are anything.
        for (let k = 0; k < count; k++) {
          const odd = !usual || next(12) === 0;
          const name = (k < 5 || !odd) && next(12) > 0 ? required[k]! : pick(names);
          const value = !odd ? pick(['"v"', 'v1', '"a,b"', '"sip:10.0.0.1"', '00000001']) : pick(values);
          const gap = (): string => (odd ? pick(gaps) : pick(['', ' ']));
          s += `${k ? `${gap()}${odd ? pick([',', ',', ',', ',,', '']) : ','}${gap()}` : ''}${name}${odd ? pick(['', '', ' ']) : ''}=${odd ? pick(['', '', ' ']) : ''}${value}`;
        }
        s += pick(['', '', ',', ' ', ', ']);
        const general = parseCredentialsGeneral(s);
        assert.deepStrictEqual(parseCredentials(s), general, JSON.stringify(s));
        if (typeof general === 'object') accepted++;
      }
      assert.ok(accepted > 2_000, `only ${accepted} of the variants were valid credentials: the comparison would say little`);
    });

    it('the length limit is the documented one', () => {
      const head = 'Digest username="201", realm="r", nonce="n", uri="u", response="x", pad="';
      assert.equal(typeof parseCredentials(`${head}${'p'.repeat(MAX_CREDENTIALS_LENGTH - head.length - 1)}"`), 'object');
      assert.equal(typeof parseCredentials(`${head}${'p'.repeat(MAX_CREDENTIALS_LENGTH - head.length)}"`), 'string');
    });
  });

  describe('verifying', () => {
    const issuer = new NonceIssuer({ secret: SECRET });
    const line = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({ method: 'REGISTER', user: USER, password: PASSWORD, realm: REALM, issuer, now: T0, ...extra }) as VerifyOptions;
    const challengeFor = (algorithm: DigestAlgorithm, now = T0): string => challenge({ issuer, realm: REALM, algorithms: [algorithm], now })[0]!;

    function expectFailure(result: ReturnType<typeof verify>, reason: string, detail?: RegExp): void {
      assert.equal(result.ok, false, 'verified when it should not have');
      if (result.ok) return;
      assert.equal(result.reason, reason, result.detail);
      if (detail) assert.match(result.detail, detail);
      // Logged as is: it must never carry a secret or anything offline-crackable.
      assert.ok(!result.detail.includes(PASSWORD));
    }

    for (const algorithm of ALGORITHMS) {
      it(`a full round with ${algorithm}: challenge, client answer, verified`, () => {
        const value = answer(challengeFor(algorithm));
        assert.deepEqual(verify(credentials(value), line()), { ok: true, algorithm });
      });
    }

    it('with a cached HA1 per algorithm instead of the password', () => {
      const ha1 = { MD5: computeHA1('MD5', USER, REALM, PASSWORD), 'SHA-256': computeHA1('SHA-256', USER, REALM, PASSWORD) };
      const opts = { method: 'REGISTER', user: USER, realm: REALM, issuer, now: T0, ha1 };
      assert.equal(verify(credentials(answer(challengeFor('SHA-256'))), opts).ok, true);
      assert.equal(verify(credentials(answer(challengeFor('MD5'))), opts).ok, true);
      expectFailure(verify(credentials(answer(challengeFor('MD5'))), { ...opts, ha1: { 'SHA-256': ha1['SHA-256'] } }), 'algorithm');
      expectFailure(verify(credentials(answer(challengeFor('MD5'))), { ...opts, ha1: { MD5: computeHA1('MD5', USER, REALM, 'old password') } }), 'bad-response');
    });

    it('the method is covered: a REGISTER answer does not pass for an INVITE', () => {
      expectFailure(verify(credentials(answer(challengeFor('MD5'))), line({ method: 'INVITE' })), 'bad-response');
    });

    it('wrong password: bad-response, and the response is not in the detail', () => {
      const c = credentials(answer(challengeFor('SHA-256'), { password: 'guess' }));
      const r = verify(c, line());
      expectFailure(r, 'bad-response', /wrong password/);
      assert.ok(!r.ok && !r.detail.includes(c.response));
    });

    it('a nonce from another server (another secret): bad-nonce', () => {
      const other = new NonceIssuer();
      const value = answer(challenge({ issuer: other, realm: REALM, algorithms: ['MD5'], now: T0 })[0]!, { override: { opaque: undefined } });
      expectFailure(verify(credentials(value), line()), 'bad-nonce', /not issued here/);
    });

    it('a nonce changed by one character: bad-nonce', () => {
      const c = credentials(answer(challengeFor('MD5')));
      const tampered = { ...c, nonce: `${c.nonce.slice(0, 10)}${c.nonce[10] === 'x' ? 'y' : 'x'}${c.nonce.slice(11)}` };
      expectFailure(verify(tampered, line()), 'bad-nonce');
    });

    it('an expired nonce with the right password: stale (so the phone retries without prompting)', () => {
      const value = answer(challengeFor('SHA-256'));
      expectFailure(verify(credentials(value), line({ now: T0 + 301_000 })), 'stale');
    });

    it('an expired nonce with a wrong password: bad-response, not stale (RFC 2617 §3.2.1)', () => {
      const value = answer(challengeFor('SHA-256'), { password: 'guess' });
      expectFailure(verify(credentials(value), line({ now: T0 + 301_000 })), 'bad-response');
    });

    it('nonce counts: increasing ones pass, a replayed one is refused', () => {
      const ch = challengeFor('MD5');
      assert.equal(verify(credentials(answer(ch, { nc: 1 })), line()).ok, true);
      assert.equal(verify(credentials(answer(ch, { nc: 2, cnonce: 'second' })), line({ now: T0 + 1000 })).ok, true);
      expectFailure(verify(credentials(answer(ch, { nc: 2, cnonce: 'second' })), line({ now: T0 + 2000 })), 'bad-nonce', /not above/);
      expectFailure(verify(credentials(answer(ch, { nc: 1 })), line({ now: T0 + 2000 })), 'bad-nonce', /not above/);
      assert.equal(verify(credentials(answer(ch, { nc: 5 })), line({ now: T0 + 3000 })).ok, true);
    });

    it('a wrong answer does not burn the nonce counts of the phone that owns the nonce', () => {
      const ch = challengeFor('MD5');
      expectFailure(verify(credentials(answer(ch, { nc: 0x7fffffff, password: 'guess' })), line()), 'bad-response');
      assert.equal(verify(credentials(answer(ch, { nc: 1 })), line()).ok, true);
    });

    it('a username other than the line\'s fails, even with the password right for that name', () => {
      const value = answer(challengeFor('MD5'), { username: '202' });
      expectFailure(verify(credentials(value), line()), 'bad-response', /username/);
    });

    it('a realm other than ours: realm', () => {
      const value = answer(challengeFor('MD5'), { override: { realm: 'elsewhere.example' } });
      expectFailure(verify(credentials(value), line()), 'realm');
    });

    for (const algorithm of ['SHA-512-256', 'MD5-sess', 'SHA-256-sess', 'sha1']) {
      it(`algorithm ${algorithm}: refused`, () => {
        const value = answer(challengeFor('MD5'), { override: { algorithm } });
        expectFailure(verify(credentials(value), line()), 'algorithm', /not supported/);
      });
    }

    it('an algorithm the line does not allow: refused; algorithm names are case-insensitive', () => {
      expectFailure(verify(credentials(answer(challengeFor('SHA-256'))), line({ algorithms: ['MD5'] })), 'algorithm', /not accepted/);
      assert.equal(verify(credentials(answer(challengeFor('SHA-256'), { override: { algorithm: 'sha-256' } })), line()).ok, true);
    });

    it('no algorithm parameter means MD5', () => {
      const value = answer(challengeFor('MD5'), { override: { algorithm: undefined } });
      assert.deepEqual(verify(credentials(value), line()), { ok: true, algorithm: 'MD5' });
    });

    it('a nonce offered for SHA-256 answered as MD5: bad-nonce (no mixing)', () => {
      const sha = parsedChallenge(challengeFor('SHA-256'));
      const md5Challenge = challengeFor('MD5').replace(/nonce="[^"]+"/, `nonce="${sha.nonce}"`);
      expectFailure(verify(credentials(answer(md5Challenge)), line()), 'bad-nonce');
    });

    it('qop=auth-int: refused', () => {
      const c = parsedChallenge(challengeFor('MD5'));
      const response = computeResponse({ algorithm: 'MD5', method: 'REGISTER', uri: 'sip:branch.example', nonce: c.nonce, qop: 'auth-int', nc: '00000001', cnonce: 'x', username: USER, realm: REALM, password: PASSWORD });
      const value = authorization({ username: USER, realm: REALM, nonce: c.nonce, uri: 'sip:branch.example', response, algorithm: 'MD5', qop: 'auth-int', nc: '00000001', cnonce: 'x' });
      expectFailure(verify(credentials(value), line()), 'qop', /only auth/);
    });

    it('no qop (RFC 2069): accepted by default, once per nonce; refused when not allowed', () => {
      const ch = challengeFor('MD5');
      const value = answer(ch, { noQop: true });
      assert.doesNotMatch(value, /qop|nc=|cnonce/);
      expectFailure(verify(credentials(value), line({ allowNoQop: false })), 'qop', /without qop/);
      assert.deepEqual(verify(credentials(value), line()), { ok: true, algorithm: 'MD5' });
      expectFailure(verify(credentials(value), line()), 'bad-nonce', /already used/);
    });

    it('qop=auth without nc, with a bad nc, or without cnonce: malformed', () => {
      const ch = challengeFor('MD5');
      expectFailure(verify(credentials(answer(ch, { override: { nc: undefined } })), line()), 'malformed', /nc/);
      expectFailure(verify(credentials(answer(ch, { override: { nc: '1' } })), line()), 'malformed', /nc/);
      expectFailure(verify(credentials(answer(ch, { override: { nc: '0000000g' } })), line()), 'malformed', /nc/);
      expectFailure(verify(credentials(answer(ch, { override: { cnonce: undefined } })), line()), 'malformed', /cnonce/);
    });

    it('a response of the wrong length or not hex: malformed', () => {
      const ch = challengeFor('SHA-256');
      expectFailure(verify(credentials(answer(ch, { override: { response: '6629fae49393a05397450978507c4ef1' } })), line()), 'malformed', /64 hex digits/);
      expectFailure(verify(credentials(answer(ch, { override: { response: 'z'.repeat(64) } })), line()), 'malformed');
    });

    it('the response is compared without regard to hex case', () => {
      const value = answer(challengeFor('MD5'));
      const c = credentials(value);
      assert.equal(verify({ ...c, response: c.response.toUpperCase() }, line()).ok, true);
    });

    it('opaque: another one is refused, none at all is tolerated', () => {
      expectFailure(verify(credentials(answer(challengeFor('MD5'), { override: { opaque: 'someone-else' } })), line()), 'bad-nonce', /opaque/);
      assert.equal(verify(credentials(answer(challengeFor('MD5'), { override: { opaque: undefined } })), line()).ok, true);
    });

    it('a non-ASCII auth user and password, through the codec\'s Latin-1 form', () => {
      const unicodeLine = line({ user: 'Jürgen', password: 'heslo-žluťoučký' } as Partial<VerifyOptions>);
      const value = answer(challengeFor('SHA-256'), { username: 'Jürgen', password: 'heslo-žluťoučký' });
      const wire = Buffer.from(value, 'utf8').toString('latin1');
      assert.notEqual(wire, value);
      assert.equal(verify(credentials(wire), unicodeLine).ok, true);
    });
  });

  describe('redacting for logs', () => {
    const rfc = 'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", ' +
      'qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"';

    it('replaces response and cnonce, keeps the rest readable', () => {
      assert.equal(
        redactAuthorization(rfc),
        'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", ' +
        'qop=auth, nc=00000001, cnonce="…", response="…", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
      );
    });

    it('whatever the case or quoting of the names, and for every copy', () => {
      const out = redactAuthorization('digest RESPONSE=6629fae49393a05397450978507c4ef1, CNonce = "0a4f113b", response="second-copy"');
      assert.doesNotMatch(out, /6629fae4|0a4f113b|second-copy/);
      assert.match(out, /RESPONSE="…"/);
    });

    it('Basic (the password itself), broken and overlong values are reduced to the scheme', () => {
      assert.equal(redactAuthorization('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='), 'Basic …');
      assert.equal(redactAuthorization('Digest response="6629fae49393a05397450978507c4ef1'), 'Digest … (unparsable)');
      assert.doesNotMatch(redactAuthorization(`Digest response="6629fae4", x="${'a'.repeat(5000)}"`), /6629fae4/);
      assert.equal(redactAuthorization(''), '…');
    });
  });

  describe('the failure tarpit', () => {
    const SRC = '192.0.2.7';

    it('answers the first failures at once, then delays that double up to the cap', () => {
      const tarpit = new FailureTarpit();
      const delays: number[] = [];
      for (let i = 0; i < 12; i++) delays.push(tarpit.onFailure(SRC, T0 + i * 100).delayMs);
      assert.deepEqual(delays, [0, 0, 0, 0, 0, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
      assert.deepEqual(tarpit.snapshot(T0 + 1200), { sources: 1, delaying: 1, blocked: 0 });
    });

    it('blocks at the 30th failure, once, and unblocks after the block time', () => {
      const tarpit = new FailureTarpit();
      const verdicts = Array.from({ length: 30 }, (_, i) => tarpit.onFailure(SRC, T0 + i * 1000));
      assert.ok(verdicts.slice(0, 29).every((v) => !v.blocked && !v.firstBlock));
      assert.deepEqual(verdicts[29], { delayMs: 0, blocked: true, firstBlock: true });
      const blockedAt = T0 + 29_000;
      assert.equal(tarpit.isBlocked(SRC, blockedAt + 1), true);
      assert.deepEqual(tarpit.onFailure(SRC, blockedAt + 2), { delayMs: 0, blocked: true, firstBlock: false });
      assert.deepEqual(tarpit.snapshot(blockedAt + 3), { sources: 1, delaying: 0, blocked: 1 });
      assert.equal(tarpit.isBlocked(SRC, blockedAt + DEFAULT_TARPIT.blockMs - 1), true);
      assert.equal(tarpit.isBlocked(SRC, blockedAt + DEFAULT_TARPIT.blockMs), false);
      // The count starts again from nothing.
      assert.deepEqual(tarpit.onFailure(SRC, blockedAt + DEFAULT_TARPIT.blockMs + 1), { delayMs: 0, blocked: false, firstBlock: false });
      assert.equal(tarpit.isBlocked('198.51.100.1', blockedAt), false);
    });

    it('a success resets the source', () => {
      const tarpit = new FailureTarpit();
      for (let i = 0; i < 8; i++) tarpit.onFailure(SRC, T0 + i);
      assert.equal(tarpit.onFailure(SRC, T0 + 10).delayMs, 4000);
      tarpit.onSuccess(SRC);
      assert.equal(tarpit.onFailure(SRC, T0 + 20).delayMs, 0);
      assert.equal(tarpit.snapshot(T0 + 20).sources, 1);
    });

    it('a pause of the window forgives; failures closer together add up', () => {
      const tarpit = new FailureTarpit();
      for (let i = 0; i < 6; i++) tarpit.onFailure(SRC, T0 + i * 59_000);
      assert.equal(tarpit.onFailure(SRC, T0 + 6 * 59_000).delayMs, 1000);
      assert.equal(tarpit.onFailure(SRC, T0 + 6 * 59_000 + 60_001).delayMs, 0);
    });

    it('options are honoured', () => {
      const tarpit = new FailureTarpit({ freeFailures: 1, firstDelayMs: 100, maxDelayMs: 300, blockAfter: 5, blockMs: 1000 });
      const verdicts = Array.from({ length: 5 }, (_, i) => tarpit.onFailure(SRC, T0 + i));
      assert.deepEqual(verdicts.map((v) => v.delayMs), [0, 100, 200, 300, 0]);
      assert.equal(verdicts[4]!.firstBlock, true);
      assert.equal(tarpit.isBlocked(SRC, T0 + 1004), false);
    });

    it('with 5,000 sources blocked, a flood of 30,000 new ones keeps every block and the newest sources; only a table all blocked forgets a block, the oldest', () => {
      const tarpit = new FailureTarpit();
      let now = T0;
      const blocked = (s: number) => `10.1.${s >> 8}.${s & 255}`;
      for (let s = 0; s < 5000; s++) for (let i = 0; i < 30; i++) tarpit.onFailure(blocked(s), now++);
      for (let i = 0; i < 30_000; i++) tarpit.onFailure(`10.2.${(i >> 8) & 255}.${i & 255}.${i >> 16}`, now++);
      const snap = tarpit.snapshot(now);
      assert.equal(snap.sources, 10_000);
      assert.equal(snap.blocked, 5000, 'no block washed out');
      for (let s = 0; s < 5000; s += 499) assert.equal(tarpit.isBlocked(blocked(s), now), true);
      // The 5,000 newest flood sources are remembered: a sixth failure of the newest is delayed.
      const newest = `10.2.${(29_999 >> 8) & 255}.${29_999 & 255}.0`;
      for (let i = 0; i < 4; i++) assert.equal(tarpit.onFailure(newest, now++).delayMs, 0);
      assert.equal(tarpit.onFailure(newest, now++).delayMs, 500);
      // A small table: a source not blocked goes before any blocked one (d's failure is forgotten at once)...
      const small = new FailureTarpit({ maxSources: 3, blockAfter: 2 });
      for (const src of ['a', 'b', 'c', 'd']) for (let i = 0; i < 2; i++) small.onFailure(src, T0 + i);
      assert.deepEqual(['a', 'b', 'c', 'd'].map((src) => small.isBlocked(src, T0 + 10)), [true, true, true, false]);
      // ...and once every entry is blocked, the one blocked longest ago makes room.
      const full = new FailureTarpit({ maxSources: 3, blockAfter: 1 });
      for (const src of ['a', 'b', 'c', 'd']) full.onFailure(src, T0);
      assert.deepEqual(['a', 'b', 'c', 'd'].map((src) => full.isBlocked(src, T0 + 10)), [false, true, true, true]);
    });

    it('memory stays bounded with 20,000 sources, and a flood of new sources does not wash out a block', () => {
      const tarpit = new FailureTarpit();
      for (let i = 0; i < 30; i++) tarpit.onFailure(SRC, T0 + i);
      assert.equal(tarpit.isBlocked(SRC, T0 + 100), true);
      for (let i = 0; i < 20_000; i++) {
        tarpit.onFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0 + 100 + i);
        // snapshot() walks every entry, so the bound is checked every 500 sources, not after each one.
        if (i % 500 === 499 && tarpit.snapshot(T0 + 100 + i).sources > DEFAULT_TARPIT.maxSources) assert.fail(`more than ${DEFAULT_TARPIT.maxSources} sources after ${i + 1}`);
      }
      assert.equal(tarpit.snapshot(T0 + 30_000).sources, 10_000);
      assert.equal(tarpit.isBlocked(SRC, T0 + 30_000), true);
      // The newest source (i = 19,999) is remembered: its sixth failure is delayed. The oldest (i = 0) was
      // forgotten: five more failures, all within its window, are still free.
      const newest = '10.0.78.31';
      const oldest = '10.0.0.0';
      for (let i = 0; i < 4; i++) assert.equal(tarpit.onFailure(newest, T0 + 30_001 + i).delayMs, 0);
      assert.equal(tarpit.onFailure(newest, T0 + 30_010).delayMs, 500);
      for (let i = 0; i < 5; i++) assert.equal(tarpit.onFailure(oldest, T0 + 30_020 + i).delayMs, 0);
    });
  });
});
