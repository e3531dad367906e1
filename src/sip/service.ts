/**
 * Outpost's SIP service: the transport, the transaction layer and what Outpost answers itself (REGISTER,
 * OPTIONS). Every phone registers here as its second server, so Outpost knows where each line is before the
 * WAN fails. Bindings are durable before the 200 OK; failures from one source are slowed, then blocked.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from '../app/log.js';
import type { SiteSettings } from '../config/schema.js';
import { anyCidrContains, type Cidr } from '../net/cidr.js';
import type { Mac } from '../net/mac.js';
import type { Inventory } from '../provisioning/inventory.js';
import type { Binding } from '../store/bindings.js';
import type { Line } from '../store/lines.js';
import type { Store } from '../store/index.js';
import type { VendorPlugin } from '../vendors/types.js';
import { challenge, computeHA1, FailureTarpit, NonceIssuer, parseCredentials, redactAuthorization, verify, type DigestAlgorithm, type DigestCredentials } from './digest.js';
import { parseMaxForwards, type Via } from './headers.js';
import { essentials, replyHeaders, SipParseError, type Essentials, type SipRequest, type SipResponse } from './message.js';
import { contactValues, processRegister } from './registrar.js';
import { RegistrationBook } from './registrations.js';
import { DEFAULT_TIMERS, PROXY_BRANCH, TransactionLayer, type ServerTransaction, type Timers } from './transaction.js';
import { SipTransport, sourceText, type Remote } from './transport.js';
import { parseUri, UnsupportedSchemeError } from './uri.js';

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, NOTIFY, UPDATE, INFO, PRACK, REFER, MESSAGE';
/** Outpost's realm in every challenge. */
export const REALM = 'outpost';
const SERVER_HEADER = 'Outpost';


export interface SipCounters {
  registers: Record<'ok' | 'challenged' | 'stale' | 'failed' | 'rejected' | 'error', number>;
  malformed: number;
  answered400: number;
  dropped: number;
  tarpitted: number;
}

export interface SipServiceOptions {
  host: string;
  port: number;
  /** The address phones reach Outpost at (its own Via sent-by, for loop detection); default `host`. */
  advertise?: string;
  store: Store;
  inventory: Inventory;
  vendors: readonly VendorPlugin[];
  log: Logger;
  timers?: Timers;
  /** Nonces survive a restart when the secret does; a random one costs each phone one extra 401. */
  nonceSecret?: Buffer;
  tarpit?: FailureTarpit;
  now?: () => number;
}

/** What Outpost does with calls (INVITE and in-dialog requests): the survival-mode proxy plugs in here. */
export interface CallHandler {
  handle(tx: ServerTransaction, reply: (status: number, reason?: string, extra?: Array<[string, string]>) => void): Promise<void>;
  ack(req: SipRequest): void;
  cancel(cancel: ServerTransaction, invite: ServerTransaction | undefined): void;
  strayResponse(res: SipResponse): void;
}

export interface RegistrationView {
  line: string;
  user: string;
  contact: string;
  expiresAt: string;
  expiresIn: number;
  source: string;
  userAgent?: string | undefined;
  mac?: string | undefined;
  q?: number | undefined;
}

export class SipService {
  readonly transport: SipTransport;
  readonly layer: TransactionLayer;
  readonly book: RegistrationBook;
  readonly counters: SipCounters = { registers: { ok: 0, challenged: 0, stale: 0, failed: 0, rejected: 0, error: 0 }, malformed: 0, answered400: 0, dropped: 0, tarpitted: 0 };
  private readonly issuer: NonceIssuer;
  private readonly tarpit: FailureTarpit;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private usersMemo: { lines: Map<string, Line>; byUser: Map<string, Line> } | undefined;
  private calls: CallHandler | undefined;
  /** The branch's mode (normal / survival): REGISTER answers carry a short Expires during an outage. */
  mode: () => 'normal' | 'survival' = () => 'normal';

