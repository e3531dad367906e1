/**
 * Settings resolution, in one place: built-in defaults -> site -> model -> device -> line.
 * Pure: every layer is handed in; nothing here reads the store or the network.
 */
import { DEFAULT_SETTINGS, parseHostPort, type SiteSettings } from '../config/schema.js';
import { closest } from '../config/validate.js';

export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** The site settings a device can see (never the admin password). */
export type DeviceSettings = Omit<SiteSettings, 'admin'>;
export type SettingsLayer = DeepPartial<DeviceSettings>;

export interface LineRecord {
  ext: string;
  number?: string | undefined;
  name: string;
  user: string;
  password: string;
  forward?: string | undefined;
  forwardOnBusy?: boolean | undefined;
}

export interface ResolvedLine {
  /** 1-based account (phones) or FXS port (gateways). */
  index: number;
  ext: string;
  number: string;
  user: string;
  authName: string;
  password: string;
  displayName: string;
  /** What the phone shows next to the line key. */
  label: string;
  forward: string;
}

/** Where devices reach Outpost. */
export interface ServerAddress {
  host: string;
  httpPort: number;
  tftpPort: number;
  sipPort: number;
}

export interface ResolvedSettings extends DeviceSettings {
  server: ServerAddress & { provisioningUrl: string };
  centrex: { host: string; port: number; transport: 'udp' | 'tcp' | 'tls' } | undefined;
  lines: ResolvedLine[];
}

export interface ResolveInput {
  site: SettingsLayer;
  model?: SettingsLayer | undefined;
  device?: SettingsLayer | undefined;
  lines: readonly LineRecord[];
  server: ServerAddress;
  defaults?: DeviceSettings;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where arrays and scalars replace and `undefined` leaves the lower layer alone. */
export function mergeLayers<T>(base: T, ...layers: ReadonlyArray<DeepPartial<T> | undefined>): T {
  let out: unknown = copy(base);
  for (const layer of layers) if (layer !== undefined) out = mergeInto(out, layer);
  return out as T;
}

/** A deep copy of JSON-like settings (plain objects, arrays, scalars): cheaper than structuredClone on the hot path. */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) out[key] = copy(v[key]);
  return out;
}

/** Merges `layer` into `base`, which is already a private copy. */
function mergeInto(base: unknown, layer: unknown): unknown {
  if (layer === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(layer)) return copy(layer);
  for (const key of Object.keys(layer)) base[key] = mergeInto(base[key], layer[key]);
  return base;
}

export function resolveSettings(input: ResolveInput): ResolvedSettings {
  const { admin: _admin, ...defaults } = input.defaults ? { ...input.defaults, admin: undefined } : DEFAULT_SETTINGS;
  const merged = mergeLayers<DeviceSettings>(defaults, input.site, input.model, input.device);
  const upstream = merged.upstream.proxy ? parseHostPort(merged.upstream.proxy) : undefined;
  const { host, httpPort } = input.server;
  return {
    ...merged,
    server: { ...input.server, provisioningUrl: `http://${formatHost(host)}${httpPort === 80 ? '' : `:${httpPort}`}/prov/` },
    centrex: upstream ? { ...upstream, transport: merged.upstream.transport } : undefined,
    lines: input.lines.map((line, i) => resolveLine(line, i + 1)),
  };
}

function resolveLine(line: LineRecord, index: number): ResolvedLine {
  return {
    index,
    ext: line.ext,
    number: line.number ?? '',
    user: line.user,
    authName: line.user,
    password: line.password,
    displayName: line.name || line.ext,
    label: line.ext,
    forward: line.forward ?? '',
  };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `network.voiceVlan` -> the value at that path, or undefined. */
export function getPath(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** A layer with one dotted key set, e.g. `{ network: { voiceVlan: 30 } }`. */
export function layerFromDotted(entries: Iterable<readonly [string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [dotted, value] of entries) {
    const parts = dotted.split('.');
    let cur = out;
    parts.slice(0, -1).forEach((p) => {
      if (!isPlainObject(cur[p])) cur[p] = {};
      cur = cur[p] as Record<string, unknown>;
    });
    cur[parts[parts.length - 1]!] = value;
  }
  return out;
}

/** Every settable dotted key with its default, e.g. `network.voiceVlan` -> 0. */
export function settableKeys(defaults: object = DEFAULT_SETTINGS, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(defaults)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value)) for (const [k, v] of settableKeys(value, dotted)) out.set(k, v);
    else out.set(dotted, value);
  }
  return out;
}

/**
 * Site settings that belong to the box, not to what a device's files carry: they cannot be set per device.
 * Keys are matched as prefixes (`dhcp` covers `dhcp.range`).
 */
const SERVER_ONLY = ['admin', 'advertise', 'dhcp', 'firmware', 'sip', 'survival', 'gateway.inbound', 'gateway.keepPrefix', 'provisioning.allow', 'upstream.interval', 'upstream.failures', 'upstream.holdDown'];

/** Why `key` cannot be a per-device setting, or undefined when it can. */
export function deviceKeyProblem(key: string): string | undefined {
  const owner = SERVER_ONLY.find((p) => key === p || key.startsWith(`${p}.`));
  return owner ? `${key} is a setting of the box, not of one device; set it for the site with outpost site set` : undefined;
}

/**
 * Turns the text a technician types (`site set network.voiceVlan 20`) into a value of the key's type.
 * Returns a message when it cannot.
 */
export function coerceSettingValue(key: string, raw: string): { value: unknown } | { error: string } {
  const keys = settableKeys();
  if (!keys.has(key)) {
    const contains = [...keys.keys()].filter((k) => k.toLowerCase().includes(key.split('.').pop()!.toLowerCase()));
    const nearest = closest(key, [...keys.keys()]);
    const near = contains.length ? contains : nearest ? [nearest] : [];
    return { error: `unknown key "${key}"${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; outpost site show lists them` };
  }
  const example = keys.get(key);
  if (typeof example === 'number') {
    if (!/^-?\d+$/.test(raw.trim())) return { error: `${key}: "${raw}" is not a whole number` };
    return { value: Number(raw) };
  }
  if (typeof example === 'boolean') {
    const t = raw.trim().toLowerCase();
    if (['true', 'yes', 'on', '1'].includes(t)) return { value: true };
    if (['false', 'no', 'off', '0'].includes(t)) return { value: false };
    return { error: `${key}: "${raw}" is not true or false` };
  }
  if (Array.isArray(example)) {
    const t = raw.trim();
    if (t.startsWith('[')) {
      try {
        const parsed = JSON.parse(t) as unknown;
        if (Array.isArray(parsed)) return { value: parsed };
      } catch {
        /* fall through to the message */
      }
      return { error: `${key}: "${raw}" is not a JSON list; use e.g. ["10.20.0.1","10.20.0.2"] or 10.20.0.1,10.20.0.2` };
    }
    return { value: t === '' ? [] : t.split(',').map((s) => s.trim()) };
  }
  return { value: raw };
}
