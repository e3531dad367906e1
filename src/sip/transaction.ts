/**
 * SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state): the four state machines, their timers,
 * retransmission and absorption of retransmissions. A transaction always ends: every state has a timer that
 * terminates it, including an INVITE client transaction whose CANCEL was answered 200 but whose 487 never came
 * (the npm `sip` package's leak). `size()` counts what is alive, so tests can see it return to zero.
 */
import { randomFillSync } from 'node:crypto';
import { formatVia, NO_PARAMS, parseAddress, parseCSeq, parseVia, type Via } from './headers.js';
import { KeptAnswers } from './kept.js';
import { Headers, parseMessage, responseTo, serializeHead, serializeMessage, type SipMessage, type SipRequest, type SipResponse } from './message.js';

/** What a completed transaction's request is replaced by, so the parsed message can be collected. */
const COMPLETED: SipRequest = { kind: 'request', method: 'COMPLETED', uri: 'sip:invalid', version: 'SIP/2.0', headers: new Headers(), body: Buffer.alloc(0) };
import type { Remote } from './transport.js';

export interface Timers {
  /** RTT estimate (500 ms). */
  t1: number;
  /** Longest retransmit interval for non-INVITE requests and INVITE responses (4 s). */
  t2: number;
  /** Longest a message stays in the network (5 s). */
  t4: number;
  /** Longest an INVITE client transaction waits in Proceeding for a final answer (a proxy's Timer C, > 3 min). */
  timerC: number;
}

export const DEFAULT_TIMERS: Timers = { t1: 500, t2: 4000, t4: 5000, timerC: 181_000 };

export const MAGIC_COOKIE = 'z9hG4bK';
/** Branches of requests Outpost sends or forwards, so a request that comes back around is recognised. */
export const PROXY_BRANCH = `${MAGIC_COOKIE}-op-`;

/** Outpost's own Via for a request it sends or forwards: its address, and a branch it will recognise. */
export function ownVia(self: { host: string; port: number }, transport: string): string {
  return `SIP/2.0/${transport.toUpperCase()} ${self.host}:${self.port};branch=${PROXY_BRANCH}${randomText(9, 'base64url')};rport`;
}

/**
 * A request Outpost starts on its own, outside any dialog (the upstream monitor's and the doctor's OPTIONS, the
 * check-sync NOTIFY): its own Via, a fresh From tag and Call-ID, `extra` headers before the User-Agent.
 */
export function ownRequest(
  method: string,
  o: { uri: string; to?: string; self: { host: string; port: number }; transport: 'udp' | 'tcp'; user?: string; cseq?: number; userAgent: string; extra?: ReadonlyArray<[string, string]> },
): SipRequest {
  const host = o.self.host.includes(':') && !o.self.host.startsWith('[') ? `[${o.self.host}]` : o.self.host;
  const h = new Headers();
  h.add('Via', ownVia({ host, port: o.self.port }, o.transport));
  h.add('Max-Forwards', '70');
  h.add('From', `<sip:${o.user ?? 'outpost'}@${host}:${o.self.port}>;tag=${randomText(6, 'hex')}`);
  h.add('To', `<${o.to ?? o.uri}>`);
  h.add('Call-ID', `${randomText(10, 'hex')}@outpost`);
  h.add('CSeq', `${o.cseq ?? 1} ${method}`);
  for (const [name, value] of o.extra ?? []) h.add(name, value);
  h.add('User-Agent', o.userAgent);
  return { kind: 'request', method, uri: o.uri, version: 'SIP/2.0', headers: h, body: Buffer.alloc(0) };
}

export function newBranch(): string {
  return `${MAGIC_COOKIE}${randomText(12, 'base64url')}`;
}

export function newTag(): string {
  return randomText(8, 'hex');
}

/** Random bytes for tags and branches, drawn from a pool refilled 4 KiB at a time (one system call, not one each). */
const POOL = Buffer.alloc(4096);
let poolUsed = POOL.length;

export function randomText(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (poolUsed + bytes > POOL.length) {
    randomFillSync(POOL);
    poolUsed = 0;
  }
  const text = POOL.toString(encoding, poolUsed, poolUsed + bytes);
  poolUsed += bytes;
  return text;
}

