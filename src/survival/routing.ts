/**
 * Where a call goes (pure, table-tested). In survival mode Outpost routes by the Request-URI user the way the
 * branch dials: a line's extension, national number or SIP user rings the line; the outside prefix + a national
 * or `00` international number goes out through the PSTN gateway; emergency numbers go to the gateway with or
 * without the prefix, before anything else; calls from the gateway ring the lines of `gateway.inbound`. In normal
 * mode everything is relayed to the Centrex, with the survival route as the fallback.
 */

export interface RoutableLine {
  ext: string;
  number?: string | undefined;
  user: string;
  forward?: string | undefined;
}

export interface RoutingSite {
  outsidePrefix: string;
  emergency: readonly string[];
  /** The PSTN gateway (a Mediatrix FXO port), if the branch has one. */
  gateway: { host: string; port: number; inbound: readonly string[]; keepPrefix: boolean } | undefined;
}

export type Caller = { kind: 'line'; line: RoutableLine } | { kind: 'gateway' } | { kind: 'unknown' };

export type Route =
  | { kind: 'line'; line: RoutableLine }
  | { kind: 'pstn'; number: string; emergency: boolean }
  | { kind: 'inbound'; lines: RoutableLine[] }
  | { kind: 'reject'; status: 403 | 404 | 480 | 503; reason: string };

export type Decision = { kind: 'upstream'; fallback: Route } | Route;

/** `0602 123 456`, `+420 602-123-456` as dialled -> the digits (and a leading +). */
export function dialled(user: string): string {
  return user.replace(/[\s\-.()]/g, '');
}

function toGateway(site: RoutingSite, digits: string, emergency: boolean): Route {
  if (!site.gateway) return { kind: 'reject', status: 503, reason: emergency ? 'no PSTN gateway for emergency calls' : 'no PSTN gateway' };
  const prefix = site.outsidePrefix;
  const withPrefix = digits.startsWith(prefix) ? digits : `${prefix}${digits}`;
  const bare = prefix && digits.startsWith(prefix) ? digits.slice(prefix.length) : digits;
  return { kind: 'pstn', number: site.gateway.keepPrefix ? withPrefix : bare, emergency };
}

/** The survival route of a call to `user` from `caller`. */
export function survivalRoute(user: string, caller: Caller, lines: readonly RoutableLine[], site: RoutingSite): Route {
  const digits = dialled(user);
  if (caller.kind === 'gateway') {
    const ring = site.gateway?.inbound.map((ext) => lines.find((l) => l.ext === ext)).filter((l): l is RoutableLine => l !== undefined) ?? [];
    if (ring.length) return { kind: 'inbound', lines: ring };
    // No inbound list: a call from the line to one of our own numbers still finds it.
    const line = lines.find((l) => l.number === digits || l.ext === digits);
    return line ? { kind: 'line', line } : { kind: 'reject', status: 480, reason: 'no line set to ring for calls from the PSTN (gateway.inbound)' };
  }
  if (caller.kind === 'unknown') return { kind: 'reject', status: 403, reason: 'calls are taken from the branch\'s lines and its gateway only' };
  const prefix = site.outsidePrefix;
  // Emergency numbers first, dialled with or without the outside prefix.
  for (const e of site.emergency) {
    if (digits === e || (prefix && digits === `${prefix}${e}`)) return toGateway(site, e, true);
  }
  const local = lines.find((l) => l.ext === digits || l.number === digits || l.user === user);
  if (local) return { kind: 'line', line: local };
  if (prefix && digits.startsWith(prefix) && /^\d+$/.test(digits.slice(prefix.length)) && digits.length > prefix.length + 2) {
    const rest = digits.slice(prefix.length);
    // 0 + a national number of one of our own lines: ring it here rather than through the PSTN.
    const own = lines.find((l) => l.number === rest);
    if (own) return { kind: 'line', line: own };
    return toGateway(site, digits, false);
  }
  if (!prefix && /^\+?\d{3,}$/.test(digits)) return toGateway(site, digits, false);
  return { kind: 'reject', status: 404, reason: `no line or number ${digits}` };
}

/** The line's forward target, routed like a call the line dialled itself (`0602123456` -> the gateway). */
export function forwardRoute(line: RoutableLine, lines: readonly RoutableLine[], site: RoutingSite): Route | undefined {
  if (!line.forward) return undefined;
  const route = survivalRoute(line.forward, { kind: 'line', line }, lines, site);
  // A forward back to the same line would ring it forever.
  if (route.kind === 'line' && route.line.ext === line.ext) return undefined;
  return route.kind === 'reject' ? undefined : route;
}

export function decide(mode: 'normal' | 'survival', hasUpstream: boolean, user: string, caller: Caller, lines: readonly RoutableLine[], site: RoutingSite): Decision {
  const route = survivalRoute(user, caller, lines, site);
  // Emergency calls never wait for the Centrex when a local gateway is there.
  if (route.kind === 'pstn' && route.emergency) return route;
  if (mode === 'normal' && hasUpstream && caller.kind !== 'gateway') return { kind: 'upstream', fallback: route };
  return route;
}
