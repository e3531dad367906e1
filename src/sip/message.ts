/**
 * SIP messages (RFC 3261 §7, §25): bytes <-> typed message. Pure: no I/O.
 *
 * Header text is kept as Latin-1 strings (one character per byte), so every byte of a header, UTF-8 display
 * names included, comes back out exactly as it came in; the body is a Buffer and never decoded. Folded header
 * lines are unfolded, compact names expanded; a value is kept as written otherwise.
 */
import { canonicalName, HeaderError, LIST_HEADERS, listValues, parseAddress, parseCSeq, parseVia, trimLws, type Address, type CSeq, type Via } from './headers.js';
import { parseUri, uriScheme, UriError, type SipUri } from './uri.js';

/** What was read of a message before the error: enough, maybe, to answer it (see replyHeaders). */
export interface PartialMessage {
  startLine: string;
  /** The header lines that could be read (a line that could not is left out). */
  headers: Headers;
}

export class SipParseError extends Error {
  /** Set when the start line and the headers were read before the error was found. */
  readonly partial: PartialMessage | undefined;

  constructor(message: string, partial?: PartialMessage) {
    super(message);
    this.partial = partial;
  }
}

/**
 * Canonical name and lookup key of the header names seen, as written in messages (`Via`, `v`, `VIA`) and as code
 * asks for them, so neither a parse nor a lookup redoes the work; at most 512 kept.
 */
const NAMES = new Map<string, { name: string; key: string }>();

function headerName(written: string): { name: string; key: string } {
  let known = NAMES.get(written);
  if (known === undefined) {
    const name = canonicalName(written);
    known = { name, key: name.toLowerCase() };
    // A copy of the key: a name cut from a message would keep that message's text alive.
    if (NAMES.size < 512) NAMES.set(Buffer.from(written, 'latin1').toString('latin1'), known);
  }
  return known;
}

/** A header line as Headers keeps it: canonical name, lookup key (lower case), value. */
export interface HeaderEntry {
  name: string;
  key: string;
  value: string;
}

/** Header fields in order, each as written (unfolded). Names are compared without regard to case. */
export class Headers {
  private readonly entries: HeaderEntry[] = [];

  /** Appends a copy of a line taken from another Headers (its name already canonical). */
  addEntry(entry: Readonly<HeaderEntry>): this {
    this.entries.push({ name: entry.name, key: entry.key, value: entry.value });
    return this;
  }

  /** Appends a header line. */
  add(name: string, value: string): this {
    const { name: canonical, key } = headerName(name);
    this.entries.push({ name: canonical, key, value });
    return this;
  }

  /** Replaces every line of `name` by one. */
  set(name: string, value: string): this {
    this.remove(name);
    return this.add(name, value);
  }

  /** Replaces the value of the first line of `name`; false when there is none. */
  replaceFirst(name: string, value: string): boolean {
    const { key } = headerName(name);
    const entry = this.entries.find((e) => e.key === key);
    if (!entry) return false;
    entry.value = value;
    return true;
  }

  /** Puts a line first (a proxy's own Via, Record-Route). */
  prepend(name: string, value: string): this {
    const { name: canonical, key } = headerName(name);
    this.entries.unshift({ name: canonical, key, value });
    return this;
  }

  remove(name: string): this {
    const { key } = headerName(name);
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.key === key) this.entries.splice(i, 1);
    return this;
  }

  has(name: string): boolean {
    const { key } = headerName(name);
    return this.entries.some((e) => e.key === key);
  }

  /** The first line's value. */
  get(name: string): string | undefined {
    const { key } = headerName(name);
    return this.entries.find((e) => e.key === key)?.value;
  }

  /** Every line's value, as written. */
  lines(name: string): string[] {
    const { key } = headerName(name);
    return this.entries.filter((e) => e.key === key).map((e) => e.value);
  }

  /**
   * Every value of a list header, whether given as one line with commas or as several lines
   * (RFC 3261 §7.3.1: the two are equivalent); for other headers, every line.
   */
  values(name: string): string[] {
    const { key } = headerName(name);
    const lines = this.lines(key);
    return LIST_HEADERS.has(key) ? lines.flatMap(listValues) : lines;
  }

  /** Every line in order. */
  all(): ReadonlyArray<Readonly<HeaderEntry>> {
    return this.entries;
  }

  clone(): Headers {
    const h = new Headers();
    for (const e of this.entries) h.entries.push({ ...e });
    return h;
  }
}

