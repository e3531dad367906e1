/** The HTTP service: provisioning, health, metrics and the API, on one express app. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../app/log.js';
import type { Metrics } from '../app/metrics.js';
import type { Outpost } from '../app/outpost.js';
import type { StatusReport } from '../app/status.js';
import type { ProvisioningCatalogue } from '../provisioning/catalogue.js';
import { apiRouter } from './api.js';
import { apiAuth, checkBasic } from './auth.js';
import { firmwareRouter, provisioningHandler } from './prov.js';
import { SessionStore, sessionRouter, sessionToken } from './session.js';
import { StreamHub, fingerprintOf } from './stream.js';
import { webRouter } from './static.js';
import { storeFingerprints } from '../store/fingerprints.js';
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
  /** The built web page (index.html, assets/); default <project root>/dist/web. */
  webRoot?: string | undefined;
  /** The live stream's timing (tests shorten it). */
  stream?: { pollMs?: number; keepaliveMs?: number } | undefined;
}

/** The express app and what must be stopped with the HTTP server (open live streams). */
export type HttpApp = express.Express & { shutdown: () => void };
export type HttpHandler = ((req: IncomingMessage, res: ServerResponse) => void) & { shutdown?: () => void };

export function createHttpApp(deps: HttpDeps): HttpApp {
  const app = express() as unknown as HttpApp;
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
  // The web page's session (login needs no credentials), then Basic or the session cookie for the rest.
  const sessions = new SessionStore({ password: deps.adminPassword });
  const registrations = () => deps.registrations?.() ?? [];
  const stream = new StreamHub(
    {
      events: (filter) => deps.outpost.store.events.list(filter),
      fingerprints: async () => {
        const status = await deps.status();
        return {
          ...(await storeFingerprints(deps.outpost.store.db, Date.now())),
          registrations: fingerprintOf(registrations().map((r) => `${r.user} ${r.contact} ${r.source}`).sort()),
          // Not the round-trip time nor the expiry countdowns: they move all the time.
          status: fingerprintOf([status.upstream, status.mode, status.modeSince, status.modeReason, status.registrations, status.services, status.devices, status.lines, status.site]),
        };
      },
      log: deps.log,
    },
    deps.stream,
  );
  app.shutdown = () => stream.close();
  app.use('/api/v1', sessionRouter({ sessions, password: deps.adminPassword, onFailure: onAuthFailure }));
  app.use('/api/v1', apiAuth({ password: deps.adminPassword, sessions, onFailure: onAuthFailure }));
  app.get('/api/v1/stream', (req, res) => {
    const token = sessionToken(req);
    const basic = req.headers.authorization;
    return stream.open(req, res, () => checkBasic(basic, deps.adminPassword()) || sessions.alive(token));
  });
  app.use('/api/v1', apiRouter({ outpost: deps.outpost, catalogue: deps.catalogue, status: deps.status, registrations, resyncVia: () => deps.resyncVia?.() }));

  app.use(webRouter(deps.webRoot));
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
export function createHttpHandler(deps: HttpDeps): HttpHandler {
  const app = createHttpApp(deps);
  const prov = provisioningHandler({ catalogue: deps.catalogue, metrics: deps.metrics, log: deps.log });
  const handler: HttpHandler = (req, res) => {
    const path = (req.url ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
    if (path.startsWith('/prov/') && !path.startsWith('/prov/firmware/')) {
      prov(req, res).catch((err: Error) => {
        deps.log.error({ err: err.message }, 'provisioning request failed');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal error; see the log\n');
      });
    } else app(req, res);
  };
  handler.shutdown = app.shutdown;
  return handler;
}

export function listen(handler: HttpHandler, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
    // Closing the server ends the open live streams first: they would otherwise hold the close until forced.
    const shutdown = handler.shutdown;
    if (shutdown) {
      const close = server.close.bind(server);
      server.close = ((callback?: (err?: Error) => void) => {
        shutdown();
        return close(callback);
      }) as Server['close'];
    }
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
