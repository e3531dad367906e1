/**
 * SIP over UDP and TCP on one port (RFC 3261 §18). Thin: sockets, framing and limits; every message goes to the
 * transaction layer. TCP is framed by Content-Length, answers CRLF keep-alive pings (RFC 5626 §3.5.1), and is
 * bounded in header size, message size, connection count and idle time. A malformed message never stops the
 * service: it is reported to `onMalformed` (which may answer 400) and the socket carries on.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { createServer, createConnection, isIP, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from '../app/log.js';
import { headerEnd, LIMITS, parseMessage, serializeMessage, SipParseError, type SipMessage } from './message.js';

export type TransportName = 'udp' | 'tcp';

/**
 * How the UDP socket resolves where a datagram goes: an IP address (every answer but one to a Via naming a host)
 * is used as it is, at once; Node's own lookup hands even an address to dns.lookup, which defers the send to
 * the next tick (about 1 µs of CPU a send, two sends a registration). A name still goes through DNS.
 */
function udpLookup(hostname: string, options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family) callback(null, hostname, family);
  else dnsLookup(hostname, options as LookupOneOptions, callback);
}

/** Where a message came from, and how to answer it. */
export interface Remote {
  transport: TransportName;
  address: string;
  port: number;
  /** The TCP connection it arrived on. */
  connection?: number | undefined;
}

export interface TransportOptions {
  host: string;
  port: number;
  log: Logger;
  tcp?: boolean;
  maxConnections?: number;
  /** A TCP connection without a message for this long is closed. */
  idleMs?: number;
  onMessage(msg: SipMessage, remote: Remote): void;
  /** A message that could not be parsed: the raw bytes and why. */
  onMalformed?(raw: Buffer, remote: Remote, error: SipParseError): void;
}

export interface TransportCounters {
  received: number;
  sent: number;
  malformed: number;
  connections: number;
  connectionsRefused: number;
  keepalives: number;
}

const CRLF = Buffer.from('\r\n');

/** `udp:10.20.0.31:5062`: where a message came from, as bindings and events write it. */
export function sourceText(remote: Remote): string {
  return `${remote.transport}:${remote.address}:${remote.port}`;
}

/** The reverse of sourceText; undefined for anything else. */
export function parseSource(text: string): Remote | undefined {
  const m = /^(udp|tcp):(.+):(\d+)$/.exec(text);
  return m ? { transport: m[1] as TransportName, address: m[2]!, port: Number(m[3]) } : undefined;
}

export class SipTransport {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Map<number, Socket>();
  private nextConnection = 1;
  readonly counters: TransportCounters = { received: 0, sent: 0, malformed: 0, connections: 0, connectionsRefused: 0, keepalives: 0 };
  /** The bound port (useful when asked for port 0). */
  port = 0;

  constructor(private readonly options: TransportOptions) {}

