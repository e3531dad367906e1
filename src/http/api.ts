/** `/api/v1`: JSON REST over the same operations as the CLI. Passwords never leave through it. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { NotFoundError, UserError } from '../app/errors.js';
import type { Outpost } from '../app/outpost.js';
import type { Line } from '../store/lines.js';
import type { Device } from '../store/devices.js';
import { formatMac } from '../net/mac.js';
import type { ProvisioningCatalogue } from '../provisioning/catalogue.js';
import type { StatusReport } from '../app/status.js';
import type { RegistrationView } from '../sip/service.js';
import { resyncDevice, type ResyncVia } from '../app/resync.js';

export function publicLine(line: Line) {
  const { password: _password, ...rest } = line;
  return { ...rest, hasPassword: true };
}

export function publicDevice(device: Device, files: string[]) {
  return { ...device, macDisplay: formatMac(device.mac), files };
}

export function maskSite<T extends { admin: { password: string } }>(site: T): T {
  return { ...site, admin: { password: site.admin.password ? '********' : '' } };
}

export function apiRouter(deps: { outpost: Outpost; catalogue: ProvisioningCatalogue; status: () => Promise<StatusReport>; registrations?: () => RegistrationView[]; resyncVia?: () => ResyncVia | undefined }): express.Router {
  const { outpost, catalogue } = deps;
  const router = express.Router();
  router.use(express.json({ limit: '1mb' }));
  router.use(express.text({ type: ['text/csv', 'text/plain'], limit: '5mb' }));

  router.get('/status', async (_req, res) => {
    res.json(await deps.status());
  });

  // Live registrations: each line's contacts, where they came from and the device they belong to.
  router.get('/registrations', (_req, res) => {
    res.json(deps.registrations?.() ?? []);
  });

  // Calls Outpost routed itself (survival mode), newest first: ?limit=N (default 200).
  router.get('/calls', async (req, res) => {
    const limit = Number(req.query.limit ?? 200);
    res.json((await outpost.store.calls.list({ limit: Number.isInteger(limit) && limit > 0 ? limit : 200 })).map((c) => ({
      ...c,
      startedAt: new Date(c.startedAt).toISOString(),
      answeredAt: c.answeredAt ? new Date(c.answeredAt).toISOString() : undefined,
      endedAt: c.endedAt ? new Date(c.endedAt).toISOString() : undefined,
    })));
  });

  router.get('/lines', async (_req, res) => {
    res.json((await outpost.store.lines.list()).map(publicLine));
  });
  router.get('/lines/:ext', async (req, res) => {
    const line = await outpost.store.lines.get(String(req.params.ext));
    if (!line) throw new NotFoundError(`no line ${req.params.ext}`);
    res.json(publicLine(line));
  });
  router.post('/lines', async (req, res) => {
    const result = await outpost.putLine(body(req));
    res.status(result === 'added' ? 201 : 200).json({ result, line: publicLine((await outpost.store.lines.get(String(body(req).ext)))!) });
  });
  router.put('/lines/:ext', async (req, res) => {
    const existing = await outpost.store.lines.get(String(req.params.ext));
    // A PUT without a password keeps the stored one, so a form need not echo secrets back.
    const input = { password: existing?.password, ...body(req), ext: req.params.ext };
    const result = await outpost.putLine(input);
    res.status(result === 'added' ? 201 : 200).json({ result, line: publicLine((await outpost.store.lines.get(String(req.params.ext)))!) });
  });
  router.delete('/lines/:ext', async (req, res) => {
    await outpost.removeLine(String(req.params.ext));
    res.status(204).end();
  });

  router.get('/devices', async (_req, res) => {
    res.json((await outpost.store.devices.list()).map((d) => publicDevice(d, catalogue.filesFor(d))));
  });
  router.get('/devices/:mac', async (req, res) => {
    const device = await outpost.getDevice(String(req.params.mac));
    res.json(publicDevice(device, catalogue.filesFor(device)));
  });
  router.post('/devices', async (req, res) => {
    const b = body(req);
    const { mac, result } = await outpost.putDevice({ mac: String(b.mac ?? ''), model: String(b.model ?? ''), lines: stringList(b.lines), location: optionalString(b.location), address: b.address === undefined ? undefined : String(b.address ?? '') });
    const device = (await outpost.store.devices.get(mac))!;
    res.status(result === 'added' ? 201 : 200).json({ result, device: publicDevice(device, catalogue.filesFor(device)) });
  });
  router.put('/devices/:mac', async (req, res) => {
    const b = body(req);
    const current = await outpost.store.devices.get(outpost.parseMacOrThrow(String(req.params.mac)));
    const { mac, result } = await outpost.putDevice({
      mac: String(req.params.mac),
      model: String(b.model ?? current?.model ?? ''),
      lines: b.lines === undefined ? current?.lines : stringList(b.lines),
      location: optionalString(b.location),
      address: b.address === undefined ? undefined : String(b.address ?? ''),
    });
    const device = (await outpost.store.devices.get(mac))!;
    res.status(result === 'added' ? 201 : 200).json({ result, device: publicDevice(device, catalogue.filesFor(device)) });
  });
  router.delete('/devices/:mac', async (req, res) => {
    await outpost.removeDevice(String(req.params.mac));
    res.status(204).end();
  });
  // Per-device overrides of site settings: PUT {"value": 30} (typed) or {"value": "30"} (text as in the CLI).
  router.put('/devices/:mac/settings/:key', async (req, res) => {
    const b = body(req);
    if (!('value' in b)) throw new UserError('send {"value": ...}, e.g. {"value": 30} for network.voiceVlan');
    const { mac } = await outpost.setDeviceSetting(String(req.params.mac), String(req.params.key), b.value);
    const device = (await outpost.store.devices.get(mac))!;
    res.json({ device: publicDevice(device, catalogue.filesFor(device)) });
  });
  router.delete('/devices/:mac/settings/:key', async (req, res) => {
    await outpost.unsetDeviceSetting(String(req.params.mac), String(req.params.key));
    res.status(204).end();
  });
  // NOTIFY check-sync to the device; the answer says what the device did.
  router.post('/devices/:mac/resync', async (req, res) => {
    const via = deps.resyncVia?.();
    if (!via) throw new UserError('SIP is not running (serve --no-sip): no NOTIFY can be sent');
    const done = await resyncDevice(outpost, String(req.params.mac), via);
    res.status(done.result.answered ? 200 : 504).json({ mac: done.mac, answered: done.result.answered, status: done.result.answered ? done.result.status : undefined, reason: done.result.answered ? done.result.reason : undefined, target: done.result.target.uri, message: done.text });
  });
  router.post('/devices/import', async (req, res) => {
    if (typeof req.body !== 'string') throw new UserError('send the CSV file as the request body with Content-Type: text/csv');
    const results = await outpost.importCsv(req.body);
    res.json({ imported: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, rows: results });
  });

  router.get('/site', async (_req, res) => {
    res.json(maskSite(await outpost.site()));
  });
  router.patch('/site', async (req, res) => {
    const b = body(req);
    for (const [key, value] of Object.entries(b)) {
      await outpost.setSite(key, typeof value === 'string' ? value : JSON.stringify(value));
    }
    res.json(maskSite(await outpost.site()));
  });

  router.get('/leases', async (_req, res) => {
    const now = Date.now();
    const leases = (await outpost.store.leases.list()).filter((l) => l.state === 'bound' && l.expiresAt > now);
    res.json(leases.map((l) => ({ ...l, expiresAt: new Date(l.expiresAt).toISOString(), updatedAt: new Date(l.updatedAt).toISOString() })));
  });

  router.get('/events', async (req, res) => {
    const q = req.query;
    res.json(
      await outpost.store.events.list({
        type: optionalString(q.type),
        mac: q.mac ? outpost.parseMacOrThrow(String(q.mac)) : undefined,
        sinceId: q.since !== undefined ? Number(q.since) || 0 : undefined,
        limit: q.limit !== undefined ? Number(q.limit) || 100 : undefined,
      }),
    );
  });

  router.use((_req, res) => {
    res.status(404).json({ error: 'no such API route' });
  });
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof NotFoundError) res.status(404).json({ error: err.message });
    else if (err instanceof UserError) res.status(400).json({ error: err.message, details: err.details });
    else if (err instanceof URIError) res.status(400).json({ error: 'malformed percent-encoding in the path' });
    else if (err instanceof SyntaxError || (err as { type?: string }).type === 'entity.parse.failed') res.status(400).json({ error: 'the request body is not valid JSON' });
    else if ((err as { type?: string }).type === 'entity.too.large') res.status(413).json({ error: 'the request body is too large' });
    else {
      outpost.log.error({ err: (err as Error).message }, 'API request failed');
      res.status(500).json({ error: 'internal error; see the log' });
    }
  });
  return router;
}


function body(req: Request): Record<string, unknown> {
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new UserError('send a JSON object with Content-Type: application/json');
  return req.body as Record<string, unknown>;
}

function stringList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UserError('lines must be a list of extensions, e.g. ["111"]');
  return v.map(String);
}

function optionalString(v: unknown): string | undefined {
  return v === undefined || v === null || v === '' ? undefined : String(v);
}