interface MessageBase {
  version: string;
  headers: Headers;
  body: Buffer;
}

export interface SipRequest extends MessageBase {
  kind: 'request';
  method: string;
  /** The Request-URI as written. */
  uri: string;
}

export interface SipResponse extends MessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/** The body of a message without one; shared (a Buffer of length 0 cannot be written to). */
export const NO_BODY: Buffer = Buffer.alloc(0);

/** Limits a parser enforces on anything it is given. */
export const LIMITS = {
  /** Start line plus headers. */
  headerBytes: 16 * 1024,
  headerLines: 200,
  bodyBytes: 64 * 1024,
};

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const VERSION = /^SIP\/\d+\.\d+$/i;
/** CTLs other than HTAB: never in a start line (RFC 3261 §25.1: Request-Line, Status-Line). */
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Where the header section ends (at its last line break) and the body starts (past the blank line: CRLFCRLF, or LFLF from lenient peers); undefined if there is none. */
export function headerEnd(buf: Buffer, from = 0): { end: number; bodyStart: number } | undefined {
  // The first LF followed by CRLF or by LF: two searches in native code rather than a loop over every byte.
  const crlf = buf.indexOf(LF_CRLF, from);
  const lflf = buf.indexOf(LF_LF, from);
  if (lflf >= 0 && (crlf < 0 || lflf < crlf)) return { end: lflf, bodyStart: lflf + 2 };
  return crlf >= 0 ? { end: crlf, bodyStart: crlf + 3 } : undefined;
}

const LF_CRLF = Buffer.from('\n\r\n', 'latin1');
const LF_LF = Buffer.from('\n\n', 'latin1');

/** The start line and the header lines of the header section (without its blank line); bad lines are reported, not kept. */
export function readHead(head: string): { startLine: string; headers: Headers; errors: string[] } {
  // One pass, names and values cut straight from the text. A folded line, a line without a name and a colon, or
  // too many lines: the general reader, which unfolds and says what is wrong.
  const headers = new Headers();
  let lf = head.indexOf('\n');
  if (lf < 0) return { startLine: head, headers, errors: [] };
  const startLine = head.slice(0, lf > 0 && head.charCodeAt(lf - 1) === 13 ? lf - 1 : lf);
  let count = 0;
  for (let from = lf + 1; from <= head.length; from = lf + 1) {
    lf = head.indexOf('\n', from);
    const end = lf < 0 ? head.length : lf > from && head.charCodeAt(lf - 1) === 13 ? lf - 1 : lf;
    const colon = head.indexOf(':', from);
    if (colon <= from || colon >= end || ++count > LIMITS.headerLines) return readHeadGeneral(head);
    let nameEnd = colon;
    while (nameEnd > from && isLws(head.charCodeAt(nameEnd - 1))) nameEnd--;
    for (let i = from; i < nameEnd; i++) if (!isTokenCode(head.charCodeAt(i))) return readHeadGeneral(head);
    if (nameEnd === from) return readHeadGeneral(head);
    let valueAt = colon + 1;
    let valueEnd = end;
    while (valueAt < valueEnd && isLws(head.charCodeAt(valueAt))) valueAt++;
    while (valueEnd > valueAt && isLws(head.charCodeAt(valueEnd - 1))) valueEnd--;
    headers.add(head.slice(from, nameEnd), head.slice(valueAt, valueEnd));
    if (lf < 0) break;
  }
  return { startLine, headers, errors: [] };
}