  async start(): Promise<{ port: number }> {
    const { host } = this.options;
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', lookup: udpLookup });
    udp.on('message', (buf, rinfo) => this.datagram(buf, { transport: 'udp', address: rinfo.address, port: rinfo.port }));
    udp.on('error', (err: NodeJS.ErrnoException) => {
      // A send to an address nobody answers at (a hostile Via, a phone gone) is the sender's business, not an error of ours.
      if (err.syscall === 'send' || err.syscall === 'getaddrinfo') this.options.log.debug({ err: err.message }, 'SIP UDP send failed');
      else this.options.log.error({ err: err.message }, 'SIP UDP socket error');
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.options.port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    try {
      udp.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      /* the kernel's limit applies */
    }
    this.udp = udp;
    this.port = udp.address().port;
    if (this.options.tcp !== false) {
      const tcp = createServer((socket) => this.accept(socket));
      tcp.on('error', (err) => this.options.log.error({ err: err.message }, 'SIP TCP server error'));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(this.port, host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        this.udp = undefined;
        throw err;
      }
      this.tcp = tcp;
    }
    return { port: this.port };
  }

  async stop(): Promise<void> {
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
    this.udp = undefined;
    this.tcp = undefined;
  }

  /** Sends a message; over TCP on the connection given, or a new one to the address. */
  send(msg: SipMessage, remote: Remote): void {
    this.sendBytes(serializeMessage(msg), remote);
  }

  /** Sends bytes already serialised. */
  sendBytes(bytes: Buffer, remote: Remote): void {
    // A port nothing can be sent to (a hostile Via's port or rport of 0 or 70000) would make the socket throw.
    if (!Number.isInteger(remote.port) || remote.port < 1 || remote.port > 65535) return;
    this.counters.sent++;
    if (remote.transport === 'udp') {
      // No callback: Node then sends at once (one sendto) without a request object. A send that fails is
      // dropped (UDP gives no guarantee anyway); a host name that does not resolve comes back as an 'error' event.
      this.udp?.send(bytes, remote.port, remote.address);
      return;
    }
    const existing = remote.connection !== undefined ? this.connections.get(remote.connection) : undefined;
    if (existing && !existing.destroyed) {
      existing.write(bytes);
      return;
    }
    // The connection is gone (RFC 3261 §18.2.2: try a new one to the same address and port).
    if (this.connections.size >= (this.options.maxConnections ?? 1000)) return;
    const socket = createConnection({ host: remote.address, port: remote.port, localAddress: this.options.host });
    socket.once('connect', () => socket.write(bytes));
    this.accept(socket);
  }

  private datagram(buf: Buffer, remote: Remote): void {
    if (buf.length <= 4 && buf.toString('latin1').trim() === '') {
      this.counters.keepalives++; // a CRLF keep-alive over UDP: nothing to answer
      return;
    }
    this.deliver(buf, remote, false);
  }

  private deliver(buf: Buffer, remote: Remote, stream: boolean): void {
    this.counters.received++;
    let msg: SipMessage;
    try {
      msg = parseMessage(buf, { stream });
    } catch (err) {
      this.counters.malformed++;
      const error = err instanceof SipParseError ? err : new SipParseError((err as Error).message);
      this.options.onMalformed?.(buf, remote, error);
      return;
    }
    try {
      this.options.onMessage(msg, remote);
    } catch (err) {
      this.options.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'SIP message handler failed');
    }
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= (this.options.maxConnections ?? 1000)) {
      this.counters.connectionsRefused++;
      socket.destroy();
      return;
    }
    const id = this.nextConnection++;
    this.connections.set(id, socket);
    this.counters.connections++;
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleMs ?? 600_000, () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const remote: Remote = { transport: 'tcp', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, connection: id };
      try {
        pending = this.frame(pending, remote, socket);
      } catch (err) {
        this.counters.malformed++;
        this.options.log.debug({ from: `${remote.address}:${remote.port}`, err: (err as Error).message }, 'SIP TCP stream unusable: connection closed');
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.connections.delete(id));
  }

  /** Takes every complete message off the front of `buf`; returns what is left. Throws when the stream cannot be framed. */
  private frame(buf: Buffer, remote: Remote, socket: Socket): Buffer {
    let at = 0;
    for (;;) {
      // CRLF CRLF is a keep-alive ping; a lone CRLF is a pong (RFC 5626 §3.5.1).
      if (buf.length - at >= 4 && buf[at] === 0x0d && buf[at + 1] === 0x0a && buf[at + 2] === 0x0d && buf[at + 3] === 0x0a) {
        this.counters.keepalives++;
        socket.write(CRLF);
        at += 4;
        continue;
      }
      if (buf.length - at >= 2 && buf[at] === 0x0d && buf[at + 1] === 0x0a) {
        at += 2;
        continue;
      }
      if (at >= buf.length) return Buffer.alloc(0);
      const found = headerEnd(buf, at);
      if (!found) {
        if (buf.length - at > LIMITS.headerBytes) throw new SipParseError(`no end of headers within ${LIMITS.headerBytes} bytes`);
        return buf.subarray(at);
      }
      const head = buf.toString('latin1', at, found.end);
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im.exec(head);
      if (!m) throw new SipParseError('no Content-Length on TCP');
      const length = Number(m[1]);
      if (length > LIMITS.bodyBytes) throw new SipParseError(`body of ${length} bytes over the limit`);
      const end = found.bodyStart + length;
      if (buf.length < end) return buf.subarray(at);
      this.deliver(buf.subarray(at, end), remote, true);
      at = end;
    }
  }
}
