/**
 * SIP and tel URIs (RFC 3261 §19.1, RFC 3966): parsed into parts, compared the way §19.1.4 says, printed
 * back. Pure: no I/O. Escapes (`%40`) stay as written in `user` (unescapeUser() decodes them); parameters are
 * decoded.
 */
import { isIPv6 } from 'node:net';

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel';
  /** The user part as written (still %-escaped); for tel: the number. */
  user: string | undefined;
  password: string | undefined;
  /** Host name, IPv4 address, or IPv6 reference with its brackets (`[2001:db8::1]`). Empty for tel:. */
  host: string;
  port: number | undefined;
  /**
   * URI parameters; names and values %-decoded once (RFC 3986: never recursively, so `v%2541` is `v%41`),
   * one character per octet; names lowercased, a parameter without a value maps to null.
   */
  /** Read-only (NO_PARAMS when there are none). */
  params: ReadonlyMap<string, string | null>;
  /** `?h=v&...` headers, as written. */
  headers: string | undefined;
}

export class UriError extends Error {}

/** A well-formed URI whose scheme this codec does not handle: a server answers 416 (RFC 3261 §8.2.2.1). */
export class UnsupportedSchemeError extends UriError {
  constructor(readonly scheme: string) {
    super(`unsupported URI scheme "${scheme}"`);
  }
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV6_REF = /^\[[0-9A-Fa-f:.]+\]$/;
/** user = 1*( unreserved / escaped / user-unreserved ); password likewise with its own set. */
const USER = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
const PASSWORD = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$/;
const PARAM_CHARS = /^(?:[A-Za-z0-9\-_.!~*'()[\]/:&+$]|%[0-9A-Fa-f]{2})+$/;
/** hname / hvalue = *( hnv-unreserved / unreserved / escaped ). */
const HEADER_CHARS = /^(?:[A-Za-z0-9\-_.!~*'()[\]/?:+$]|%[0-9A-Fa-f]{2})*$/;
/** RFC 3261 §25.1 reserved: escapes of these are not equivalent to the character itself (§19.1.4). */
const RESERVED = new Set([';', '/', '?', ':', '@', '&', '=', '+', '$', ',']);

function validHost(host: string): boolean {
  if (IPV4.test(host)) {
    // Each of the four octets (1-3 digits, as the pattern checked) at most 255.
    let octet = 0;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (c === 46) octet = 0;
      else if ((octet = octet * 10 + c - 48) > 255) return false;
    }
    return true;
  }
  if (IPV6_REF.test(host)) return isIPv6(host.slice(1, -1));
  return HOSTNAME.test(host) && host.length <= 253;
}

/** The scheme of `scheme:...` lowercased, or undefined when the text does not start with one. */
export function uriScheme(text: string): string | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const scheme = text.slice(0, colon);
  return SCHEME.test(scheme) ? scheme.toLowerCase() : undefined;
}

/**
 * sip:, sips: or tel: URI. Throws UnsupportedSchemeError for another well-formed scheme, UriError for anything
 * the grammar refuses.
 */
export function parseUri(text: string): SipUri {
  const scheme = uriScheme(text);
  if (scheme === undefined) throw new UriError(`no scheme in "${text}"`);
  const rest = text.slice(text.indexOf(':') + 1);
  if (scheme === 'tel') return parseTel(rest);
  if (scheme !== 'sip' && scheme !== 'sips') throw new UnsupportedSchemeError(scheme);
  // userinfo ends at the first '@': neither user nor password may hold one unescaped, while ';', '?' and '/'
  // may appear in the user part (user-unreserved, RFC 4475 §3.1.1.2).
  const at = rest.indexOf('@');
  let userinfo: string | undefined;
  let hostpart = rest;
  if (at >= 0) {
    userinfo = rest.slice(0, at);
    hostpart = rest.slice(at + 1);
  }
  const q = hostpart.indexOf('?');
  const main = q < 0 ? hostpart : hostpart.slice(0, q);
  const headers = q < 0 ? undefined : hostpart.slice(q + 1);
  if (headers !== undefined) checkHeaders(headers);
  const semi = main.indexOf(';');
  const hostport = semi < 0 ? main : main.slice(0, semi);
  const params = parseUriParams(semi < 0 ? undefined : main.slice(semi + 1));
  let user: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const pc = userinfo.indexOf(':');
    user = pc < 0 ? userinfo : userinfo.slice(0, pc);
    password = pc < 0 ? undefined : userinfo.slice(pc + 1);
    if (!USER.test(user)) throw new UriError(`bad user part "${user}"`);
    if (password !== undefined && !PASSWORD.test(password)) throw new UriError('bad password part');
  }
  const { host, port } = splitHostPort(hostport);
  return { scheme, user, password, host, port, params, headers };
}

function checkHeaders(text: string): void {
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || !HEADER_CHARS.test(pair.slice(0, eq)) || !HEADER_CHARS.test(pair.slice(eq + 1))) {
      throw new UriError(`bad URI header "${pair}"`);
    }
  }
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`. */
export function splitHostPort(text: string): { host: string; port: number | undefined } {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new UriError(`unclosed IPv6 reference in "${text}"`);
    host = text.slice(0, close + 1);
    const after = text.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) throw new UriError(`junk after the IPv6 reference in "${text}"`);
      portText = after.slice(1);
    }
  } else {
    const c = text.indexOf(':');
    if (c >= 0) {
      host = text.slice(0, c);
      portText = text.slice(c + 1);
    }
  }
  if (!host || !validHost(host)) throw new UriError(`bad host "${host}"`);
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UriError(`bad port "${portText}"`);
    port = Number(portText);
  }
  return { host: host.toLowerCase(), port };
}

/** A map that refuses every change: NO_PARAMS. */
class ReadonlyParams extends Map<string, string | null> {
  override set(key: string): this {
    throw new TypeError(`parameters of a parsed value are read-only (set ${key})`);
  }

  override delete(key: string): boolean {
    throw new TypeError(`parameters of a parsed value are read-only (delete ${key})`);
  }

  override clear(): void {
    throw new TypeError('parameters of a parsed value are read-only (clear)');
  }
}

/**
 * No parameters: the one map of every parsed URI and header value that has none (most have none, and a Map costs
 * some 400 bytes). Parsed parameters are read-only; copy them to change them.
 */
export const NO_PARAMS: ReadonlyMap<string, string | null> = new ReadonlyParams();

/** Decodes every `%HH` once, one character per octet. */
function percentDecode(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** `a;b=c` (the text after the first ';'); undefined: no parameters at all. */
function parseUriParams(text: string | undefined): ReadonlyMap<string, string | null> {
  if (text === undefined) return NO_PARAMS;
  const params = new Map<string, string | null>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? null : part.slice(eq + 1);
    if (!PARAM_CHARS.test(rawName) || (rawValue !== null && rawValue !== '' && !PARAM_CHARS.test(rawValue))) {
      throw new UriError(`bad URI parameter "${part}"`);
    }
    const name = percentDecode(rawName).toLowerCase();
    if (!params.has(name)) params.set(name, rawValue === null ? null : percentDecode(rawValue));
  }
  return params;
}

function parseTel(rest: string): SipUri {
  const semi = rest.indexOf(';');
  const number = semi < 0 ? rest : rest.slice(0, semi);
  if (!/^\+?[0-9A-Fa-f*#().\-]+$/.test(number) || !/[0-9A-Fa-f*#]/.test(number)) throw new UriError(`bad tel number "${number}"`);
  return { scheme: 'tel', user: number, password: undefined, host: '', port: undefined, params: parseUriParams(semi < 0 ? undefined : rest.slice(semi + 1)), headers: undefined };
}

export function unescapeUser(user: string): string {
  return percentDecode(user);
}

export function formatUri(uri: SipUri): string {
  if (uri.scheme === 'tel') return `tel:${uri.user ?? ''}${formatParams(uri.params)}`;
  const userinfo = uri.user !== undefined ? `${uri.user}${uri.password !== undefined ? `:${uri.password}` : ''}@` : '';
  return `${uri.scheme}:${userinfo}${uri.host}${uri.port !== undefined ? `:${uri.port}` : ''}${formatParams(uri.params)}${uri.headers !== undefined ? `?${uri.headers}` : ''}`;
}

/** Escapes what paramchar does not allow, so a decoded value prints back to something parseUri reads the same. */
function escapeParam(text: string): string {
  return text.replace(/[^A-Za-z0-9\-_.!~*'()[\]/:&+$]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${escapeParam(k)}` : `;${escapeParam(k)}=${escapeParam(v)}`;
  return out;
}

