/**
 * Site-file validation: every problem at once, each as `path: what is wrong`, before anything listens.
 */
import { z } from 'zod';
import { parseMac } from '../net/mac.js';
import { parseCidr } from '../net/cidr.js';
import { ipv4ToInt } from '../net/cidr.js';
import { DEFAULT_SETTINGS, siteFileSchema, type SiteFile } from './schema.js';

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

function closest(key: string, candidates: readonly string[]): string | undefined {
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

/** Parses the text of a site file (JSON) with positions in the message when it is not JSON. */
export function parseSiteText(text: string): Validated<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = (err as Error).message;
    const m = /position (\d+)/.exec(message);
    let where = '';
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const column = pos - before.lastIndexOf('\n');
      where = ` at line ${line} column ${column}`;
    }
    return { ok: false, problems: [{ path: '', message: `not valid JSON${where}: ${message.replace(/ in JSON at position \d+.*$/, '')}` }] };
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
  if (!parsed.success) return { ok: false, problems: zodProblems(parsed.error) };
  const file = parsed.data;
  const problems: Problem[] = [];

  const emergency = file.dialplan.emergency ?? DEFAULT_SETTINGS.dialplan.emergency;
  const outsidePrefix = file.dialplan.outsidePrefix ?? DEFAULT_SETTINGS.dialplan.outsidePrefix;
  problems.push(
    ...lineConflicts(
      file.lines.map((l, i) => ({ ...l, path: `lines[${i}]` })),
      ctx.storedLines ?? [],
      emergency,
      outsidePrefix,
    ),
  );

  const knownExts = new Set([...file.lines.map((l) => l.ext), ...(ctx.storedLines ?? []).map((l) => l.ext)]);
  const macs = new Map<string, number>();
  file.devices.forEach((d, i) => {
    const mac = parseMac(d.mac)!;
    const first = macs.get(mac);
    if (first !== undefined) problems.push({ path: `devices[${i}].mac`, message: `${d.mac} is already listed as devices[${first}]` });
    else macs.set(mac, i);
    const model = ctx.model(d.model);
    if (!model) problems.push({ path: `devices[${i}].model`, message: `unknown model "${d.model}" (outpost device models lists them)` });
    else if (d.lines.length > model.accounts) {
      problems.push({ path: `devices[${i}].lines`, message: `${model.id} has ${model.accounts} accounts but ${d.lines.length} lines are assigned` });
    }
    d.lines.forEach((ext, j) => {
      if (!knownExts.has(ext)) problems.push({ path: `devices[${i}].lines[${j}]`, message: `line ${ext} does not exist (add it under "lines" or with outpost line add)` });
    });
    const seen = new Set<string>();
    d.lines.forEach((ext, j) => {
      if (seen.has(ext)) problems.push({ path: `devices[${i}].lines[${j}]`, message: `line ${ext} is assigned twice to this device` });
      seen.add(ext);
    });
  });

  problems.push(...dhcpProblems(file));
  return problems.length ? { ok: false, problems } : { ok: true, value: file };
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

function dhcpProblems(file: SiteFile): Problem[] {
  const d = file.dhcp;
  if (!d.enabled) return [];
  const problems: Problem[] = [];
  for (const key of ['interface', 'subnet', 'range', 'router'] as const) {
    if (d[key] === undefined || d[key] === '') problems.push({ path: `dhcp.${key}`, message: 'is required when dhcp.enabled is true' });
  }
  const subnet = d.subnet ? parseCidr(d.subnet) : undefined;
  if (subnet && typeof subnet !== 'string') {
    const inside = (a: string) => {
      const v = ipv4ToInt(a)!;
      const mask = subnet.prefix === 0 ? 0 : (0xffffffff << (32 - subnet.prefix)) >>> 0;
      return ((v & mask) >>> 0) === subnet.base;
    };
    d.range?.forEach((a, i) => {
      if (!inside(a)) problems.push({ path: `dhcp.range[${i}]`, message: `${a} is outside dhcp.subnet ${d.subnet}` });
    });
    if (d.range && ipv4ToInt(d.range[0])! > ipv4ToInt(d.range[1])!) {
      problems.push({ path: 'dhcp.range', message: `the first address ${d.range[0]} comes after the last ${d.range[1]}` });
    }
    if (d.router && !inside(d.router)) problems.push({ path: 'dhcp.router', message: `${d.router} is outside dhcp.subnet ${d.subnet}` });
  }
  return problems;
}
