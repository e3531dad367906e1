/**
 * The application: the store, the vendor plugins, the firmware catalogue and the site, with the operations the
 * CLI, the API and the web page share (one piece of code per operation, so all three validate alike).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from './log.js';
import { NotFoundError, UserError } from './errors.js';
import { checkSiteChange, effectiveSite, provisioningAllow, readSiteFile } from './site.js';
import { deviceSchema, lineSchema, siteFileSchema, type SiteFile, type SiteSettings } from '../config/schema.js';
import { formatProblem, lineConflicts, zodProblems, type ModelLookup } from '../config/validate.js';
import { parseCsv } from '../config/csv.js';
import { MAC_HINT, formatMac, parseMac, type Mac } from '../net/mac.js';
import { ManifestFirmwareCatalogue } from '../provisioning/firmware.js';
import { ProvisioningCatalogue } from '../provisioning/catalogue.js';
import { Inventory } from '../provisioning/inventory.js';
import { coerceSettingValue, deviceKeyProblem, layerFromDotted, settableKeys, type LineRecord, type ServerAddress } from '../provisioning/settings.js';
import { Store } from '../store/index.js';
import type { Device, DeviceOrigin } from '../store/devices.js';
import { LineInUseError } from '../store/lines.js';
import { createVendors, modelCatalogue, type ModelCatalogue } from '../vendors/registry.js';
import type { VendorPlugin } from '../vendors/types.js';

export interface OutpostOptions {
  dataDir: string;
  firmwareDir: string;
  /** Site file; undefined means `<data>/outpost.json` when it exists. */
  configFile?: string | undefined;
  log: Logger;
}

export interface ImportRowResult {
  row: number;
  ok: boolean;
  message: string;
}

export class Outpost {
  readonly models: ModelCatalogue;
  readonly modelLookup: ModelLookup;
  readonly inventory: Inventory;

  private constructor(
    readonly store: Store,
    readonly vendors: readonly VendorPlugin[],
    readonly firmware: ManifestFirmwareCatalogue,
    readonly siteFile: SiteFile | undefined,
    readonly siteFilePath: string | undefined,
    readonly log: Logger,
    readonly options: OutpostOptions,
  ) {
    this.models = modelCatalogue(vendors);
    this.inventory = new Inventory({ store, site: (stored) => effectiveSite(siteFile, stored), allow: provisioningAllow });
    this.modelLookup = (name) => {
      const found = this.models.find(name);
      return found ? { id: found.model.id, accounts: found.model.accounts } : undefined;
    };
  }

