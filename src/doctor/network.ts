/**
 * What the doctor says about the network around the box: another DHCP server on the voice segment (one
 * DHCPDISCOVER, every OFFER collected), the Centrex's name in DNS, and the Centrex answering one SIP OPTIONS.
 * Pure verdicts (exported for the tests) over thin probes that own a socket for a few seconds at most.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createConnection, isIP, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { BOOTREPLY, BOOTREQUEST, BROADCAST_FLAG, MessageType, Option, decode, encode, messageType, readIpList, type DhcpMessage } from '../dhcp/codec.js';
import type { BindToDevice } from '../dhcp/device.js';
import { headerEnd, parseMessage, serializeMessage, SipParseError, type SipRequest, type SipResponse } from '../sip/message.js';
import { ownRequest } from '../sip/transaction.js';
import { count, fail, listing, pass, warn, type Check } from './report.js';

const G = 'network' as const;

// --- another DHCP server -----------------------------------------------------------------------------------------

export interface DhcpOffer {
  /** The server identifier (option 54), else the address the OFFER came from. */
  server: string;
  /** The address it offers (yiaddr). */
  address: string;
}

export type DhcpProbe =
  | { ok: true; iface: string; offers: DhcpOffer[]; waitedMs: number }
  | { ok: false; iface: string; code: 'EACCES' | 'NOIF' | 'EPERM' | 'ADDON' | 'OTHER'; error: string };

/** A random locally administered unicast MAC: never a real device's. */
export function probeMac(): Buffer {
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}

export function discoverMessage(xid: number, chaddr: Buffer): DhcpMessage {
  return {
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid, secs: 0, flags: BROADCAST_FLAG,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
    options: new Map([
      [Option.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])],
      [Option.CLIENT_ID, Buffer.concat([Buffer.from([1]), chaddr])],
      [Option.PARAMETER_LIST, Buffer.from([Option.SUBNET_MASK, Option.ROUTER, Option.DNS, Option.NTP, Option.TFTP_SERVER, Option.VOICE_VLAN])],
    ]),
  };
}

/** An OFFER to our DISCOVER (same xid and chaddr), as who offers what; undefined for anything else. */
export function offerFrom(packet: Buffer, from: string, xid: number, chaddr: Buffer): DhcpOffer | undefined {
  const m = decode(packet);
  if (m instanceof Error || m.op !== BOOTREPLY || m.xid !== xid || !m.chaddr.subarray(0, 6).equals(chaddr)) return undefined;
  if (messageType(m) !== MessageType.OFFER) return undefined;
  return { server: readIpList(m.options.get(Option.SERVER_ID))[0] ?? from, address: m.yiaddr };
}

/**
 * Broadcasts a DHCPDISCOVER on `iface` from UDP 68 (again half-way) and collects the OFFERs for `timeoutMs`.
 * The socket is bound to the interface (SO_BINDTODEVICE), so the probe neither leaves nor hears any other.
 */
export async function probeDhcp(opts: { iface: string; timeoutMs: number; bindToDevice: BindToDevice | { unavailable: string }; serverPort?: number; clientPort?: number }): Promise<DhcpProbe> {
  const { iface } = opts;
  if (typeof opts.bindToDevice !== 'function') return { ok: false, iface, code: 'ADDON', error: opts.bindToDevice.unavailable };
  const bind = opts.bindToDevice;
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const xid = randomBytes(4).readUInt32BE(0);
  const chaddr = probeMac();
  const offers = new Map<string, DhcpOffer>();
  const started = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.clientPort ?? 68, '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    socket.close();
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, iface, code: code === 'EACCES' ? 'EACCES' : 'OTHER', error: (err as Error).message };
  }
  try {
    try {
      bind(socket, iface);
    } catch (err) {
      const message = (err as Error).message;
      return { ok: false, iface, code: /no such device/i.test(message) ? 'NOIF' : /not permitted/i.test(message) ? 'EPERM' : 'OTHER', error: message };
    }
    socket.setBroadcast(true);
    socket.on('error', () => undefined);
    socket.on('message', (packet, rinfo) => {
      const offer = offerFrom(packet, rinfo.address, xid, chaddr);
      if (offer && !offers.has(offer.server)) offers.set(offer.server, offer);
    });
    const packet = encode(discoverMessage(xid, chaddr)).packet;
    const send = () => new Promise<void>((resolve, reject) => socket.send(packet, opts.serverPort ?? 67, '255.255.255.255', (err) => (err ? reject(err) : resolve())));
    try {
      await send();
    } catch (err) {
      return { ok: false, iface, code: 'OTHER', error: `cannot send on ${iface}: ${(err as Error).message}` };
    }
    // Servers drop a first DISCOVER now and then (a busy router, an ARP check under way): ask once more half-way.
    await sleep(opts.timeoutMs / 2);
    await send().catch(() => undefined);
    await sleep(opts.timeoutMs / 2);
    return { ok: true, iface, offers: [...offers.values()], waitedMs: Date.now() - started };
  } finally {
    socket.close();
  }
}

