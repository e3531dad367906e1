/**
 * mDNS / DNS-SD advertisement of the admin page (issue 8): `_outpost._tcp` (TXT `path=/`, `version`) and
 * `_http._tcp` (TXT `path=/`), both named `Outpost <site name>`, on the HTTP port, host `<hostname>.local`, so
 * a technician finds the box at http://<hostname>.local:8080/ or in any Bonjour/Avahi browser.
 *
 * Built on bonjour-service, with what it does not do itself:
 *  - It is created with `bind: '0.0.0.0'` and `interface: <LAN address>`: the socket must be bound to the
 *    wildcard to receive the group's datagrams (bound to the unicast address it receives none), and the
 *    interface address is where it joins 224.0.0.251 and what it sends from. Without `interface` it sends
 *    through the default route's interface, or fails outright where there is no default route.
 *  - Its socket errors (port 5353 taken, no multicast) are events that would crash the process unheard and its
 *    default error callback throws: here they are caught and become `off mdns: <reason>`; serve goes on.
 *  - It publishes an A/AAAA record for every address of every interface (WAN, docker0, link-local IPv6 ...):
 *    here the host record carries only the LAN address the service is announced on.
 *  - Its own probe prints to stdout and gives up on a name conflict: we probe first ourselves (RFC 6762 §8.1,
 *    three queries 250 ms apart) and take `Outpost X (2)` / `<hostname>-2.local` when the name is taken.
 *  - It answers every query by multicast to port 5353, so a one-shot querier (`dig -p 5353 @224.0.0.251`,
 *    some resolvers) that asks from another port never hears it: those get a unicast answer (RFC 6762 §6.7).
 * On shutdown the services are withdrawn with goodbyes (TTL 0), bounded so that serve still stops within 5 s.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { EventEmitter } from 'node:events';
import Bonjour from 'bonjour-service';
import type { Logger } from './log.js';
import type { ServiceState } from './status.js';

export const MDNS_PORT = 5353;
export const MDNS_GROUP = '224.0.0.251';
/** A DNS label (and so a DNS-SD instance name or a host name) is at most 63 bytes. */
export const MAX_LABEL_BYTES = 63;

// --- names -----------------------------------------------------------------------------------------------------

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `text` cut to at most `maxBytes` of UTF-8, never inside a character (nor a grapheme: no stray accents). */
function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const { segment } of segmenter.segment(text)) {
    const n = Buffer.byteLength(segment);
    if (bytes + n > maxBytes) break;
    out += segment;
    bytes += n;
  }
  return out;
}

/**
 * The DNS-SD instance name for a site: `Outpost <site name>`, as one valid label. Control and format
 * characters become spaces, runs of white space one space; a dot ends a word (`St. Pölten` → `St Pölten`) or
 * becomes `-` inside one (`2.1` → `2-1`), because bonjour-service cannot escape a dot inside a label; a
 * backslash becomes `-`; the result is NFC and cut (at a character boundary) so that it and `suffix` (` (2)`
 * after a conflict) fit in 63 bytes of UTF-8.
 */
