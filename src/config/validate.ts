/**
 * Site-file validation: every problem at once, each as `path: what is wrong`, before anything listens.
 */
import { z } from 'zod';
import { parseMac } from '../net/mac.js';
import { cidrContains, ipv4ToInt, parseCidr } from '../net/cidr.js';
import { DEFAULT_SETTINGS, lineSchema, siteFileSchema, type SiteFile } from './schema.js';

export interface Problem {
  path: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/** What the validator needs to know about models without importing the vendor plugins (keeps this pure). */
export interface ModelLookup {
  (name: string): { id: string; accounts: number } | undefined;
}

export interface KnownLine {
  ext: string;
  number?: string | undefined;
  user: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

export function pathOf(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

export function closest(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = candidates.find((c) => c.toLowerCase() === lower);
  if (exact) return exact;
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function knownKeysAt(path: ReadonlyArray<string | number>): string[] {
  let schema: z.ZodTypeAny = siteFileSchema;
  for (const part of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = schema.shape[part as string] ?? z.never();
    else if (schema instanceof z.ZodArray) schema = schema.element;
    else return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s._def.schema;
    else return s;
  }
}

export function zodProblems(error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        const suggestion = closest(key, known);
        problems.push({
          path: pathOf([...issue.path, key]),
          message: suggestion
            ? `unknown key (did you mean "${suggestion}"?)`
            : `unknown key (allowed here: ${known.join(', ')})`,
        });
      }
    } else if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') {
      problems.push({ path: pathOf(issue.path), message: 'is required' });
    } else {
      problems.push({ path: pathOf(issue.path), message: issue.message });
    }
  }
  return problems;
}

/** Parses the text of a site file (JSON); when it is not JSON, says where, by line and column, on one line. */
export function parseSiteText(text: string): Validated<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    const { offset, expected } = jsonErrorAt(text);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    const rest = text.slice(offset).split(/\r?\n/)[0]!;
    const found = offset >= text.length ? 'the end of the file' : rest === '' ? 'the end of the line' : JSON.stringify(rest.slice(0, 12));
    return { ok: false, problems: [{ path: '', message: `not valid JSON at line ${line} column ${column}: expected ${expected}, found ${found}` }] };
  }
}

/** Where a JSON text first goes wrong and what was expected there (a small recursive-descent scanner). */
export function jsonErrorAt(text: string): { offset: number; expected: string } {
  let i = 0;
  class Stop extends Error {
    constructor(readonly expected: string) {
      super(expected);
    }
  }
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else throw new Stop(`"${word}"`);
  };
  const string = () => {
    if (text[i] !== '"') throw new Stop('a "quoted" string');
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) throw new Stop('the closing quote of the string');
      i++;
    }
    if (text[i] !== '"') throw new Stop('the closing quote of the string');
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) throw new Stop('a value');
    i += m[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        string();
        ws();
        if (text[i] !== ':') throw new Stop('":" after the key');
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === '}') throw new Stop('another "key": value (no comma before "}")');
          continue;
        }
        if (text[i] === '}') return void i++;
        throw new Stop('"," or "}"');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === ']') throw new Stop('another value (no comma before "]")');
          continue;
        }
        if (text[i] === ']') return void i++;
        throw new Stop('"," or "]"');
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    return number();
  };
  try {
    value();
    ws();
    if (i < text.length) throw new Stop('the end of the file');
    return { offset: i, expected: 'nothing' };
  } catch (err) {
    if (err instanceof Stop) return { offset: Math.min(i, text.length), expected: err.expected };
    throw err;
  }
}

export interface SiteCheckContext {
  model: ModelLookup;
  /** Lines already in the store that the file does not name. */
  storedLines?: readonly KnownLine[];
}

/** Validates a parsed site file: the schema first, then what the schema alone cannot see. */
export function validateSiteFile(input: unknown, ctx: SiteCheckContext): Validated<SiteFile> {
  const parsed = siteFileSchema.safeParse(input ?? {});
  const problems: Problem[] = parsed.success ? [] : zodProblems(parsed.error);
  // Cross-checks run on every part that is valid on its own, so one mistake does not hide the others.
  const parts = parsed.success ? wholeFile(parsed.data) : salvage(input);
  problems.push(...crossProblems(parts, ctx));
  if (parsed.success) problems.push(...dhcpProblems(parsed.data), ...sipProblems(parsed.data));
  return problems.length || !parsed.success ? { ok: false, problems } : { ok: true, value: parsed.data };
}

