/**
 * DHCPv4 messages: bytes to a typed message and back (RFC 2131, RFC 2132 options, RFC 3396 long options,
 * option overload 52, maximum message size 57). Pure: no sockets, no clocks. A malformed packet is an
 * `Error` value returned, never thrown, so the server can count it and go on.
 */
import { isIPv4 } from 'node:net';

export const MAGIC_COOKIE = 0x63825363;
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** The fixed part before the options: 236 bytes, then the 4-byte cookie. */
export const FIXED_LENGTH = 236;
/** The least every client must accept (RFC 2131 section 2): 576-byte IP datagrams. */
export const MIN_MESSAGE_SIZE = 576;
const IP_UDP_HEADERS = 28;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

export const Option = {
  PAD: 0,
  SUBNET_MASK: 1,
  TIME_OFFSET: 2,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  NTP: 42,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  RELAY_AGENT: 82,
  POSIX_TZ: 100,
  TZ_DATABASE: 101,
  SIP_SERVERS: 120,
  VOICE_VLAN: 132,
  END: 255,
} as const;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, `hlen` bytes. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Options in the order first seen; instances of one code joined (RFC 3396). */
  options: Map<number, Buffer>;
}

export const BROADCAST_FLAG = 0x8000;

function readIp(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

function writeIp(buf: Buffer, offset: number, ip: string): void {
  const parts = (isIPv4(ip) ? ip : '0.0.0.0').split('.');
  for (let i = 0; i < 4; i++) buf[offset + i] = Number(parts[i]);
}

function readCString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('latin1', 0, end < 0 ? buf.length : end);
}

/** Reads a run of options into `into`, joining repeated codes. Returns an error text when the run is malformed. */
function readOptions(buf: Buffer, into: Map<number, Buffer[]>, order: number[]): string | undefined {
  let i = 0;
  while (i < buf.length) {
    const code = buf[i]!;
    if (code === Option.PAD) {
      i++;
      continue;
    }
    if (code === Option.END) return undefined;
    if (i + 1 >= buf.length) return `option ${code} has no length byte`;
    const len = buf[i + 1]!;
    if (i + 2 + len > buf.length) return `option ${code} runs past the end (${len} bytes)`;
    const parts = into.get(code);
    if (parts) parts.push(buf.subarray(i + 2, i + 2 + len));
    else {
      into.set(code, [buf.subarray(i + 2, i + 2 + len)]);
      order.push(code);
    }
    i += 2 + len;
  }
  // An options field may end without END when it fills its space; the main field must have one (RFC 2131 §4.1 is lenient in practice).
  return undefined;
}

