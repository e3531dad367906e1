/**
 * A small TFTP client on a raw dgram socket, for the tests that need to see packets exactly as the server
 * sends them: RRQ/WRQ with a mode and options, OACK/DATA/ERROR parsed, blocks ACKed (or not), every wait
 * bounded. Deliberately independent of src/tftp (it must not share the server's bugs).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export type Packet =
  | { op: 3; block: number; data: Buffer; from: RemoteInfo }
  | { op: 5; code: number; message: string; from: RemoteInfo }
  | { op: 6; options: Record<string, string>; from: RemoteInfo }
  | { op: number; raw: Buffer; from: RemoteInfo };

export function requestPacket(op: number, file: string, mode: string, options: Record<string, string | number> = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([0, op]), Buffer.from(file, 'latin1'), Buffer.from([0]), Buffer.from(mode, 'latin1'), Buffer.from([0])];
  for (const [k, v] of Object.entries(options)) parts.push(Buffer.from(`${k}\0${v}\0`, 'latin1'));
  return Buffer.concat(parts);
}

export function ackPacket(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function errorPacket(code: number, message: string): Buffer {
  return Buffer.concat([Buffer.from([0, OP.ERROR, code >> 8, code & 0xff]), Buffer.from(`${message}\0`, 'latin1')]);
}

export function parsePacket(buf: Buffer, from: RemoteInfo): Packet {
  const op = buf.length >= 2 ? buf.readUInt16BE(0) : -1;
  if (op === OP.DATA && buf.length >= 4) return { op, block: buf.readUInt16BE(2), data: Buffer.from(buf.subarray(4)), from };
  if (op === OP.ERROR && buf.length >= 4) {
    const end = buf.indexOf(0, 4);
    return { op, code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, end < 0 ? buf.length : end), from };
  }
  if (op === OP.OACK) {
    const fields = buf.toString('latin1', 2).split('\0');
    if (fields[fields.length - 1] === '') fields.pop();
    const options: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) options[fields[i]!.toLowerCase()] = fields[i + 1]!;
    return { op, options, from };
  }
  return { op, raw: buf, from };
}

export const isData = (p: Packet): p is Extract<Packet, { op: 3 }> => p.op === OP.DATA && 'block' in p;
export const isError = (p: Packet): p is Extract<Packet, { op: 5 }> => p.op === OP.ERROR && 'code' in p;
export const isOack = (p: Packet): p is Extract<Packet, { op: 6 }> => p.op === OP.OACK && 'options' in p;

const openSockets = new Set<TftpSocket>();

/** Closes every client socket still open (after hooks). */
export function closeAllSockets(): void {
  for (const s of openSockets) s.close();
}

/** One client socket (one TID) with a queue of received packets. */
export class TftpSocket {
  readonly socket: Socket;
  private readonly queue: Packet[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;
  /** Every packet received, in order (for assertions over the whole exchange). */
  readonly log: Packet[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      const p = parsePacket(msg, rinfo);
      this.log.push(p);
      this.queue.push(p);
      const w = this.waiter;
      this.waiter = undefined;
      w?.();
    });
    socket.on('error', () => undefined);
    openSockets.add(this);
  }

  static async open(bindAddress = '127.0.0.1'): Promise<TftpSocket> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, bindAddress, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new TftpSocket(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(buf: Buffer, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(buf, port, address, (err) => (err ? reject(err) : resolve())));
  }

  /** The next packet, or undefined after `ms` without one. */
  async next(ms: number): Promise<Packet | undefined> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.queue.shift();
  }

  /** Packets that arrive within `ms` (for "nothing more came" checks and retransmission counts). */
  async drain(ms: number): Promise<Packet[]> {
    const out: Packet[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const p = await this.next(left);
      if (!p) break;
      out.push(p);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    openSockets.delete(this);
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
    try {
      this.socket.close();
    } catch {
      /* already closed */
    }
  }
}

export interface GetOptions {
  host?: string;
  port: number;
  file: string;
  mode?: string;
  options?: Record<string, string | number>;
  /** Stop ACKing after this many DATA blocks have been ACKed (the transfer is left hanging). */
  stopAfterBlocks?: number;
  /** Wait this long before each ACK (slow client). */
  ackDelayMs?: number;
  /** Per-packet wait; the whole get fails after `packetTimeoutMs` without a packet. */
  packetTimeoutMs?: number;
  /** A socket to use (else a new one on 127.0.0.1). */
  socket?: TftpSocket;
  /** When aborted, the client sends an ERROR packet to the transfer's TID and returns `stopped`. */
  signal?: AbortSignal;
}

