/**
 * SIP digest authentication (RFC 3261 §22.4 on RFC 2617; RFC 7616 and RFC 8760 for SHA-256): challenges,
 * credentials, verification, nonces bound to this server that expire, nonce-count replay protection, and the
 * failure tarpit. Pure: no sockets; every clock is handed in, in milliseconds like Date.now().
 *
 * Text: header values are taken and given in the message codec's form (Latin-1, one character per byte, see
 * message.ts). Everything hashed is Unicode text encoded as UTF-8 (RFC 7616 §4, charset=UTF-8), so what is read
 * from a header is decoded from UTF-8 first and what is written into one is encoded to it.
 */
import * as crypto from 'node:crypto';
import { createHash, createHmac, createSecretKey, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { HeaderError, isToken, quote, splitOutside, unquote } from './headers.js';
import { RecencyOrder } from './recency.js';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

/**
 * Every algorithm Outpost speaks, strongest first: RFC 7616 §3.7 has the server list its challenges in order of
 * preference and the client take the first it supports, so SHA-256 phones use SHA-256 and MD5-only phones
 * (Yealink T2x, Thomson ST20xx) skip to MD5.
 */
export const ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];

const HASH: Readonly<Record<DigestAlgorithm, { node: string; hexLength: number }>> = {
  MD5: { node: 'md5', hexLength: 32 },
  'SHA-256': { node: 'sha256', hexLength: 64 },
};

/**
 * Header values longer than this are refused unread. A genuine Authorization line is a few hundred bytes; the
 * limit keeps a hostile one from costing more than a bounded parse.
 */
export const MAX_CREDENTIALS_LENGTH = 4096;

/**
 * crypto.hash (Node.js 20.12 and later): one call and no Hash object, which the collector would have to finalise
 * (a registration hashes once or twice); createHash where it is missing.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string | Buffer, outputEncoding: 'hex') => string }).hash;

function hash(algorithm: DigestAlgorithm, text: string): string {
  const name = HASH[algorithm].node;
  return oneShotHash ? oneShotHash(name, text, 'hex') : createHash(name).update(text, 'utf8').digest('hex');
}

/**
 * The algorithm named in a challenge or credentials, or undefined for one Outpost does not speak. Absent means
 * MD5 (RFC 2617 §3.2.1). The -sess variants are refused on purpose: they exist so a third-party authentication
 * server can hand a per-session HA1 to a proxy; Outpost is its own authentication server, never offers them, and
 * a phone answers only with what it was offered.
 */
export function algorithmOf(text: string | undefined): DigestAlgorithm | undefined {
  if (text === undefined) return 'MD5';
  const upper = text.toUpperCase();
  return upper === 'MD5' || upper === 'SHA-256' ? upper : undefined;
}

/**
 * Compares in time independent of where the strings differ. Lengths are not secret where it is used (a response
 * has the algorithm's fixed length, checked before; a user name travels in clear in the same header).
 */