/** Every IPv4 address of this box: an OFFER from one of them is Outpost's own. */
export function ownAddresses(extra: readonly string[] = []): Set<string> {
  const own = new Set(extra.filter(Boolean));
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') own.add(a.address);
  return own;
}

export interface DhcpVerdictInput {
  /** The interface probed, and where its name came from; undefined when there was none to probe. */
  iface?: string | undefined;
  from: 'flag' | 'site';
  /** Outpost's own DHCP is enabled in the site. */
  ours: boolean;
  probe?: DhcpProbe | undefined;
  own: ReadonlySet<string>;
  timeoutMs: number;
}

export function dhcpCheck(v: DhcpVerdictInput): Check {
  const title = `other DHCP servers${v.iface ? ` on ${v.iface}` : ''}`;
  const id = 'network.dhcp';
  if (!v.iface || !v.probe) {
    if (v.ours) return warn(G, id, title, 'Outpost\'s DHCP is on but dhcp.interface is not set, so there is no segment to look at', 'set dhcp.interface to the voice segment\'s interface, or give it to doctor with --interface');
    return pass(G, id, title, 'not probed: Outpost\'s DHCP is off and no --interface was given (outpost doctor --interface eth1 looks for the router\'s)');
  }
  const p = v.probe;
  if (!p.ok) {
    switch (p.code) {
      case 'EACCES':
        return warn(G, id, title, 'not probed: listening for offers on UDP 68 needs root or CAP_NET_BIND_SERVICE', 'run outpost doctor as root (sudo) to look for other DHCP servers');
      case 'EPERM':
        return warn(G, id, title, `not probed: binding the probe to ${p.iface} needs CAP_NET_RAW (${p.error})`, 'run outpost doctor as root (sudo) to look for other DHCP servers');
      case 'NOIF': {
        const fix = v.from === 'site' ? 'set dhcp.interface to the voice segment\'s interface (ip link lists them)' : 'give --interface the voice segment\'s interface (ip link lists them)';
        // Outpost's DHCP cannot start without it; while it is off, the name is only a leftover.
        if (v.ours || v.from === 'flag') return fail(G, id, title, `interface ${p.iface} does not exist on this box`, fix);
        return warn(G, id, title, `not probed: dhcp.interface ${p.iface} does not exist on this box (Outpost's DHCP is off)`, fix);
      }
      case 'ADDON':
        return warn(G, id, title, `not probed: ${p.error}`, 'run npm install in the Outpost folder (it builds the addon; it needs make and g++)');
      default:
        return warn(G, id, title, `not probed: ${p.error}`, `check that ${p.iface} is up (ip link show ${p.iface}) and run outpost doctor as root`);
    }
  }
  const others = p.offers.filter((o) => !v.own.has(o.server));
  const ownAnswered = p.offers.length > others.length;
  const waited = `${(v.timeoutMs / 1000).toFixed(0)} s`;
  const offered = (o: DhcpOffer) => `${o.server} offers ${o.address}`;
  if (v.ours) {
    if (others.length) {
      return fail(G, id, title, `another DHCP server at ${listing(others.map(offered))} on ${p.iface}: phones may take their address from it and never find Outpost`,
        'switch that server off for this segment, or turn Outpost\'s DHCP off (dhcp.enabled false) and give that server Outpost\'s options (outpost dhcp snippet)');
    }
    return pass(G, id, title, `no other DHCP server answered within ${waited}${ownAnswered ? ' (Outpost\'s own did)' : ''}`);
  }
  if (!others.length) {
    return warn(G, id, title, `no DHCP server answered within ${waited} and Outpost's DHCP is off: phones on ${p.iface} get no address`,
      'switch Outpost\'s DHCP on (dhcp.enabled true) or check the router\'s DHCP for this segment');
  }
  if (others.length > 1) {
    return warn(G, id, title, `${count(others.length, 'DHCP server')} answer: ${listing(others.map(offered))}; a phone takes whichever answers first`,
      'leave one DHCP server on this segment and give it Outpost\'s options (outpost dhcp snippet)');
  }
  return pass(G, id, title, `the DHCP server at ${offered(others[0]!)} (Outpost's DHCP is off): it must hand out Outpost's options (outpost dhcp snippet prints them)`);
}