/*
 * isLws and isTokenCode are also in headers.ts and digest.ts, each module its own on purpose: V8 did not inline
 * imported ones into these loops (readHead took 2.5 us a REGISTER with them, 1.2 with these).
 */
function isLws(c: number): boolean {
  return c === 32 || c === 9;
}

function isTokenCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 33 || c === 37 || c === 42 || c === 95 || c === 43 || c === 96 || c === 39 || c === 126;
}

/** readHead for every form: folded lines unfolded, bad lines reported (exported for its tests). */
export function readHeadGeneral(head: string): { startLine: string; headers: Headers; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  // Lines end at LF, with or without CR before it.
  let startLine: string | undefined;
  for (let from = 0; from <= head.length; ) {
    const lf = head.indexOf('\n', from);
    const end = lf < 0 ? head.length : lf;
    const line = head.slice(from, lf > from && head.charCodeAt(lf - 1) === 13 ? lf - 1 : end);
    from = end + 1;
    if (startLine === undefined) {
      startLine = line;
      continue;
    }
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      // Folding (RFC 3261 §7.3.1): the line break and the white space around it are one SP.
      if (!lines.length) errors.push('a continuation line before any header');
      else lines[lines.length - 1] = `${lines[lines.length - 1]!.replace(/[ \t]+$/, '')} ${trimLws(line)}`;
    } else lines.push(line);
  }
  if (lines.length > LIMITS.headerLines) throw new SipParseError(`more than ${LIMITS.headerLines} header lines`);
  const headers = new Headers();
  startLine ??= '';
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon <= 0 ? '' : trimLws(line.slice(0, colon));
    if (!TOKEN.test(name)) {
      errors.push(colon <= 0 ? `not a header line: ${JSON.stringify(line.slice(0, 80))}` : `bad header name ${JSON.stringify(name.slice(0, 40))}`);
      continue;
    }
    headers.add(name, trimLws(line.slice(colon + 1)));
  }
  return { startLine, headers, errors };
}

/**
 * Parses one message from a datagram (or a framed stream message). The body is `Content-Length` bytes when the
 * header is present (fewer bytes than it says: an error; more: the rest is ignored, RFC 4475 §3.1.1.8), else the
 * rest of the datagram (RFC 3261 §18.3). Throws SipParseError only; its `partial` holds the start line and
 * headers when they were read, so that a server can still answer (replyHeaders).
 */
