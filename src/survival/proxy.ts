/**
 * The stateful, record-routing proxy that carries the branch's calls (RFC 3261 §16). Media is not touched: RTP
 * flows phone to phone. An INVITE is authenticated (407), routed by the pure routing policy, forked in parallel
 * to every contact of the callee (the first answer wins, the others are cancelled), forwarded to the line's
 * forward number when the line cannot be reached; in-dialog requests (ACK, BYE, re-INVITE, UPDATE, INFO, PRACK)
 * follow the Record-Route Outpost put in. Every call handled locally is recorded.
 */
import type { Logger } from '../app/log.js';
import type { SiteSettings } from '../config/schema.js';
import type { Binding } from '../store/bindings.js';
import type { Line } from '../store/lines.js';
import type { Store } from '../store/index.js';
import { parseAddress, parseVia, parseMaxForwards } from '../sip/headers.js';
import { Headers, responseTo, type SipRequest, type SipResponse } from '../sip/message.js';
import { ownVia, PROXY_BRANCH, responseDestination, type ClientTransaction, type ServerTransaction, type TransactionLayer } from '../sip/transaction.js';
import { parseSource, type Remote, type SipTransport } from '../sip/transport.js';
import { parseUri, unescapeUser, type SipUri } from '../sip/uri.js';
import { decide, forwardRoute, type Caller, type Route, type RoutingSite } from './routing.js';
import type { Mode } from './upstream.js';


export interface ProxyContext {
  layer: TransactionLayer;
  transport: SipTransport;
  /** Outpost's address and port, as phones reach it. */
  self(): { host: string; port: number };
  site(): SiteSettings | undefined;
  lines(): readonly Line[];
  contacts(user: string): Binding[];
  mode(): Mode;
  authenticate(tx: ServerTransaction, reply: Reply): Line | undefined;
  store: Store;
  log: Logger;
}

type Reply = (status: number, reason?: string, extra?: Array<[string, string]>) => void;

interface Target {
  uri: string;
  dest: Remote;
  label: string;
}

function destinationOf(uri: SipUri): Remote {
  const transport = (uri.params.get('transport') ?? 'udp').toLowerCase() === 'tcp' ? 'tcp' : 'udp';
  const maddr = uri.params.get('maddr');
  return { transport, address: (maddr ?? uri.host).replace(/^\[|\]$/g, ''), port: uri.port ?? 5060 };
}

/** Where a registered contact is reached: the address its REGISTER came from (NAT-safe), else the contact URI. */
function contactTarget(b: Binding): Target {
  const uri = parseUri(b.contact);
  const source = parseSource(b.source);
  const dest: Remote = source?.transport === 'udp' ? source : destinationOf(uri);
  return { uri: b.contact, dest, label: `contact ${b.contact}` };
}

/** A response with Outpost's Via taken off, to pass back to the previous hop (§16.7 step 9). */
function withoutTopVia(res: SipResponse): SipResponse {
  const vias = res.headers.values('Via').slice(1);
  const headers = new Headers();
  let written = false;
  for (const { name, value } of res.headers.all()) {
    if (name !== 'Via') headers.add(name, value);
    else if (!written) {
      for (const v of vias) headers.add('Via', v);
      written = true;
    }
  }
  return { ...res, headers };
}

/** How long a relayed INVITE waits for the Centrex's first word (100 Trying) before the call is routed locally. */
export const UPSTREAM_SILENCE_MS = 2000;

/** Picks the response to pass back when every branch failed (RFC 3261 §16.7.6). */
export function bestResponse(responses: readonly SipResponse[]): SipResponse | undefined {
  if (!responses.length) return undefined;
  const six = responses.find((r) => r.status >= 600);
  if (six) return six;
  return [...responses].sort((a, b) => Math.floor(a.status / 100) - Math.floor(b.status / 100) || a.status - b.status)[0];
}

function routingSite(site: SiteSettings): RoutingSite {
  const g = site.gateway;
  return {
    outsidePrefix: site.dialplan.outsidePrefix,
    emergency: site.dialplan.emergency,
    gateway: g.host ? { host: g.host, port: g.port, inbound: g.inbound, keepPrefix: g.keepPrefix } : undefined,
  };
}