export function instanceName(siteName: string, suffix = ''): string {
  const site = siteName
    .normalize('NFC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\.(?=\s|$)/g, '')
    .replace(/[.\\]/g, '-')
    .replace(/\s+/gu, ' ')
    .trim();
  const full = site ? `Outpost ${site}` : 'Outpost';
  return `${truncateBytes(full, MAX_LABEL_BYTES - Buffer.byteLength(suffix)).trimEnd()}${suffix}`;
}

/**
 * The host label for `<label>.local`: the first label of the host name in letters, digits and `-` (accents
 * dropped, anything else `-`), at most 63 with `suffix` (`-2` after a conflict); `outpost` if nothing is left.
 */
export function hostLabel(hostname: string, suffix = ''): string {
  const label = (hostname.split('.')[0] ?? '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const base = (label || 'outpost').slice(0, MAX_LABEL_BYTES - suffix.length).replace(/-$/, '');
  return `${base}${suffix}`;
}

// --- where to announce -----------------------------------------------------------------------------------------

export interface MdnsInterface {
  address: string;
  ifname: string;
  netmask: string;
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\./.test(address);
}

/**
 * The LAN address mDNS announces on: the HTTP bind address when it is one address, else the address serve
 * advertises (the flag, the site, else the first LAN address). A reason instead when there is none usable.
 */
export function mdnsInterface(bind: string, advertise: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): MdnsInterface | { reason: string } {
  if (isLoopback(bind)) return { reason: `HTTP listens on ${bind} only (loopback): nothing on the LAN could open the page` };
  const wildcard = bind === '0.0.0.0' || bind === '::' || bind === '';
  const address = wildcard ? advertise : bind;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return { reason: `${address} is not an IPv4 address; mDNS is announced on the IPv4 LAN address (give --advertise or --bind one)` };
  if (isLoopback(address)) return { reason: 'no LAN address to announce on (only loopback); give --advertise the LAN address' };
  const local: string[] = [];
  for (const [ifname, addresses] of Object.entries(interfaces)) {
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      if (a.address === address) return { address, ifname, netmask: a.netmask };
      local.push(a.address);
    }
  }
  return { reason: `${address} is not an address of this machine (it has ${local.join(', ') || 'none'}); mDNS can only be announced on a local address: give --advertise one of them` };
}

function ipInt(a: string): number {
  return a.split('.').reduce((n, p) => n * 256 + Number(p), 0) >>> 0;
}

function sameSubnet(a: string, b: string, netmask: string): boolean {
  const m = ipInt(netmask);
  return ((ipInt(a) & m) >>> 0) === ((ipInt(b) & m) >>> 0);
}

// --- bonjour-service glue --------------------------------------------------------------------------------------

type Service = Bonjour.Service;

interface Question {
  name: string;
  type: string;
}

interface Answer {
  name: string;
  type: string;
  ttl?: number;
  data?: unknown;
}

interface Packet {
  id?: number;
  questions?: Question[];
  answers?: Answer[];
  additionals?: Answer[];
}

interface RemoteInfo {
  address: string;
  port: number;
}

/** The multicast-dns instance inside bonjour-service (not part of its typed API). */
interface RawMdns extends EventEmitter {
  query(packet: { questions: Question[] }, cb: (err: Error | null) => void): void;
  respond(packet: Packet & { answers: Answer[] }, rinfo: RemoteInfo | undefined, cb: (err: Error | null) => void): void;
}

/** host (lower case) → the only addresses its A records may carry. Read by the patched Service.records(). */
const hostAddresses = new Map<string, string[]>();
let recordsPatched = false;

/** bonjour-service puts every address of every interface in the host's records; ours carry only the LAN one. */
function patchRecords(): void {
  if (recordsPatched) return;
  recordsPatched = true;
  const proto = Bonjour.Service.prototype as unknown as { records(this: Service): Answer[] };
  const original = proto.records;
  proto.records = function records(this: Service): Answer[] {
    const all = original.call(this);
    const only = hostAddresses.get(this.host.toLowerCase());
    if (!only) return all;
    return [...all.filter((r) => r.type !== 'A' && r.type !== 'AAAA'), ...only.map((ip) => ({ name: this.host, type: 'A', ttl: 120, data: ip }))];
  };
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    return '';
  }
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.message && !e.message.includes(e.code) ? ` (${e.message})` : ''}` : String(e.message ?? err);
}

/** Why an mDNS start failed, said for the technician. */
export class MdnsUnavailable extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(onTimeout), ms);
    timer.unref();
    void promise.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

const lower = (s: string) => s.toLowerCase();

export interface AdvertiserOptions {
  /** The LAN interface to announce on (see mdnsInterface). */
  iface: MdnsInterface;
  /** The HTTP port of the admin page. */
  httpPort: number;
  siteName: string;
  /** The machine's host name; its first label becomes `<label>.local`. */
  hostname?: string;
  /** UDP port, 5353 except in tests. */
  port?: number;
  version?: string;
  log: Logger;
  /** Probe for name conflicts before announcing (RFC 6762 §8.1). */
  probe?: boolean;
}

/** The two services of one Outpost on one interface: started, renamed, withdrawn. */
export class MdnsAdvertiser {
  private services: Service[] = [];
  private instance = '';
  /** The instance name the site name gives, before a conflict suffix: tells whether a rename is due. */
  private base = '';
  private host = '';
  private readonly version: string;
  private readonly warned = new Set<string>();
  private destroyed = false;

  private constructor(private readonly o: AdvertiserOptions, private readonly bonjour: Bonjour, private readonly mdns: RawMdns) {
    this.version = o.version ?? packageVersion();
  }

  /** Binds, joins the group on the interface, probes, announces. Rejects with MdnsUnavailable, never leaves a socket behind. */
  static async start(o: AdvertiserOptions): Promise<MdnsAdvertiser> {
    patchRecords();
    let startupError: string | undefined;
    /** Failures to join the group or to pick the interface, while binding (multicast-dns only warns of them). */
    const joinErrors: string[] = [];
    let bound = false;
    let advertiser: MdnsAdvertiser | undefined;
    let bonjour: Bonjour;
    try {
      bonjour = new Bonjour({ bind: '0.0.0.0', interface: o.iface.address, port: o.port ?? MDNS_PORT } as ConstructorParameters<typeof Bonjour>[0], (err: Error) => advertiser?.warnOnce('could not answer a query', err));
    } catch (err) {
      throw new MdnsUnavailable(`cannot open the mDNS socket: ${errText(err)}`);
    }
    const mdns = (bonjour as unknown as { server: { mdns: RawMdns } }).server.mdns;
    advertiser = new MdnsAdvertiser(o, bonjour, mdns);
    const ready = new Promise<boolean>((resolve) => {
      mdns.once('ready', () => resolve(true));
      mdns.on('error', (err: Error) => {
        if (!bound) {
          startupError ??= errText(err);
          resolve(false);
        } else advertiser!.warnOnce('socket error', err);
      });
    });
    mdns.on('warning', (err: NodeJS.ErrnoException) => {
      // A datagram that is not DNS is a warning too: only socket calls (addMembership, ...) carry a syscall.
      if (!err.syscall) return o.log.debug({ err: errText(err) }, 'mdns: undecodable datagram ignored');
      if (!bound) joinErrors.push(`${err.syscall} ${errText(err)}`);
      else advertiser!.warnOnce(err.syscall, err);
    });
    const port = o.port ?? MDNS_PORT;
    const ok = await withTimeout(ready, 3000, false);
    bound = true;
    const fail = async (reason: string): Promise<never> => {
      await advertiser!.destroy(500);
      throw new MdnsUnavailable(reason);
    };
    if (!ok) {
      const code = startupError ?? 'no answer from the socket within 3 s';
      if (/EADDRINUSE/.test(code)) await fail(`UDP port ${port} is in use by a program that does not share it (${code}); stop it, or use that program to publish the service`);
      if (/EACCES|EPERM/.test(code)) await fail(`not allowed to bind UDP port ${port} (${code})`);
      await fail(`cannot bind UDP port ${port}: ${code}`);
    }
    // multicast-dns joins the group while binding: a failure there is only a warning, but nothing would be heard.
    if (joinErrors.length) await fail(`cannot join ${MDNS_GROUP} on ${o.iface.address} (${o.iface.ifname}): ${joinErrors.join('; ')}; is multicast enabled on ${o.iface.ifname}?`);
    mdns.on('query', (q: Packet, rinfo: RemoteInfo) => advertiser!.answerUnicast(q, rinfo));
    try {
      await advertiser.publish(o.siteName);
    } catch (err) {
      await fail(err instanceof MdnsUnavailable ? err.message : errText(err));
    }
    return advertiser;
  }

  /** The instance name currently announced. */
  get name(): string {
    return this.instance;
  }

  /** `<label>.local` currently announced. */
  get hostName(): string {
    return this.host;
  }

  get address(): string {
    return this.o.iface.address;
  }

  /** Whether `siteName` would be announced under another name than now. */
  differs(siteName: string): boolean {
    return instanceName(siteName) !== this.base;
  }

  /** Withdraws the current services (goodbyes) and announces them under the name `siteName` gives. */
  async rename(siteName: string): Promise<void> {
    if (this.destroyed || !this.differs(siteName)) return;
    await this.publish(siteName);
  }

  private async publish(siteName: string): Promise<void> {
    const base = instanceName(siteName);
    const { instance, host } = await this.chooseNames(siteName);
    if (this.destroyed) return;
    if (this.services.length) await this.withdraw(1000);
    if (this.destroyed) return;
    this.base = base;
    this.instance = instance;
    this.host = `${host}.local`;
    hostAddresses.set(lower(this.host), [this.o.iface.address]);
    const common = { name: instance, host: this.host, port: this.o.httpPort, probe: false, disableIPv6: true };
    this.services = [
      this.bonjour.publish({ ...common, type: 'outpost', txt: this.version ? { path: '/', version: this.version } : { path: '/' } }),
      this.bonjour.publish({ ...common, type: 'http', txt: { path: '/' } }),
    ];
    // Announced as soon as published; 'up' comes when the first announcement has left.
    await withTimeout(Promise.all(this.services.map((s) => (s.published ? Promise.resolve() : new Promise<void>((r) => s.once('up', () => r()))))), 1000, undefined);
  }

  /**
   * Names no one else holds: three probe queries 250 ms apart (RFC 6762 §8.1) for the instance names and the
   * host name; on an answer from someone else, the next suffix (` (2)`, `-2`), up to 9. A send error is fatal
   * (nothing we announce would leave either).
   */
  private async chooseNames(siteName: string): Promise<{ instance: string; host: string }> {
    const hostname = this.o.hostname ?? osHostname();
    let n = 1;
    let h = 1;
    for (let round = 0; ; round++) {
      const instance = instanceName(siteName, n === 1 ? '' : ` (${n})`);
      const host = hostLabel(hostname, h === 1 ? '' : `-${h}`);
      if (this.o.probe === false || round >= 8) return { instance, host };
      const conflict = await this.probe(instance, `${host}.local`);
      if (!conflict.instance && !conflict.host) return { instance, host };
      if (conflict.instance) {
        this.o.log.warn({ name: instance }, 'mdns: another device on the LAN already announces this name; taking the next one');
        n++;
      }
      if (conflict.host) {
        this.o.log.warn({ host: `${host}.local` }, 'mdns: another device on the LAN already answers for this host name; taking the next one');
        h++;
      }
    }
  }

  private async probe(instance: string, host: string): Promise<{ instance: boolean; host: boolean }> {
    const fqdns = ['_outpost._tcp.local', '_http._tcp.local'].map((t) => lower(`${instance}.${t}`));
    const hostLower = lower(host);
    const ours = new Set(Object.values(networkInterfaces()).flatMap((a) => (a ?? []).map((x) => x.address)));
    ours.add(this.o.iface.address);
    const found = { instance: false, host: false };
    const onResponse = (packet: Packet) => {
      for (const rr of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
        if (rr.ttl === 0) continue;
        const name = lower(rr.name);
        if (fqdns.includes(name)) found.instance = true;
        // Our own records (a rename: the old services still answer), or Avahi on this machine: the same host.
        if (name === hostLower && (rr.type === 'A' || rr.type === 'AAAA') && !ours.has(String(rr.data))) found.host = true;
      }
    };
    this.mdns.on('response', onResponse);
    try {
      const questions = [...fqdns, hostLower].map((name) => ({ name, type: 'ANY' }));
      for (let i = 0; i < 3; i++) {
        const err = await new Promise<Error | null>((resolve) => this.mdns.query({ questions }, resolve));
        if (err) throw new MdnsUnavailable(`cannot send to ${MDNS_GROUP}:${this.o.port ?? MDNS_PORT} from ${this.o.iface.address}: ${errText(err)}`);
        await sleep(250);
        if (found.instance && found.host) break;
      }
    } finally {
      this.mdns.removeListener('response', onResponse);
    }
    return found;
  }

  /** RFC 6762 §6.7: a query from a port other than 5353 gets a unicast answer (same id, question echoed, TTL ≤ 10 s). */
  private answerUnicast(query: Packet, rinfo: RemoteInfo): void {
    if (rinfo.port === (this.o.port ?? MDNS_PORT) || !this.services.length || this.destroyed) return;
    if (!sameSubnet(rinfo.address, this.o.iface.address, this.o.iface.netmask)) return;
    const records = this.services.flatMap((s) => s.records() as Answer[]);
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const add = (list: Answer[], rr: Answer) => {
      if (![...answers, ...additionals].some((x) => x.type === rr.type && lower(x.name) === lower(rr.name) && JSON.stringify(x.data) === JSON.stringify(rr.data))) {
        list.push({ ...rr, ttl: Math.min(rr.ttl ?? 10, 10) });
      }
    };
    for (const q of query.questions ?? []) {
      for (const rr of records) if (lower(rr.name) === lower(q.name) && (q.type === 'ANY' || q.type === rr.type)) add(answers, rr);
    }
    if (!answers.length) return;
    for (const a of [...answers]) {
      if (a.type !== 'PTR') continue;
      for (const rr of records) if ((rr.type === 'SRV' || rr.type === 'TXT') && lower(rr.name) === lower(String(a.data))) add(additionals, rr);
    }
    for (const srv of [...answers, ...additionals].filter((r) => r.type === 'SRV')) {
      const target = lower(String((srv.data as { target?: string }).target));
      for (const rr of records) if (rr.type === 'A' && lower(rr.name) === target) add(additionals, rr);
    }
    this.mdns.respond({ id: query.id ?? 0, questions: query.questions ?? [], answers, additionals }, { address: rinfo.address, port: rinfo.port }, (err) => {
      if (err) this.warnOnce('could not answer a one-shot query', err);
    });
  }

  private warnOnce(what: string, err: unknown): void {
    const text = errText(err);
    if (this.warned.has(`${what}:${text}`) || this.destroyed) return;
    this.warned.add(`${what}:${text}`);
    this.o.log.warn({ err: text, address: this.o.iface.address }, `mdns: ${what} (logged once; the service stays announced)`);
  }

  /** Goodbyes (TTL 0) for what is announced, waiting at most `timeoutMs` for them to leave. */
  private async withdraw(timeoutMs: number): Promise<void> {
    if (!this.services.length) return;
    this.services = [];
    await withTimeout(new Promise<void>((resolve) => this.bonjour.unpublishAll(() => resolve())), timeoutMs, undefined);
  }

  /** Withdraws the services (goodbyes) and closes the socket, within `timeoutMs` whatever happens. */
  async destroy(timeoutMs = 1000): Promise<void> {
    if (this.destroyed) return;
    const started = Date.now();
    await this.withdraw(timeoutMs);
    this.destroyed = true;
    const closed = new Promise<void>((resolve) => {
      try {
        this.bonjour.destroy(() => resolve());
      } catch {
        resolve(); // a socket that never bound is already closed
      }
    });
    await withTimeout(closed, Math.max(100, timeoutMs - (Date.now() - started)), undefined);
  }
}

// --- serve -----------------------------------------------------------------------------------------------------

export interface ServeMdnsOptions {
  bind: string;
  /** The address serve advertises (flag, site, first LAN address). */
  advertise: string;
  httpPort: number;
  /** The site name now (re-read every second: a rename while serving re-publishes). */
  siteName: () => string;
  services: Record<string, ServiceState>;
  out: (line: string) => void;
  log: Logger;
  hostname?: string;
  port?: number;
}

export interface RunningMdns {
  stop(): Promise<void>;
}

function readyLine(a: MdnsAdvertiser, httpPort: number): string {
  return `ready mdns http://${a.hostName}:${httpPort}/ "${a.name}" (_outpost._tcp, _http._tcp on ${a.address})`;
}