function safeEqual(a: string, b: string): boolean {
  // Lengths are public here (hex digests of a known algorithm; a user name the client sent itself); the contents
  // are compared without an early exit.
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Codec form (Latin-1) -> Unicode; undefined for bytes that are not UTF-8. */
function fromWire(text: string): string | undefined {
  if (!/[^\x00-\x7f]/.test(text)) return text;
  try {
    return UTF8.decode(Buffer.from(text, 'latin1'));
  } catch {
    return undefined;
  }
}

/** Unicode -> codec form (UTF-8 bytes as Latin-1 characters). */
function toWire(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/** A value from the network, shortened and quoted for an error message; never used for secrets. */
function shown(text: string): string {
  return JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}…` : text);
}

// ---------------------------------------------------------------------------------------------------------------
// Responses (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1)

/**
 * Recent HA2s (a phone uses one or two digest-uris): the same come back at every registration. Bounded, emptied
 * when full: a client that answers challenges with made-up uris can only cycle it (4,096 entries of at most 256
 * characters). HA1s are kept by their holder (the SIP service, per line and password), not here.
 */
const HA2_MEMO = { map: new Map<string, string>(), limit: 4_096 };

function memo(memoised: { map: Map<string, string>; limit: number }, key: string, compute: () => string): string {
  let value = memoised.map.get(key);
  if (value === undefined) {
    value = compute();
    if (memoised.map.size >= memoised.limit) memoised.map.clear();
    memoised.map.set(key, value);
  }
  return value;
}

/** HA1 = H(username:realm:password): what a registrar may cache per line and algorithm instead of the password. */
export function computeHA1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hash(algorithm, `${username}:${realm}:${password}`);
}

/** What a response covers besides HA1. Without qop it is the RFC 2069 form and nc, cnonce are not used. */
export type ResponseInput = {
  algorithm: DigestAlgorithm;
  method: string;
  /** The digest-uri, as the client wrote it in `uri=`. */
  uri: string;
  nonce: string;
} & ({ qop?: undefined } | { qop: string; nc: string; cnonce: string });

/**
 * response = H(HA1:nonce:nc:cnonce:qop:HA2) with qop, H(HA1:nonce:HA2) without (RFC 2069), HA2 = H(method:uri).
 * `qop`, `nc` are hashed as written (the client hashed what it wrote).
 */
export function computeResponseFromHA1(ha1: string, input: ResponseInput): string {
  const a2 = `${input.method}:${input.uri}`;
  const ha2 = input.uri.length <= 256 ? memo(HA2_MEMO, `${input.algorithm}\0${a2}`, () => hash(input.algorithm, a2)) : hash(input.algorithm, a2);
  const h1 = ha1.toLowerCase();
  if (input.qop === undefined) return hash(input.algorithm, `${h1}:${input.nonce}:${ha2}`);
  return hash(input.algorithm, `${h1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

export function computeResponse(input: ResponseInput & { username: string; realm: string; password: string }): string {
  return computeResponseFromHA1(computeHA1(input.algorithm, input.username, input.realm, input.password), input);
}

// ---------------------------------------------------------------------------------------------------------------
// Nonces

export type NonceStatus = 'valid' | 'stale' | 'invalid';

export interface NonceIssuerOptions {
  /** The key nonces are signed with; at least 16 bytes. Default: 32 random bytes, so a restart invalidates them. */
  secret?: Buffer;
  /** How long a nonce is accepted after it was issued. Default 300 s. */
  lifetimeMs?: number;
  /** At most this many nonces have their nonce-count remembered. Default 100,000. */
  maxTracked?: number;
}

const TIME_BYTES = 8;
const SALT_BYTES = 12;
const TAG_BYTES = 16;
const SIGNED_BYTES = TIME_BYTES + SALT_BYTES;
/** 36 bytes: a multiple of 3, so the base64url text has no padding bits and each nonce has exactly one spelling. */
const NONCE_BYTES = SIGNED_BYTES + TAG_BYTES;
const NONCE_TEXT = new RegExp(`^[A-Za-z0-9_-]{${(NONCE_BYTES / 3) * 4}}$`);
/** A nonce dated later than now by more than this means the clock was set back: 'stale', so the phone asks anew. */
const FUTURE_TOLERANCE_MS = 30_000;
/** Recorded for a nonce answered without qop: above any nc (8 hex digits), so the nonce cannot be used again. */
const USED_UP = 2 ** 32;

/**
 * HMAC-SHA256 (RFC 2104) under one key, as hex: with crypto.hash, two one-shot SHA-256 calls over reused buffers,
 * so a call leaves no Hmac object for the collector to finalise and no Buffer of its own (a registration takes two
 * nonce tags); createHmac where crypto.hash is missing.
 */
export class HmacSha256 {
  private readonly key: KeyObject;
  /** (key XOR ipad) then the data; grown when some data is longer. */
  private inner: Buffer;
  /** (key XOR opad) then the inner hash. */
  private readonly outer = Buffer.alloc(64 + 32);

  constructor(secret: Buffer) {
    this.key = createSecretKey(secret);
    const block = Buffer.alloc(64);
    (secret.length > 64 ? createHash('sha256').update(secret).digest() : secret).copy(block);
    this.inner = Buffer.alloc(64 + 128);
    for (let i = 0; i < 64; i++) {
      this.inner[i] = block[i]! ^ 0x36;
      this.outer[i] = block[i]! ^ 0x5c;
    }
  }

  hex(data: Buffer): string {
    if (!oneShotHash) return createHmac('sha256', this.key).update(data).digest('hex');
    if (64 + data.length > this.inner.length) {
      const grown = Buffer.alloc(64 + data.length);
      this.inner.copy(grown, 0, 0, 64);
      this.inner = grown;
    }
    data.copy(this.inner, 64);
    this.outer.write(oneShotHash('sha256', this.inner.subarray(0, 64 + data.length), 'hex'), 64, 'hex');
    return oneShotHash('sha256', this.outer, 'hex');
  }
}

/** The issue time (seconds) at the start of a nonce's bytes: 8 bytes, big-endian. */
function issueTime(bytes: Buffer): number {
  return bytes.readUInt32BE(0) * 2 ** 32 + bytes.readUInt32BE(4);
}

/**
 * Issues and checks nonces without keeping per-challenge state.
 *
 * A nonce is base64url(issued || salt || tag): issued = seconds since the epoch (8 bytes, big-endian), salt = 12
 * random bytes, tag = HMAC-SHA256(secret, 0x01 || issued || salt || length(realm) || realm || algorithm), first 16
 * bytes. The tag binds the nonce to this server (the secret), to the realm and to the algorithm it was offered
 * with; the timestamp makes it expire; the salt makes every challenge's nonce distinct, which the nonce-count
 * check needs (two phones challenged in the same second must not share a nonce, or the second one's nc=1 would be
 * a "replay" of the first's). Realm is length-prefixed so no realm/algorithm pair can be spelled as another.
 *
 * Nonce counts (RFC 7616 §3.4.5): the highest nc accepted per nonce is remembered, most recently used last, in a
 * map of at most `maxTracked` entries (default 100,000: measured at about 85 bytes an entry, so under 10 MB at
 * the worst). Entries whose nonce has expired are dropped as they reach the head of the map; when the map is full of
 * live entries the least recently used goes, and `evictedThrough` rises to its issue time: from then on an
 * untracked nonce issued no later than that is 'stale' rather than 'valid', so an evicted nonce can never be
 * replayed, it only costs its phone one more challenge. Only nonces whose response verified are recorded, so
 * filling the map takes the password. (A clock set back past `evictedThrough` makes fresh nonces stale until it
 * catches up; that needs an overflow and a backward step together.)
 */
export class NonceIssuer {
  readonly lifetimeMs: number;
  readonly maxTracked: number;
  /**
   * Sent in every challenge; a client must return it unchanged (RFC 7616 §3.3), so credentials carrying another
   * one answer somebody else's challenge. Derived from the secret so it stays the same for the issuer's life.
   */
  readonly opaque: string;
  private readonly secret: Buffer;
  private readonly mac: HmacSha256;
  /** The HMAC input of a tag per realm and algorithm, its signed bytes overwritten each time (see tag). */
  private readonly tagInputs = new Map<string, Buffer>();
  /** Nonce (canonical text) -> issue time (s), highest nc accepted and the number of its last use in `order`. */
  private readonly counts = new Map<string, { key: string; issued: number; nc: number; use: number }>();
  /** The nonces in order of last use, least recent first. */
  private readonly order = new RecencyOrder(this.counts);
  private evictedThrough = -1;
  /** Random bytes drawn 256 salts at a time: one call into the generator per salt costs more than the HMAC. */
  private readonly saltPool = Buffer.alloc(SALT_BYTES * 256);
  private saltOffset = this.saltPool.length;

  constructor(options: NonceIssuerOptions = {}) {
    this.secret = options.secret ?? randomBytes(32);
    if (this.secret.length < 16) throw new Error('NonceIssuer: the secret must be at least 16 bytes');
    this.mac = new HmacSha256(this.secret);
    this.lifetimeMs = options.lifetimeMs ?? 300_000;
    this.maxTracked = options.maxTracked ?? 100_000;
    this.opaque = createHmac('sha256', this.secret).update(Buffer.of(2)).update('opaque').digest().subarray(0, 15).toString('base64url');
  }

  /** A fresh nonce for a challenge in `realm` offering `algorithm`. */
  issue(realm: string, algorithm: DigestAlgorithm, now: number): string {
    // Every byte is written below: a slice of Node's pool, not a buffer of its own.
    const bytes = Buffer.allocUnsafe(NONCE_BYTES);
    const seconds = Math.max(0, Math.floor(now / 1000));
    bytes.writeUInt32BE(Math.floor(seconds / 2 ** 32), 0);
    bytes.writeUInt32BE(seconds % 2 ** 32, 4);
    this.salt().copy(bytes, TIME_BYTES);
    bytes.write(this.tag(bytes.subarray(0, SIGNED_BYTES), realm, algorithm), SIGNED_BYTES, TAG_BYTES, 'hex');
    return bytes.toString('base64url');
  }

  /**
   * 'valid': issued here for this realm and algorithm and not expired. 'stale': issued here but expired (or
   * forgotten by the nonce-count map, see the class comment): the phone should retry with a new nonce and the
   * same password (stale=true). 'invalid': forged, altered, another server's or another realm's or algorithm's, or
   * not a nonce at all. Stateless apart from the eviction floor; nonce counts are `recordUse`'s.
   */
  check(nonce: string, realm: string, algorithm: DigestAlgorithm, now: number): NonceStatus {
    const issued = this.verifiedIssueTime(nonce, realm, algorithm);
    if (issued === undefined) return 'invalid';
    const age = now - issued * 1000;
    if (age > this.lifetimeMs || age < -FUTURE_TOLERANCE_MS) return 'stale';
    if (issued <= this.evictedThrough && !this.counts.has(nonce)) return 'stale';
    return 'valid';
  }

  /**
   * Records that `nonce` was answered with nonce-count `nc` (undefined: without qop, RFC 2069), and says whether
   * that is new: false when nc is not above the highest seen for the nonce (a replay), or the nonce was already
   * answered without qop (such an answer has no count, so it may be used once; otherwise a captured INVITE could
   * be replayed for the nonce's whole lifetime). Call it only for a nonce `check` found 'valid', and only after the
   * response verified, so wrong answers cannot burn a phone's counts.
   */
  recordUse(nonce: string, nc: number | undefined, now: number): boolean {
    if (!NONCE_TEXT.test(nonce)) return false;
    const count = nc ?? USED_UP;
    if (!Number.isInteger(count) || count < 1 || count > USED_UP) return false;
    let entry = this.counts.get(nonce);
    if (entry) {
      if (count <= entry.nc) return false;
      entry.nc = count;
    } else {
      const bytes = Buffer.from(nonce, 'base64url');
      const issued = issueTime(bytes);
      if (issued <= this.evictedThrough) return false;
      // Keyed by a copy of the nonce (its bytes encoded again: NONCE_TEXT is canonical base64url, 36 bytes without
      // padding), a string of its own, not a slice keeping a whole received header alive.
      entry = { key: bytes.toString('base64url'), issued, nc: count, use: 0 };
      this.counts.set(entry.key, entry);
    }
    this.order.touch(entry.key, entry);
    this.evict(now);
    return true;
  }

  private salt(): Buffer {
    if (this.saltOffset >= this.saltPool.length) {
      randomFillSync(this.saltPool);
      this.saltOffset = 0;
    }
    this.saltOffset += SALT_BYTES;
    return this.saltPool.subarray(this.saltOffset - SALT_BYTES, this.saltOffset);
  }

  /** Nonces whose count is remembered (for metrics). */
  get tracked(): number {
    return this.counts.size;
  }

  private evict(now: number): void {
    for (let key = this.order.oldest(); key !== undefined; key = this.order.oldest()) {
      const entry = this.counts.get(key)!;
      const expired = now - entry.issued * 1000 > this.lifetimeMs;
      if (!expired && this.counts.size <= this.maxTracked) break;
      this.counts.delete(key);
      this.evictedThrough = Math.max(this.evictedThrough, entry.issued);
    }
    this.order.compact();
  }

  /** The nonce's issue time in seconds when its tag is right for this secret, realm and algorithm. */
  private verifiedIssueTime(nonce: string, realm: string, algorithm: DigestAlgorithm): number | undefined {
    if (!NONCE_TEXT.test(nonce)) return undefined;
    const bytes = Buffer.from(nonce, 'base64url');
    if (!safeEqual(this.tag(bytes.subarray(0, SIGNED_BYTES), realm, algorithm), bytes.toString('hex', SIGNED_BYTES))) return undefined;
    return issueTime(bytes);
  }

  /** The tag of a nonce's signed bytes, as hex (TAG_BYTES bytes). */
  private tag(signed: Buffer, realm: string, algorithm: DigestAlgorithm): string {
    // 0x01 || signed || length(realm) || realm || algorithm, in one buffer per realm and algorithm (one update).
    let input = this.tagInputs.get(`${algorithm} ${realm}`);
    if (!input) {
      const realmBytes = Buffer.from(realm, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(realmBytes.length);
      input = Buffer.concat([Buffer.of(1), Buffer.alloc(SIGNED_BYTES), length, realmBytes, Buffer.from(algorithm, 'latin1')]);
      if (this.tagInputs.size < 64) this.tagInputs.set(`${algorithm} ${realm}`, input);
    }
    signed.copy(input, 1);
    return this.mac.hex(input).slice(0, TAG_BYTES * 2);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Challenges

export interface ChallengeOptions {
  issuer: NonceIssuer;
  realm: string;
  /** What this line may use, in the order offered (clients take the first they support). */
  algorithms: readonly DigestAlgorithm[];
  /** The credentials answered an expired nonce with the right password (RFC 7616 §3.3). */
  stale?: boolean;
  now?: number;
}

/**
 * WWW-Authenticate (or Proxy-Authenticate) values, one per algorithm, strongest first, in codec form. Throws when
 * no algorithm is given: that is a configuration error, not something a request can cause.
 */
export function challenge(options: ChallengeOptions): string[] {
  const now = options.now ?? Date.now();
  // In the order given: the site decides (legacy phones read only the first challenge, so MD5 leads by default).
  let offered = OFFERED.get(options.algorithms);
  if (!offered) OFFERED.set(options.algorithms, (offered = [...new Set(options.algorithms)].filter((a) => ALGORITHMS.includes(a))));
  if (!offered.length) throw new Error('challenge: no digest algorithm to offer');
  const out: string[] = [];
  for (const algorithm of offered) {
    const nonce = options.issuer.issue(options.realm, algorithm, now);
    const around = challengeText(algorithm, options.stale ?? false, options.issuer.opaque, options.realm);
    out.push(around[0] + nonce + around[1]);
  }
  return out;
}

/** The algorithms a list offers, per list (a site's list is one array for as long as the site is loaded). */
const OFFERED = new WeakMap<readonly DigestAlgorithm[], DigestAlgorithm[]>();

/**
 * The text of a challenge before and after its nonce (everything but the nonce is the same for an algorithm,
 * staleness, opaque and realm; the nonce is ASCII), made once.
 */
function challengeText(algorithm: DigestAlgorithm, stale: boolean, opaque: string, realm: string): readonly [string, string] {
  const key = `${algorithm}\0${stale ? 1 : 0}\0${opaque}\0${realm}`;
  let around = CHALLENGE_TEXT.get(key);
  if (!around) {
    // Only ever stale=true: stale=false is the default and some old phones choke on the explicit form.
    const after = [`opaque="${opaque}"`, `algorithm=${algorithm}`, 'qop="auth"', ...(stale ? ['stale=true'] : [])];
    around = [toWire(`Digest realm=${quote(realm)}, nonce="`), toWire(`", ${after.join(', ')}`)];
    if (CHALLENGE_TEXT.size >= 64) CHALLENGE_TEXT.clear();
    CHALLENGE_TEXT.set(key, around);
  }
  return around;
}

const CHALLENGE_TEXT = new Map<string, [string, string]>();

// ---------------------------------------------------------------------------------------------------------------
// Parsing

const SCHEME = /^[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)(?:[ \t]+([\s\S]*))?$/;
const QUOTED = /^"(?:[^"\\]|\\[\s\S])*"$/;

/**
 * `Digest a=b, c="d, e"` -> Map (names lowercased, values unquoted and decoded from UTF-8), or what is wrong.
 * A parameter given twice is refused: which of two `response`s counts would be a parser's guess.
 */
function parseDigestParams(value: string): Map<string, string> | string {
  if (value.length > MAX_CREDENTIALS_LENGTH) return `longer than ${MAX_CREDENTIALS_LENGTH} characters`;
  if (/[^\x00-\xff]/.test(value)) return 'characters above U+00FF: not a header value as the codec gives it';
  const m = SCHEME.exec(value);
  if (!m) return 'no authentication scheme';
  if (m[1]!.toLowerCase() !== 'digest') return `scheme ${shown(m[1]!)} is not Digest`;
  let parts: string[];
  try {
    parts = splitOutside(m[2] ?? '', ',');
  } catch (err) {
    if (err instanceof HeaderError) return err.message;
    throw err;
  }
  const params = new Map<string, string>();
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) return `parameter ${shown(part)} without a value`;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (!isToken(name)) return `bad parameter name ${shown(name)}`;
    const text = part.slice(eq + 1).trim();
    let v: string;
    if (text.startsWith('"')) {
      if (!QUOTED.test(text)) return `bad quoted string in ${shown(name)}`;
      v = unquote(text);
    } else {
      if (!/^[^\s"]+$/.test(text)) return `bad value of ${shown(name)}`;
      v = text;
    }
    if (params.has(name)) return `${shown(name)} given more than once`;
    const decoded = fromWire(v);
    if (decoded === undefined) return `${shown(name)} is not UTF-8`;
    params.set(name, decoded);
  }
  return params;
}

/** An Authorization / Proxy-Authorization header's digest credentials, Unicode, as the client wrote them. */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  /** The digest-uri. */
  uri: string;
  response: string;
  /** As written; undefined means MD5. */
  algorithm: string | undefined;
  cnonce: string | undefined;
  opaque: string | undefined;
  qop: string | undefined;
  nc: string | undefined;
}

/**
 * Reads credentials from a header value in codec form; returns what is wrong as a string instead of throwing, for
 * any input. Only the syntax and the presence of the five required parameters are checked here; whether the
 * values make sense together is `verify`'s. Unknown parameters (auth-param extensions) are ignored.
 */
export function parseCredentials(value: string): DigestCredentials | string {
  return commonCredentials(value) ?? parseCredentialsGeneral(value);
}

/** The general reader behind parseCredentials, for every form the grammar allows (exported for its tests). */
export function parseCredentialsGeneral(value: string): DigestCredentials | string {
  const params = parseDigestParams(value);
  if (typeof params === 'string') return params;
  const missing = ['username', 'realm', 'nonce', 'uri', 'response'].filter((n) => !params.has(n));
  if (missing.length) return `missing ${missing.join(', ')}`;
  return {
    username: params.get('username')!,
    realm: params.get('realm')!,
    nonce: params.get('nonce')!,
    uri: params.get('uri')!,
    response: params.get('response')!,
    algorithm: params.get('algorithm'),
    cnonce: params.get('cnonce'),
    opaque: params.get('opaque'),
    qop: params.get('qop'),
    nc: params.get('nc'),
  };
}

/**
 * Credentials in the form phones send, read in one pass without splitting: `Digest` then `name=value` pairs
 * separated by commas, each name one of the ten parameters of DigestCredentials, values in quotes without
 * quoted-pairs or tokens, all ASCII, each at most once, the five required ones present. Anything else
 * (undefined) is left to parseCredentialsGeneral, which gives the same result for what this accepts (tested
 * against it).
 */
function commonCredentials(value: string): DigestCredentials | undefined {
  const n = value.length;
  if (n > MAX_CREDENTIALS_LENGTH) return undefined;
  let i = 0;
  while (i < n && isLws(value.charCodeAt(i))) i++;
  // "Digest", in any case, then linear white space.
  if (n - i < 8 || (value.charCodeAt(i) | 0x20) !== 100 || (value.charCodeAt(i + 1) | 0x20) !== 105 || (value.charCodeAt(i + 2) | 0x20) !== 103
    || (value.charCodeAt(i + 3) | 0x20) !== 101 || (value.charCodeAt(i + 4) | 0x20) !== 115 || (value.charCodeAt(i + 5) | 0x20) !== 116
    || !isLws(value.charCodeAt(i + 6))) return undefined;
  i += 7;
  let username: string | undefined;
  let realm: string | undefined;
  let nonce: string | undefined;
  let uri: string | undefined;
  let response: string | undefined;
  let algorithm: string | undefined;
  let cnonce: string | undefined;
  let opaque: string | undefined;
  let qop: string | undefined;
  let nc: string | undefined;
  for (;;) {
    while (i < n && isLws(value.charCodeAt(i))) i++;
    if (i === n) break;
    const nameAt = i;
    while (i < n && isTokenCode(value.charCodeAt(i))) i++;
    if (i === nameAt) return undefined;
    const name = value.slice(nameAt, i).toLowerCase();
    while (i < n && isLws(value.charCodeAt(i))) i++;
    if (value.charCodeAt(i) !== 61) return undefined; // =
    i++;
    while (i < n && isLws(value.charCodeAt(i))) i++;
    let v: string;
    if (value.charCodeAt(i) === 34) {
      const from = ++i;
      for (;;) {
        if (i === n) return undefined;
        const c = value.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 || c > 0x7e) return undefined; // a quoted-pair, or a byte that may be UTF-8
        i++;
      }
      v = value.slice(from, i++);
    } else {
      const from = i;
      for (;;) {
        const c = value.charCodeAt(i);
        // Printable ASCII but for the separators the general reader treats specially: " , < >
        if (!(c > 32 && c < 127) || c === 34 || c === 44 || c === 60 || c === 62) break;
        i++;
      }
      if (i === from) return undefined;
      v = value.slice(from, i);
    }
    while (i < n && isLws(value.charCodeAt(i))) i++;
    if (i < n) {
      if (value.charCodeAt(i) !== 44) return undefined; // ,
      i++;
    }
    switch (name) {
      case 'username': if (username !== undefined) return undefined; username = v; break;
      case 'realm': if (realm !== undefined) return undefined; realm = v; break;
      case 'nonce': if (nonce !== undefined) return undefined; nonce = v; break;
      case 'uri': if (uri !== undefined) return undefined; uri = v; break;
      case 'response': if (response !== undefined) return undefined; response = v; break;
      case 'algorithm': if (algorithm !== undefined) return undefined; algorithm = v; break;
      case 'cnonce': if (cnonce !== undefined) return undefined; cnonce = v; break;
      case 'opaque': if (opaque !== undefined) return undefined; opaque = v; break;
      case 'qop': if (qop !== undefined) return undefined; qop = v; break;
      case 'nc': if (nc !== undefined) return undefined; nc = v; break;
      default: return undefined;
    }
  }
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) return undefined;
  return { username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc };
}

/* Also in headers.ts and message.ts, on purpose: V8 did not inline imported ones into these loops (see message.ts). */
function isLws(c: number): boolean {
  return c === 32 || c === 9;
}

function isTokenCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 33 || c === 37 || c === 42 || c === 95 || c === 43 || c === 96 || c === 39 || c === 126;
}

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque: string | undefined;
  /** As written; undefined means MD5. */
  algorithm: string | undefined;
  /** The qop options offered; empty for an RFC 2069 challenge. */
  qop: string[];
  stale: boolean;
}

