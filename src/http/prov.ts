/** `/prov/<file>`: the HTTP door to the provisioning catalogue. Thin: parse, call the catalogue, answer. */
import express, { type Request, type Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../app/log.js';
import type { Metrics } from '../app/metrics.js';
import { checkFileName, type ProvisioningCatalogue } from '../provisioning/catalogue.js';
import type { ManifestFirmwareCatalogue } from '../provisioning/firmware.js';
import type { TransferSlots } from '../provisioning/admission.js';

/** The requested name from the raw URL, so an encoded `..` or `/` is seen for what it is. */
export function requestedName(originalUrl: string, prefix: string): string | { status: 400; reason: string } {
  // An absolute-form request line (`GET http://host/prov/x.cfg`, as proxies send) carries the origin too.
  const target = originalUrl.split('?')[0]!.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const path = target.slice(prefix.length);
  try {
    return decodeURIComponent(path);
  } catch {
    return { status: 400, reason: 'malformed percent-encoding' };
  }
}

/**
 * If-None-Match against the file's ETag (weak comparison, RFC 9110 13.1.2). Not express's `req.fresh`: that ignores
 * the validator when the request also says `Cache-Control: no-cache`, which asks for exactly this check here.
 */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

/**
 * `GET|HEAD /prov/<file>` on the bare node:http request, ahead of express: this is the path every phone takes
 * at every boot, so it carries no framework cost. Firmware (`/prov/firmware/...`) goes through express.
 */
export function provisioningHandler(deps: { catalogue: ProvisioningCatalogue; metrics: Metrics; log: Logger }) {
  const { catalogue, metrics, log } = deps;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
      return;
    }
    const name = requestedName(req.url ?? '', '/prov/');
    const ip = req.socket.remoteAddress ?? '';
    const result =
      typeof name === 'string' ? await catalogue.fetch({ file: name, userAgent: req.headers['user-agent'], ip, protocol: 'http' }) : name;
    metrics.provisioningDuration.observe({ protocol: 'http' }, Number(process.hrtime.bigint() - started) / 1e9);
    if (result.status !== 200) {
      metrics.provisioningRequests.inc({ protocol: 'http', status: String(result.status) });
      log.debug({ ip, file: typeof name === 'string' ? name.slice(0, 128) : undefined, status: result.status, reason: result.reason }, 'provisioning refused');
      send(res, result.status, `${result.reason}\n`);
      return;
    }
    const headers = { 'Content-Type': result.contentType, ETag: result.etag, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
    const ifNoneMatch = req.headers['if-none-match'];
    if (noneMatch(Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch, result.etag)) {
      metrics.provisioningRequests.inc({ protocol: 'http', status: '304' });
      res.writeHead(304, headers).end();
      return;
    }
    metrics.provisioningRequests.inc({ protocol: 'http', status: '200' });
    res.writeHead(200, { ...headers, 'Content-Length': String(result.body.length) });
    res.end(req.method === 'HEAD' ? undefined : result.body);
  };
}

function send(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'X-Content-Type-Options': 'nosniff', ...extra });
  res.end(text);
}

/** `/prov/firmware/<file>`: images the firmware catalogue lists, with Range, under admission control. */
export function firmwareRouter(deps: { firmware: ManifestFirmwareCatalogue; slots: TransferSlots; metrics: Metrics }): express.Router {
  const router = express.Router();
  router.get('/*name', (req: Request, res: Response) => {
    const name = requestedName(req.originalUrl, '/prov/firmware/');
    const refused = typeof name === 'string' ? checkFileName(name) : name;
    if (refused || typeof name !== 'string') {
      res.status(refused!.status).type('text/plain').send(`${refused!.reason}\n`);
      return;
    }
    const image = deps.firmware.image(name);
    if (!image) {
      res.status(404).type('text/plain').send('no such firmware image\n');
      return;
    }
    const slot = deps.slots.tryAcquire();
    if (!slot) {
      deps.metrics.firmwareRefused.inc({ protocol: 'http' });
      // Spread the retries: a branch of phones told the same number would all come back at once.
      res.set('Retry-After', String(20 + Math.floor(Math.random() * 40)));
      res.status(503).type('text/plain').send('too many firmware transfers at once; retry later\n');
      return;
    }
    deps.metrics.firmwareTransfers.inc({ protocol: 'http' });
    res.once('close', () => slot.release());
    // sendFile answers Range requests and sets Content-Length itself.
    res.sendFile(image.path, { dotfiles: 'deny', acceptRanges: true, cacheControl: false, lastModified: true, headers: { 'Content-Type': 'application/octet-stream' } }, () => slot.release());
  });
  return router;
}
