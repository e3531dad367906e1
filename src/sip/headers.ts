/**
 * Header field values (RFC 3261 §20, §25): comma lists, parameters, quoted strings, name-addr / addr-spec,
 * Via, CSeq. Pure functions over the unfolded value text; they throw HeaderError on what the grammar refuses.
 */
import { NO_PARAMS, parseUri, splitHostPort, uriScheme, type SipUri } from './uri.js';

export { NO_PARAMS };

export class HeaderError extends Error {}

/** Long names of the compact forms (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 4028, RFC 3841, RFC 3892). */
export const COMPACT: Readonly<Record<string, string>> = {
  i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type', f: 'From', s: 'Subject',
  k: 'Supported', t: 'To', v: 'Via', o: 'Event', u: 'Allow-Events', r: 'Refer-To', b: 'Referred-By', x: 'Session-Expires',
  a: 'Accept-Contact', j: 'Reject-Contact', d: 'Request-Disposition', y: 'Identity', n: 'Identity-Info',
};

const CANONICAL = new Map(
  [
    'Accept', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events', 'Authentication-Info', 'Authorization',
    'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition', 'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type',
    'CSeq', 'Date', 'Error-Info', 'Event', 'Expires', 'From', 'In-Reply-To', 'Max-Forwards', 'Min-Expires', 'MIME-Version',
    'Organization', 'Path', 'Priority', 'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Record-Route',
    'Refer-To', 'Referred-By', 'Reply-To', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server', 'Service-Route', 'Session-Expires',
    'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To', 'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
  ].map((n) => [n.toLowerCase(), n]),
);

/** The name as this codec writes it: long form, canonical case for known headers, as received for others. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length === 1 && COMPACT[lower]) return COMPACT[lower]!;
  return CANONICAL.get(lower) ?? name;
}

/** Headers whose value is a comma-separated list (RFC 3261 §7.3.1): several values may share one header line. */
export const LIST_HEADERS = new Set(
  ['via', 'contact', 'route', 'record-route', 'path', 'service-route', 'allow', 'supported', 'require', 'proxy-require', 'unsupported',
    'accept', 'accept-encoding', 'accept-language', 'content-encoding', 'content-language', 'allow-events', 'in-reply-to', 'warning',
    'alert-info', 'call-info', 'error-info'],
);

/** Strips SIP linear white space (SP, HTAB) from both ends; unlike String#trim it keeps octet 0xA0 (NBSP in Latin-1), a UTF-8 continuation byte. */
export function trimLws(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && (text.charCodeAt(a) === 32 || text.charCodeAt(a) === 9)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 32 || text.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === text.length ? text : text.slice(a, b);
}

/** Splits at `sep` outside quoted strings and angle brackets. */
export function splitOutside(text: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let angle = 0;
  let start = 0;
  const separator = sep.charCodeAt(0);
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (quoted) {
      if (ch === 92) i++; // backslash: a quoted-pair
      else if (ch === 34) quoted = false;
    } else if (ch === 34) quoted = true;
    else if (ch === 60) angle++; // <
    else if (ch === 62) angle = Math.max(0, angle - 1); // >
    else if (ch === separator && angle === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) throw new HeaderError('unterminated quoted string');
  out.push(text.slice(start));
  return out;
}

/** The elements of a list header value, trimmed, empty ones dropped (RFC 3261 allows `a, , b` leniently). */
export function listValues(value: string): string[] {
  return splitOutside(value, ',').map(trimLws).filter((v) => v !== '');
}

/**
 * The content of one quoted-string (RFC 3261 §25.1: `"` *(qdtext / quoted-pair) `"`), quoted-pairs resolved;
 * text not starting with `"` comes back trimmed. Throws for an unterminated string, a bare `"` inside, text
 * after the closing quote, or a quoted-pair of CR or LF.
 */
export function unquote(text: string): string {
  const t = trimLws(text);
  if (!t.startsWith('"')) return t;
  // The usual case, no quoted-pair: the text between the quotes, if the only other quote closes it at the end.
  if (t.length >= 2 && !t.includes('\\') && t.indexOf('"', 1) === t.length - 1) return t.slice(1, -1);
  let out = '';
  for (let i = 1; i < t.length; i++) {
    const ch = t[i]!;
    if (ch === '\\') {
      const next = t[i + 1];
      if (next === undefined || next === '\r' || next === '\n') throw new HeaderError(`bad quoted-pair in ${t}`);
      out += next;
      i++;
    } else if (ch === '"') {
      if (i !== t.length - 1) throw new HeaderError(`text after the quoted string ${t}`);
      return out;
    } else out += ch;
  }
  throw new HeaderError(`unterminated quoted string ${t}`);
}