export class CallProxy {
  /** Calls being set up, by the caller's INVITE transaction. */
  private readonly calls = new Map<ServerTransaction, ProxiedCall>();
  /** Call-ID -> call record id, for BYE accounting. */
  readonly records = new Map<string, number>();

  constructor(readonly ctx: ProxyContext) {}

  size(): number {
    return this.calls.size;
  }

  forget(tx: ServerTransaction): void {
    this.calls.delete(tx);
  }

  /** An out-of-dialog or in-dialog request that is not Outpost's own (REGISTER, OPTIONS are). */
  async handle(tx: ServerTransaction, reply: Reply): Promise<void> {
    const req = tx.request;
    // In a dialog only by its To tag: a Route naming Outpost on an initial request (Outpost preloaded as the
    // outbound proxy, or someone trying to use it as an open relay) does not skip authentication.
    if (this.toTag(req) !== undefined) return this.inDialog(tx, reply);
    const routes = req.headers.values('Route');
    if (routes.length && this.isOurs(routes[0]!)) {
      req.headers.remove('Route');
      for (const r of routes.slice(1)) req.headers.add('Route', r);
    }
    if (req.method !== 'INVITE') return reply(req.method === 'BYE' ? 481 : 405, undefined, [['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER']]);
    const site = this.ctx.site();
    if (!site) return reply(503, undefined, [['Retry-After', '5']]);
    const caller = this.identify(tx, site, reply);
    if (!caller) return;
    let user = '';
    try {
      user = unescapeUser(parseUri(req.uri).user ?? '');
    } catch {
      return reply(416);
    }
    const upstream = site.upstream.proxy;
    const decision = decide(this.ctx.mode(), upstream !== '', user, caller, this.ctx.lines(), routingSite(site));
    const call = new ProxiedCall(this, tx, caller, user, site);
    this.calls.set(tx, call);
    await call.start(decision);
  }

  /** The gateway by its address; anyone else must be one of the branch's lines (digest, 407). */
  private identify(tx: ServerTransaction, site: SiteSettings, reply: Reply): Caller | undefined {
    if (site.gateway.host && tx.remote.address === site.gateway.host) return { kind: 'gateway' };
    const line = this.ctx.authenticate(tx, reply);
    return line ? { kind: 'line', line } : undefined;
  }

