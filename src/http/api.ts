/** `/api/v1`: JSON REST over the same operations as the CLI. Passwords never leave through it. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { ConflictError, NotFoundError, UserError } from '../app/errors.js';
import type { Outpost } from '../app/outpost.js';
import type { Line } from '../store/lines.js';
import type { Device } from '../store/devices.js';
import type { CallRecord } from '../store/calls.js';
import { handoverSheet } from '../app/handover.js';
import { formatMac } from '../net/mac.js';
import type { ProvisioningCatalogue } from '../provisioning/catalogue.js';
import type { StatusReport } from '../app/status.js';
import type { RegistrationView } from '../sip/service.js';
import { resyncDevice, type ResyncVia } from '../app/resync.js';
import { DEFAULT_PORTS, DEFAULT_TIMEOUT_MS, doctorReport } from '../doctor/doctor.js';
import { checkSiteChange, keysNamedBy } from '../app/site.js';
import { explainSiteKey } from '../config/explain.js';
import { formatProblem } from '../config/validate.js';
import { coerceSettingValue, deviceKeyProblem, getPath, settableKeys } from '../provisioning/settings.js';
import { transliterate } from '../provisioning/text.js';

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
    res.json((await outpost.store.calls.list({ limit: Number.isInteger(limit) && limit > 0 ? limit : 200 })).map(publicCall));
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
    // Adding never overwrites: an extension is one line's (PUT /lines/<ext> changes it).
    const ext = body(req).ext;
    if (typeof ext === 'string' && (await outpost.store.lines.get(ext))) throw new ConflictError(`extension ${ext} is already a line; choose another extension, or change that line with PUT /api/v1/lines/${ext}`);
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
  // The files the device fetches, and each as it gets it (SIP passwords masked unless ?secrets=1).
  router.get('/devices/:mac/files', async (req, res) => {
    const device = await outpost.getDevice(String(req.params.mac));
    res.json(catalogue.filesFor(device).map((name) => ({ name, path: `/prov/${name}` })));
  });
  router.get('/devices/:mac/files/:name', async (req, res) => {
    const device = await outpost.getDevice(String(req.params.mac));
    const name = String(req.params.name);
    const files = catalogue.filesFor(device);
    if (!files.includes(name)) {
      throw new NotFoundError(`${formatMac(device.mac)} does not fetch ${name}; ${files.length ? `its files are ${files.join(', ')}` : 'it has no files until it has a known model'}`);
    }
    const result = await catalogue.renderFor(name, device.mac);
    if (result.status !== 200) throw new NotFoundError(`cannot render ${name} for ${formatMac(device.mac)}: ${result.reason}`);
    const latin1 = /charset=(iso-8859-1|latin1)/i.test(result.contentType);
    let bytes = result.body;
    if (req.query.secrets !== '1') {
      const passwords = (await outpost.store.lines.getMany(device.lines)).map((l) => l.password);
      const encoding = latin1 ? 'latin1' : 'utf8';
      bytes = Buffer.from(maskSecrets(bytes.toString(encoding), passwords), encoding);
    }
    res.set('Content-Type', `text/plain; charset=${latin1 ? 'iso-8859-1' : 'utf-8'}`).set('Cache-Control', 'no-store').send(bytes);
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
    const entries = Object.entries(body(req)).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)] as const);
    // Every value is checked, in order and together, before any is stored: a refused one changes nothing.
    const stored = await outpost.store.settings.all();
    const lines = await outpost.store.lines.list();
    for (const [key, raw] of entries) {
      const coerced = coerceSettingValue(key, raw);
      if ('error' in coerced) {
        res.status(400).json({ error: coerced.error, details: [], field: key });
        return;
      }
      const problems = checkSiteChange(key, coerced.value, { file: outpost.siteFile, filePath: outpost.siteFilePath, stored, lines, model: outpost.modelLookup });
      if (problems.length) {
        res.status(400).json({ error: `cannot set ${key}:`, details: problems.map(formatProblem), field: key });
        return;
      }
      stored.set(key, coerced.value);
    }
    for (const [key, raw] of entries) await outpost.setSite(key, raw);
    res.json(maskSite(await outpost.site()));
  });
  // Every key PATCH /site (and outpost site set) takes, with its type, value (secrets masked) and what it does.
  router.get('/site/fields', async (_req, res) => {
    const site = maskSite(await outpost.site());
    const stored = await outpost.store.settings.all();
    const fromFile = keysNamedBy(outpost.siteFile);
    res.json(
      [...settableKeys()].map(([key, example]) => ({
        key,
        section: key.split('.')[0],
        type: Array.isArray(example) ? 'list' : typeof example === 'number' ? 'integer' : typeof example === 'boolean' ? 'boolean' : typeof example === 'object' && example !== null ? 'object' : 'string',
        value: getPath(site, key),
        explanation: explainSiteKey(key),
        source: fromFile.has(key) ? 'file' : stored.has(key) ? 'set' : 'default',
        perDevice: deviceKeyProblem(key) === undefined,
      })),
    );
  });

  // The models a device can be given (outpost device models), for the form that assigns lines.
  router.get('/models', (_req, res) => {
    res.json(
      outpost.models.all().map(({ model, vendor }) => {
        const ports = model.kind === 'gateway' ? 'FXS port' : 'account';
        return {
          model: model.id,
          vendor: vendor.id,
          accounts: model.accounts,
          label: `${vendor.name.split(' ')[0]} ${model.id} (${model.accounts} ${ports}${model.accounts === 1 ? '' : 's'})`,
          kind: model.kind,
          aliases: model.aliases ?? [],
        };
      }),
    );
  });

  router.get('/leases', async (_req, res) => {
    res.json(await currentLeases(outpost));
  });

  // The doctor's report, as `outpost doctor --json`, from inside serve: ?timeout=S (0.1-30) bounds the network probes.
  router.get('/doctor', async (req, res) => {
    const timeout = req.query.timeout === undefined ? DEFAULT_TIMEOUT_MS / 1000 : Number(req.query.timeout);
    if (!(timeout >= 0.1 && timeout <= 30)) throw new UserError('timeout must be seconds from 0.1 to 30, e.g. ?timeout=3');
    res.json(await doctorReport({ outpost }, { dataDir: outpost.options.dataDir, timeoutMs: Math.round(timeout * 1000), ports: DEFAULT_PORTS, serving: (await deps.status()).services }));
  });

  router.get('/handover', async (_req, res) => {
    res.json(await handoverSheet(outpost));
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
    else if (err instanceof ConflictError) res.status(409).json({ error: err.message });
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

/** The forms a secret takes in the files: as is, XML-escaped, script-escaped, in Latin-1 or ASCII. */
function secretForms(secret: string): string[] {
  const xml = secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const forms = [
    secret,
    xml,
    xml.replace(/"/g, '&quot;'),
    xml.replace(/"/g, '&quot;').replace(/'/g, '&apos;'),
    xml.replace(/"/g, '&quot;').replace(/'/g, '&#39;'),
    secret.replace(/[\\"]/g, (c) => `\\${c}`),
    transliterate(secret, 0xff),
    transliterate(secret, 0x7e),
  ];
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

const MASK = '********';
/** Values of keys that name a password (`account.1.password = x`, `regpwd1=x`, `...Password="x"`, `<...Password ... Value="x"/>`). */
const KEY_PART = String.raw`(?:\[[^\]\r\n]*\]|[^=\[\r\n<>"])*?`;
const SECRET_ASSIGNMENT = new RegExp(String.raw`^(${KEY_PART}(?:password|passwd|pwd|secret)${KEY_PART}=[^\S\r\n]*)([^\r\n]*?)([^\S\r\n]*)$`, 'gim');
const SECRET_ATTRIBUTE = /(<[^<>]*(?:password|passwd|pwd|secret)[^<>]*?\sValue=")([^"]*)(")/gi;

/**
 * A device file with every SIP password replaced by `********`: the value of every password key, and anywhere
 * else each of `secrets` (the device's line passwords) in any of the forms a file writes it. Passwords shorter
 * than 4 characters are only masked as values of password keys (replacing every "12" in a file hides nothing).
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text.replace(SECRET_ASSIGNMENT, (all, head: string, value: string, tail: string) => {
    const quoted = /^"(.*)"$/.exec(value);
    if (value === '' || value === '%NULL%' || (quoted && quoted[1] === '')) return all;
    return `${head}${quoted ? `"${MASK}"` : MASK}${tail}`;
  });
  out = out.replace(SECRET_ATTRIBUTE, (all, head: string, value: string, tail: string) => (value === '' ? all : `${head}${MASK}${tail}`));
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of secretForms(secret)) if (form.length >= 4) out = out.split(form).join(MASK);
  }
  return out;
}

/** A call record as the API and `outpost calls --json` show it. */
export function publicCall(c: CallRecord): Record<string, unknown> {
  return {
    ...c,
    startedAt: new Date(c.startedAt).toISOString(),
    answeredAt: c.answeredAt ? new Date(c.answeredAt).toISOString() : undefined,
    endedAt: c.endedAt ? new Date(c.endedAt).toISOString() : undefined,
  };
}

/** The bound, unexpired DHCP leases as the API and `outpost leases --json` show them. */
export async function currentLeases(outpost: Outpost, now = Date.now()): Promise<Array<Record<string, unknown>>> {
  const leases = (await outpost.store.leases.list()).filter((l) => l.state === 'bound' && l.expiresAt > now);
  return leases.map((l) => ({ ...l, expiresAt: new Date(l.expiresAt).toISOString(), updatedAt: new Date(l.updatedAt).toISOString() }));
}