export function quote(text: string): string {
  return `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/**
 * `;a=b;c;d="e f"` -> Map (keys lowercased, quoted values unquoted, a bare name -> null). An empty parameter
 * (`;;`, a trailing `;`) is an error (RFC 4475 §3.1.2.1); so is text before the first `;`. The map is read-only
 * (NO_PARAMS when there are none): copy it to change it.
 */
export function parseParams(text: string): ReadonlyMap<string, string | null> {
  if (text === '') return NO_PARAMS;
  return commonParams(text) ?? parseParamsGeneral(text);
}

/**
 * Parameters as phones write them, read in one pass: `;name=value;name` with token names and values of printable
 * ASCII without white space, quotes, commas or angle brackets. Undefined for anything else, which the general
 * reader takes (the two agree on what this one accepts: tested).
 */
function commonParams(text: string): Map<string, string | null> | undefined {
  const n = text.length;
  if (text.charCodeAt(0) !== 59) return undefined; // ;
  const params = new Map<string, string | null>();
  for (let i = 1; ; ) {
    const nameAt = i;
    while (i < n && isTokenCode(text.charCodeAt(i))) i++;
    if (i === nameAt) return undefined;
    const name = text.slice(nameAt, i).toLowerCase();
    let value: string | null = null;
    if (i < n && text.charCodeAt(i) === 61) {
      const valueAt = ++i;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === 59) break;
        if (c <= 32 || c >= 127 || c === 34 || c === 44 || c === 60 || c === 62) return undefined;
      }
      value = text.slice(valueAt, i);
    }
    if (!params.has(name)) params.set(name, value);
    if (i === n) return params;
    if (text.charCodeAt(i) !== 59 || ++i === n) return undefined;
  }
}

/** SP or HTAB: linear white space within a line (message.ts and digest.ts keep their own: see message.ts). */
function isLws(c: number): boolean {
  return c === 32 || c === 9;
}

/** token characters (RFC 3261 §25.1): alphanumerics and - . ! % * _ + ` ' ~ */
function isTokenCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 33 || c === 37 || c === 42 || c === 95 || c === 43 || c === 96 || c === 39 || c === 126;
}

