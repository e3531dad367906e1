/**
 * The registrar's rules (RFC 3261 §10.3), pure: given a line's current bindings and one REGISTER, the new
 * bindings or the error to answer. The service does authentication, storage and the reply.
 */
import type { Binding } from '../store/bindings.js';
import { HeaderError, parseNameAddr, type NameAddr } from './headers.js';
import type { SipRequest } from './message.js';
import { parseUri, uriEquals, UriError, type SipUri } from './uri.js';

export interface RegistrarLimits {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  maxContacts: number;
}

export interface RegisterInput {
  aor: string;
  request: SipRequest;
  callId: string;
  cseq: number;
  existing: readonly Binding[];
  limits: RegistrarLimits;
  now: number;
  source: string;
  userAgent?: string | undefined;
  mac?: string | undefined;
  /** Whether a contact's host may be registered (an address in an allowed network, or a name). */
  contactAllowed?(uri: SipUri): boolean;
}

export type RegisterOutcome =
  | { status: 200; bindings: Binding[]; puts: Binding[]; removals: Binding[] }
  | { status: 400 | 403 | 423 | 500; reason: string; headers?: Array<[string, string]> };

/** `q=0.5` -> 0.5; undefined when absent; NaN when not a valid q-value (0 to 1, three decimals). */
function qValue(param: string | null | undefined): number | undefined {
  if (param === undefined || param === null) return undefined;
  return /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(param) ? Number(param) : Number.NaN;
}

function expiresValue(text: string | null | undefined): number | undefined {
  if (text === undefined || text === null) return undefined;
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) return Number.NaN;
  return Math.min(Number(t), 2 ** 32 - 1);
}

/**
 * A copy of `text` that does not keep the whole request it was cut from alive (V8 keeps sliced strings' parents):
 * bindings live for an hour and must not hold the REGISTER, Authorization header included.
 */
function own(text: string): string;
function own(text: string | undefined): string | undefined;
function own(text: string | undefined): string | undefined {
  return text === undefined ? undefined : Buffer.from(text, 'latin1').toString('latin1');
}

export function processRegister(input: RegisterInput): RegisterOutcome {
  const { request, limits, now } = input;
  const contactValues = request.headers.values('Contact');
  const headerExpires = expiresValue(request.headers.get('Expires'));
  if (Number.isNaN(headerExpires)) return { status: 400, reason: 'Bad Expires header' };

  // A query: no Contact -> the current bindings.
  if (!contactValues.length) return { status: 200, bindings: [...input.existing], puts: [], removals: [] };

  if (contactValues.some((c) => c.trim() === '*')) {
    if (contactValues.length !== 1 || headerExpires !== 0) return { status: 400, reason: 'Contact * needs Expires: 0 and no other contact' };
    // Remove every binding, except one the same Call-ID registered with a later CSeq (§10.3 step 6).
    const kept = input.existing.filter((b) => b.callId === input.callId && b.cseq >= input.cseq);
    if (kept.length) return { status: 500, reason: 'Out of order request' };
    return { status: 200, bindings: [], puts: [], removals: [...input.existing] };
  }

  const parsed: Array<{ addr: NameAddr; expires: number; q: number | undefined }> = [];
  for (const value of contactValues) {
    let addr: NameAddr;
    try {
      addr = parseNameAddr(value);
    } catch (err) {
      if (err instanceof HeaderError || err instanceof UriError) return { status: 400, reason: `Bad Contact: ${err.message}`.slice(0, 100) };
      throw err;
    }
    if (addr.uri.scheme === 'tel') return { status: 400, reason: 'Contact must be a SIP URI' };
    if (input.contactAllowed && !input.contactAllowed(addr.uri)) return { status: 403, reason: 'Contact address not in an allowed network' };
    const paramExpires = expiresValue(addr.params.get('expires'));
    if (Number.isNaN(paramExpires)) return { status: 400, reason: 'Bad expires parameter' };
    const q = qValue(addr.params.get('q'));
    if (Number.isNaN(q)) return { status: 400, reason: 'Bad q parameter' };
    let expires = paramExpires ?? headerExpires ?? limits.defaultExpires;
    if (expires !== 0 && expires < limits.minExpires) {
      return { status: 423, reason: 'Interval Too Brief', headers: [['Min-Expires', String(limits.minExpires)]] };
    }
    expires = Math.min(expires, limits.maxExpires);
    parsed.push({ addr, expires, q });
  }

  const current = [...input.existing];
  const puts: Binding[] = [];
  const removals: Binding[] = [];
  for (const { addr, expires, q } of parsed) {
    const at = current.findIndex((b) => {
      if (b.contact === addr.uriText) return true; // the same text: the same URI (a phone's refresh, usually)
      try {
        return uriEquals(parseUri(b.contact), addr.uri);
      } catch {
        return false;
      }
    });
    const found = at >= 0 ? current[at]! : undefined;
    if (found && found.callId === input.callId && found.cseq >= input.cseq) return { status: 500, reason: 'Out of order request' };
    if (expires === 0) {
      if (found) {
        current.splice(at, 1);
        removals.push(found);
      }
      continue;
    }
    const binding: Binding = {
      aor: input.aor,
      contact: found?.contact ?? own(addr.uriText),
      // The stored copies again when a refresh repeats them (the same Call-ID, source, User-Agent).
      callId: found && found.callId === input.callId ? found.callId : own(input.callId),
      cseq: input.cseq,
      expiresAt: now + expires * 1000,
      q,
      source: found && found.source === input.source ? found.source : own(input.source),
      userAgent: found && found.userAgent === input.userAgent ? found.userAgent : own(input.userAgent),
      mac: input.mac,
      updatedAt: now,
    };
    if (found) current[at] = binding;
    else current.push(binding);
    puts.push(binding);
  }
  if (current.length > limits.maxContacts) {
    return { status: 403, reason: `Too many contacts (at most ${limits.maxContacts} a line)` };
  }
  return { status: 200, bindings: current, puts, removals };
}

/** `Contact:` values of a 200 OK: every binding with its remaining time. */
export function contactValues(bindings: readonly Binding[], now: number): string[] {
  return bindings.map((b) => `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}${b.q !== undefined ? `;q=${b.q}` : ''}`);
}
