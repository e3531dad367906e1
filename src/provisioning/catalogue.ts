/**
 * The provisioning catalogue: the one path from a request (HTTP or TFTP) to the bytes a device gets.
 *   request -> file name check -> identify (User-Agent, file name, MAC prefix) -> device -> access rules
 *   -> settings -> render.
 * No protocol renders files itself; both doors call `fetch`.
 */
import { createHash } from 'node:crypto';
import { anyCidrContains, normaliseAddress } from '../net/cidr.js';
import { formatMac, macPrefix, type Mac } from '../net/mac.js';
import type { Store } from '../store/index.js';
import type { Device, Sighting } from '../store/devices.js';
import type { ModelCatalogue } from '../vendors/registry.js';
import type { CatalogueImage, DeviceHint, FileMatch, ModelSpec, VendorPlugin } from '../vendors/types.js';
import { needsUpgrade, type FirmwareCatalogue } from './firmware.js';
import { EnumerationGuard } from './guard.js';
import { layerFromDotted, resolveSettings, type ServerAddress, type SettingsLayer } from './settings.js';
import type { Inventory, Snapshot } from './inventory.js';

export interface ProvisioningRequest {
  /** The requested name, percent-decoded, without `/prov/`. */
  file: string;
  userAgent?: string | undefined;
  /** The client's address as the socket reports it. */
  ip: string;
  protocol: 'http' | 'tftp';
}

export type ProvisioningResult =
  | { status: 200; body: Buffer; contentType: string; etag: string; secret: boolean; mac?: Mac | undefined; model?: string | undefined }
  | { status: 400 | 403 | 404; reason: string };

/** What the DHCP server knows, when Outpost runs it: which MAC holds an address, and the reverse. */
export interface LeaseLookup {
  macAt(ip: string): Mac | undefined;
  addressOf(mac: Mac): string | undefined;
}

export interface CatalogueDeps {
  /** For the writes the path makes (discoveries, events, marks); reads come from the inventory. */
  store: Store;
  inventory: Inventory;
  vendors: readonly VendorPlugin[];
  models: ModelCatalogue;
  firmware: FirmwareCatalogue;
  server: ServerAddress;
  guard?: EnumerationGuard;
  /** Set when Outpost serves DHCP: identifies TFTP clients by address and pins secrets to the lease address. */
  leases?: LeaseLookup | undefined;
}

/** An anonymous device (common file, no MAC known) is reported once per address and model in this time. */
const ANONYMOUS_REPORT_MS = 3_600_000;

/** Rendered files are kept until anything they depend on changes; bounded so a scan cannot grow it. */
const RENDER_CACHE_LIMIT = 5000;

export const MAX_NAME_LENGTH = 128;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why a requested name is refused before any lookup, or undefined when it is a plain file name. */
export function checkFileName(name: string): { status: 400 | 404; reason: string } | undefined {
  if (name.length === 0) return { status: 404, reason: 'no file named' };
  if (name.length > MAX_NAME_LENGTH) return { status: 400, reason: `name longer than ${MAX_NAME_LENGTH} characters` };
  if (name.includes('\0')) return { status: 400, reason: 'NUL in name' };
  if (name.includes('/') || name.includes('\\') || name.includes('..')) return { status: 400, reason: 'path outside the provisioning namespace' };
  if (!SAFE_NAME.test(name)) return { status: 404, reason: 'not a provisioning file name' };
  return undefined;
}

