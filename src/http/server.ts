/** The HTTP service: provisioning, health, metrics and the API, on one express app. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../app/log.js';
import type { Metrics } from '../app/metrics.js';
import type { Outpost } from '../app/outpost.js';
import type { StatusReport } from '../app/status.js';
import type { ProvisioningCatalogue } from '../provisioning/catalogue.js';
import { apiRouter } from './api.js';
import { basicAuth } from './auth.js';
import { firmwareRouter, provisioningHandler } from './prov.js';
import type { RegistrationView } from '../sip/service.js';
import type { ResyncVia } from '../app/resync.js';
import type { TransferSlots } from '../provisioning/admission.js';

export interface HttpDeps {
  outpost: Outpost;
  catalogue: ProvisioningCatalogue;
  metrics: Metrics;
  log: Logger;
  adminPassword: () => string;
  status: () => Promise<StatusReport>;
  healthy: () => boolean;
  firmwareSlots: TransferSlots;
  /** Live SIP registrations, when the SIP service runs. */
  registrations?: () => RegistrationView[];
  resyncVia?: () => ResyncVia | undefined;
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use((_req, res, next) => {
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });

  app.use('/prov/firmware', firmwareRouter({ firmware: deps.outpost.firmware, slots: deps.firmwareSlots, metrics: deps.metrics }));

  app.get('/healthz', (_req, res) => {
    const ok = deps.healthy();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded' });
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  let lastFailureEvent = 0;
  const onAuthFailure = (req: Request) => {
    deps.metrics.apiAuthFailures.inc();
    // One event a minute at most: a password-guessing client must not flood the log.
    if (Date.now() - lastFailureEvent > 60_000) {
      lastFailureEvent = Date.now();
      void deps.outpost.store.events.add({ type: 'api.auth_failed', level: 'warn', message: `API request without valid credentials from ${req.socket.remoteAddress ?? '?'}`, data: { ip: req.socket.remoteAddress } });
    }
  };
  app.use('/api/v1', basicAuth(deps.adminPassword, onAuthFailure), apiRouter({ outpost: deps.outpost, catalogue: deps.catalogue, status: deps.status, registrations: () => deps.registrations?.() ?? [], resyncVia: () => deps.resyncVia?.() }));

  app.get('/', (_req, res) => {
    res.type('text/plain').send('Outpost is running. The API is at /api/v1 (HTTP Basic, user admin); provisioning at /prov/.\n');
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });
  // Without this, express's default handler answers a bad path (`/prov/%zz`) with an HTML stack trace.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: unknown }).status;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof URIError || status === 400) {
      res.status(400).type('text/plain').send('malformed request path\n');
      return;
    }
    deps.log.error({ err: (err as Error).message }, 'HTTP request failed');
    res.status(500).type('text/plain').send('internal error; see the log\n');
  });
  return app;
}

/** The request handler: provisioning files on the bare handler, everything else through express. */
export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const app = createHttpApp(deps);
  const prov = provisioningHandler({ catalogue: deps.catalogue, metrics: deps.metrics, log: deps.log });
  return (req, res) => {
    const path = (req.url ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
    if (path.startsWith('/prov/') && !path.startsWith('/prov/firmware/')) {
      prov(req, res).catch((err: Error) => {
        deps.log.error({ err: err.message }, 'provisioning request failed');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal error; see the log\n');
      });
    } else app(req, res);
  };
}

export function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