  private toTag(req: SipRequest): string | undefined {
    try {
      return parseAddress(req.headers.get('To') ?? '').params.get('tag') ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether a Route (or Record-Route) value names Outpost. */
  isOurs(route: string): boolean {
    try {
      const uri = parseAddress(route).uri;
      const self = this.ctx.self();
      return uri !== undefined && uri.host === self.host.toLowerCase() && (uri.port ?? 5060) === self.port;
    } catch {
      return false;
    }
  }

  /** Loose routing (RFC 3261 §16.4, §16.6): our Route popped, the next Route or the Request-URI is the next hop. */
  private nextHop(req: SipRequest): { headers: Headers; dest: Remote } | undefined {
    const headers = req.headers.clone();
    const routes = headers.values('Route');
    if (routes.length && this.isOurs(routes[0]!)) routes.shift();
    headers.remove('Route');
    for (const r of routes) headers.add('Route', r);
    try {
      const next = routes.length ? parseAddress(routes[0]!).uri : parseUri(req.uri);
      if (!next) return undefined;
      return { headers, dest: destinationOf(next) };
    } catch {
      return undefined;
    }
  }

  /** A request inside a dialog Outpost record-routed: relayed statefully, its answers passed back. */
  private inDialog(tx: ServerTransaction, reply: Reply): void {
    const req = tx.request;
    const hop = this.nextHop(req);
    if (!hop) return reply(404, 'Not Found (no route)');
    const out = this.prepare(req, req.uri, hop.dest, hop.headers, false);
    if (!out) return reply(483);
    const callId = req.headers.get('Call-ID') ?? '';
    this.ctx.layer.request(out, hop.dest, {
      onProvisional: (res) => res.status > 100 && tx.respond(withoutTopVia(res)),
      onFinal: (res) => {
        tx.respond(withoutTopVia(res));
        if (req.method === 'BYE') this.ended(callId, 'completed');
      },
      onTimeout: () => {
        tx.respond(tx.reply(408));
        if (req.method === 'BYE') this.ended(callId, 'completed');
      },
    });
  }

  /** An ACK that no transaction claimed: the ACK of a 2xx, forwarded statelessly along the route. */
  ack(req: SipRequest): void {
    const hop = this.nextHop(req);
    if (!hop) return;
    // An ACK whose next hop is Outpost itself belongs to no dialog it routes (e.g. a 407 ACKed on a new branch):
    // forwarding it would send it back here, hop after hop until Max-Forwards runs out.
    const self = this.ctx.self();
    if (hop.dest.address === self.host && hop.dest.port === self.port) return;
    const out = this.prepare(req, req.uri, hop.dest, hop.headers, false);
    if (out) this.ctx.transport.send(out, hop.dest);
  }

  /** A response no transaction claimed (a retransmitted 2xx): passed back along its Via (§16.7). */
  strayResponse(res: SipResponse): void {
    const vias = res.headers.values('Via');
    if (vias.length < 2) return;
    try {
      const top = parseVia(vias[0]!);
      if (!(top.params.get('branch') ?? '').startsWith(PROXY_BRANCH) || res.status < 200 || res.status >= 300) return;
      const next = parseVia(vias[1]!);
      this.ctx.transport.send(withoutTopVia(res), responseDestination(next, { transport: next.transport === 'TCP' ? 'tcp' : 'udp', address: next.host, port: next.port ?? 5060 }));
    } catch {
      /* a response we cannot route back is dropped */
    }
  }

  /** CANCEL for an INVITE this proxy is forking: 200 to the CANCEL, CANCEL to every branch (§16.10). */
  cancel(cancel: ServerTransaction, invite: ServerTransaction | undefined): void {
    const call = invite ? this.calls.get(invite) : undefined;
    cancel.respond(cancel.reply(call || invite ? 200 : 481));
    if (call) call.cancelByCaller();
    else if (invite && invite.state === 'proceeding') invite.respond(invite.reply(487));
  }

  /**
   * The request as it leaves Outpost: Request-URI, Max-Forwards - 1, Outpost's Via on top, Record-Route for a
   * dialog-forming request, Outpost's own credentials taken off. Undefined when Max-Forwards is used up.
   */
  prepare(req: SipRequest, uri: string, dest: Remote, headers: Headers, recordRoute: boolean): SipRequest | undefined {
    const h = headers.clone();
    let mf = 70;
    try {
      const v = h.get('Max-Forwards');
      if (v !== undefined) mf = parseMaxForwards(v);
    } catch {
      mf = 70;
    }
    if (mf <= 0) return undefined;
    h.set('Max-Forwards', String(mf - 1));
    const self = this.ctx.self();
    const kept = h.lines('Proxy-Authorization').filter((v) => !/realm\s*=\s*"?outpost"?/i.test(v));
    h.remove('Proxy-Authorization');
    for (const v of kept) h.add('Proxy-Authorization', v);
    if (recordRoute) h.prepend('Record-Route', `<sip:${self.host}:${self.port};lr${dest.transport === 'tcp' ? ';transport=tcp' : ''}>`);
    h.prepend('Via', ownVia(self, dest.transport));
    return { ...req, uri, headers: h };
  }

  /** Opens the record of a call Outpost routes itself. */
  async record(callId: string, caller: string, callee: string, route: string): Promise<number | undefined> {
    try {
      // The INVITE goes on at once; the record is written with the next group commit.
      const { id, written } = await this.ctx.store.calls.start({ callId, caller, callee, route, at: Date.now() });
      written.catch((err: Error) => this.ctx.log.error({ err: err.message }, 'cannot record a call'));
      this.records.set(callId, id);
      if (this.records.size > 10_000) this.records.delete(this.records.keys().next().value!);
      return id;
    } catch (err) {
      this.ctx.log.error({ err: (err as Error).message }, 'cannot record a call');
      return undefined;
    }
  }

  ended(callId: string, result: string): void {
    const id = this.records.get(callId);
    if (id === undefined) return;
    this.records.delete(callId);
    void this.ctx.store.calls.update(id, { endedAt: Date.now(), result }).catch(() => undefined);
    void this.ctx.store.events.add({ type: 'call.ended', message: `call ${callId} ended (${result})`, data: { callId, result } }).catch(() => undefined);
  }
}

/** One INVITE on its way through: its branches, its forward timer, its record. */
class ProxiedCall {
  private branches = new Map<ClientTransaction, Target>();
  private finals: SipResponse[] = [];
  private answered = false;
  private cancelled = false;
  private done = false;
  private gotProvisional = false;
  private forwardTimer: NodeJS.Timeout | undefined;
  private recordId: number | undefined;
  private forwarding = false;
  private heardUpstream = false;
  private readonly callId: string;

  constructor(
    private readonly proxy: CallProxy,
    private readonly tx: ServerTransaction,
    private readonly caller: Caller,
    private readonly user: string,
    private readonly site: SiteSettings,
  ) {
    this.callId = tx.request.headers.get('Call-ID') ?? '';
  }

  private get ctx(): ProxyContext {
    return this.proxy.ctx;
  }

  private callerName(): string {
    return this.caller.kind === 'line' ? this.caller.line.ext : this.caller.kind === 'gateway' ? 'pstn' : 'unknown';
  }

  async start(decision: ReturnType<typeof decide>): Promise<void> {
    if (decision.kind === 'upstream') return this.toUpstream(decision.fallback);
    await this.openRecord(decision);
    this.execute(decision);
  }

  private async openRecord(route: Route): Promise<void> {
    if (route.kind === 'reject') return;
    this.recordId = await this.proxy.record(this.callId, this.callerName(), this.user, describe(route));
  }

  private toUpstream(fallback: Route): void {
    const site = this.site;
    const [host, portText] = site.upstream.proxy.split(/:(?=\d+$)/);
    const dest: Remote = { transport: site.upstream.transport === 'tcp' ? 'tcp' : 'udp', address: host!, port: Number(portText ?? 5060) };
    const uri = `sip:${this.user}@${host}${portText ? `:${portText}` : ''}`;
    let local = false;
    const goLocal = (why: string) => {
      if (local || this.done || this.answered) return;
      local = true;
      clearTimeout(silence);
      for (const b of this.branches.keys()) b.abandon(); // no more retransmissions to a Centrex that is not there
      this.branches = new Map(); // what the relay branch says from now on is not passed on
      this.finals = [];
      this.ctx.log.info({ callId: this.callId, why }, 'the Centrex did not take the call: routing it locally');
      void this.openRecord(fallback).then(() => this.execute(fallback));
    };
    // A Centrex that has not even said 100 Trying by now is not there: the caller must not wait for Timer B.
    const silence = setTimeout(() => !this.heardUpstream && goLocal(`no answer in ${UPSTREAM_SILENCE_MS} ms`), UPSTREAM_SILENCE_MS);
    silence.unref();
    this.fork([{ uri, dest, label: 'centrex' }], (best, timedOut) => {
      clearTimeout(silence);
      if (local) return;
      // The Centrex did not take the call (no answer, or a 5xx/408 before any ringing): the branch handles it.
      if (!this.gotProvisional && (timedOut || !best || best.status >= 500 || best.status === 408)) return goLocal(best ? `answered ${best.status}` : 'no answer');
      this.finish(best);
    });
  }

  private execute(route: Route): void {
    if (this.cancelled) return this.finish(responseTo(this.tx.request, 487));
    switch (route.kind) {
      case 'reject':
        return this.finish(this.tx.reply(route.status, route.status === 503 || route.status === 480 ? `${route.status === 503 ? 'Service Unavailable' : 'Temporarily Unavailable'} (${route.reason})` : undefined));
      case 'pstn': {
        const g = this.site.gateway;
        const dest: Remote = { transport: 'udp', address: g.host, port: g.port };
        return this.fork([{ uri: `sip:${route.number}@${g.host}:${g.port}`, dest, label: `pstn ${route.number}` }], (best) => this.finish(best));
      }
      case 'inbound': {
        const targets = route.lines.flatMap((l) => this.ctx.contacts(l.user).map(contactTarget));
        if (!targets.length) return this.finish(this.tx.reply(480, 'Temporarily Unavailable (no inbound line is registered)'));
        return this.fork(targets, (best) => this.finish(best));
      }
      case 'line':
        return this.ringLine(route.line as Line);
    }
  }

  private ringLine(line: Line): void {
    const targets = this.ctx.contacts(line.user).map(contactTarget);
    const forward = forwardRoute(line, this.ctx.lines(), routingSite(this.site));
    if (!targets.length) {
      if (forward) return this.forwardTo(forward, 'not registered');
      return this.finish(this.tx.reply(480, 'Temporarily Unavailable (not registered)'));
    }
    if (forward) {
      this.forwardTimer = setTimeout(() => {
        if (this.answered || this.done || this.cancelled) return;
        this.forwarding = true;
        for (const b of this.branches.keys()) b.cancel();
        this.forwardTo(forward, `no answer in ${this.site.survival.forwardAfter} s`);
      }, this.site.survival.forwardAfter * 1000);
      this.forwardTimer.unref();
    }
    this.fork(targets, (best, timedOut) => {
      if (this.forwarding) return; // the forward branch answers the caller now
      const busy = best?.status === 486 || best?.status === 600;
      const unreachable = timedOut || !best || [408, 480, 404, 503].includes(best.status);
      if (forward && !this.cancelled && (unreachable || (busy && line.forwardOnBusy))) return this.forwardTo(forward, busy ? 'busy' : 'unreachable');
      this.finish(best);
    });
  }

  private forwardTo(route: Route, why: string): void {
    if (this.done) return;
    this.clearForwardTimer();
    this.forwarding = true;
    this.ctx.log.info({ callId: this.callId, why }, 'call forwarded');
    if (this.recordId !== undefined) void this.ctx.store.calls.update(this.recordId, { route: `forward ${describe(route)} (${why})` }).catch(() => undefined);
    const branches = new Map<ClientTransaction, Target>();
    this.branches = branches;
    this.finals = [];
    if (route.kind === 'pstn') {
      const g = this.site.gateway;
      const target = { uri: `sip:${route.number}@${g.host}:${g.port}`, dest: { transport: 'udp' as const, address: g.host, port: g.port }, label: `forward ${route.number}` };
      this.forwarding = false;
      return this.fork([target], (best) => this.finish(best));
    }
    if (route.kind === 'line') {
      const targets = this.ctx.contacts(route.line.user).map(contactTarget);
      this.forwarding = false;
      if (!targets.length) return this.finish(this.tx.reply(480, 'Temporarily Unavailable (forward target not registered)'));
      return this.fork(targets, (best) => this.finish(best));
    }
    this.forwarding = false;
    this.finish(this.tx.reply(480));
  }

  /**
   * Sends the INVITE to every target at once. `whenAllFailed` runs once every branch has a final non-2xx
   * answer or timed out, unless one answered 2xx.
   */
  private fork(targets: Target[], whenAllFailed: (best: SipResponse | undefined, timedOut: boolean) => void): void {
    const set = new Map<ClientTransaction, Target>();
    this.branches = set;
    let pending = targets.length;
    let timedOut = false;
    const settle = () => {
      if (--pending > 0 || this.answered || this.branches !== set) return;
      whenAllFailed(bestResponse(this.finals), timedOut && !this.finals.length);
    };
    for (const target of targets) {
      const out = this.proxy.prepare(this.tx.request, target.uri, target.dest, this.tx.request.headers, true);
      if (!out) {
        this.finals.push(this.tx.reply(483));
        settle();
        continue;
      }
      const sentRequest = out;
      const client = this.ctx.layer.request(out, target.dest, {
        onProvisional: (res) => {
          this.heardUpstream = true;
          if (this.branches !== set || this.answered) return;
          if (res.status > 100) {
            this.gotProvisional = true;
            this.tx.respond(withoutTopVia(res));
          }
        },
        onFinal: (res) => {
          this.heardUpstream = true;
          if (res.status < 300) {
            if (this.branches !== set) {
              // The caller is already elsewhere: end the late leg (ACK, then BYE) so the far end does not hold it.
              this.ctx.log.warn({ callId: this.callId, target: target.label }, 'a 2xx from an abandoned branch: hanging that leg up');
              return this.hangUpLeg(res, sentRequest, target.dest);
            }
            return this.answer(res, client);
          }
          if (this.branches === set) this.finals.push(res);
          settle();
        },
        onTimeout: () => {
          timedOut = true;
          settle();
        },
      });
      set.set(client, target);
    }
  }

  private answer(res: SipResponse, from: ClientTransaction): void {
    // Every 2xx goes back to the caller (forks, retransmissions: §16.7 step 5); the first one ends the forking.
    this.tx.respond(withoutTopVia(res));
    if (this.answered) return;
    this.answered = true;
    this.clearForwardTimer();
    for (const b of this.branches.keys()) if (b !== from) b.cancel();
    if (this.recordId !== undefined) {
      void this.ctx.store.calls.update(this.recordId, { answeredAt: Date.now(), result: 'answered' }).catch(() => undefined);
      void this.ctx.store.events.add({ type: 'call.answered', message: `call ${this.callerName()} -> ${this.user} answered`, data: { callId: this.callId, caller: this.callerName(), callee: this.user } }).catch(() => undefined);
    }
    this.close();
  }

  /** ACK and BYE for a 2xx that no caller wants (RFC 3261 §13.2.2.4, §15). */
  private hangUpLeg(res: SipResponse, sent: SipRequest, dest: Remote): void {
    let target = sent.uri;
    try {
      const contact = res.headers.values('Contact')[0];
      if (contact) target = parseAddress(contact).uriText;
    } catch {
      /* keep the Request-URI */
    }
    const routes = res.headers.values('Record-Route').reverse();
    const seq = Number((sent.headers.get('CSeq') ?? '1').trim().split(/\s+/)[0]) || 1;
    const build = (method: 'ACK' | 'BYE', cseq: number): SipRequest => {
      const h = new Headers();
      h.add('Via', ownVia(this.ctx.self(), dest.transport));
      h.add('Max-Forwards', '70');
      h.add('From', sent.headers.get('From') ?? '');
      h.add('To', res.headers.get('To') ?? '');
      h.add('Call-ID', sent.headers.get('Call-ID') ?? '');
      h.add('CSeq', `${cseq} ${method}`);
      for (const r of routes) h.add('Route', r);
      return { kind: 'request', method, uri: target, version: 'SIP/2.0', headers: h, body: Buffer.alloc(0) };
    };
    this.ctx.transport.send(build('ACK', seq), dest);
    this.ctx.layer.request(build('BYE', seq + 1), dest, { onFinal: () => undefined });
  }

  cancelByCaller(): void {
    if (this.done || this.answered) return;
    this.cancelled = true;
    this.clearForwardTimer();
    if (!this.branches.size) return this.finish(this.tx.reply(487));
    for (const b of this.branches.keys()) b.cancel();
  }

  private finish(res: SipResponse | undefined): void {
    if (this.done) return;
    const answer = this.cancelled ? this.tx.reply(487) : res ? (res.headers.values('Via').length > this.tx.request.headers.values('Via').length ? withoutTopVia(res) : res) : this.tx.reply(408);
    this.tx.respond(answer);
    if (this.recordId !== undefined) {
      const result = this.cancelled ? 'cancelled' : answer.status === 486 || answer.status === 600 ? 'busy' : answer.status === 408 || answer.status === 480 ? 'no-answer' : `failed ${answer.status}`;
      void this.ctx.store.calls.update(this.recordId, { endedAt: Date.now(), result }).catch(() => undefined);
      void this.ctx.store.events.add({ type: 'call.ended', level: result === 'cancelled' || result === 'busy' ? 'info' : 'warn', message: `call ${this.callerName()} -> ${this.user} ${result}`, data: { callId: this.callId, caller: this.callerName(), callee: this.user, result } }).catch(() => undefined);
      this.proxy.records.delete(this.callId);
    }
    this.close();
  }

  private clearForwardTimer(): void {
    if (this.forwardTimer) clearTimeout(this.forwardTimer);
    this.forwardTimer = undefined;
  }

  private close(): void {
    this.done = true;
    this.clearForwardTimer();
    this.proxy.forget(this.tx);
  }
}

function describe(route: Route): string {
  switch (route.kind) {
    case 'line':
      return `line ${route.line.ext}`;
    case 'pstn':
      return `pstn ${route.number}${route.emergency ? ' (emergency)' : ''}`;
    case 'inbound':
      return `inbound ${route.lines.map((l) => l.ext).join(',')}`;
    case 'reject':
      return `rejected ${route.status}`;
  }
}
