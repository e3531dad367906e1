/**
 * The npm `tftp` package (RFC 1350, 2347, 2348, 2349 tsize, 7440 windowsize), and the gaps we own. It was last
 * published in 2015 and cannot be configured for these, so they are patched here, once, in one place:
 *
 * 1. Per-transfer sockets are created unbound and bound with `bind(0, null)` (that is 0.0.0.0) inside the
 *    package. An accessor on the helper that creates them binds each to the address of the server that
 *    received the request instead.
 * 2. The transfer mode is parsed and thrown away, so netascii cannot be converted: the server reads the
 *    mode (and the options as sent) from the request packet itself (codec.ts) and converts.
 * 3. The `timeout` option is parsed and ignored, never acknowledged: it is now acknowledged in the OACK and
 *    used as the retransmission timeout of that transfer.
 * 4. A write request is refused with error 0 "Cannot PUT files", and a name climbing out with `..` with error 0
 *    "Invalid filename"; both become error 2, access violation.
 *
 * tests/tftp runs real clients (tftp-hpa, atftp, curl) against each of these.
 */
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { parseRequest, requestedTimeout, type TftpRequest } from './codec.js';

const require = createRequire(import.meta.url);

export interface TftpStats {
  blockSize: number;
  windowSize: number;
  size: number | null;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** The package's request (a readable stream) as the request listener gets it. */
export interface PackageGetStream extends EventEmitter {
  method: 'GET' | 'PUT';
  file: string;
  stats: TftpStats;
  abort(message?: string): void;
}

/** The package's response (a writable stream). */
export interface PackagePutStream extends NodeJS.WritableStream {
  setSize(size: number): void;
}

export interface PackageServer extends EventEmitter {
  host: string;
  port: number;
  listen(): void;
  close(): void;
  _socket: Socket;
}

interface TftpModule {
  createServer(options: Record<string, unknown>, listener: (req: PackageGetStream, res: PackagePutStream) => void): PackageServer;
}

interface ErrorDef {
  code: number;
  name: string | null;
  message: string;
}

export const tftpPackage = require('tftp') as TftpModule;
export const tftpErrors = require('tftp/lib/protocol/errors.js') as Record<string, ErrorDef>;

const Helper = (require('tftp/lib/protocol/request.js') as { Helper: { prototype: object } }).Helper;
const IncomingRequest = require('tftp/lib/protocol/server/incoming-request.js') as { prototype: Record<string, unknown> };
const rrqPacket = require('tftp/lib/protocol/packets/rrq.js') as { deserialize: (b: Buffer) => { extensions: Record<string, number> | null } };

/** What each server's main socket received, by client, until the transfer picks it up. */
const received = new Map<string, { request: TftpRequest; at: number }>();
const RECEIVED_LIMIT = 4096;
/** The address of the server whose main socket is delivering a request right now (set synchronously before the package's handler). */
let deliveringTo: string | null = null;

function clientKey(address: string, port: number): string {
  return `${address}:${port}`;
}

/** The request packet as sent, for the transfer of `address:port`. */
export function requestFrom(address: string, port: number): TftpRequest | undefined {
  return received.get(clientKey(address, port))?.request;
}

export function forgetRequest(address: string, port: number): void {
  received.delete(clientKey(address, port));
}

function remember(packet: Buffer, address: string, port: number): void {
  const request = parseRequest(packet);
  if (!request) return;
  if (received.size >= RECEIVED_LIMIT) {
    // Requests the package refused before any transfer started are never picked up: drop the oldest.
    const cutoff = Date.now() - 10_000;
    for (const [key, entry] of received) if (entry.at < cutoff || received.size >= RECEIVED_LIMIT) received.delete(key);
  }
  received.set(clientKey(address, port), { request, at: Date.now() });
}

function bindTo(socket: Socket, address: string | null): Socket {
  const originalBind = socket.bind.bind(socket) as (port: number, address?: string, cb?: () => void) => Socket;
  const originalSend = socket.send.bind(socket) as (...args: unknown[]) => void;
  let bound = false;
  const target = address && address !== '0.0.0.0' && address !== '::' ? address : undefined;
  (socket as unknown as { bind: unknown }).bind = (port: number, _address: unknown, cb?: () => void) => {
    bound = true;
    return originalBind(port, target, cb);
  };
  (socket as unknown as { send: unknown }).send = (...args: unknown[]) => {
    if (bound) return originalSend(...args);
    bound = true;
    originalBind(0, target, () => originalSend(...args));
  };
  return socket;
}

let patched = false;

/** Applies the patches above (once per process). */
export function patchTftpPackage(): void {
  if (patched) return;
  patched = true;

  Object.defineProperty(Helper.prototype, '_socket', {
    configurable: true,
    get(this: { __outpostSocket?: Socket }) {
      return this.__outpostSocket;
    },
    set(this: { __outpostSocket?: Socket }, socket: Socket) {
      this.__outpostSocket = bindTo(socket, deliveringTo);
    },
  });

  const deserialize = rrqPacket.deserialize;
  rrqPacket.deserialize = (buffer: Buffer) => {
    const message = deserialize(buffer);
    // A request whose only option is `timeout` still deserves an OACK that acknowledges it.
    const sent = parseRequest(buffer);
    if (message.extensions === null && sent && requestedTimeout(sent.options) !== undefined) message.extensions = {};
    return message;
  };

  const sendOack = IncomingRequest.prototype._sendOackMessage as (this: Record<string, unknown>, extensions: unknown) => void;
  IncomingRequest.prototype._sendOackMessage = function (this: Record<string, unknown>, extensions: unknown) {
    const sent = requestFrom(String(this._address), Number(this._port));
    const seconds = sent ? requestedTimeout(sent.options) : undefined;
    if (seconds !== undefined) this._timeout = seconds * 1000;
    this.__outpostTimeout = seconds;
    sendOack.call(this, extensions);
  };

  // The OACK of a read request is serialized in continueRequest (when the listener calls setSize), which may
  // run synchronously inside _sendOackMessage (firmware): the acknowledged timeout is added just before it.
  const continueRequest = IncomingRequest.prototype.continueRequest as (this: Record<string, unknown>, size: number) => void;
  IncomingRequest.prototype.continueRequest = function (this: Record<string, unknown>, size: number) {
    const response = this._responseExtensions as Record<string, unknown> | null;
    if (this.__outpostTimeout !== undefined && response) response.timeout = this.__outpostTimeout;
    continueRequest.call(this, size);
  };

  tftpErrors.ENOPUT = { code: 2, name: 'ENOPUT', message: 'Access violation: Outpost serves files read-only' };
  // A name that climbs out of the namespace (`../x`) is an access violation, not an undefined error.
  tftpErrors.EBADNAME = { code: 2, name: 'EBADNAME', message: 'Access violation: the name leaves the provisioning namespace' };
}

/** Watches a server's main socket: records each request packet and which server is delivering it. */
export function watchMainSocket(server: PackageServer, address: string): void {
  server._socket.prependListener('message', (packet: Buffer, rinfo: { address: string; port: number }) => {
    deliveringTo = address;
    remember(packet, rinfo.address, rinfo.port);
  });
}