  /** Opens the store and applies the site file, which is validated first: an invalid one opens nothing. */
  static async open(options: OutpostOptions): Promise<Outpost> {
    const dataDir = resolve(options.dataDir);
    const configFile = options.configFile ?? (existsSync(join(dataDir, 'outpost.json')) ? join(dataDir, 'outpost.json') : undefined);
    const vendors = createVendors({ templateOverrides: join(dataDir, 'templates') });
    const models = modelCatalogue(vendors);
    const lookup: ModelLookup = (name) => {
      const found = models.find(name);
      return found ? { id: found.model.id, accounts: found.model.accounts } : undefined;
    };
    // Validate the file alone before touching the store, then again against the stored lines.
    const preliminary = configFile ? readSiteFile(configFile, { model: lookup }) : undefined;
    const store = await Store.open(dataDir, options.log);
    try {
      let siteFile = preliminary;
      if (configFile) {
        const named = new Set(preliminary!.lines.map((l) => l.ext));
        const storedLines = (await store.lines.list()).filter((l) => !named.has(l.ext));
        siteFile = readSiteFile(configFile, { model: lookup, storedLines });
      }
      const firmware = new ManifestFirmwareCatalogue(resolve(options.firmwareDir), options.log);
      const outpost = new Outpost(store, vendors, firmware, siteFile, configFile, options.log, { ...options, dataDir });
      if (siteFile) await outpost.applySiteFile(siteFile);
      return outpost;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  private async applySiteFile(file: SiteFile): Promise<void> {
    let changed = 0;
    for (const line of file.lines) if ((await this.store.lines.upsert(toLineRecord(line))) !== 'unchanged') changed++;
    for (const d of file.devices) {
      const found = this.models.find(d.model)!;
      const result = await this.store.devices.put({ mac: parseMac(d.mac)!, model: found.model.id, vendor: found.model.vendor, lines: d.lines, origin: 'site', location: d.location, address: d.address });
      if (result !== 'unchanged') changed++;
    }
    if (changed) this.log.info({ file: this.siteFilePath, changed }, 'site file applied');
  }

  /** The effective site, from the in-memory inventory (reloaded whenever the store changes). */
  async site(): Promise<SiteSettings> {
    return (await this.inventory.current()).site;
  }

  catalogue(server: ServerAddress): ProvisioningCatalogue {
    return new ProvisioningCatalogue({
      store: this.store,
      inventory: this.inventory,
      vendors: this.vendors,
      models: this.models,
      firmware: this.firmware,
      server,
    });
  }

  // --- lines -------------------------------------------------------------------------------------------------

  /**
   * Adds or updates a line. `view` is the lines and site to check against; a bulk import passes its own working
   * copy (kept up to date row by row) so that it does not reload the inventory after every row.
   */
  async putLine(input: Record<string, unknown>, view?: { site: SiteSettings; lines: Map<string, LineRecord> }): Promise<'added' | 'updated' | 'unchanged'> {
    const parsed = lineSchema.safeParse(input);
    if (!parsed.success) throw new UserError('the line is not valid:', zodProblems(parsed.error).map(formatProblem));
    const line = toLineRecord(parsed.data);
    const { site, lines } = view ?? (await this.inventory.current());
    const problems = lineConflicts([{ ...line, path: `line ${line.ext}` }], [...lines.values()], site.dialplan.emergency, site.dialplan.outsidePrefix);
    if (problems.length) throw new UserError('the line collides with the dial plan:', problems.map(formatProblem));
    const result = await this.store.lines.upsert(line);
    if (view) view.lines.set(line.ext, line);
    return result;
  }

  async removeLine(ext: string): Promise<void> {
    if (this.siteFile?.lines.some((l) => l.ext === ext)) {
      throw new UserError(`line ${ext} is in the site file ${this.siteFilePath}; remove it there, or it comes back at the next start`);
    }
    try {
      if (!(await this.store.lines.remove(ext))) throw new NotFoundError(`no line ${ext} (outpost line list shows them)`);
    } catch (err) {
      if (err instanceof UserError) throw err;
      if (err instanceof LineInUseError) throw new UserError(err.message);
      throw err;
    }
    await this.store.events.add({ type: 'line.removed', message: `line ${ext} removed` });
  }

  // --- devices -----------------------------------------------------------------------------------------------

  parseMacOrThrow(text: string): Mac {
    const mac = parseMac(text);
    if (!mac) throw new UserError(`"${text}" is not a MAC address: ${MAC_HINT}`);
    return mac;
  }

  /** Adds a device or replaces its model and lines. */
  async putDevice(input: { mac: string; model: string; lines?: readonly string[]; location?: string | undefined; address?: string | undefined }, origin: DeviceOrigin = 'added'): Promise<{ mac: Mac; result: 'added' | 'updated' | 'unchanged' }> {
    const parsed = deviceSchema.safeParse({ mac: input.mac, model: input.model, lines: input.lines ?? [], location: input.location, address: input.address });
    if (!parsed.success) throw new UserError('the device is not valid:', zodProblems(parsed.error).map(formatProblem));
    const mac = parseMac(parsed.data.mac)!;
    const found = this.models.find(parsed.data.model);
    if (!found) throw new UserError(`unknown model "${input.model}"; outpost device models lists them`);
    const lines = parsed.data.lines;
    if (lines.length > found.model.accounts) {
      throw new UserError(`the ${found.model.id} has ${found.model.accounts} ${found.model.kind === 'gateway' ? 'FXS ports' : 'accounts'} but ${lines.length} lines were given`);
    }
    const duplicate = lines.find((l, i) => lines.indexOf(l) !== i);
    if (duplicate) throw new UserError(`line ${duplicate} is given twice`);
    const existing = await this.store.lines.getMany(lines);
    const missing = lines.filter((ext) => !existing.some((l) => l.ext === ext));
    if (missing.length) throw new UserError(`no line ${missing.join(', ')}; add it first with outpost line add`);
    if (parsed.data.address) {
      const holder = [...(await this.inventory.current()).devices.values()].find((d) => d.address === parsed.data.address && d.mac !== mac);
      if (holder) throw new UserError(`${parsed.data.address} is already reserved for ${formatMac(holder.mac)}`);
    }
    const result = await this.store.devices.put({ mac, model: found.model.id, vendor: found.model.vendor, lines, origin, location: parsed.data.location, address: parsed.data.address });
    if (result !== 'unchanged') {
      await this.store.events.add({
        type: result === 'added' ? 'device.added' : 'device.updated',
        mac,
        message: `${found.model.vendor} ${found.model.id} ${formatMac(mac)} ${result}${lines.length ? ` with line${lines.length > 1 ? 's' : ''} ${lines.join(', ')}` : ''}`,
      });
    }
    return { mac, result };
  }

  async removeDevice(text: string): Promise<void> {
    const mac = this.parseMacOrThrow(text);
    if (this.siteFile?.devices.some((d) => parseMac(d.mac) === mac)) {
      throw new UserError(`device ${formatMac(mac)} is in the site file ${this.siteFilePath}; remove it there, or it comes back at the next start`);
    }
    if (!(await this.store.devices.remove(mac))) throw new NotFoundError(`no device ${formatMac(mac)} (outpost device list shows them)`);
    await this.store.events.add({ type: 'device.removed', mac, message: `device ${formatMac(mac)} removed` });
  }

  async getDevice(text: string): Promise<Device> {
    const mac = this.parseMacOrThrow(text);
    const device = await this.store.devices.get(mac);
    if (!device) throw new NotFoundError(`no device ${formatMac(mac)} (outpost device list shows them)`);
    return device;
  }

  /**
   * A per-device override of a site setting (`network.voiceVlan` 30 for one phone in another VLAN). `raw` is
   * text as typed (coerced to the key's type) or, from the API, an already typed JSON value. The value is
   * checked as the site file would check it.
   */
  async setDeviceSetting(text: string, key: string, raw: unknown): Promise<{ mac: Mac; value: unknown }> {
    const device = await this.getDevice(text);
    const notPerDevice = deviceKeyProblem(key);
    if (notPerDevice) throw new UserError(notPerDevice);
    let value: unknown = raw;
    if (typeof raw === 'string') {
      const coerced = coerceSettingValue(key, raw);
      if ('error' in coerced) throw new UserError(coerced.error);
      value = coerced.value;
    } else if (!settableKeys().has(key)) {
      const coerced = coerceSettingValue(key, '');
      throw new UserError('error' in coerced ? coerced.error : `unknown key "${key}"`);
    }
    const checked = siteFileSchema.safeParse(layerFromDotted([[key, value]]));
    if (!checked.success) throw new UserError(`cannot set ${key} for ${formatMac(device.mac)}:`, zodProblems(checked.error).map(formatProblem));
    const emergency = key === 'dialplan.emergency' ? (value as string[]) : undefined;
    const prefix = key === 'dialplan.outsidePrefix' ? (value as string) : undefined;
    if (emergency || prefix !== undefined) {
      const site = await this.site();
      const lines = await this.store.lines.getMany(device.lines);
      const problems = lineConflicts(lines.map((l) => ({ ...l, path: `line ${l.ext}` })), [], emergency ?? site.dialplan.emergency, prefix ?? site.dialplan.outsidePrefix);
      if (problems.length) throw new UserError(`cannot set ${key} for ${formatMac(device.mac)}:`, problems.map(formatProblem));
    }
    await this.store.devices.setOverrides(device.mac, { ...device.overrides, [key]: value });
    await this.store.events.add({ type: 'device.updated', mac: device.mac, message: `${formatMac(device.mac)}: ${key} set to ${JSON.stringify(value)} for this device`, data: { key, value } });
    return { mac: device.mac, value };
  }

  /** Removes a per-device override: the device follows the site again. */
  async unsetDeviceSetting(text: string, key: string): Promise<Mac> {
    const device = await this.getDevice(text);
    if (!(key in device.overrides)) {
      const set = Object.keys(device.overrides);
      throw new NotFoundError(`${formatMac(device.mac)} has no setting of its own for ${key}${set.length ? ` (it has: ${set.join(', ')})` : ''}`);
    }
    const { [key]: _gone, ...rest } = device.overrides;
    await this.store.devices.setOverrides(device.mac, rest);
    await this.store.events.add({ type: 'device.updated', mac: device.mac, message: `${formatMac(device.mac)}: ${key} follows the site again`, data: { key } });
    return device.mac;
  }

  /**
   * CSV import, header `mac,model,ext,number,name,user,password,forward`. Each row is checked on its own: a bad
   * row is reported with its row number and skipped, good rows are kept. Rows with the same MAC give that
   * device its lines in row order. Importing the same file twice changes nothing the second time.
   */
  async importCsv(text: string): Promise<ImportRowResult[]> {
    const rows = parseCsv(text);
    if ('error' in rows) throw new UserError(rows.error);
    const [header, ...data] = rows;
    const expected = ['mac', 'model', 'ext', 'number', 'name', 'user', 'password', 'forward'];
    const columns = header?.fields.map((f) => f.trim().toLowerCase()) ?? [];
    const unknown = columns.filter((c) => !expected.includes(c));
    if (!header || !columns.includes('mac') || !columns.includes('model') || unknown.length) {
      throw new UserError(`the first row must be the header ${expected.join(',')}${unknown.length ? ` (unknown column ${unknown.join(', ')})` : ''}`);
    }
    const results: ImportRowResult[] = [];
    const devices = new Map<Mac, { model: string; lines: string[]; rows: number[] }>();
    const snapshot = await this.inventory.current();
    const view = { site: snapshot.site, lines: new Map<string, LineRecord>(snapshot.lines) };
    for (const { row, fields } of data) {
      const get = (name: string) => (fields[columns.indexOf(name)] ?? '').trim();
      const mac = parseMac(get('mac'));
      if (!mac) {
        results.push({ row, ok: false, message: `mac "${get('mac')}" is not a MAC address: ${MAC_HINT}` });
        continue;
      }
      const found = this.models.find(get('model'));
      if (!found) {
        results.push({ row, ok: false, message: `model "${get('model')}" is unknown (outpost device models lists them)` });
        continue;
      }
      const ext = get('ext');
      if (ext) {
        const exists = view.lines.get(ext);
        const wantsLine = ['number', 'name', 'user', 'password', 'forward'].some((c) => get(c) !== '');
        if (!exists || wantsLine) {
          try {
            await this.putLine({
              ext,
              number: get('number') || undefined,
              name: get('name'),
              user: get('user') || exists?.user,
              password: get('password') || exists?.password,
              forward: get('forward') || undefined,
            }, view);
          } catch (err) {
            if (!(err instanceof UserError)) throw err;
            results.push({ row, ok: false, message: [err.message, ...err.details].join(' ') });
            continue;
          }
        }
      }
      const entry = devices.get(mac) ?? { model: found.model.id, lines: [], rows: [] };
      if (entry.model !== found.model.id) {
        results.push({ row, ok: false, message: `mac ${formatMac(mac)} is a ${entry.model} in row ${entry.rows[0]} but a ${found.model.id} here` });
        continue;
      }
      if (ext && entry.lines.length >= found.model.accounts) {
        results.push({ row, ok: false, message: `the ${found.model.id} ${formatMac(mac)} has only ${found.model.accounts} accounts; line ${ext} does not fit` });
        continue;
      }
      if (ext && !entry.lines.includes(ext)) entry.lines.push(ext);
      entry.rows.push(row);
      devices.set(mac, entry);
      results.push({ row, ok: true, message: `${formatMac(mac)} ${found.model.id}${ext ? ` line ${ext}` : ''}` });
    }
    for (const [mac, entry] of devices) {
      const { result } = await this.putDevice({ mac, model: entry.model, lines: entry.lines }, 'import');
      for (const r of results) if (r.ok && entry.rows.includes(r.row)) r.message += ` (${result})`;
    }
    return results.sort((a, b) => a.row - b.row);
  }

  // --- site --------------------------------------------------------------------------------------------------

  async setSite(key: string, raw: string): Promise<void> {
    const coerced = coerceSettingValue(key, raw);
    if ('error' in coerced) throw new UserError(coerced.error);
    const problems = checkSiteChange(key, coerced.value, {
      file: this.siteFile,
      filePath: this.siteFilePath,
      stored: await this.store.settings.all(),
      lines: await this.store.lines.list(),
      model: this.modelLookup,
    });
    if (problems.length) throw new UserError(`cannot set ${key}:`, problems.map(formatProblem));
    await this.store.settings.set(key, coerced.value);
    await this.store.events.add({ type: 'site.changed', message: `${key} set${key === 'admin.password' ? '' : ` to ${JSON.stringify(coerced.value)}`}` });
  }

  async close(): Promise<void> {
    this.inventory.stop();
    await this.store.close();
  }
}

function toLineRecord(line: { ext: string; number?: string | undefined; name: string; user: string; password: string; forward?: string | undefined; forwardOnBusy?: boolean | undefined }): LineRecord {
  return { ext: line.ext, number: line.number, name: line.name, user: line.user, password: line.password, forward: line.forward, ...(line.forwardOnBusy ? { forwardOnBusy: true } : {}) };
}