export function parseMessage(buf: Buffer, options: { stream?: boolean } = {}): SipMessage {
  // Leading CRLFs before a message are allowed (§7.5).
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  if (start === buf.length) throw new SipParseError('empty message');
  const found = headerEnd(buf, start);
  if (!found) {
    // A datagram that stops after a whole header line, without the blank line: the lines are there to answer.
    let partial: PartialMessage | undefined;
    if (!options.stream && buf[buf.length - 1] === 0x0a && buf.length - start <= LIMITS.headerBytes) {
      const read = readHead(buf.toString('latin1', start, buf.length).replace(/\r?\n$/, ''));
      partial = { startLine: read.startLine, headers: read.headers };
    }
    throw new SipParseError('no blank line after the headers', partial);
  }
  if (found.end - start > LIMITS.headerBytes) throw new SipParseError(`headers longer than ${LIMITS.headerBytes} bytes`);
  let head = buf.toString('latin1', start, found.end);
  if (head.endsWith('\r')) head = head.slice(0, -1);
  const { startLine, headers, errors } = readHead(head);
  const partial: PartialMessage = { startLine, headers };
  if (errors.length) throw new SipParseError(errors[0]!, partial);

  const lengthLines = headers.lines('Content-Length');
  if (lengthLines.length > 1) throw new SipParseError(`${lengthLines.length} Content-Length headers`, partial);
  let body: Buffer;
  const available = buf.length - found.bodyStart;
  if (lengthLines.length) {
    const lengthText = lengthLines[0]!;
    if (!/^\d{1,10}$/.test(lengthText)) throw new SipParseError(`bad Content-Length "${lengthText.slice(0, 40)}"`, partial);
    const length = Number(lengthText);
    if (length > LIMITS.bodyBytes) throw new SipParseError(`body longer than ${LIMITS.bodyBytes} bytes`, partial);
    if (length > available) throw new SipParseError(`Content-Length ${length} but only ${available} bytes follow`, partial);
    body = length === 0 ? NO_BODY : Buffer.from(buf.subarray(found.bodyStart, found.bodyStart + length));
  } else {
    if (options.stream) throw new SipParseError('no Content-Length on a stream transport', partial);
    if (available > LIMITS.bodyBytes) throw new SipParseError(`body longer than ${LIMITS.bodyBytes} bytes`, partial);
    body = available === 0 ? NO_BODY : Buffer.from(buf.subarray(found.bodyStart));
  }

  if (CTL.test(startLine)) throw new SipParseError(`control character in the start line ${JSON.stringify(startLine.slice(0, 80))}`, partial);
  const parts = startLine.split(' ');
  if (/^SIP\//i.test(parts[0] ?? '')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; a missing final SP before an empty phrase is let pass.
    const m = /^(SIP\/\d+\.\d+) (\d{3})(?: (.*))?$/i.exec(startLine);
    if (!m) throw new SipParseError(`bad status line ${JSON.stringify(startLine.slice(0, 80))}`, partial);
    const status = Number(m[2]);
    if (status < 100 || status > 699) throw new SipParseError(`status code ${status} out of range`, partial);
    return { kind: 'response', version: m[1]!.toUpperCase(), status, reason: m[3] ?? '', headers, body };
  }
  if (parts.length !== 3) throw new SipParseError(`bad request line ${JSON.stringify(startLine.slice(0, 80))}`, partial);
  const [method, uri, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) throw new SipParseError(`bad method ${JSON.stringify(method.slice(0, 40))}`, partial);
  if (!VERSION.test(version)) throw new SipParseError(`bad SIP version ${JSON.stringify(version.slice(0, 20))}`, partial);
  if (uriScheme(uri) === undefined || !/^[^:]+:[^\s<>"]+$/.test(uri)) throw new SipParseError(`bad Request-URI ${JSON.stringify(uri.slice(0, 80))}`, partial);
  return { kind: 'request', method, uri, version: version.toUpperCase(), headers, body };
}

/**
 * The bytes of a message. Header lines are written `Name: value` (long, canonical names; folding undone);
 * Content-Length is always written, from the body, where the first one stood (else last).
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const head = serializeHead(msg);
  if (!msg.body.length) return Buffer.from(head, 'latin1');
  return Buffer.concat([Buffer.from(head, 'latin1'), msg.body]);
}

/** The start line and header lines of serializeMessage, blank line included, as Latin-1 text (one character a byte); the body follows. */
export function serializeHead(msg: SipMessage): string {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.uri} ${msg.version}` : `${msg.version} ${msg.status} ${msg.reason}`;
  let head = `${start}\r\n`;
  let lengthWritten = false;
  for (const { name, value } of msg.headers.all()) {
    if (name === 'Content-Length') {
      if (!lengthWritten) head += `Content-Length: ${msg.body.length}\r\n`;
      lengthWritten = true;
    } else head += `${name}: ${value}\r\n`;
  }
  if (!lengthWritten) head += `Content-Length: ${msg.body.length}\r\n`;
  return `${head}\r\n`;
}

/** What every request must carry to be handled (RFC 3261 §8.1.1), parsed; SipParseError says what is wrong. */
export interface Essentials {
  callId: string;
  cseq: CSeq;
  from: string;
  to: string;
  /** The tag parameters of From and To, if any. */
  fromTag: string | undefined;
  toTag: string | undefined;
  /** From and To parsed (their URI too when it is sip:, sips: or tel:), so no caller parses them again. */
  fromAddress: Address;
  toAddress: Address;
  vias: Via[];
  /** A request's sip:, sips: or tel: Request-URI, parsed; undefined for another scheme (the caller answers 416). */
  requestUri: SipUri | undefined;
}

function startLineOf(msg: SipMessage): string {
  return msg.kind === 'request' ? `${msg.method} ${msg.uri} ${msg.version}` : `${msg.version} ${msg.status} ${msg.reason}`;
}

/** The headers a request carries exactly once (RFC 3261 §8.1.1), in the order their errors are reported. */
const ONCE: readonly string[] = ['Call-ID', 'From', 'To', 'CSeq'];

/**
 * Call-ID, CSeq, From, To (each once) and Via, checked: a request's CSeq method is its method, From and To are
 * name-addr / addr-spec (any URI scheme, RFC 4475 §3.3.4), a sip:/sips:/tel: Request-URI is well-formed and has
 * no headers (RFC 3261 §19.1.1, RFC 4475 §3.1.2.11); another Request-URI scheme is left to the caller (416).
 * `topVia`: the top Via as the transaction layer already parsed (and stamped) it, so it is not parsed twice.
 * Throws SipParseError only, with `partial` set.
 */
export function essentials(msg: SipMessage, topVia?: Via): Essentials {
  try {
    // One pass over the header lines: the four that must be there once, and the Via lines.
    const first: Array<string | undefined> = [undefined, undefined, undefined, undefined];
    const count = [0, 0, 0, 0];
    const viaLines: string[] = [];
    for (const { name, value } of msg.headers.all()) {
      if (name === 'Via') viaLines.push(value);
      const i = ONCE.indexOf(name);
      if (i >= 0) {
        count[i]!++;
        first[i] ??= value;
      }
    }
    const [callId, from, to, cseqText] = first;
    const viaValues = viaLines.length === 1 && viaLines[0] !== '' && !viaLines[0]!.includes(',') ? viaLines : viaLines.flatMap(listValues);
    if (!callId || !from || !to || !cseqText || !viaValues.length) {
      const missing = [!callId && 'Call-ID', !from && 'From', !to && 'To', !cseqText && 'CSeq', !viaValues.length && 'Via'].filter(Boolean);
      return essentialsFailed(msg, `missing ${missing.join(', ')}`);
    }
    const twice = ONCE.find((_, i) => count[i]! > 1);
    if (twice) return essentialsFailed(msg, `${twice} given more than once`);
    const cseq = parseCSeq(cseqText);
    if (msg.kind === 'request' && cseq.method !== msg.method) return essentialsFailed(msg, `CSeq method ${cseq.method} is not the request's ${msg.method}`);
    const vias = viaValues.map((v, i) => (i === 0 && topVia ? topVia : parseVia(v)));
    const fromAddress = parseAddress(from);
    const toAddress = parseAddress(to);
    let requestUri: SipUri | undefined;
    if (msg.kind === 'request') {
      const scheme = uriScheme(msg.uri);
      if (scheme === 'sip' || scheme === 'sips' || scheme === 'tel') {
        requestUri = parseUri(msg.uri);
        if (requestUri.headers !== undefined) return essentialsFailed(msg, 'headers in the Request-URI');
      }
    }
    return { callId, cseq, from, to, fromTag: tagOf(fromAddress.params), toTag: tagOf(toAddress.params), fromAddress, toAddress, vias, requestUri };
  } catch (err) {
    if (err instanceof SipParseError) throw err;
    if (err instanceof HeaderError || err instanceof UriError) return essentialsFailed(msg, err.message);
    throw err;
  }
}