  constructor(private readonly options: SipServiceOptions) {
    this.now = options.now ?? Date.now;
    this.issuer = new NonceIssuer(options.nonceSecret ? { secret: options.nonceSecret } : {});
    this.tarpit = options.tarpit ?? new FailureTarpit();
    this.book = new RegistrationBook(options.store);
    this.transport = new SipTransport({
      host: options.host,
      port: options.port,
      log: options.log,
      maxConnections: this.site()?.sip.maxConnections ?? 1000,
      onMessage: (msg, remote) => this.layer.receive(msg, remote),
      onMalformed: (raw, remote, error) => this.malformed(raw, remote, error),
    });
    this.layer = new TransactionLayer(this.transport, {
      onRequest: (tx) => void this.request(tx).catch((err: Error) => {
        options.log.error({ err: err.message, stack: err.stack }, 'SIP request handling failed');
        this.counters.registers.error++;
        tx.respond(tx.reply(500));
      }),
      onBadRequest: () => {
        this.counters.dropped++;
      },
      onAck: (req) => this.calls?.ack(req),
      onStrayResponse: (res) => this.calls?.strayResponse(res),
      onCancel: (cancel, invite) => {
        if (this.calls) return this.calls.cancel(cancel, invite);
        cancel.respond(cancel.reply(invite ? 200 : 481));
        if (invite && invite.state === 'proceeding') invite.respond(invite.reply(487));
      },
    }, options.timers ?? DEFAULT_TIMERS);
  }

  /** Calls go to `handler` from now on. */
  useCalls(handler: CallHandler): void {
    this.calls = handler;
  }

  /** Where phones reach this service (Via sent-by, Record-Route). */
  self(): { host: string; port: number } {
    return { host: this.options.advertise ?? this.options.host, port: this.transport.port };
  }

  /** Every line, as the inventory has them now. */
  allLines(): Line[] {
    return [...this.lines().lines.values()];
  }

  site(): SiteSettings | undefined {
    return this.options.inventory.latest()?.site;
  }

  async start(): Promise<{ port: number }> {
    const expired = await this.book.load(this.now());
    if (expired.length) this.options.log.info({ expired: expired.length }, 'registrations that expired while Outpost was down removed');
    const bound = await this.transport.start();
    this.sweeper = setInterval(() => void this.sweep(), 1000);
    this.sweeper.unref();
    return bound;
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.layer.clear();
    await this.transport.stop();
  }

  registrations(): RegistrationView[] {
    const now = this.now();
    const lines = this.lines();
    return this.book.all(now).map((b) => ({
      line: lines.byUser.get(b.aor)?.ext ?? '',
      user: b.aor,
      contact: b.contact,
      expiresAt: new Date(b.expiresAt).toISOString(),
      expiresIn: Math.max(0, Math.round((b.expiresAt - now) / 1000)),
      source: b.source,
      userAgent: b.userAgent,
      mac: b.mac,
      q: b.q,
    }));
  }

  /** Live bindings of a line, by its SIP user (for the router). */
  contactsOf(user: string): Binding[] {
    return this.book.get(user, this.now());
  }

  private lines(): { lines: Map<string, Line>; byUser: Map<string, Line> } {
    const snapshot = this.options.inventory.latest();
    const lines = snapshot?.lines ?? new Map<string, Line>();
    if (this.usersMemo?.lines !== lines) this.usersMemo = { lines, byUser: new Map([...lines.values()].map((l) => [l.user, l])) };
    return this.usersMemo;
  }

  private async sweep(): Promise<void> {
    try {
      const expired = await this.book.sweep(this.now());
      for (const b of expired) {
        await this.options.store.events.add({ type: 'sip.expired', mac: b.mac as Mac | undefined, message: `registration of ${b.aor} at ${b.contact} expired`, data: { user: b.aor, contact: b.contact, source: b.source } });
      }
      for (const mac of new Set(expired.map((b) => b.mac).filter((m): m is string => !!m))) await this.deviceState(mac);
    } catch (err) {
      this.options.log.error({ err: (err as Error).message }, 'registration sweep failed');
    }
  }

