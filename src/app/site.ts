/**
 * The effective site: built-in defaults, then what `site set` stored, then the site file (the declarative truth
 * for every key it names).
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_SETTINGS, type SiteFile, type SiteSettings } from '../config/schema.js';
import { formatProblem, lineConflicts, parseSiteText, validateSiteFile, type KnownLine, type ModelLookup, type Problem } from '../config/validate.js';
import { PRIVATE_RANGES, parseCidr, type Cidr } from '../net/cidr.js';
import { getPath, layerFromDotted, mergeLayers, settableKeys, type DeepPartial } from '../provisioning/settings.js';

export class SiteFileError extends Error {
  constructor(readonly file: string, readonly problems: Problem[]) {
    super(`${file} is not a valid site file:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  }
}

export function readSiteFile(path: string, ctx: { model: ModelLookup; storedLines?: readonly KnownLine[] }): SiteFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SiteFileError(path, [{ path: '', message: `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  const json = parseSiteText(text);
  if (!json.ok) throw new SiteFileError(path, json.problems);
  const checked = validateSiteFile(json.value, ctx);
  if (!checked.ok) throw new SiteFileError(path, checked.problems);
  return checked.value;
}

/** The settings part of a site file (without lines and devices), as a layer. */
export function fileLayer(file: SiteFile | undefined): DeepPartial<SiteSettings> {
  if (!file) return {};
  const { lines: _lines, devices: _devices, ...settings } = file;
  return settings as DeepPartial<SiteSettings>;
}

/** The dotted keys a site file sets. */
export function keysNamedBy(file: SiteFile | undefined): Set<string> {
  const layer = fileLayer(file);
  return new Set([...settableKeys()].map(([k]) => k).filter((k) => getPath(layer, k) !== undefined));
}

export function effectiveSite(file: SiteFile | undefined, stored: Map<string, unknown>): SiteSettings {
  return mergeLayers<SiteSettings>(DEFAULT_SETTINGS, layerFromDotted(stored) as DeepPartial<SiteSettings>, fileLayer(file));
}

/**
 * Validates one `site set`: the key must be settable and not owned by the site file, and the site with the new
 * value must still be valid, lines included (an emergency number may not become a line's extension).
 */
export function checkSiteChange(
  key: string,
  value: unknown,
  ctx: { file: SiteFile | undefined; filePath?: string | undefined; stored: Map<string, unknown>; lines: readonly KnownLine[]; model: ModelLookup },
): Problem[] {
  if (keysNamedBy(ctx.file).has(key)) {
    return [{ path: key, message: `is set by the site file${ctx.filePath ? ` ${ctx.filePath}` : ''}; change it there (the file is applied at every start)` }];
  }
  const stored = new Map(ctx.stored).set(key, value);
  const candidate = mergeLayers<Record<string, unknown>>({}, layerFromDotted(stored), fileLayer(ctx.file) as Record<string, unknown>);
  const checked = validateSiteFile(candidate, { model: ctx.model });
  if (!checked.ok) return checked.problems;
  const site = effectiveSite(ctx.file, stored);
  return lineConflicts(
    ctx.lines.map((l) => ({ ...l, path: `line ${l.ext}` })),
    [],
    site.dialplan.emergency,
    site.dialplan.outsidePrefix,
  );
}

/** Who may fetch files with secrets: `provisioning.allow`, else the DHCP subnet when DHCP runs, else loopback and private ranges. */
const allowMemo = new WeakMap<SiteSettings, Cidr[]>();

export function provisioningAllow(site: SiteSettings): Cidr[] {
  let cidrs = allowMemo.get(site);
  if (!cidrs) {
    cidrs = computeAllow(site);
    allowMemo.set(site, cidrs);
  }
  return cidrs;
}

function computeAllow(site: SiteSettings): Cidr[] {
  const texts = site.provisioning.allow.length
    ? site.provisioning.allow
    : site.dhcp.enabled && site.dhcp.subnet
      ? [site.dhcp.subnet, '127.0.0.0/8']
      : PRIVATE_RANGES;
  return texts.map((t) => parseCidr(t)).filter((c): c is Cidr => typeof c !== 'string');
}