/**
 * For serve: announces on the LAN address and keeps `services.mdns` and the ready/off line. Never rejects: a
 * failure is `off mdns: <reason>`, a warning in the log, and serve goes on.
 */
export async function startMdns(o: ServeMdnsOptions): Promise<RunningMdns> {
  const off = (reason: string): RunningMdns => {
    o.services.mdns = { state: 'off', reason };
    o.out(`off mdns: ${reason}`);
    o.log.warn({ reason }, 'mdns: not announced; find the box by its address instead');
    return { stop: async () => undefined };
  };
  const iface = mdnsInterface(o.bind, o.advertise);
  if ('reason' in iface) return off(iface.reason);
  let advertiser: MdnsAdvertiser;
  try {
    advertiser = await MdnsAdvertiser.start({ iface, httpPort: o.httpPort, siteName: o.siteName(), hostname: o.hostname, port: o.port, log: o.log });
  } catch (err) {
    return off(err instanceof MdnsUnavailable ? err.message : errText(err));
  }
  const port = o.port ?? MDNS_PORT;
  o.services.mdns = { state: 'up', address: `${iface.address}:${port}` };
  o.out(readyLine(advertiser, o.httpPort));
  let renaming: Promise<void> | undefined;
  const watcher = setInterval(() => {
    if (renaming) return;
    const name = o.siteName();
    if (!advertiser.differs(name)) return;
    const before = advertiser.name;
    renaming = advertiser
      .rename(name)
      .then(
        () => {
          o.log.info({ from: before, to: advertiser.name }, 'mdns: site renamed; re-announced');
          o.out(readyLine(advertiser, o.httpPort));
        },
        (err: unknown) => o.log.warn({ err: errText(err) }, 'mdns: could not re-announce under the new site name'),
      )
      .finally(() => (renaming = undefined));
  }, 1000);
  watcher.unref();
  return {
    stop: async () => {
      clearInterval(watcher);
      if (renaming) await withTimeout(renaming, 500, undefined);
      await advertiser.destroy(1000);
    },
  };
}