  /** A message that did not parse: 400 when the headers a response needs can be read, silence otherwise. */
  private malformed(raw: Buffer, remote: Remote, error: SipParseError): void {
    this.counters.malformed++;
    this.options.log.debug({ from: `${remote.address}:${remote.port}`, reason: error.message }, 'malformed SIP message');
    const headers = replyHeaders(error);
    if (!headers || /^ACK\b/i.test(error.partial?.startLine ?? '')) {
      this.counters.dropped++;
      return;
    }
    headers.add('Server', SERVER_HEADER);
    const reason = `Bad Request (${error.message.replace(/[^\x20-\x7e]/g, '').slice(0, 80)})`;
    // The Via was not stamped: the answer goes back where the datagram came from.
    this.transport.send({ kind: 'response', version: 'SIP/2.0', status: 400, reason, headers, body: Buffer.alloc(0) }, remote);
    this.counters.answered400++;
  }

  private async request(tx: ServerTransaction): Promise<void> {
    const req = tx.request;
    const reply = (status: number, reason?: string, extra: Array<[string, string]> = []) => tx.respond(tx.reply(status, reason, [['Server', SERVER_HEADER], ...extra]));
    let ess: Essentials;
    try {
      ess = essentials(req, tx.via);
    } catch (err) {
      this.counters.answered400++;
      return reply(400, `Bad Request (${(err as Error).message})`.slice(0, 120));
    }
    if (req.version !== 'SIP/2.0') return reply(505);
    let uriScheme: string;
    if (ess.requestUri) uriScheme = ess.requestUri.scheme;
    else {
      try {
        uriScheme = parseUri(req.uri).scheme;
      } catch (err) {
        if (err instanceof UnsupportedSchemeError) return reply(416);
        return reply(400, 'Bad Request-URI');
      }
    }
    const mfText = req.headers.get('Max-Forwards');
    let mf = 70;
    try {
      if (mfText !== undefined) mf = parseMaxForwards(mfText);
    } catch {
      return reply(400, 'Bad Max-Forwards');
    }
    if (this.looped(ess.vias)) return reply(482);
    if ((req.method === 'REGISTER' || req.method === 'OPTIONS') && req.headers.has('Require')) {
      const required = req.headers.values('Require');
      if (required.length) return reply(420, undefined, [['Unsupported', required.join(', ')]]);
    }
    switch (req.method) {
      case 'REGISTER':
        if (uriScheme === 'tel') return reply(416);
        return this.register(tx, reply, ess);
      case 'OPTIONS':
        return reply(200, undefined, [['Allow', ALLOW], ['Accept', 'application/sdp'], ['Accept-Language', 'en']]);
      default:
        if (mf === 0) return reply(483);
        if (this.calls) return this.calls.handle(tx, reply);
        if (['INVITE', 'BYE', 'UPDATE', 'INFO', 'PRACK', 'REFER', 'MESSAGE', 'NOTIFY', 'SUBSCRIBE', 'PUBLISH'].includes(req.method)) return reply(480, 'Temporarily Unavailable (no route)');
        return reply(501);
    }
  }

  /**
   * A request that already passed through this box (a Via with Outpost's own address and port below the top
   * one): it came back around, e.g. Centrex -> Outpost -> Centrex -> Outpost (RFC 3261 §16.3 step 4).
   */
  private looped(vias: readonly Via[]): boolean {
    if (vias.length < 2) return false;
    const host = (this.options.advertise ?? this.options.host).toLowerCase();
    const port = this.transport.port;
    return vias.slice(1).some((via) => via.host.replace(/^\[|\]$/g, '') === host && (via.port ?? 5060) === port && (via.params.get('branch') ?? '').startsWith(PROXY_BRANCH));
  }