/** Escapes of unreserved characters decoded, the others with upper-case hex: equal texts are equivalent (§19.1.4). */
function normalizeEscapes(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => {
    const c = String.fromCharCode(parseInt(h, 16));
    return RESERVED.has(c) || c === '%' ? `%${h.toUpperCase()}` : c;
  });
}

/** `a=b&c=d` -> Map(lowercased name -> normalized value); headers compare whatever their order. */
function headerMap(text: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (text === undefined) return map;
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=');
    map.set(normalizeEscapes(eq < 0 ? pair : pair.slice(0, eq)).toLowerCase(), normalizeEscapes(eq < 0 ? '' : pair.slice(eq + 1)));
  }
  return map;
}

function sameParam(a: string | null | undefined, b: string | null | undefined): boolean {
  return (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
}

/**
 * RFC 3261 §19.1.4: user and password compare case-sensitively, an escape being equal to the unreserved
 * character it stands for; host case-insensitively; ports must both be given or both absent;
 * transport/user/ttl/method/maddr must match when either has them; other parameters must match when both
 * have them; headers are never ignored: both must have the same ones, in any order.
 * tel: (RFC 3966 §4): the numbers without visual separators, and every parameter, whatever the order.
 */
export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (a.scheme === 'tel') {
    const digits = (u: SipUri) => (u.user ?? '').replace(/[-.()]/g, '').toLowerCase();
    if (digits(a) !== digits(b) || a.params.size !== b.params.size) return false;
    for (const [key, va] of a.params) if (!b.params.has(key) || !sameParam(va, b.params.get(key))) return false;
    return true;
  }
  if ((a.user === undefined) !== (b.user === undefined)) return false;
  if (a.user !== undefined && normalizeEscapes(a.user) !== normalizeEscapes(b.user!)) return false;
  if ((a.password === undefined) !== (b.password === undefined)) return false;
  if (a.password !== undefined && normalizeEscapes(a.password) !== normalizeEscapes(b.password!)) return false;
  if (a.host !== b.host || a.port !== b.port) return false;
  for (const key of ['transport', 'user', 'ttl', 'method', 'maddr']) {
    if (a.params.has(key) !== b.params.has(key)) return false;
    if (a.params.has(key) && !sameParam(a.params.get(key), b.params.get(key))) return false;
  }
  for (const [key, va] of a.params) if (b.params.has(key) && !sameParam(va, b.params.get(key))) return false;
  const ha = headerMap(a.headers);
  const hb = headerMap(b.headers);
  if (ha.size !== hb.size) return false;
  for (const [key, va] of ha) if (hb.get(key) !== va) return false;
  return true;
}