export function etagOf(body: Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

export class ProvisioningCatalogue {
  readonly guard: EnumerationGuard;
  private readonly cache = new Map<string, ProvisioningResult>();
  private cacheGeneration = -1;
  private readonly anonymous = new Map<string, number>();

  /** Outpost's DHCP server, once it runs. */
  useLeases(leases: LeaseLookup): void {
    this.deps.leases = leases;
  }

  constructor(private readonly deps: CatalogueDeps) {
    this.guard = deps.guard ?? new EnumerationGuard();
  }

  private identify(userAgent: string | undefined): { vendor: VendorPlugin; hint: DeviceHint } | undefined {
    if (!userAgent) return undefined;
    for (const vendor of this.deps.vendors) {
      const hint = vendor.identifyUserAgent(userAgent);
      if (hint) return { vendor, hint };
    }
    return undefined;
  }

  /**
   * The vendor whose file `file` is. Names can be shared (Yealink asks for `<mac>.cfg`, a Mediatrix for
   * `<MAC>.cfg`): then the User-Agent's vendor decides, else the vendor of the device's model in the
   * inventory, else the vendor whose MAC prefix the name carries, else the first.
   */
  private matchFile(file: string, snapshot: Snapshot, uaVendor?: VendorPlugin): { vendor: VendorPlugin; match: FileMatch } | undefined {
    const matches: Array<{ vendor: VendorPlugin; match: FileMatch }> = [];
    for (const vendor of this.deps.vendors) {
      const match = vendor.matchFile(file);
      if (match) matches.push({ vendor, match });
    }
    if (matches.length < 2) return matches[0];
    const byUa = matches.find((m) => m.vendor === uaVendor);
    if (byUa) return byUa;
    const mac = matches.find((m) => m.match.mac)?.match.mac;
    if (!mac) return matches[0];
    const model = snapshot.devices.get(mac)?.model;
    const owner = model ? this.deps.models.find(model)?.vendor : undefined;
    return matches.find((m) => m.vendor === owner) ?? matches.find((m) => m.vendor.macPrefixes.includes(macPrefix(mac))) ?? matches[0];
  }

  async fetch(req: ProvisioningRequest): Promise<ProvisioningResult> {
    const ip = normaliseAddress(req.ip);
    const refused = checkFileName(req.file);
    if (refused) return refused;
    const events = this.deps.store.events;
    if (this.guard.blockedUntil(ip)) return { status: 403, reason: 'client blocked for naming too many unknown devices' };

    const ua = this.identify(req.userAgent);
    const snapshot = await this.deps.inventory.current();
    const found = this.matchFile(req.file, snapshot, ua?.vendor);
    if (!found) return { status: 404, reason: 'no such file' };
    const { vendor, match } = found;
    const allowed = anyCidrContains(snapshot.allow, ip);

    if (ua?.hint.mac && match.mac && ua.hint.mac !== match.mac) {
      await this.miss(ip, `asked for ${formatMac(match.mac)} but its User-Agent says ${formatMac(ua.hint.mac)}`);
      return { status: 403, reason: 'the file named is not the requesting device\'s own' };
    }

    // Without a User-Agent (TFTP) a common-file request names no MAC: the DHCP lease of the address does.
    const mac = match.mac ?? ua?.hint.mac ?? (match.scope === 'common' ? this.deps.leases?.macAt(ip) : undefined);
    if (!mac && match.scope === 'common') await this.reportAnonymous(ip, vendor, match, req.protocol);
    let device = mac ? snapshot.devices.get(mac) : undefined;
    const sighting = { ip, vendor: ua?.hint.vendor ?? vendor.name.split(' ')[0], model: ua?.hint.model ?? match.model?.id, firmware: ua?.hint.firmware, userAgent: req.userAgent };
    if (mac && !device) {
      if (match.scope === 'device') {
        const blocked = await this.miss(ip, `asked for the unknown device ${formatMac(mac)}`);
        if (blocked) return { status: 403, reason: 'client blocked for naming too many unknown devices' };
      }
      if (!allowed) return { status: 404, reason: 'unknown device' };
      device = await this.discover(mac, sighting, vendor, req.protocol);
    } else if (mac && device) {
      this.deps.store.devices.noteSighting(mac, sighting);
    }

    if (match.scope === 'common') {
      return this.render(snapshot, vendor, req.file, match, match.model!, undefined, ua?.hint.firmware);
    }

    // A per-device file.
    if (!device || !mac) return { status: 404, reason: 'unknown device' };
    const resolved = device.model ? this.deps.models.find(device.model) : undefined;
    const model = resolved && resolved.vendor.id === vendor.id ? resolved.model : undefined;
    if (!model) return { status: 404, reason: `no ${vendor.name} model known for ${formatMac(mac)} (assign one with outpost device add)` };
    const hasSecrets = device.lines.length > 0;
    const leased = this.deps.leases?.addressOf(mac);
    if (hasSecrets && leased !== undefined && leased !== ip) {
      await events.add({ type: 'provisioning.refused', level: 'warn', mac, message: `refused ${req.file} to ${ip}: the device's lease is ${leased}`, data: { ip, leased, protocol: req.protocol } });
      return { status: 403, reason: 'only the device\'s own lease address receives its credentials' };
    }
    if (hasSecrets && !allowed) {
      await events.add({ type: 'provisioning.refused', level: 'warn', mac, message: `refused ${req.file} to ${ip}: not in provisioning.allow`, data: { ip, protocol: req.protocol } });
      return { status: 403, reason: 'client not allowed to receive this device\'s credentials (provisioning.allow)' };
    }
    const result = await this.render(snapshot, vendor, req.file, match, model, device, ua?.hint.firmware ?? device.firmware);
    if (result.status === 200 && hasSecrets && device.state === 'assigned') {
      await this.deps.store.devices.markProvisioned(mac);
      this.deps.inventory.remember({ ...device, state: 'provisioned', provisionedAt: new Date().toISOString() });
    }
    return result;
  }

  /** A device asked for its model's common file and said nothing else: recorded by model, once an hour. */
  private async reportAnonymous(ip: string, vendor: VendorPlugin, match: FileMatch, protocol: string): Promise<void> {
    const key = `${ip}|${match.model?.id ?? ''}`;
    const now = Date.now();
    const last = this.anonymous.get(key);
    if (last !== undefined && now - last < ANONYMOUS_REPORT_MS) return;
    if (this.anonymous.size > 10_000) this.anonymous.clear();
    this.anonymous.set(key, now);
    await this.deps.store.events.add({
      type: 'device.seen',
      message: `a ${vendor.name.split(' ')[0]} ${match.model?.id ?? 'device'} at ${ip} asked for its common file over ${protocol}; its MAC is known once it asks for its own file`,
      data: { ip, model: match.model?.id, protocol },
    });
  }

  /**
   * A device seen outside provisioning (a DHCP contact): recorded as discovered when the inventory does not
   * know it, else its sighting noted. Only a recognised phone or gateway is ever recorded.
   */
  async noteDevice(mac: Mac, sighting: Sighting, vendor: VendorPlugin, protocol: string): Promise<void> {
    const snapshot = await this.deps.inventory.current();
    if (snapshot.devices.has(mac)) this.deps.store.devices.noteSighting(mac, sighting);
    else await this.discover(mac, sighting, vendor, protocol);
  }

  private async discover(mac: Mac, sighting: Sighting, vendor: VendorPlugin, protocol: string): Promise<Device | undefined> {
    if (await this.deps.store.devices.discover(mac, sighting)) {
      await this.deps.store.events.add({
        type: 'device.discovered',
        mac,
        message: `new ${sighting.vendor ?? ''} ${sighting.model ?? 'device'} ${formatMac(mac)} at ${sighting.ip}${vendor.macPrefixes.includes(macPrefix(mac)) ? '' : ' (vendor prefix not on the known list)'}`.replace(/\s+/g, ' '),
        data: { ip: sighting.ip, model: sighting.model, firmware: sighting.firmware, protocol },
      });
    }
    const device = await this.deps.store.devices.get(mac);
    if (device) this.deps.inventory.remember(device);
    return device;
  }

  /** Renders without any access checks: `config render`. */
  async renderFor(file: string, mac: Mac): Promise<ProvisioningResult> {
    const refused = checkFileName(file);
    if (refused) return refused;
    const snapshot = await this.deps.inventory.current();
    const found = this.matchFile(file, snapshot);
    if (!found) return { status: 404, reason: 'no such file' };
    const device = snapshot.devices.get(mac);
    if (!device) return { status: 404, reason: `no device ${formatMac(mac)}` };
    if (found.match.mac && found.match.mac !== mac) return { status: 404, reason: `${file} is not a file of ${formatMac(mac)}` };
    const resolved = device.model ? this.deps.models.find(device.model) : undefined;
    if (!resolved || resolved.vendor.id !== found.vendor.id) return { status: 404, reason: `${file} is not a file of a ${device.model ?? 'device of unknown model'}` };
    if (found.match.scope === 'common' && found.match.model?.id !== resolved.model.id) return { status: 404, reason: `${file} is the common file of another model` };
    return this.render(snapshot, found.vendor, file, found.match, resolved.model, found.match.scope === 'device' ? device : undefined, device.firmware);
  }

  /** Every file name a device is served. */
  filesFor(device: Device): string[] {
    const resolved = device.model ? this.deps.models.find(device.model) : undefined;
    return resolved ? resolved.vendor.files(resolved.model, device.mac) : [];
  }

  private async render(snapshot: Snapshot, vendor: VendorPlugin, file: string, match: FileMatch, model: ModelSpec, device: Device | undefined, reportedFirmware: string | undefined): Promise<ProvisioningResult> {
    const target = this.deps.firmware.target(model.id);
    const firmware = needsUpgrade(target, reportedFirmware) ? target : undefined;
    // What the bytes depend on: the inventory generation (site, lines, device), the file, the device, the
    // firmware offered and where Outpost is reached.
    const catalogueImages = Object.values(this.deps.firmware.images(model.id)).map((i) => i.file).sort().join(',');
    const key = `${file}|${device?.mac ?? ''}|${model.id}|${firmware ? `${firmware.file}@${firmware.version}` : ''}|${catalogueImages}|${this.deps.server.host}:${this.deps.server.httpPort}`;
    if (this.cacheGeneration !== snapshot.generation || this.cache.size >= RENDER_CACHE_LIMIT) {
      this.cache.clear();
      this.cacheGeneration = snapshot.generation;
    }
    const cached = this.cache.get(key);
    if (cached) return cached;
    const lines = device ? this.deps.inventory.linesOf(snapshot, device) : [];
    const settings = resolveSettings({
      site: snapshot.site as SettingsLayer,
      model: undefined,
      device: device && Object.keys(device.overrides).length ? (layerFromDotted(Object.entries(device.overrides)) as SettingsLayer) : undefined,
      lines,
      server: this.deps.server,
    });
    const urlOf = (f: { file: string }) => `${settings.server.provisioningUrl}firmware/${encodeURIComponent(f.file)}`;
    const offer = firmware ? { version: firmware.version, url: urlOf(firmware) } : undefined;
    const images: Record<string, CatalogueImage> = {};
    for (const [role, image] of Object.entries(this.deps.firmware.images(model.id))) images[role] = { version: image.version, file: image.file, url: urlOf(image) };
    const rendered = vendor.render({ file, match, model, settings, device: device ? { mac: device.mac, firmware: device.firmware } : undefined, firmware: offer, images });
    const result: ProvisioningResult = {
      status: 200,
      body: rendered.body,
      contentType: rendered.contentType,
      etag: etagOf(rendered.body),
      secret: lines.length > 0,
      mac: device?.mac,
      model: model.id,
    };
    if (this.cacheGeneration === snapshot.generation) this.cache.set(key, result);
    return result;
  }

  private async miss(ip: string, what: string): Promise<boolean> {
    const blocked = this.guard.miss(ip);
    if (blocked) {
      await this.deps.store.events.add({
        type: 'provisioning.blocked',
        level: 'warn',
        message: `${ip} blocked for 10 minutes: more than 20 requests for unknown devices in a minute (last: ${what})`,
        data: { ip },
      });
    }
    return blocked;
  }
}