  private async register(tx: ServerTransaction, reply: (status: number, reason?: string, extra?: Array<[string, string]>) => void, { callId, cseq, toAddress }: Essentials): Promise<void> {
    const req = tx.request;
    const remote = tx.remote;
    // The inventory as it is now (a no-op unless the store changed): a line or device added while Outpost runs counts.
    if (!this.options.inventory.fresh()) await this.options.inventory.current().catch(() => undefined);
    const now = this.now();
    const site = this.site();
    if (!site) return reply(503, 'Service Unavailable (starting)', [['Retry-After', '5']]);
    const source = sourceText(remote);
    if (this.tarpit.isBlocked(remote.address, now)) {
      this.counters.tarpitted++;
      tx.drop();
      return; // silence: a blocked source learns nothing
    }
    const allow = this.options.inventory.latest()?.allow ?? [];
    if (!this.allowed(allow, remote.address)) {
      this.counters.registers.rejected++;
      await this.event('sip.rejected', 'warn', `REGISTER from ${remote.address} refused: not in an allowed network`, { source });
      return reply(403, 'Forbidden (network not allowed)');
    }
    // The To of a REGISTER names the address of record: a sip:, sips: or tel: URI (parsed with the essentials).
    if (!toAddress.uri) return reply(400, 'Bad To');
    const toUser = toAddress.uri.user;
    const line = this.authenticate(tx, 'www', reply);
    if (!line) return;
    if (toUser === undefined || toUser !== line.user) {
      this.counters.registers.rejected++;
      await this.event('sip.rejected', 'warn', `${line.user} (line ${line.ext}) tried to register ${toUser ?? 'no user'} from ${remote.address}`, { source, user: line.user, to: toUser });
      return reply(403, 'Forbidden (the To user is not the authenticated line)');
    }
    const userAgent = req.headers.get('User-Agent');
    const aor = line.user;
    await this.book.exclusive(aor, async () => {
      const existing = this.book.get(aor, now);
      const mac = this.matchDevice(line, remote, userAgent);
      const outcome = processRegister({
        aor, request: req, callId, cseq: cseq.seq, existing, now, source, userAgent, mac,
        // During an outage phones register for a short time only, so they return to the Centrex soon after it is back.
        limits: this.mode() === 'survival'
          ? { minExpires: Math.min(site.sip.minExpires, site.survival.registerExpires), maxExpires: site.survival.registerExpires, defaultExpires: site.survival.registerExpires, maxContacts: site.sip.maxContacts }
          : { minExpires: site.sip.minExpires, maxExpires: site.sip.maxExpires, defaultExpires: site.sip.defaultExpires, maxContacts: site.sip.maxContacts },
        contactAllowed: (uri) => {
          const host = uri.host.replace(/^\[|\]$/g, '');
          return isIP(host) === 0 || this.allowed(allow, host);
        },
      });
      if (outcome.status !== 200) {
        this.counters.registers.rejected++;
        if (outcome.status === 403) await this.event('sip.rejected', 'warn', `REGISTER of ${aor} from ${remote.address}: ${outcome.reason}`, { source, user: aor });
        return reply(outcome.status, outcome.reason, outcome.headers ?? []);
      }
      // Durable first, then the 200; the event log and the device's state follow without holding the phone up.
      await this.book.replace(aor, outcome.bindings, outcome.puts, outcome.removals);
      this.counters.registers.ok++;
      reply(200, undefined, [...contactValues(outcome.bindings, now).map((c): [string, string] => ['Contact', c]), ['Date', this.dateHeader(now)]]);
      // A refresh of the same contacts from a phone no device is matched to changes nothing more: no work queued.
      if (!outcome.removals.length && outcome.puts.every((b) => b.mac === undefined && existing.some((e) => e.contact === b.contact))) return;
      const known = new Set(existing.map((b) => b.contact));
      void (async () => {
        for (const b of outcome.puts) {
          if (!known.has(b.contact)) await this.event('sip.registered', 'info', `${aor} (line ${line.ext}) registered at ${b.contact}`, { user: aor, contact: b.contact, source, userAgent }, false, b.mac);
        }
        for (const b of outcome.removals) await this.event('sip.unregistered', 'info', `${aor} (line ${line.ext}) unregistered ${b.contact}`, { user: aor, contact: b.contact, source }, false, b.mac);
        for (const m of new Set([...outcome.puts, ...outcome.removals].map((b) => b.mac).filter((x): x is string => !!x))) await this.deviceState(m);
      })().catch((err: Error) => this.options.log.error({ err: err.message }, 'recording a registration failed'));
    });
  }