// --- the Centrex: DNS and OPTIONS --------------------------------------------------------------------------------

export type Resolved = { ok: true; literal: boolean; addresses: string[] } | { ok: false; error: string };

export async function resolveName(host: string, timeoutMs: number): Promise<Resolved> {
  if (isIP(host)) return { ok: true, literal: true, addresses: [host] };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Resolved>((resolve) => (timer = setTimeout(() => resolve({ ok: false, error: `no answer from DNS within ${(timeoutMs / 1000).toFixed(0)} s` }), timeoutMs)));
  try {
    return await Promise.race([
      lookup(host, { all: true }).then(
        (list): Resolved => ({ ok: true, literal: false, addresses: [...new Set(list.map((a) => a.address))] }),
        (err: NodeJS.ErrnoException): Resolved => ({ ok: false, error: err.code === 'ENOTFOUND' ? 'no such name (ENOTFOUND)' : err.code ?? err.message }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function dnsCheck(host: string, r: Resolved): Check {
  const title = 'Centrex name in DNS';
  if (!r.ok) {
    return fail(G, 'network.dns', title, `${host} does not resolve: ${r.error}`,
      'check the name in upstream.proxy and this box\'s DNS servers (resolvectl status); the phones must resolve it too');
  }
  if (r.literal) return pass(G, 'network.dns', title, `${host} is an address: nothing to resolve`);
  return pass(G, 'network.dns', title, `${host} resolves to ${listing(r.addresses)}`);
}

export type OptionsResult =
  | { answered: true; status: number; reason: string; rttMs: number; transport: 'udp' | 'tcp'; address: string; port: number }
  | { answered: false; error: string; transport: 'udp' | 'tcp'; address: string; port: number };

export function optionsRequest(target: { host: string; port: number }, self: { host: string; port: number }, transport: 'udp' | 'tcp'): SipRequest {
  const uriHost = isIPv6(target.host) ? `[${target.host}]` : target.host;
  return ownRequest('OPTIONS', { uri: `sip:${uriHost}:${target.port}`, self, transport, user: 'outpost-doctor', userAgent: 'Outpost doctor', extra: [['Accept', 'application/sdp']] });
}

/** A final answer to `request` (same Call-ID and CSeq), or undefined. */
function finalAnswer(bytes: Buffer, request: SipRequest, stream: boolean): SipResponse | undefined {
  let msg;
  try {
    msg = parseMessage(bytes, { stream });
  } catch (err) {
    if (err instanceof SipParseError) return undefined;
    throw err;
  }
  if (msg.kind !== 'response' || msg.status < 200) return undefined;
  if (msg.headers.get('Call-ID') !== request.headers.get('Call-ID') || !/^\s*1\s+OPTIONS\s*$/i.test(msg.headers.get('CSeq') ?? '')) return undefined;
  return msg;
}

/**
 * One OPTIONS to the Centrex at `address` (already resolved): over UDP with RFC 3261 retransmissions (500 ms,
 * doubling) until `timeoutMs`, or over TCP. The round trip is counted from the first transmission.
 */
export function sendOptions(host: string, address: string, port: number, transport: 'udp' | 'tcp', timeoutMs: number): Promise<OptionsResult> {
  return transport === 'tcp' ? optionsOverTcp(host, address, port, timeoutMs) : optionsOverUdp(host, address, port, timeoutMs);
}

function optionsOverUdp(host: string, address: string, port: number, timeoutMs: number): Promise<OptionsResult> {
  return new Promise((resolve) => {
    const socket: UdpSocket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const base = { transport: 'udp' as const, address, port };
    let request: SipRequest | undefined;
    let sentAt = 0;
    let done = false;
    let retransmit: NodeJS.Timeout | undefined;
    const finish = (r: OptionsResult) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(retransmit);
      socket.close();
      resolve(r);
    };
    const deadline = setTimeout(() => finish({ ...base, answered: false, error: `no answer within ${(timeoutMs / 1000).toFixed(1)} s` }), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      finish({ ...base, answered: false, error: err.code === 'ECONNREFUSED' ? `port unreachable: nothing answers SIP on ${address}:${port}` : err.message });
    });
    socket.on('message', (bytes) => {
      if (!request) return;
      const answer = finalAnswer(bytes, request, false);
      if (answer) finish({ ...base, answered: true, status: answer.status, reason: answer.reason, rttMs: Date.now() - sentAt });
    });
    socket.connect(port, address, () => {
      const local = socket.address();
      request = optionsRequest({ host, port }, { host: local.address, port: local.port }, 'udp');
      const bytes = serializeMessage(request);
      sentAt = Date.now();
      let interval = 500;
      const send = () => {
        if (done) return;
        socket.send(bytes);
        retransmit = setTimeout(send, interval);
        interval = Math.min(interval * 2, 4000);
      };
      send();
    });
  });
}

function optionsOverTcp(host: string, address: string, port: number, timeoutMs: number): Promise<OptionsResult> {
  return new Promise((resolve) => {
    const base = { transport: 'tcp' as const, address, port };
    const sentAt = Date.now();
    let done = false;
    let buffered = Buffer.alloc(0);
    let request: SipRequest | undefined;
    const socket = createConnection({ host: address, port });
    const finish = (r: OptionsResult) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve(r);
    };
    const deadline = setTimeout(() => finish({ ...base, answered: false, error: `no answer within ${(timeoutMs / 1000).toFixed(1)} s` }), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ ...base, answered: false, error: err.code === 'ECONNREFUSED' ? `connection refused: nothing answers SIP over TCP on ${address}:${port}` : err.message }));
    socket.on('connect', () => {
      request = optionsRequest({ host, port }, { host: socket.localAddress ?? '0.0.0.0', port: socket.localPort ?? 0 }, 'tcp');
      socket.write(serializeMessage(request));
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Messages framed by Content-Length, one after the other (a 100 Trying may come first).
      for (;;) {
        const end = headerEnd(buffered);
        if (!end || !request) return;
        const length = Number(/\r?\ncontent-length[ \t]*:[ \t]*(\d+)/i.exec(buffered.toString('latin1', 0, end.end))?.[1] ?? '0');
        if (buffered.length < end.bodyStart + length) return;
        const one = buffered.subarray(0, end.bodyStart + length);
        buffered = buffered.subarray(end.bodyStart + length);
        const answer = finalAnswer(one, request, true);
        if (answer) return finish({ ...base, answered: true, status: answer.status, reason: answer.reason, rttMs: Date.now() - sentAt });
      }
    });
    socket.on('close', () => finish({ ...base, answered: false, error: 'the Centrex closed the connection without answering' }));
  });
}

export function centrexCheck(proxy: string, r: OptionsResult | { unresolved: string }): Check {
  const title = 'Centrex answers OPTIONS';
  const fix = 'check the WAN link and the firewall (SIP to the Centrex, and its answers back); until it answers, phones will fail over to Outpost';
  if ('unresolved' in r) return fail(G, 'network.centrex', title, `${proxy} was not asked: its name does not resolve (${r.unresolved})`, fix);
  const where = `${r.transport} ${isIPv6(r.address) ? `[${r.address}]` : r.address}:${r.port}`;
  if (!r.answered) return fail(G, 'network.centrex', title, `${proxy} (${where}) did not answer: ${r.error}`, fix);
  const answer = `${r.status}${r.reason ? ` ${r.reason}` : ''}`;
  if (r.status >= 500) {
    return fail(G, 'network.centrex', title, `${proxy} (${where}) answered ${answer} in ${r.rttMs} ms: Outpost's monitor counts a 5xx as down, so the branch goes into survival mode`,
      'ask the telco why their proxy refuses OPTIONS from this branch\'s address');
  }
  return pass(G, 'network.centrex', title, `${proxy} (${where}) answered ${answer} in ${r.rttMs} ms${r.status >= 300 ? ' (any answer below 500 means it is up)' : ''}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