function essentialsFailed(msg: SipMessage, message: string): never {
  throw new SipParseError(message, { startLine: startLineOf(msg), headers: msg.headers });
}

function tagOf(params: ReadonlyMap<string, string | null>): string | undefined {
  return params.get('tag') ?? undefined;
}

/**
 * What a server can answer to a message that parseMessage() or essentials() refused: the header lines a 400
 * (or 501, 505) copies from the request (RFC 3261 §8.2.6.2: every Via line; the first From, To, Call-ID, CSeq
 * that were read), when the message was a request whose top Via names where to send it (protocol and sent-by;
 * its parameters may be broken).
 * Undefined means drop it: a response (never answered), or a request whose headers or top Via are unreadable.
 */
export function replyHeaders(err: unknown): Headers | undefined {
  if (!(err instanceof SipParseError) || !err.partial) return undefined;
  const { startLine, headers } = err.partial;
  if (/^SIP\//i.test(startLine)) return undefined;
  // The answer goes where the top Via's sent-by says; its parameters may be what is wrong (RFC 4475 §3.1.2.1).
  const vias = headers.lines('Via');
  if (!vias.length) return undefined;
  try {
    parseVia(vias[0]!.split(/[;,]/)[0]!);
  } catch {
    return undefined;
  }
  const reply = new Headers();
  for (const via of vias) reply.add('Via', via);
  for (const name of ['From', 'To', 'Call-ID', 'CSeq']) {
    const value = headers.get(name);
    if (value !== undefined) reply.add(name, value);
  }
  return reply;
}

/** Reason phrases of RFC 3261 §21 and the extensions a registrar/proxy meets. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily',
  305: 'Use Proxy', 380: 'Alternative Service', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 410: 'Gone', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Long', 415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension',
  421: 'Extension Required', 423: 'Interval Too Brief', 480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete',
  485: 'Ambiguous', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 491: 'Request Pending',
  493: 'Undecipherable', 500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

/**
 * A response to `request` (RFC 3261 §8.2.6): every Via, From, Call-ID and CSeq copied as written; To copied,
 * with `;tag=toTag` added when the request's To has no tag and the status is above 100; a 100 echoes Timestamp
 * (§8.2.6.1). Record-Route (§12.1.1) and anything else are the caller's to add. No body.
 */
export function responseTo(request: SipRequest, status: number, reason?: string, options: { toTag?: string } = {}): SipResponse {
  // One pass over the request's lines: every Via, and the first From, To, Call-ID, CSeq and Timestamp.
  const headers = new Headers();
  let from: Readonly<HeaderEntry> | undefined;
  let to: Readonly<HeaderEntry> | undefined;
  let callId: Readonly<HeaderEntry> | undefined;
  let cseq: Readonly<HeaderEntry> | undefined;
  let timestamp: Readonly<HeaderEntry> | undefined;
  for (const e of request.headers.all()) {
    switch (e.key) {
      case 'via': headers.addEntry(e); break;
      case 'from': from ??= e; break;
      case 'to': to ??= e; break;
      case 'call-id': callId ??= e; break;
      case 'cseq': cseq ??= e; break;
      case 'timestamp': timestamp ??= e; break;
    }
  }
  if (from) headers.addEntry(from);
  if (to) headers.addEntry(status > 100 && options.toTag !== undefined && !hasTag(to.value) ? { ...to, value: `${to.value};tag=${options.toTag}` } : to);
  if (callId) headers.addEntry(callId);
  if (cseq) headers.addEntry(cseq);
  if (status === 100 && timestamp) headers.addEntry(timestamp);
  return { kind: 'response', version: 'SIP/2.0', status, reason: reason ?? REASON_PHRASES[status] ?? '', headers, body: NO_BODY };
}

function hasTag(to: string): boolean {
  if (!to.includes(';')) return false; // no parameter at all: the usual To of a new request
  try {
    return parseAddress(to).params.has('tag');
  } catch {
    return /;[ \t]*tag[ \t]*=/i.test(to); // an unreadable To: best effort
  }
}