export interface Sender {
  send(msg: SipMessage, remote: Remote): void;
  /** Bytes already serialised (a kept answer, retransmitted). */
  sendBytes?(bytes: Buffer, remote: Remote): void;
}

/** Where a response to a request goes (RFC 3261 §18.2.2, RFC 3581 §4). */
export function responseDestination(via: Via, remote: Remote): Remote {
  if (remote.transport === 'tcp') return remote;
  const received = via.params.get('received');
  const rport = via.params.get('rport');
  const port = rport ? Number(rport) : via.port ?? 5060;
  return { transport: 'udp', address: received ?? via.host.replace(/^\[|\]$/g, ''), port };
}

/** The request's top Via with `received` (when the source differs from sent-by) and `rport` filled in. */
function stampTopVia(req: SipRequest, remote: Remote): Via {
  const first = req.headers.get('Via');
  // The usual case, a first Via line with one value: stamped in place. Several values in the line: split first.
  const values = first !== undefined && first !== '' && !first.includes(',') ? undefined : req.headers.values('Via');
  const parsed = parseVia(values ? values[0]! : first!);
  const host = parsed.host.replace(/^\[|\]$/g, '');
  // Only the source counts: a received or rport value the sender wrote itself would aim the answer elsewhere.
  // parseVia's map is this caller's own (a fresh parse), but for the one shared empty map.
  const params = parsed.params === NO_PARAMS ? new Map<string, string | null>() : (parsed.params as Map<string, string | null>);
  if (host !== remote.address) params.set('received', remote.address);
  else params.delete('received');
  if (params.has('rport')) params.set('rport', String(remote.port));
  const top: Via = { ...parsed, params };
  if (!values) {
    req.headers.replaceFirst('Via', formatVia(top));
    return top;
  }
  values[0] = formatVia(top);
  req.headers.remove('Via');
  for (const v of values) req.headers.add('Via', v);
  return top;
}

type State = 'trying' | 'calling' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export interface ServerTransaction {
  readonly request: SipRequest;
  readonly remote: Remote;
  readonly via: Via;
  readonly state: State;
  /** Sends a response (the transaction keeps it to answer retransmissions). */
  respond(res: SipResponse): void;
  /**
   * Sends a final response and forgets the request at once (RFC 3261 §16.7's stateless answer, as a registrar's
   * challenge is): a retransmission is a new request and gets a new answer.
   */
  respondStateless(res: SipResponse): void;
  /** A response to the request with the usual headers copied. */
  reply(status: number, reason?: string, extra?: Array<[string, string]>): SipResponse;
  /** The TU will never answer (a blocked source): end the transaction now, not when the no-answer guard fires. */
  drop(): void;
}

export interface ClientHandlers {
  onProvisional?(res: SipResponse): void;
  /** Called for the final response; for INVITE also for each further 2xx (forks, retransmissions). */
  onFinal(res: SipResponse): void;
  /** No final response in time: Timer B/F, Timer C, or a CANCEL left unanswered by a 487. */
  onTimeout?(): void;
}

export interface ClientTransaction {
  readonly request: SipRequest;
  readonly state: State;
  /** INVITE only: sends CANCEL now, or once the first provisional response arrives. */
  cancel(): void;
  /** Stops retransmitting; answers that still come are delivered as before (a branch given up on). */
  abandon(): void;
}

export interface TransactionUser {
  /** A new request (not a retransmission, not an ACK). */
  onRequest(tx: ServerTransaction): void;
  /** An ACK that matches no INVITE server transaction in Completed (the ACK of a 2xx, or a stray one). */
  onAck?(req: SipRequest, remote: Remote): void;
  /** A CANCEL: its own transaction, and the INVITE transaction it cancels if there is one. */
  onCancel?(cancel: ServerTransaction, invite: ServerTransaction | undefined): void;
  /** A response that matches no client transaction (a proxy forwards a stray 2xx). */
  onStrayResponse?(res: SipResponse, remote: Remote): void;
  /** A request whose Via/CSeq cannot be read: no transaction is possible. */
  onBadRequest?(req: SipRequest, remote: Remote, reason: string): void;
}