interface Indexed<T> {
  index: number;
  value: T;
}

interface FileParts {
  lines: Array<Indexed<z.infer<typeof lineSchema>>>;
  devices: Array<Indexed<{ mac: string; model: string; lines: string[] }>>;
  emergency: string[];
  outsidePrefix: string;
}

function wholeFile(file: SiteFile): FileParts {
  return {
    lines: file.lines.map((value, index) => ({ index, value })),
    devices: file.devices.map((value, index) => ({ index, value })),
    emergency: file.dialplan.emergency ?? DEFAULT_SETTINGS.dialplan.emergency,
    outsidePrefix: file.dialplan.outsidePrefix ?? DEFAULT_SETTINGS.dialplan.outsidePrefix,
  };
}

/** The parts of an invalid file that are valid on their own, with their original positions. */
function salvage(input: unknown): FileParts {
  const obj = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const each = <T>(list: unknown, schema: z.ZodType<T, z.ZodTypeDef, unknown>): Array<Indexed<T>> =>
    (Array.isArray(list) ? list : []).flatMap((item, index) => {
      const r = schema.safeParse(item);
      return r.success ? [{ index, value: r.data }] : [];
    });
  const dialplan = siteFileSchema.shape.dialplan.safeParse(obj.dialplan);
  return {
    lines: each(obj.lines, lineSchema),
    // A device with a bad MAC or model still has lines worth checking: read what can be read.
    devices: each(
      obj.devices,
      z.object({
        mac: z.unknown().transform((v) => (typeof v === 'string' ? v : '')),
        model: z.string().catch(''),
        lines: z.array(z.string()).catch([]),
        location: z.unknown().optional().transform(() => undefined),
      }),
    ),
    emergency: (dialplan.success ? dialplan.data.emergency : undefined) ?? DEFAULT_SETTINGS.dialplan.emergency,
    outsidePrefix: (dialplan.success ? dialplan.data.outsidePrefix : undefined) ?? DEFAULT_SETTINGS.dialplan.outsidePrefix,
  };
}

function crossProblems(parts: FileParts, ctx: SiteCheckContext): Problem[] {
  const problems: Problem[] = [];
  problems.push(
    ...lineConflicts(
      parts.lines.map(({ index, value }) => ({ ...value, path: `lines[${index}]` })),
      ctx.storedLines ?? [],
      parts.emergency,
      parts.outsidePrefix,
    ),
  );

  const knownExts = new Set([...parts.lines.map((l) => l.value.ext), ...(ctx.storedLines ?? []).map((l) => l.ext)]);
  const macs = new Map<string, number>();
  for (const { index: i, value: d } of parts.devices) {
    const mac = parseMac(d.mac);
    const first = mac ? macs.get(mac) : undefined;
    if (first !== undefined) problems.push({ path: `devices[${i}].mac`, message: `${d.mac} is already listed as devices[${first}]` });
    else if (mac) macs.set(mac, i);
    const model = d.model ? ctx.model(d.model) : undefined;
    if (!model && d.model) problems.push({ path: `devices[${i}].model`, message: `unknown model "${d.model}" (outpost device models lists them)` });
    else if (model && d.lines.length > model.accounts) {
      problems.push({ path: `devices[${i}].lines`, message: `${model.id} has ${model.accounts} accounts but ${d.lines.length} lines are assigned` });
    }
    const seen = new Set<string>();
    d.lines.forEach((ext, j) => {
      if (!knownExts.has(ext)) problems.push({ path: `devices[${i}].lines[${j}]`, message: `line ${ext} does not exist (add it under "lines" or with outpost line add)` });
      else if (seen.has(ext)) problems.push({ path: `devices[${i}].lines[${j}]`, message: `line ${ext} is assigned twice to this device` });
      seen.add(ext);
    });
  }
  return problems;
}

interface CandidateLine extends KnownLine {
  path: string;
}

/**
 * Extensions, national numbers and SIP users share one dialling namespace: a collision would make a call
 * ring the wrong phone, and an emergency number taken by a line would never reach the emergency services.
 */
