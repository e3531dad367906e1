/**
 * The TFTP door to the provisioning catalogue: the same namespace as `/prov/` (rendered by the same
 * catalogue, never a copy of its own), plus `firmware/<file>` from the firmware catalogue under the same
 * admission control as HTTP. Read-only. Thin: the protocol is the `tftp` package's (package.ts owns its gaps).
 */
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import type { Logger } from '../app/log.js';
import type { Metrics } from '../app/metrics.js';
import type { TransferSlots } from '../provisioning/admission.js';
import { checkFileName, type ProvisioningCatalogue } from '../provisioning/catalogue.js';
import type { ManifestFirmwareCatalogue } from '../provisioning/firmware.js';
import { toNetascii } from './codec.js';
import {
  forgetRequest,
  patchTftpPackage,
  requestFrom,
  tftpErrors,
  tftpPackage,
  watchMainSocket,
  type PackageGetStream,
  type PackagePutStream,
  type PackageServer,
} from './package.js';

export interface TftpServiceOptions {
  address: string;
  port: number;
  catalogue: ProvisioningCatalogue;
  firmware: ManifestFirmwareCatalogue;
  slots: TransferSlots;
  metrics: Metrics;
  log: Logger;
  /** Retransmissions before a silent client's transfer is given up (and its socket freed). */
  retries?: number;
  /** Default retransmission timeout, ms (a client's `timeout` option overrides it for its transfer). */
  timeoutMs?: number;
}

export const BUSY_MESSAGE = 'Server busy: too many firmware transfers, retry later';
const FIRMWARE_PREFIX = 'firmware/';

/** The name a client asked for, in the `/prov/` namespace: one leading slash means the namespace's root. */
export function namespaceName(raw: string): string {
  return raw.startsWith('/') ? raw.slice(1) : raw;
}

/** The size of a file once converted to netascii: one more byte for every CR and every LF. */
async function netasciiSize(path: string): Promise<number> {
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    size += chunk.length;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a || chunk[i] === 0x0d) size++;
  }
  return size;
}

export class TftpService {
  private server: PackageServer | undefined;
  private readonly transfers = new Set<PackageGetStream>();

  constructor(private readonly options: TftpServiceOptions) {}

  get activeTransfers(): number {
    return this.transfers.size;
  }

  async start(): Promise<{ address: string; port: number }> {
    patchTftpPackage();
    const { address, port } = this.options;
    const server = tftpPackage.createServer(
      {
        host: address,
        port,
        denyPUT: true,
        // The largest RFC 2348 allows: a client's blksize is then honoured as asked (8 to 65464).
        blockSize: 65464,
        retries: this.options.retries ?? 3,
        timeout: this.options.timeoutMs ?? 3000,
        windowSize: 4,
        root: '.',
      },
      (req, res) => void this.onRequest(req, res),
    );
    // The package turns port 0 ("any free port") into 69 (`opts.port || 69`); listen() binds `server.port`.
    server.port = port;
    watchMainSocket(server, address);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        server.on('error', (err: Error) => this.options.log.error({ err: err.message }, 'TFTP server socket error'));
        resolve();
      });
      server.listen();
    });
    const bound = server._socket.address();
    return { address: bound.address, port: bound.port };
  }

  private async onRequest(req: PackageGetStream, res: PackagePutStream): Promise<void> {
    const { remoteAddress, remotePort } = req.stats;
    // The package emits `error` when a client vanishes or aborts: handled here, never a crash.
    req.on('error', (err: Error) => this.options.log.debug({ ip: remoteAddress, err: err.message }, 'TFTP transfer ended with an error'));
    this.transfers.add(req);
    req.once('close', () => this.transfers.delete(req));
    const sent = requestFrom(remoteAddress, remotePort);
    forgetRequest(remoteAddress, remotePort);
    const raw = sent?.file ?? req.file;
    const netascii = sent?.mode === 'netascii';
    const name = namespaceName(raw);
    const { metrics } = this.options;
    const count = (status: string) => metrics.provisioningRequests.inc({ protocol: 'tftp', status });

    if (name.startsWith(FIRMWARE_PREFIX)) {
      this.sendFirmware(req, res, name.slice(FIRMWARE_PREFIX.length), remoteAddress, count, netascii);
      return;
    }
    const started = process.hrtime.bigint();
    let result;
    try {
      result = await this.options.catalogue.fetch({ file: name, ip: remoteAddress, protocol: 'tftp' });
    } catch (err) {
      this.options.log.error({ err: (err as Error).message, file: name.slice(0, 128) }, 'TFTP request failed');
      req.abort(tftpErrors.EIO!.message);
      count('500');
      return;
    }
    metrics.provisioningDuration.observe({ protocol: 'tftp' }, Number(process.hrtime.bigint() - started) / 1e9);
    if (result.status !== 200) {
      count(String(result.status));
      this.options.log.debug({ ip: remoteAddress, file: name.slice(0, 128), status: result.status, reason: result.reason }, 'TFTP request refused');
      req.abort(result.status === 404 ? tftpErrors.ENOENT!.message : tftpErrors.EACCESS!.message);
      return;
    }
    count('200');
    const body = netascii ? toNetascii(result.body) : result.body;
    res.setSize(body.length);
    res.end(body);
  }

  private sendFirmware(req: PackageGetStream, res: PackagePutStream, file: string, ip: string, count: (status: string) => void, netascii: boolean): void {
    const { firmware, slots, metrics } = this.options;
    const image = checkFileName(file) ? undefined : firmware.image(file);
    if (!image) {
      count('404');
      req.abort(tftpErrors.ENOENT!.message);
      return;
    }
    const slot = slots.tryAcquire();
    if (!slot) {
      count('503');
      metrics.firmwareRefused.inc({ protocol: 'tftp' });
      this.options.log.info({ ip, file }, 'TFTP firmware transfer refused: too many at once');
      req.abort(BUSY_MESSAGE);
      return;
    }
    count('200');
    metrics.firmwareTransfers.inc({ protocol: 'tftp' });
    const stream = createReadStream(image.path);
    let closed = false;
    req.once('close', () => {
      closed = true;
      slot.release();
      stream.destroy();
    });
    stream.on('error', () => req.abort(tftpErrors.EIO!.message));
    if (!netascii) {
      res.setSize(image.size);
      stream.pipe(res);
      return;
    }
    // netascii is converted like every other file; the size (tsize, and where the package ends the transfer)
    // is the converted one, so the image is counted first. The conversion is per byte: chunk by chunk.
    netasciiSize(image.path).then(
      (size) => {
        if (closed) return;
        res.setSize(size);
        stream.pipe(new Transform({ transform: (chunk: Buffer, _encoding, done) => done(null, toNetascii(chunk)) })).pipe(res);
      },
      () => {
        if (!closed) req.abort(tftpErrors.EIO!.message);
      },
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const transfer of this.transfers) transfer.abort('Server shutting down');
    await new Promise<void>((resolve) => {
      server.once('close', () => resolve());
      server.close();
    });
  }
}