class Server implements ServerTransaction {
  state: State;
  last: SipResponse | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private toTagValue: string | undefined;

  constructor(
    private readonly layer: TransactionLayer,
    readonly key: string,
    public request: SipRequest,
    readonly remote: Remote,
    readonly via: Via,
    readonly invite: boolean,
  ) {
    this.state = invite ? 'proceeding' : 'trying';
  }

  private get toTag(): string {
    return (this.toTagValue ??= newTag());
  }

  respondStateless(res: SipResponse): void {
    if (this.state === 'terminated') return;
    this.send(res);
    this.terminate();
  }

  reply(status: number, reason?: string, extra: Array<[string, string]> = []): SipResponse {
    const res = responseTo(this.request, status, reason, { toTag: this.toTag });
    for (const [name, value] of extra) res.headers.add(name, value);
    return res;
  }

  private send(res: SipResponse): void {
    this.layer.sender.send(res, responseDestination(this.via, this.remote));
  }

  respond(res: SipResponse): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed') return;
    const t = this.layer.timers;
    const reliable = this.remote.transport !== 'udp';
    if (this.state === 'accepted') {
      if (res.status >= 200 && res.status < 300) this.send(res); // RFC 6026: 2xx retransmissions from the TU pass
      return;
    }
    if (!this.invite && res.status >= 200 && !reliable) {
      // Timer J: 32 s of absorbing retransmissions. A registration storm holds a hundred thousand of these, so the
      // layer keeps only the answer's bytes and where they go (KeptAnswers: no object per answer), and this object
      // (request, Via, timers) is let go at once.
      const to = responseDestination(this.via, this.remote);
      // The answer is written once, into the store it is kept in, and sent from there.
      const bytes = this.layer.keepAnswer(this.key, serializeHead(res), res.body, to);
      const sender = this.layer.sender;
      if (!sender.sendBytes) sender.send(res, to);
      else sender.sendBytes(bytes ?? serializeMessage(res), to);
      this.state = 'completed';
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.length = 0;
      this.request = COMPLETED;
      this.layer.forgetServer(this.key, this);
      return;
    }
    this.last = res;
    this.send(res);
    if (res.status < 200) {
      this.state = 'proceeding';
      return;
    }
    if (!this.invite) {
      this.state = 'completed';
      return this.terminate(); // over TCP Timer J is 0
    }
    if (res.status < 300) {
      this.state = 'accepted';
      this.after(64 * t.t1, () => this.terminate()); // Timer L
      return;
    }
    this.state = 'completed';
    if (!reliable) {
      let interval = t.t1;
      const retransmit = () => {
        if (this.state !== 'completed') return;
        this.send(res);
        interval = Math.min(interval * 2, t.t2);
        this.after(interval, retransmit); // Timer G
      };
      this.after(interval, retransmit);
    }
    this.after(64 * t.t1, () => this.terminate()); // Timer H: the ACK never came
  }

  drop(): void {
    if (this.state === 'trying' || this.state === 'proceeding') this.terminate();
  }

  /** The same request again. */
  retransmitted(): void {
    if (this.last && (this.state === 'proceeding' || this.state === 'completed')) this.send(this.last);
  }

  acked(): void {
    if (!this.invite || this.state !== 'completed') return;
    this.state = 'confirmed';
    this.after(this.remote.transport === 'udp' ? this.layer.timers.t4 : 0, () => this.terminate()); // Timer I
  }

  /** Runs `fn` after `ms`; at once for 0 (the reliable-transport timers J, I, K, D). Never once terminated. */
  after(ms: number, fn: () => void): void {
    if (this.state === 'terminated') return; // e.g. the no-answer guard armed after a TU that answered at once over TCP
    if (ms <= 0) return fn();
    const timer = setTimeout(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.length = 0;
    this.layer.forgetServer(this.key, this);
  }
}

class Client implements ClientTransaction {
  state: State;
  private readonly timers: NodeJS.Timeout[] = [];
  private cancelWanted = false;
  private cancelled = false;
  private quiet = false;
  private readonly topVia: string;