export function decode(buf: Buffer): DhcpMessage | Error {
  if (buf.length < FIXED_LENGTH + 4) return new Error(`too short: ${buf.length} bytes`);
  if (buf.readUInt32BE(FIXED_LENGTH) !== MAGIC_COOKIE) return new Error('no DHCP magic cookie');
  const hlen = buf[2]!;
  if (hlen > 16) return new Error(`hardware address length ${hlen} is over 16`);
  const parts = new Map<number, Buffer[]>();
  const order: number[] = [];
  const main = readOptions(buf.subarray(FIXED_LENGTH + 4), parts, order);
  if (main) return new Error(main);
  const overload = parts.get(Option.OVERLOAD)?.[0]?.[0];
  if (overload !== undefined && (overload < 1 || overload > 3)) return new Error(`option overload value ${overload} is not 1, 2 or 3`);
  // RFC 2131 §4.1: the file field first, then sname.
  if (overload === 1 || overload === 3) {
    const err = readOptions(buf.subarray(108, 236), parts, order);
    if (err) return new Error(`in the file field: ${err}`);
  }
  if (overload === 2 || overload === 3) {
    const err = readOptions(buf.subarray(44, 108), parts, order);
    if (err) return new Error(`in the sname field: ${err}`);
  }
  const options = new Map<number, Buffer>();
  for (const code of order) options.set(code, Buffer.concat(parts.get(code)!));
  const typeOption = options.get(Option.MESSAGE_TYPE);
  if (typeOption && (typeOption.length !== 1 || typeOption[0]! < 1 || typeOption[0]! > 18)) return new Error('malformed message type (53)');
  return {
    op: buf[0]!,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: readIp(buf, 12),
    yiaddr: readIp(buf, 16),
    siaddr: readIp(buf, 20),
    giaddr: readIp(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: overload === 2 || overload === 3 ? '' : readCString(buf.subarray(44, 108)),
    file: overload === 1 || overload === 3 ? '' : readCString(buf.subarray(108, 236)),
    options,
  };
}

/** Serialises the options of `codes` (in that order): RFC 3396 splits any value over 255 bytes into several instances. */
export function encodeOptions(options: ReadonlyMap<number, Buffer>, codes: Iterable<number> = options.keys()): Buffer[] {
  const out: Buffer[] = [];
  for (const code of codes) {
    const value = options.get(code);
    if (value === undefined || code === Option.PAD || code === Option.END) continue;
    if (value.length === 0) {
      out.push(Buffer.from([code, 0]));
      continue;
    }
    for (let i = 0; i < value.length; i += 255) {
      const chunk = value.subarray(i, i + 255);
      out.push(Buffer.concat([Buffer.from([code, chunk.length]), chunk]));
    }
  }
  return out;
}

export interface EncodeOptions {
  /** The largest DHCP message the client accepts (option 57 minus IP/UDP headers), at least 576 - 28. */
  maxSize?: number;
}

/**
 * Serialises a message. Options go in the order of the map (the server puts them in the client's parameter
 * request list order). When they do not fit in `maxSize`, the file and then the sname fields carry the rest
 * (option overload); what still does not fit is left out, last options first, and reported.
 */
export function encode(message: DhcpMessage, opts: EncodeOptions = {}): { packet: Buffer; dropped: number[] } {
  const maxSize = Math.max(opts.maxSize ?? MIN_MESSAGE_SIZE - IP_UDP_HEADERS, MIN_MESSAGE_SIZE - IP_UDP_HEADERS);
  const fixed = Buffer.alloc(FIXED_LENGTH + 4);
  fixed[0] = message.op;
  fixed[1] = message.htype;
  fixed[2] = Math.min(message.hlen, 16);
  fixed[3] = message.hops;
  fixed.writeUInt32BE(message.xid >>> 0, 4);
  fixed.writeUInt16BE(message.secs, 8);
  fixed.writeUInt16BE(message.flags, 10);
  writeIp(fixed, 12, message.ciaddr);
  writeIp(fixed, 16, message.yiaddr);
  writeIp(fixed, 20, message.siaddr);
  writeIp(fixed, 24, message.giaddr);
  message.chaddr.copy(fixed, 28, 0, Math.min(16, message.chaddr.length));
  fixed.writeUInt32BE(MAGIC_COOKIE, FIXED_LENGTH);

  const typeCode = Option.MESSAGE_TYPE;
  const rest = [...message.options.keys()].filter((c) => c !== typeCode && c !== Option.OVERLOAD);
  const first = encodeOptions(message.options, [typeCode]);
  const chunks = encodeOptions(message.options, rest);
  // The main field: room for everything up to maxSize, less the message type, END and a possible overload option.
  const mainRoom = maxSize - fixed.length - first.reduce((n, b) => n + b.length, 0) - 1;
  const main: Buffer[] = [];
  const file: Buffer[] = [];
  const sname: Buffer[] = [];
  const dropped: number[] = [];
  const total = chunks.reduce((n, b) => n + b.length, 0);
  let used = 0;
  let fileUsed = 0;
  let snameUsed = 0;
  const canOverload = message.file === '' || message.sname === '';
  const mainLimit = total <= mainRoom || !canOverload ? mainRoom : mainRoom - 3;
  for (const chunk of chunks) {
    if (used + chunk.length <= mainLimit) {
      main.push(chunk);
      used += chunk.length;
    } else if (canOverload && message.file === '' && fileUsed + chunk.length <= 127) {
      file.push(chunk);
      fileUsed += chunk.length;
    } else if (canOverload && message.sname === '' && snameUsed + chunk.length <= 63) {
      sname.push(chunk);
      snameUsed += chunk.length;
    } else if (!dropped.includes(chunk[0]!)) dropped.push(chunk[0]!);
  }
  const overload = (file.length ? 1 : 0) | (sname.length ? 2 : 0);
  if (overload) main.unshift(Buffer.from([Option.OVERLOAD, 1, overload]));
  if (file.length) Buffer.concat([...file, Buffer.from([Option.END])]).copy(fixed, 108);
  else if (message.file) fixed.write(message.file.slice(0, 127), 108, 'latin1');
  if (sname.length) Buffer.concat([...sname, Buffer.from([Option.END])]).copy(fixed, 44);
  else if (message.sname) fixed.write(message.sname.slice(0, 63), 44, 'latin1');
  return { packet: Buffer.concat([fixed, ...first, ...main, Buffer.from([Option.END])]), dropped };
}

// --- option values -------------------------------------------------------------------------------------------

export function ipList(addresses: readonly string[]): Buffer {
  const out = Buffer.alloc(addresses.length * 4);
  addresses.forEach((a, i) => writeIp(out, i * 4, a));
  return out;
}

export function readIpList(value: Buffer | undefined): string[] {
  if (!value || value.length % 4 !== 0) return [];
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 4) out.push(readIp(value, i));
  return out;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** RFC 3361 option 120, encoding 1 (IPv4 addresses) or 0 (domain names). */
export function sipServers(servers: readonly string[]): Buffer {
  if (servers.every((s) => isIPv4(s))) return Buffer.concat([Buffer.from([1]), ipList(servers)]);
  return Buffer.concat([Buffer.from([0]), ...servers.map(dnsName)]);
}

/** A domain name in DNS wire format (RFC 1035 labels), as options 119 and 120 carry them. */
export function dnsName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

/** Option 43 / vendor sub-options: code, length, value triples. */
export function subOptions(entries: ReadonlyArray<readonly [number, Buffer]>): Buffer {
  return Buffer.concat(entries.map(([code, value]) => Buffer.concat([Buffer.from([code, value.length]), value])));
}

export function readSubOptions(value: Buffer | undefined): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  if (!value) return out;
  let i = 0;
  while (i + 1 < value.length) {
    const code = value[i]!;
    const len = value[i + 1]!;
    if (i + 2 + len > value.length) break;
    out.set(code, value.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return out;
}

export function messageType(m: DhcpMessage): number | undefined {
  return m.options.get(Option.MESSAGE_TYPE)?.[0];
}

/** Who the client is: option 61 when present (RFC 2131 §4.2), else the hardware address. */
export function clientKey(m: DhcpMessage): string {
  const id = m.options.get(Option.CLIENT_ID);
  return id && id.length > 0 ? `id:${id.toString('hex')}` : `hw:${m.htype}:${m.chaddr.toString('hex')}`;
}

/** The MAC (12 hex digits) of an Ethernet client, from chaddr. */
export function chaddrMac(m: DhcpMessage): string | undefined {
  return m.htype === 1 && m.hlen === 6 ? m.chaddr.subarray(0, 6).toString('hex') : undefined;
}