/** Reads a WWW-Authenticate / Proxy-Authenticate digest challenge (for tests and a future client); never throws. */
export function parseChallenge(value: string): DigestChallenge | string {
  const params = parseDigestParams(value);
  if (typeof params === 'string') return params;
  const missing = ['realm', 'nonce'].filter((n) => !params.has(n));
  if (missing.length) return `missing ${missing.join(', ')}`;
  return {
    realm: params.get('realm')!,
    nonce: params.get('nonce')!,
    opaque: params.get('opaque'),
    algorithm: params.get('algorithm'),
    qop: (params.get('qop') ?? '').split(',').map((q) => q.trim()).filter((q) => q !== ''),
    stale: params.get('stale')?.toLowerCase() === 'true',
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Verifying

export type VerifyFailure = 'stale' | 'bad-response' | 'bad-nonce' | 'realm' | 'algorithm' | 'qop' | 'malformed';

export type VerifyResult =
  | { ok: true; algorithm: DigestAlgorithm }
  /** `detail` is for logs: it never holds the password, HA1 or the response. */
  | { ok: false; reason: VerifyFailure; detail: string };

interface VerifyCommon {
  /** The request's method (HA2 covers it). */
  method: string;
  /** The line's auth user: the credentials' username must be exactly this. */
  user: string;
  /** This registrar's realm, the one the challenge named. */
  realm: string;
  issuer: NonceIssuer;
  now: number;
  /** What this line may use; default both. */
  algorithms?: readonly DigestAlgorithm[];
  /**
   * Accept credentials without qop (RFC 2069: response = H(HA1:nonce:HA2)), which old phones still send. Default
   * true: Outpost's job is to keep a branch's phones working. Such a nonce is good for one request (see
   * NonceIssuer.recordUse), so replays are refused all the same; what is lost is the client nonce against chosen-
   * plaintext attacks on the hash.
   */
  allowNoQop?: boolean;
}

/** Either the line's password, or its HA1 per algorithm (computeHA1 with the line's user and this realm). */
export type VerifyOptions = VerifyCommon & ({ password: string } | { ha1: Readonly<Partial<Record<DigestAlgorithm, string>>> });

/**
 * Checks credentials against a line. The order matters: what is cheap and says nothing about the password first;
 * the nonce before any hashing with the line's secret (forged nonces cost an HMAC, not a digest); 'stale' only once
 * the response proved the client knows the password (RFC 2617 §3.2.1), so a guess against an old nonce is a
 * 'bad-response' like any other; the nonce count last, after the response verified, so nobody without the
 * password can burn a phone's counts.
 *
 * The digest-uri is not compared with the Request-URI: SIP ALGs in branch routers rewrite Request-URIs, and the
 * response covers the uri the client hashed while nonce and nonce-count already stop replays.
 */
export function verify(creds: DigestCredentials, options: VerifyOptions): VerifyResult {
  const fail = (reason: VerifyFailure, detail: string): VerifyResult => ({ ok: false, reason, detail });
  if (creds.realm !== options.realm) return fail('realm', `realm ${shown(creds.realm)} is not this registrar's`);
  const algorithm = algorithmOf(creds.algorithm);
  if (!algorithm) return fail('algorithm', `algorithm ${shown(creds.algorithm ?? '')} is not supported`);
  const ha1Given = 'ha1' in options ? options.ha1[algorithm] : undefined;
  if (!(options.algorithms ?? ALGORITHMS).includes(algorithm) || ('ha1' in options && ha1Given === undefined)) {
    return fail('algorithm', `${algorithm} is not accepted for this line`);
  }

  let nc: number | undefined;
  let qopPart: { qop?: undefined } | { qop: string; nc: string; cnonce: string };
  if (creds.qop === undefined) {
    if (!(options.allowNoQop ?? true)) return fail('qop', 'credentials without qop (RFC 2069) are not accepted');
    qopPart = {};
  } else {
    if (creds.qop.toLowerCase() !== 'auth') return fail('qop', `qop ${shown(creds.qop)} is not supported (only auth)`);
    if (creds.nc === undefined || !/^[0-9A-Fa-f]{8}$/.test(creds.nc)) return fail('malformed', 'qop=auth needs nc, 8 hex digits');
    if (!creds.cnonce) return fail('malformed', 'qop=auth needs a cnonce');
    nc = parseInt(creds.nc, 16);
    qopPart = { qop: creds.qop, nc: creds.nc, cnonce: creds.cnonce };
  }
  const hexLength = HASH[algorithm].hexLength;
  if (creds.response.length !== hexLength || !/^[0-9A-Fa-f]+$/.test(creds.response)) return fail('malformed', `response is not ${hexLength} hex digits`);

  if (creds.opaque !== undefined && creds.opaque !== options.issuer.opaque) return fail('bad-nonce', 'opaque is not this registrar\'s');
  const status = options.issuer.check(creds.nonce, options.realm, algorithm, options.now);
  if (status === 'invalid') return fail('bad-nonce', `nonce not issued here for this realm and ${algorithm}`);

  // HA1 with the line's user, not the one claimed: both must hold, and both are computed before either decides.
  const ha1 = 'ha1' in options ? ha1Given! : computeHA1(algorithm, options.user, options.realm, options.password);
  const expected = computeResponseFromHA1(ha1, { algorithm, method: options.method, uri: creds.uri, nonce: creds.nonce, ...qopPart });
  const responseOk = safeEqual(expected, creds.response.toLowerCase());
  const userOk = safeEqual(creds.username, options.user);
  if (!userOk) return fail('bad-response', 'username is not the line\'s auth user');
  if (!responseOk) return fail('bad-response', 'response does not match (wrong password?)');
  if (status === 'stale') return fail('stale', 'nonce expired; the response was right, so a new challenge with stale=true');
  if (!options.issuer.recordUse(creds.nonce, nc, options.now)) {
    return fail('bad-nonce', nc === undefined ? 'nonce already used (a nonce answered without qop is good once)' : `nonce count ${creds.nc} not above the last one seen`);
  }
  return { ok: true, algorithm };
}

// ---------------------------------------------------------------------------------------------------------------
// Logging

const REDACTED = new Set(['response', 'cnonce']);

/**
 * The header value with `response` and `cnonce` replaced by "…", for logs: a response and its cnonce let anyone
 * who reads the log try passwords offline. Other schemes (Basic carries the password itself), overlong values and
 * values too broken to split are reduced to the scheme name. Never throws.
 */
export function redactAuthorization(value: string): string {
  const m = SCHEME.exec(value);
  if (!m) return '…';
  const scheme = m[1]!;
  if (scheme.toLowerCase() !== 'digest') return `${scheme} …`;
  if (value.length > MAX_CREDENTIALS_LENGTH) return `${scheme} … (${value.length} characters)`;
  let parts: string[];
  try {
    parts = splitOutside(m[2] ?? '', ',');
  } catch (err) {
    if (err instanceof HeaderError) return `${scheme} … (unparsable)`;
    throw err;
  }
  const shownParts = parts.map((p) => p.trim()).filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    return eq >= 0 && REDACTED.has(p.slice(0, eq).trim().toLowerCase()) ? `${p.slice(0, eq).trim()}="…"` : p;
  });
  return `${scheme} ${shownParts.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Tarpit

export interface TarpitOptions {
  /** Failures answered at once; the window restarts with each failure, so a pause of `windowMs` forgives. */
  freeFailures: number;
  windowMs: number;
  /** The first delayed failure waits this long, each further one twice as long, up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** The failure that makes this many (without a pause of `windowMs`) blocks the source for `blockMs`. */
  blockAfter: number;
  blockMs: number;
  /** At most this many sources are tracked. */
  maxSources: number;
}

export const DEFAULT_TARPIT: TarpitOptions = {
  freeFailures: 5,
  windowMs: 60_000,
  firstDelayMs: 500,
  maxDelayMs: 8_000,
  blockAfter: 30,
  blockMs: 300_000,
  maxSources: 10_000,
};

export interface TarpitVerdict {
  /** Answer this failure only after this long (0: at once). */
  delayMs: number;
  /** Drop this request and the source's next ones. */
  blocked: boolean;
  /** This failure is the one that blocked the source: log it, once. */
  firstBlock: boolean;
}

export interface TarpitSnapshot {
  /** Sources with failures on record. */
  sources: number;
  /** Sources whose next failure will be answered late. */
  delaying: number;
  blocked: number;
}

/**
 * Slows, then blocks, a source that keeps failing authentication. Pure: it says how long to wait and what to drop;
 * the server waits and drops. Key it by address without the port (a guesser changes ports for free) — which also
 * means phones behind one NAT share a fate, harmless on a branch LAN where each phone has its own address.
 *
 * Memory: at most `maxSources` entries of three numbers. When full, the least recently failing source that is not
 * blocked is forgotten, a blocked one only if every entry is blocked: otherwise a flood of (spoofable, on UDP)
 * source addresses could wash a blocked guesser out of the table.
 */
export class FailureTarpit {
  readonly options: TarpitOptions;
  /** blockedUntil 0: not blocked. */
  private readonly sources = new Map<string, { failures: number; last: number; blockedUntil: number; use: number }>();
  /** The sources, least recently failing first. */
  private readonly order = new RecencyOrder(this.sources);

  constructor(options: Partial<TarpitOptions> = {}) {
    this.options = { ...DEFAULT_TARPIT, ...options };
  }

  onFailure(source: string, now: number): TarpitVerdict {
    const o = this.options;
    const prior = this.sources.get(source);
    // A blocked source is not counted further (its requests are dropped anyway), nor is its block lengthened:
    // it ends when it said it would.
    if (prior && prior.blockedUntil > now) return { delayMs: 0, blocked: true, firstBlock: false };
    const continuing = prior !== undefined && prior.blockedUntil === 0 && now - prior.last <= o.windowMs;
    const failures = continuing ? prior.failures + 1 : 1;
    const entry = { failures, last: now, blockedUntil: failures >= o.blockAfter ? now + o.blockMs : 0, use: 0 };
    this.sources.set(source, entry);
    this.order.touch(source, entry);
    this.evict(now);
    if (entry.blockedUntil) return { delayMs: 0, blocked: true, firstBlock: true };
    return { delayMs: this.delayFor(failures), blocked: false, firstBlock: false };
  }

  isBlocked(source: string, now: number): boolean {
    const entry = this.sources.get(source);
    if (!entry?.blockedUntil) return false;
    if (entry.blockedUntil > now) return true;
    // The block is over; the count starts again from nothing.
    this.sources.delete(source);
    return false;
  }

  /** The source authenticated: whatever it failed before was a phone being set up, not a guesser. */
  onSuccess(source: string): void {
    this.sources.delete(source);
  }

  snapshot(now: number): TarpitSnapshot {
    let delaying = 0;
    let blocked = 0;
    for (const e of this.sources.values()) {
      if (e.blockedUntil > now) blocked++;
      else if (!e.blockedUntil && now - e.last <= this.options.windowMs && e.failures >= this.options.freeFailures) delaying++;
    }
    return { sources: this.sources.size, delaying, blocked };
  }

  private delayFor(failures: number): number {
    const over = failures - this.options.freeFailures;
    if (over <= 0) return 0;
    return Math.min(this.options.maxDelayMs, this.options.firstDelayMs * 2 ** (over - 1));
  }

  private evict(now: number): void {
    // The least recently failing source goes, unless it is blocked: a blocked one is passed over (put back as if
    // it had just failed) until every entry has been, and only then is the oldest blocked one forgotten.
    let passedOver = 0;
    while (this.sources.size > this.options.maxSources) {
      const key = this.order.oldest()!;
      const entry = this.sources.get(key)!;
      if (entry.blockedUntil > now && passedOver < this.sources.size) {
        passedOver++;
        this.order.touch(key, entry);
      } else this.sources.delete(key);
    }
    this.order.compact();
  }
}