  constructor(
    private readonly layer: TransactionLayer,
    readonly key: string,
    readonly request: SipRequest,
    readonly remote: Remote,
    private readonly handlers: ClientHandlers,
  ) {
    this.state = request.method === 'INVITE' ? 'calling' : 'trying';
    this.topVia = request.headers.values('Via')[0]!;
  }

  get invite(): boolean {
    return this.request.method === 'INVITE';
  }

  start(): void {
    const t = this.layer.timers;
    this.layer.sender.send(this.request, this.remote);
    if (this.remote.transport === 'udp') {
      let interval = t.t1;
      const retransmit = () => {
        if (this.quiet || (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding')) return;
        if (this.invite && this.state === 'proceeding') return; // Timer A stops at the first provisional
        this.layer.sender.send(this.request, this.remote);
        interval = this.invite ? interval * 2 : Math.min(interval * 2, t.t2);
        if (!this.invite && this.state === 'proceeding') interval = t.t2;
        this.after(interval, retransmit); // Timer A / E
      };
      this.after(interval, retransmit);
    }
    this.after(64 * t.t1, () => {
      // Timer B / F
      if (this.state === 'calling' || this.state === 'trying' || (!this.invite && this.state === 'proceeding')) this.timeout();
    });
  }

  receive(res: SipResponse): void {
    const t = this.layer.timers;
    const reliable = this.remote.transport !== 'udp';
    if (res.status < 200) {
      if (this.state === 'calling' || this.state === 'trying') {
        this.state = 'proceeding';
        if (this.invite) {
          this.after(t.timerC, () => this.state === 'proceeding' && this.timeout()); // Timer C
          if (this.cancelWanted) this.sendCancel();
        }
      }
      if (this.state === 'proceeding') this.handlers.onProvisional?.(res);
      return;
    }
    if (this.invite && res.status < 300) {
      if (this.state === 'calling' || this.state === 'proceeding') {
        this.state = 'accepted';
        this.after(64 * t.t1, () => this.terminate()); // Timer M
        this.handlers.onFinal(res);
      } else if (this.state === 'accepted') this.handlers.onFinal(res); // another fork's 2xx or a retransmission
      return;
    }
    if (this.state === 'completed') {
      if (this.invite) this.layer.sender.send(this.ack(res), this.remote); // absorb, ACK again
      return;
    }
    if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
    this.state = 'completed';
    if (this.invite) {
      this.layer.sender.send(this.ack(res), this.remote);
      this.after(reliable ? 0 : 32_000, () => this.terminate()); // Timer D
    } else {
      this.after(reliable ? 0 : t.t4, () => this.terminate()); // Timer K
    }
    this.handlers.onFinal(res);
  }

  /** The ACK for a non-2xx final response (RFC 3261 §17.1.1.3). */
  private ack(res: SipResponse): SipRequest {
    const h = new Headers();
    h.add('Via', this.topVia);
    for (const name of ['From', 'Call-ID']) h.add(name, this.request.headers.get(name)!);
    h.add('To', res.headers.get('To') ?? this.request.headers.get('To')!);
    h.add('CSeq', `${parseCSeq(this.request.headers.get('CSeq')!).seq} ACK`);
    for (const route of this.request.headers.lines('Route')) h.add('Route', route);
    h.add('Max-Forwards', '70');
    return { kind: 'request', method: 'ACK', uri: this.request.uri, version: 'SIP/2.0', headers: h, body: Buffer.alloc(0) };
  }

  abandon(): void {
    this.quiet = true;
  }

  cancel(): void {
    if (!this.invite || this.cancelled) return;
    if (this.state === 'calling') {
      this.cancelWanted = true; // RFC 3261 §9.1: not before a provisional response
      return;
    }
    if (this.state === 'proceeding') this.sendCancel();
  }

  private sendCancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const h = new Headers();
    h.add('Via', this.topVia);
    for (const name of ['From', 'To', 'Call-ID']) h.add(name, this.request.headers.get(name)!);
    h.add('CSeq', `${parseCSeq(this.request.headers.get('CSeq')!).seq} CANCEL`);
    for (const route of this.request.headers.lines('Route')) h.add('Route', route);
    h.add('Max-Forwards', '70');
    const cancel: SipRequest = { kind: 'request', method: 'CANCEL', uri: this.request.uri, version: 'SIP/2.0', headers: h, body: Buffer.alloc(0) };
    this.layer.request(cancel, this.remote, { onFinal: () => undefined });
    // The far end owes a 487; if it never sends one, the transaction still ends (the leak guard).
    this.after(64 * this.layer.timers.t1, () => this.state === 'proceeding' && this.timeout());
  }

  private timeout(): void {
    if (this.state === 'terminated') return;
    this.terminate();
    this.handlers.onTimeout?.();
  }

  /** Runs `fn` after `ms`; at once for 0 (the reliable-transport timers J, I, K, D). */
  after(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const timer = setTimeout(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.length = 0;
    this.layer.forgetClient(this.key, this);
  }
}

export interface TransactionCounters {
  requests: number;
  retransmissionsAbsorbed: number;
  strayResponses: number;
  timeouts: number;
}

export class TransactionLayer {
  private readonly servers = new Map<string, Server>();
  private readonly clients = new Map<string, Client>();
  readonly counters: TransactionCounters = { requests: 0, retransmissionsAbsorbed: 0, strayResponses: 0, timeouts: 0 };

  constructor(
    readonly sender: Sender,
    private readonly tu: TransactionUser,
    readonly timers: Timers = DEFAULT_TIMERS,
  ) {}

  /** Live transactions; a completed non-INVITE one counts until its Timer J ends (its kept answer is dropped). */
  size(): { server: number; client: number } {
    return { server: this.servers.size + this.kept.size, client: this.clients.size };
  }

  /** Answers of completed non-INVITE transactions (UDP) waiting out Timer J, checked by one timer. */
  private readonly kept = new KeptAnswers();
  private keptTimer: NodeJS.Timeout | undefined;

  /** Answers kept for Timer J, and those let go early because their store was full (see KeptAnswers). */
  keptStats(): { answers: number; bytes: number; evictedEarly: number } {
    return { answers: this.kept.size, bytes: this.kept.capacity, evictedEarly: this.kept.evictedEarly };
  }

  /** Keeps an answer (its head's text and body) for Timer J; its bytes as kept, undefined if it could not be. */
  keepAnswer(key: string, head: string, body: Buffer, to: Remote): Buffer | undefined {
    const timerJ = 64 * this.timers.t1;
    const bytes = this.kept.keep(key, head, body, to, Date.now() + timerJ);
    if (!bytes || this.keptTimer) return bytes;
    // Checked 16 times per wait, at most every 100 ms: Timer J is late by a fraction of a second at most.
    this.keptTimer = setInterval(() => {
      if (this.kept.expire(Date.now()) > 0) return;
      clearInterval(this.keptTimer);
      this.keptTimer = undefined;
    }, Math.max(10, Math.min(100, timerJ / 16)));
    this.keptTimer.unref();
    return bytes;
  }

  /** Everything the transport delivers. */
  receive(msg: SipMessage, remote: Remote): void {
    if (msg.kind === 'response') return this.response(msg, remote);
    let via: Via;
    let method: string;
    try {
      const firstVia = msg.headers.get('Via');
      if (firstVia === undefined || (firstVia === '' && !msg.headers.values('Via').length)) throw new Error('no Via');
      via = stampTopVia(msg, remote);
      const cseqText = msg.headers.get('CSeq');
      if (!cseqText) throw new Error('no CSeq');
      method = parseCSeq(cseqText).method;
    } catch (err) {
      this.tu.onBadRequest?.(msg, remote, (err as Error).message);
      return;
    }
    const key = serverKey(msg, via, method);
    if (msg.method === 'ACK') {
      const invite = this.servers.get(serverKey(msg, via, 'INVITE'));
      if (invite && invite.state === 'completed') return invite.acked();
      if (invite && invite.state === 'confirmed') return; // a retransmitted ACK
      this.tu.onAck?.(msg, remote);
      return;
    }
    const existing = this.servers.get(key);
    if (existing) {
      this.counters.retransmissionsAbsorbed++;
      existing.retransmitted();
      return;
    }
    const kept = this.kept.size ? this.kept.find(key) : undefined;
    if (kept) {
      this.counters.retransmissionsAbsorbed++;
      // A sender without sendBytes (tests, a custom one) gets the kept bytes as a message again.
      if (this.sender.sendBytes) this.sender.sendBytes(kept.bytes, kept.to);
      else this.sender.send(parseMessage(kept.bytes), kept.to);
      return;
    }
    this.counters.requests++;
    const tx = new Server(this, key, msg, remote, via, msg.method === 'INVITE');
    this.servers.set(key, tx);
    // 100 Trying unless the TU answers within this turn of the loop (a 407, a 404: §17.2.1 lets a server that
    // answers within 200 ms skip it), so a challenged INVITE costs one response, not two.
    if (tx.invite) setImmediate(() => tx.state === 'proceeding' && tx.last === undefined && tx.respond(tx.reply(100)));
    if (msg.method === 'CANCEL' && this.tu.onCancel) {
      this.tu.onCancel(tx, this.servers.get(serverKey(msg, via, 'INVITE')));
      return;
    }
    this.tu.onRequest(tx);
    // A TU that answered nothing still gets its transaction cleaned up (one that answered already needs no guard).
    if (tx.state === 'trying' || tx.state === 'proceeding') tx.after(64 * this.timers.t1 + this.timers.timerC, () => tx.terminate());
  }

  /** Sends a request as a new client transaction; its top Via must carry a fresh branch. */
  request(req: SipRequest, remote: Remote, handlers: ClientHandlers): ClientTransaction {
    const via = parseVia(req.headers.values('Via')[0]!);
    const key = `${via.params.get('branch') ?? ''}|${req.method}`;
    const wrapped: ClientHandlers = {
      ...handlers,
      onTimeout: () => {
        this.counters.timeouts++;
        handlers.onTimeout?.();
      },
    };
    const tx = new Client(this, key, req, remote, wrapped);
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  private response(res: SipResponse, remote: Remote): void {
    let key: string | undefined;
    try {
      const via = parseVia(res.headers.values('Via')[0] ?? '');
      key = `${via.params.get('branch') ?? ''}|${parseCSeq(res.headers.get('CSeq') ?? '').method}`;
    } catch {
      key = undefined;
    }
    const tx = key ? this.clients.get(key) : undefined;
    if (tx) return tx.receive(res);
    this.counters.strayResponses++;
    this.tu.onStrayResponse?.(res, remote);
  }

  forgetServer(key: string, tx: Server): void {
    if (this.servers.get(key) === tx) this.servers.delete(key);
  }

  forgetClient(key: string, tx: Client): void {
    if (this.clients.get(key) === tx) this.clients.delete(key);
  }

  /** Ends every transaction (shutdown). */
  clear(): void {
    if (this.keptTimer) clearInterval(this.keptTimer);
    this.keptTimer = undefined;
    this.kept.clear();
    for (const tx of [...this.servers.values()]) tx.terminate();
    for (const tx of [...this.clients.values()]) tx.terminate();
  }
}

/**
 * RFC 3261 §17.2.3: branch + sent-by + method when the branch has the magic cookie; otherwise (RFC 2543 peers)
 * Call-ID, CSeq number, From tag, the top Via and the method.
 */
function serverKey(req: SipRequest, via: Via, method: string): string {
  const branch = via.params.get('branch') ?? '';
  const sentBy = `${via.host}:${via.port ?? ''}`;
  if (branch.startsWith(MAGIC_COOKIE)) return `${branch}|${sentBy}|${method}`;
  let fromTag = '';
  try {
    fromTag = parseAddress(req.headers.get('From') ?? '').params.get('tag') ?? '';
  } catch {
    /* an unreadable From still gets a key; the TU answers 400 */
  }
  return `2543|${req.headers.get('Call-ID') ?? ''}|${parseCSeq(req.headers.get('CSeq') ?? '0 X').seq}|${fromTag}|${branch}|${sentBy}|${method}`;
}