/** parseParams for every form the grammar allows (exported for its tests). */
export function parseParamsGeneral(text: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  const parts = splitOutside(text, ';');
  if (trimLws(parts[0]!) !== '') throw new HeaderError(`junk before the parameters: "${parts[0]}"`);
  for (const raw of parts.slice(1)) {
    const part = trimLws(raw);
    if (part === '') throw new HeaderError('empty parameter');
    const eq = part.indexOf('=');
    const name = trimLws(eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    if (!isToken(name)) throw new HeaderError(`bad parameter name "${name}"`);
    const value = eq < 0 ? null : trimLws(part.slice(eq + 1));
    if (value !== null && value !== '' && !value.startsWith('"') && !/^[^ \t"]+$/.test(value)) throw new HeaderError(`bad value of parameter ${name}`);
    if (!params.has(name)) params.set(name, value === null ? null : unquote(value));
  }
  return params;
}

export function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${isToken(v) || /^[\w.:[\]-]+$/.test(v) ? v : quote(v)}`;
  return out;
}

export interface NameAddr {
  displayName: string | undefined;
  /** The URI as written. */
  uriText: string;
  /** For `*`: a placeholder whose host is `*`; check `star` first. */
  uri: SipUri;
  /** Header parameters (tag, expires, q, ...). */
  params: ReadonlyMap<string, string | null>;
  /** `*` in a Contact header. */
  star?: boolean;
}

/** A name-addr or addr-spec whose URI may have any scheme (From/To may carry http:, isbn:, ... RFC 4475 §3.3.4). */
export interface Address {
  displayName: string | undefined;
  uriText: string;
  /** Lowercased. */
  scheme: string;
  /** Parsed for sip:, sips:, tel:; undefined for other schemes. */
  uri: SipUri | undefined;
  params: ReadonlyMap<string, string | null>;
}

interface AddressParts {
  displayName: string | undefined;
  uriText: string;
  params: ReadonlyMap<string, string | null>;
  star: boolean;
}

/**
 * The grammar of RFC 3261 §20.10 / §25.1: `"Jan" <uri>;p`, `Jan <uri>;p`, `<uri>;p`, or the addr-spec `uri;p`
 * whose parameters are the header's. No LWS inside the angle brackets (RFC 4475 §3.1.2.14); an unquoted display
 * name is tokens (§3.1.2.15); an addr-spec holding `,` `?` or `;`-parameters of its own needs the brackets
 * (§3.1.2.13).
 */
function splitAddress(value: string): AddressParts {
  const v = trimLws(value);
  if (v === '*') return { displayName: undefined, uriText: '*', params: NO_PARAMS, star: true };
  const lt = findOutsideQuotes(v, '<');
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) throw new HeaderError('"<" without ">"');
    const display = trimLws(v.slice(0, lt));
    let displayName: string | undefined;
    if (display.startsWith('"')) displayName = unquote(display);
    else if (display !== '') {
      // Tokens, leniently with bytes above 0x7f: phones send unquoted UTF-8 names (`Jan Dvořák <sip:...>`).
      if (!display.split(/[ \t]+/).every((w) => isToken(w.replace(/[\x80-\xff]/g, 'x')))) throw new HeaderError(`bad display name "${display}"`);
      displayName = display.replace(/[ \t]+/g, ' ');
    }
    const uriText = v.slice(lt + 1, gt);
    if (uriText !== trimLws(uriText) || uriText === '') throw new HeaderError(`white space inside <>: "<${uriText}>"`);
    const rest = trimLws(v.slice(gt + 1));
    if (rest !== '' && !rest.startsWith(';')) throw new HeaderError(`junk after ">": "${rest}"`);
    return { displayName, uriText, params: parseParams(rest), star: false };
  }
  if (v.startsWith('"')) throw new HeaderError('a display name needs <uri>');
  const semi = v.indexOf(';');
  const uriText = trimLws(semi < 0 ? v : v.slice(0, semi));
  if (uriText === '' || /[ \t,?"<>]/.test(uriText)) throw new HeaderError(`an addr-spec with "," "?" or spaces must be in <>: "${uriText}"`);
  return { displayName: undefined, uriText, params: parseParams(semi < 0 ? '' : v.slice(semi)), star: false };
}

/**
 * `"Jan" <sip:111@b>;tag=x`, `Jan <sip:111@b>`, `<sip:111@b>`, or the addr-spec form `sip:111@b;tag=x`, where
 * the parameters after the URI are the header's (RFC 3261 §20.10); `*` (Contact) gives `star`. The URI must be
 * sip:, sips: or tel: (others: HeaderError; parseAddress takes any scheme).
 */
export function parseNameAddr(value: string): NameAddr {
  const parts = splitAddress(value);
  if (parts.star) {
    const uri: SipUri = { scheme: 'sip', user: undefined, password: undefined, host: '*', port: undefined, params: NO_PARAMS, headers: undefined };
    return { displayName: undefined, uriText: '*', uri, params: parts.params, star: true };
  }
  return { displayName: parts.displayName, uriText: parts.uriText, uri: parseUriOrThrow(parts.uriText), params: parts.params };
}

/** Like parseNameAddr, for any URI scheme (absoluteURI); `*` is refused. */
export function parseAddress(value: string): Address {
  const parts = splitAddress(value);
  if (parts.star) throw new HeaderError('"*" is not an address');
  const scheme = uriScheme(parts.uriText);
  if (scheme === undefined || !/^[^ \t<>"]+$/.test(parts.uriText.slice(scheme.length + 1))) throw new HeaderError(`bad URI "${parts.uriText}"`);
  const known = scheme === 'sip' || scheme === 'sips' || scheme === 'tel';
  return { displayName: parts.displayName, uriText: parts.uriText, scheme, uri: known ? parseUriOrThrow(parts.uriText) : undefined, params: parts.params };
}

function parseUriOrThrow(text: string): SipUri {
  try {
    return parseUri(text);
  } catch (err) {
    throw new HeaderError((err as Error).message);
  }
}

function findOutsideQuotes(text: string, ch: string): number {
  const wanted = ch.charCodeAt(0);
  // No quote before the first one: the usual `<sip:...>`.
  const first = text.indexOf(ch);
  const quote = text.indexOf('"');
  if (quote < 0 || (first >= 0 && first < quote)) return first;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 92) i++; // backslash: a quoted-pair
      else if (c === 34) quoted = false;
    } else if (c === 34) quoted = true;
    else if (c === wanted) return i;
  }
  return -1;
}

export function formatNameAddr(n: { displayName?: string | undefined; uriText: string; params?: ReadonlyMap<string, string | null> }): string {
  return `${n.displayName !== undefined ? `${quote(n.displayName)} ` : ''}<${n.uriText}>${n.params ? formatParams(n.params) : ''}`;
}

export interface Via {
  /** `SIP/2.0` */
  protocol: string;
  /** Upper case: UDP, TCP, TLS, SCTP, WS, WSS. */
  transport: string;
  host: string;
  port: number | undefined;
  /** Read-only to its readers; parseVia makes a new map for each call (NO_PARAMS, shared, when there are none). */
  params: ReadonlyMap<string, string | null>;
}

/** The transports a Via names as phones write them, after `SIP/2.0/`: the same text, one string each. */
const USUAL_VIA_TRANSPORTS = new Map(['UDP', 'TCP', 'TLS'].map((t) => [t, t]));

/**
 * `SIP / 2.0 / UDP host:port;branch=...` with any LWS around the slashes (RFC 4475 §3.1.1.1). The parameters are
 * a new map for each call unless there are none (NO_PARAMS, shared): the transaction layer stamps its own.
 */
export function parseVia(value: string): Via {
  let protocol: string;
  let transport: string;
  let rest: string;
  // The usual `SIP/2.0/UDP ` (TCP, TLS) needs no pattern.
  const usual = value.length > 12 && value.charCodeAt(11) === 32 && value.startsWith('SIP/2.0/') ? USUAL_VIA_TRANSPORTS.get(value.slice(8, 11)) : undefined;
  if (usual !== undefined) {
    protocol = 'SIP/2.0';
    transport = usual;
    rest = trimLws(value.slice(12));
  } else {
    const m = /^[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(.*)$/s.exec(value);
    if (!m) throw new HeaderError(`bad Via "${trimLws(value)}"`);
    protocol = `${m[1]!.toUpperCase()}/${m[2]}`;
    transport = m[3]!.toUpperCase();
    rest = trimLws(m[4]!);
  }
  const semi = rest.indexOf(';');
  // LWS is allowed around the colon of sent-by (COLON = SWS ":" SWS), nowhere else in it.
  let sentBy = trimLws(semi < 0 ? rest : rest.slice(0, semi));
  if (/[ \t]/.test(sentBy)) {
    sentBy = sentBy.replace(/[ \t]*:[ \t]*/, ':');
    if (/[ \t]/.test(sentBy)) throw new HeaderError(`bad Via sent-by "${sentBy}"`);
  }
  let hp: { host: string; port: number | undefined };
  try {
    hp = splitHostPort(sentBy);
  } catch (err) {
    throw new HeaderError(`bad Via sent-by: ${(err as Error).message}`);
  }
  return { protocol, transport, host: hp.host, port: hp.port, params: parseParams(semi < 0 ? '' : rest.slice(semi)) };
}

export function formatVia(via: Via): string {
  return `${via.protocol}/${via.transport} ${via.host}${via.port !== undefined ? `:${via.port}` : ''}${formatParams(via.params)}`;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** RFC 3261 §8.1.1.5: the number is below 2**31. */
export function parseCSeq(value: string): CSeq {
  const m = /^[ \t]*(\d{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*$/.exec(value);
  if (!m) throw new HeaderError(`bad CSeq "${trimLws(value)}"`);
  const seq = Number(m[1]);
  if (seq > 2 ** 31 - 1) throw new HeaderError('CSeq number above 2**31 - 1');
  return { seq, method: m[2]! };
}

/** Max-Forwards = 1*DIGIT, at most 255 (RFC 3261 §20.22; leading zeros allowed: `0068` is 68). */
export function parseMaxForwards(value: string): number {
  const t = trimLws(value);
  if (!/^\d{1,10}$/.test(t)) throw new HeaderError(`bad Max-Forwards "${t}"`);
  const n = Number(t);
  if (n > 255) throw new HeaderError(`Max-Forwards ${n} above 255`);
  return n;
}

const WKDAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTH = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** SIP-date (RFC 3261 §20.17, the RFC 1123 form): `Sat, 13 Nov 2010 23:29:00 GMT`; any zone but GMT is an error. */
export function parseSipDate(value: string): Date {
  const m = /^(\w{3}), (\d{2}) (\w{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/.exec(trimLws(value));
  if (!m) throw new HeaderError(`bad SIP date "${trimLws(value)}"`);
  const month = MONTH.indexOf(m[3]!);
  const [day, year, h, min, s] = [m[2], m[4], m[5], m[6], m[7]].map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(year, month, day, h, min, s));
  if (month < 0 || h > 23 || min > 59 || s > 59 || date.getUTCDate() !== day || WKDAY[date.getUTCDay()] !== m[1]) {
    throw new HeaderError(`bad SIP date "${trimLws(value)}"`);
  }
  return date;
}