export function lineConflicts(
  candidates: readonly CandidateLine[],
  stored: readonly KnownLine[],
  emergency: readonly string[],
  outsidePrefix: string,
): Problem[] {
  const problems: Problem[] = [];
  const owners = new Map<string, string>();
  const candidateExts = new Set(candidates.map((c) => c.ext));
  for (const s of stored) {
    if (candidateExts.has(s.ext)) continue;
    owners.set(s.ext, `line ${s.ext}`);
    if (s.number) owners.set(s.number, `line ${s.ext}`);
  }
  const users = new Map<string, string>();
  for (const s of stored) if (!candidateExts.has(s.ext)) users.set(s.user, `line ${s.ext}`);

  for (const c of candidates) {
    const dialable: Array<[string, string]> = [['ext', c.ext]];
    if (c.number) dialable.push(['number', c.number]);
    for (const [field, value] of dialable) {
      if (emergency.includes(value)) {
        problems.push({ path: `${c.path}.${field}`, message: `${value} is an emergency number (dialplan.emergency); choose another` });
        continue;
      }
      if (outsidePrefix && value.startsWith(outsidePrefix)) {
        problems.push({ path: `${c.path}.${field}`, message: `${value} starts with the outside prefix ${outsidePrefix}, so it could not be dialled internally` });
        continue;
      }
      const owner = owners.get(value);
      if (owner) problems.push({ path: `${c.path}.${field}`, message: `${value} is already used by ${owner}` });
      else owners.set(value, `line ${c.ext} (${c.path})`);
    }
    const userOwner = users.get(c.user);
    if (userOwner) problems.push({ path: `${c.path}.user`, message: `SIP user ${c.user} is already used by ${userOwner}` });
    else users.set(c.user, `line ${c.ext} (${c.path})`);
  }
  return problems;
}

/** The registration limits must nest: min <= default <= max (defaults fill what the file leaves out). */
function sipProblems(file: SiteFile): Problem[] {
  const sip = { ...DEFAULT_SETTINGS.sip, ...file.sip };
  const problems: Problem[] = [];
  if (sip.minExpires > sip.maxExpires) problems.push({ path: 'sip.minExpires', message: `${sip.minExpires} is above sip.maxExpires (${sip.maxExpires})` });
  if (sip.defaultExpires < sip.minExpires || sip.defaultExpires > sip.maxExpires) {
    problems.push({ path: 'sip.defaultExpires', message: `${sip.defaultExpires} must lie between sip.minExpires (${sip.minExpires}) and sip.maxExpires (${sip.maxExpires})` });
  }
  return problems;
}

function dhcpProblems(file: SiteFile): Problem[] {
  const d = file.dhcp;
  if (!d.enabled) return [];
  const problems: Problem[] = [];
  for (const key of ['interface', 'subnet', 'range', 'router'] as const) {
    if (d[key] === undefined || d[key] === '') problems.push({ path: `dhcp.${key}`, message: 'is required when dhcp.enabled is true' });
  }
  const subnet = d.subnet ? parseCidr(d.subnet) : undefined;
  if (subnet && typeof subnet !== 'string') {
    const inside = (a: string) => cidrContains(subnet, a);
    d.range?.forEach((a, i) => {
      if (!inside(a)) problems.push({ path: `dhcp.range[${i}]`, message: `${a} is outside dhcp.subnet ${d.subnet}` });
    });
    if (d.range && ipv4ToInt(d.range[0])! > ipv4ToInt(d.range[1])!) {
      problems.push({ path: 'dhcp.range', message: `the first address ${d.range[0]} comes after the last ${d.range[1]}` });
    }
    if (d.router && !inside(d.router)) problems.push({ path: 'dhcp.router', message: `${d.router} is outside dhcp.subnet ${d.subnet}` });
  }
  const u = d.untagged;
  if (u && u.interface) {
    if (!u.subnet) problems.push({ path: 'dhcp.untagged.subnet', message: 'is required when dhcp.untagged.interface is set' });
    if (!u.range) problems.push({ path: 'dhcp.untagged.range', message: 'is required when dhcp.untagged.interface is set' });
    if (!(file.network.voiceVlan ?? 0)) problems.push({ path: 'dhcp.untagged', message: 'hands phones over to the voice VLAN: set network.voiceVlan too' });
    if (u.interface === d.interface) problems.push({ path: 'dhcp.untagged.interface', message: `is dhcp.interface too; the untagged segment is another interface` });
    const us = u.subnet ? parseCidr(u.subnet) : undefined;
    if (us && typeof us !== 'string' && u.range) {
      u.range.forEach((a, k) => {
        if (!cidrContains(us, a)) problems.push({ path: `dhcp.untagged.range[${k}]`, message: `${a} is outside dhcp.untagged.subnet ${u.subnet}` });
      });
    }
  }
  return problems;
}