export interface GetResult {
  /** How the exchange ended. */
  outcome: 'complete' | 'error' | 'timeout' | 'stopped';
  data: Buffer;
  oack?: Record<string, string>;
  error?: { code: number; message: string };
  /** Sizes of the DATA payloads in order (retransmissions of a block counted once). */
  blockSizes: number[];
  /** Every packet from the server, in order. */
  packets: Packet[];
  /** The address and port the transfer packets came from. */
  from?: RemoteInfo;
  socket: TftpSocket;
}

/**
 * A read request and the transfer that follows, with lock-step ACKs (window size 1). The block size is the
 * OACKed blksize, else 512: a block shorter than that ends the transfer.
 */
export async function tftpGet(o: GetOptions): Promise<GetResult> {
  const host = o.host ?? '127.0.0.1';
  const sock = o.socket ?? (await TftpSocket.open());
  const wait = o.packetTimeoutMs ?? 5000;
  const chunks: Buffer[] = [];
  const blockSizes: number[] = [];
  const result = (outcome: GetResult['outcome'], extra: Partial<GetResult> = {}): GetResult => ({
    outcome,
    data: Buffer.concat(chunks),
    blockSizes,
    packets: [...sock.log],
    socket: sock,
    ...extra,
  });
  await sock.send(requestPacket(OP.RRQ, o.file, o.mode ?? 'octet', o.options), o.port, host);
  let blksize = 512;
  let expected = 1;
  let oack: Record<string, string> | undefined;
  let from: RemoteInfo | undefined;
  let acked = 0;
  let lastPacket = Date.now();
  for (;;) {
    if (o.signal?.aborted) {
      if (from) await sock.send(errorPacket(0, 'client gave up'), from.port, from.address);
      return result('stopped', { oack, from });
    }
    const p = await sock.next(o.signal ? Math.min(wait, 100) : wait);
    if (!p) {
      if (o.signal && !o.signal.aborted && Date.now() - lastPacket < wait) continue;
      if (o.signal?.aborted) continue;
      return result('timeout', { oack, from });
    }
    lastPacket = Date.now();
    if (from && (p.from.port !== from.port || p.from.address !== from.address)) continue; // not our transfer's TID
    if (isError(p)) return result('error', { oack, from: from ?? p.from, error: { code: p.code, message: p.message } });
    if (isOack(p)) {
      if (expected !== 1 || oack) continue;
      from = p.from;
      oack = p.options;
      if (oack.blksize) blksize = Number(oack.blksize);
      await sock.send(ackPacket(0), p.from.port, p.from.address);
      continue;
    }
    if (isData(p)) {
      from ??= p.from;
      if (p.block === (expected & 0xffff)) {
        chunks.push(p.data);
        blockSizes.push(p.data.length);
        expected++;
        if (o.stopAfterBlocks !== undefined && acked >= o.stopAfterBlocks) return result('stopped', { oack, from });
        if (o.ackDelayMs) await new Promise((r) => setTimeout(r, o.ackDelayMs));
        await sock.send(ackPacket(p.block), p.from.port, p.from.address);
        acked++;
        if (p.data.length < blksize) return result('complete', { oack, from });
      } else {
        // A retransmission of the previous block: ACK it again (RFC 1350 lock-step).
        await sock.send(ackPacket(p.block), p.from.port, p.from.address);
      }
    }
  }
}

/** An RRQ and the first packet the server answers with (DATA, OACK or ERROR), without ACKing anything. */
export async function firstAnswer(o: { host?: string; port: number; file: string; mode?: string; options?: Record<string, string | number>; timeoutMs?: number }): Promise<{ packet: Packet | undefined; socket: TftpSocket }> {
  const sock = await TftpSocket.open();
  await sock.send(requestPacket(OP.RRQ, o.file, o.mode ?? 'octet', o.options), o.port, o.host ?? '127.0.0.1');
  const packet = await sock.next(o.timeoutMs ?? 5000);
  return { packet, socket: sock };
}