  /** Whether an address is in the site's allowed networks; remembered per address while the list is the same. */
  private allowed(allow: readonly Cidr[], address: string): boolean {
    if (this.allowMemo.allow !== allow) this.allowMemo = { allow, answers: new Map() };
    let answer = this.allowMemo.answers.get(address);
    if (answer === undefined) {
      answer = anyCidrContains(allow, address);
      if (this.allowMemo.answers.size < 4096) this.allowMemo.answers.set(address, answer);
    }
    return answer;
  }

  private allowMemo: { allow: readonly Cidr[] | undefined; answers: Map<string, boolean> } = { allow: undefined, answers: new Map() };

  /** The Date header of an answer (RFC 3261 §20.17), made once a second. */
  private dateHeader(now: number): string {
    const second = Math.floor(now / 1000);
    if (this.date.second !== second) this.date = { second, text: new Date(second * 1000).toUTCString() };
    return this.date.text;
  }

  private date = { second: -1, text: '' };

  /**
   * Digest authentication of a request against the lines (RFC 3261 §22): `www` for REGISTER (401,
   * Authorization), `proxy` for calls (407, Proxy-Authorization). Answers the challenge or the failure itself
   * (slowly, then not at all, for a source that keeps failing) and returns the line only when the request is
   * authenticated.
   */
  authenticate(tx: ServerTransaction, kind: 'www' | 'proxy', reply: (status: number, reason?: string, extra?: Array<[string, string]>) => void): Line | undefined {
    const req = tx.request;
    const remote = tx.remote;
    const now = this.now();
    const site = this.site();
    const algorithms = site?.sip.algorithms ?? ['MD5', 'SHA-256'];
    const status = kind === 'www' ? 401 : 407;
    const challengeName = kind === 'www' ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    const source = sourceText(remote);
    const challengeNow = (stale = false) =>
      reply(status, undefined, challenge({ issuer: this.issuer, realm: REALM, algorithms, stale, now: this.now() }).map((v): [string, string] => [challengeName, v]));
    if (this.tarpit.isBlocked(remote.address, now)) {
      this.counters.tarpitted++;
      tx.drop();
      return undefined; // silence: a blocked source learns nothing
    }
    // Credentials for Outpost's realm (a phone may also carry the Centrex's), else the first ones given.
    let ours: { raw: string; creds: DigestCredentials | string } | undefined;
    for (const raw of req.headers.lines(kind === 'www' ? 'Authorization' : 'Proxy-Authorization')) {
      const creds = parseCredentials(raw);
      if (typeof creds !== 'string' && creds.realm === REALM) {
        ours = { raw, creds };
        break;
      }
      ours ??= { raw, creds };
    }
    if (!ours) {
      if (kind === 'www') this.counters.registers.challenged++;
      // Answered statelessly: half of a registration storm is these, and keeping each for 32 s costs memory.
      tx.respondStateless(tx.reply(status, undefined, [['Server', SERVER_HEADER], ...challenge({ issuer: this.issuer, realm: REALM, algorithms, now }).map((v): [string, string] => [challengeName, v])]));
      return undefined;
    }
    if (typeof ours.creds === 'string') {
      reply(400, `Bad ${kind === 'www' ? 'Authorization' : 'Proxy-Authorization'} (${ours.creds})`.slice(0, 100));
      return undefined;
    }
    const creds = ours.creds;
    const line = this.lines().byUser.get(creds.username);
    const verdict = line
      ? verify(creds, { method: req.method, user: line.user, realm: REALM, issuer: this.issuer, now, ha1: this.ha1Of(line, algorithms), algorithms })
      : ({ ok: false, reason: 'bad-response', detail: 'no line has this user' } as const);
    if (verdict.ok) {
      this.tarpit.onSuccess(remote.address);
      return line;
    }
    if (verdict.reason === 'stale') {
      if (kind === 'www') this.counters.registers.stale++;
      challengeNow(true);
      return undefined;
    }
    if (kind === 'www') this.counters.registers.failed++;
    const penalty = this.tarpit.onFailure(remote.address, now);
    this.options.log.info({ source, user: creds.username, method: req.method, reason: verdict.reason, detail: verdict.detail, authorization: redactAuthorization(ours.raw) }, 'SIP authentication failed');
    if (penalty.firstBlock) void this.event('sip.blocked', 'warn', `${remote.address} blocked for repeated authentication failures (last user ${creds.username})`, { source });
    else void this.event('sip.auth_failed', 'warn', `${req.method} for ${creds.username} from ${remote.address} failed authentication (${verdict.reason})`, { source, user: creds.username, reason: verdict.reason }, true);
    if (penalty.blocked) {
      tx.drop();
      return undefined;
    }
    if (penalty.delayMs > 0) {
      this.counters.tarpitted++;
      setTimeout(() => challengeNow(), penalty.delayMs).unref();
      return undefined;
    }
    challengeNow();
    return undefined;
  }

