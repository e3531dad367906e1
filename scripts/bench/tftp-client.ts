/**
 * A small TFTP read client (RFC 1350, optionally RFC 2347/2348 blksize) for scripts/bench/tftp.ts: one RRQ in
 * octet mode from a fresh UDP socket (a new transfer ID per transfer, as a phone does), DATA/ACK in lock step,
 * retransmission of the last packet on timeout. Many transfers run concurrently in one process: spawning a
 * client process per 2 kB file would cost more than the transfer itself.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { nulFields } from '../../src/tftp/codec.js';

const RRQ = 1;
const DATA = 3;
const ACK = 4;
const ERROR = 5;
const OACK = 6;

export interface TftpGetOptions {
  host: string;
  port: number;
  file: string;
  /** Asked for with the blksize option (RFC 2348); undefined: no options, 512-byte blocks (RFC 1350). */
  blksize?: number | undefined;
  /** Retransmission timeout, ms. */
  timeoutMs?: number;
  /** Retransmissions of one packet before the transfer is given up. */
  retries?: number;
}

export interface TftpGetResult {
  data: Buffer;
  /** From sending the RRQ to receiving the last DATA block, ms. */
  ms: number;
  blocks: number;
  retransmissions: number;
}

export class TftpError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

function rrq(file: string, blksize: number | undefined): Buffer {
  const fields = [file, 'octet'];
  if (blksize !== undefined) fields.push('blksize', String(blksize));
  return Buffer.concat([Buffer.from([0, RRQ]), ...fields.map((f) => Buffer.from(`${f}\0`, 'latin1'))]);
}

function ack(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(ACK, 0);
  b.writeUInt16BE(block, 2);
  return b;
}

function errorPacket(code: number, message: string): Buffer {
  return Buffer.concat([Buffer.from([0, ERROR, 0, code]), Buffer.from(`${message}\0`, 'latin1')]);
}

/** Parses an OACK's options (lower-cased names). */
function oackOptions(packet: Buffer): Map<string, string> {
  const fields = nulFields(packet) ?? [];
  const options = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) options.set(fields[i]!.toLowerCase(), fields[i + 1]!);
  return options;
}

/** Reads one file. Rejects with TftpError on an ERROR packet, a protocol violation or a timeout. */
export function tftpGet(options: TftpGetOptions): Promise<TftpGetResult> {
  const { host, port, file, blksize } = options;
  const timeoutMs = options.timeoutMs ?? 1000;
  const retries = options.retries ?? 5;
  return new Promise((resolve, reject) => {
    const socket: Socket = createSocket('udp4');
    const chunks: Buffer[] = [];
    let blockSize = 512;
    let expected = 1; // the next DATA block wanted
    let blocks = 0;
    let serverPort: number | undefined; // the server's transfer ID, from its first answer
    let last: { packet: Buffer; port: number } = { packet: rrq(file, blksize), port };
    let tries = 0;
    let retransmissions = 0;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const t0 = performance.now();

    const finish = (err: Error | undefined, result?: TftpGetResult, finalPacket?: Buffer) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      const close = () => {
        try {
          socket.close();
        } catch {
          // already closed
        }
      };
      if (finalPacket && serverPort !== undefined) socket.send(finalPacket, serverPort, host, close);
      else close();
      if (err) reject(err);
      else resolve(result!);
    };

    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries > retries) {
          finish(new TftpError(`${file}: no answer after ${retries} retransmissions (block ${expected})`));
          return;
        }
        retransmissions++;
        transmit();
      }, timeoutMs);
    };

    const transmit = () => {
      socket.send(last.packet, last.port, host, (err) => {
        if (err) finish(new TftpError(`${file}: send: ${err.message}`));
      });
      arm();
    };

    const sendNew = (packet: Buffer) => {
      last = { packet, port: serverPort ?? port };
      tries = 0;
      transmit();
    };

    socket.on('error', (err) => finish(new TftpError(`${file}: socket: ${err.message}`)));
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (done || rinfo.address !== host || msg.length < 4) return;
      if (serverPort === undefined) serverPort = rinfo.port;
      else if (rinfo.port !== serverPort) {
        // RFC 1350: a packet from another transfer ID gets an error, and the transfer goes on.
        socket.send(errorPacket(5, 'Unknown transfer ID'), rinfo.port, host);
        return;
      }
      const op = msg.readUInt16BE(0);
      if (op === ERROR) {
        const code = msg.readUInt16BE(2);
        finish(new TftpError(`${file}: server error ${code}: ${msg.toString('latin1', 4).replace(/\0.*$/s, '')}`, code));
      } else if (op === OACK) {
        if (blksize === undefined || expected !== 1 || blocks !== 0) {
          if (blocks === 0 && expected === 1) return finish(new TftpError(`${file}: OACK without options asked`));
          return; // a retransmitted OACK after DATA started: ignore
        }
        const granted = Number(oackOptions(msg).get('blksize') ?? 512);
        if (!Number.isInteger(granted) || granted < 8 || granted > blksize) return finish(new TftpError(`${file}: OACK blksize ${granted}, asked ${blksize}`));
        blockSize = granted;
        sendNew(ack(0));
      } else if (op === DATA) {
        const block = msg.readUInt16BE(2);
        if (block === expected) {
          const payload = msg.subarray(4);
          if (payload.length > blockSize) return finish(new TftpError(`${file}: DATA ${block} has ${payload.length} bytes, block size ${blockSize}`));
          chunks.push(payload);
          blocks++;
          if (payload.length < blockSize) {
            const data = Buffer.concat(chunks);
            finish(undefined, { data, ms: performance.now() - t0, blocks, retransmissions }, ack(block));
            return;
          }
          expected = (expected + 1) & 0xffff;
          sendNew(ack(block));
        } else if (block === ((expected - 1) & 0xffff)) {
          // Our ACK was lost (or the server retransmitted early): acknowledge again, once.
          socket.send(ack(block), serverPort, host);
        }
      } else {
        finish(new TftpError(`${file}: unexpected opcode ${op}`));
      }
    });
    socket.bind({ address: host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0', port: 0 }, () => transmit());
  });
}