  /**
   * The line's HA1 for each algorithm the site accepts, computed once per line and password: the response is then
   * one hash, not two, and no key text is built to look the HA1 up.
   */
  private ha1Of(line: Line, algorithms: readonly DigestAlgorithm[]): Partial<Record<DigestAlgorithm, string>> {
    let known = this.ha1s.get(line);
    if (!known || known.password !== line.password) this.ha1s.set(line, (known = { password: line.password, ha1: {} }));
    for (const algorithm of algorithms) known.ha1[algorithm] ??= computeHA1(algorithm, line.user, REALM, line.password);
    return known.ha1;
  }

  private readonly ha1s = new WeakMap<Line, { password: string; ha1: Partial<Record<DigestAlgorithm, string>> }>();

  /**
   * The device a registration comes from: one that carries the line and is at the request's or the contact's
   * address, else the one whose MAC the User-Agent names.
   */
  private matchDevice(line: Line, remote: Remote, userAgent: string | undefined): string | undefined {
    const snapshot = this.options.inventory.latest();
    if (!snapshot) return undefined;
    for (const device of snapshot.devices.values()) {
      if (device.lines.includes(line.ext) && device.ip === remote.address) return device.mac;
    }
    if (userAgent) {
      for (const mac of this.macsOfUserAgent(userAgent)) if (snapshot.devices.has(mac)) return mac;
    }
    return undefined;
  }

  /**
   * The MAC addresses a User-Agent names (Yealink's carries one), as each vendor plugin reads it: a phone sends the
   * same User-Agent at every registration, so the answer is remembered (up to 4,096 User-Agents).
   */
  private macsOfUserAgent(userAgent: string): readonly Mac[] {
    let macs = this.userAgentMacs.get(userAgent);
    if (macs === undefined) {
      const found: Mac[] = [];
      for (const vendor of this.options.vendors) {
        const mac = vendor.identifyUserAgent(userAgent)?.mac;
        if (mac) found.push(mac);
      }
      macs = found;
      if (this.userAgentMacs.size >= 4096) this.userAgentMacs.clear();
      // Keyed by a copy: the header's text is a slice that would keep the whole request alive.
      this.userAgentMacs.set(Buffer.from(userAgent, 'latin1').toString('latin1'), macs);
    }
    return macs;
  }

  private readonly userAgentMacs = new Map<string, readonly Mac[]>();

  private async deviceState(mac: string): Promise<void> {
    const registered = this.book.hasDevice(mac, this.now());
    if (await this.options.store.devices.markRegistered(mac as Mac, registered)) {
      await this.event(registered ? 'device.registered' : 'device.unregistered', 'info', `device ${mac} ${registered ? 'registered' : 'has no registration left'}`, {}, false, mac);
    }
  }

  private readonly recentEvents = new Map<string, number>();

  private async event(type: string, level: 'info' | 'warn', message: string, data: Record<string, unknown>, rateLimited = false, mac?: string): Promise<void> {
    if (rateLimited) {
      const key = `${type}|${String(data.source ?? '')}`;
      const last = this.recentEvents.get(key);
      const now = this.now();
      if (last !== undefined && now - last < 60_000) return;
      if (this.recentEvents.size > 10_000) this.recentEvents.clear();
      this.recentEvents.set(key, now);
    }
    await this.options.store.events.add({ type, level, message, data, mac: mac as Mac | undefined }).catch(() => undefined);
  }
}

/** A fresh random secret for nonces, for callers that do not keep one. */
export function nonceSecret(): Buffer {
  return randomBytes(32);
}

