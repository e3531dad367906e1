/**
 * The firmware catalogue: which image each model should run. One folder (`--firmware`, default ./firmware)
 * holds the images and `manifest.json` (model, version, file, sha256, size). `outpost firmware add` copies an
 * image in; a running serve sees the change within a second. One image per model: adding a second version for
 * a model replaces its target.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { Logger } from '../app/log.js';

export interface FirmwareImage {
  /** Canonical model id, e.g. `T22P`. */
  model: string;
  /**
   * What the image is to the model: `application` (the default, and the only role most models have), or e.g.
   * Thomson's `dsp`, `boot` and `telephony`. Absent in manifests written before roles existed.
   */
  role?: string;
  version: string;
  /** File name inside the catalogue folder, served as `/prov/firmware/<file>` and over TFTP as `firmware/<file>`. */
  file: string;
  sha256: string;
  size: number;
  addedAt?: string;
}

export const APPLICATION = 'application';

export function roleOf(image: FirmwareImage): string {
  return image.role ?? APPLICATION;
}

export interface FirmwareCatalogue {
  /** The image devices of `model` should run (its application image), if the catalogue has one. */
  target(model: string): FirmwareImage | undefined;
  /** Every image of `model`, by role. */
  images(model: string): Record<string, FirmwareImage>;
}

/** Whether a device reporting `reported` should be pointed at `target`. Unknown versions are not upgraded blindly. */
export function needsUpgrade(target: FirmwareImage | undefined, reported: string | undefined): boolean {
  return target !== undefined && reported !== undefined && reported !== '' && reported !== target.version;
}

/** `7.73.0.50`, `2.74`, `4.78.1`, `48.0.1234-rc2`: dotted numbers, an optional suffix. */
export const VERSION = /^\d+(\.\d+)+([.-][0-9A-Za-z]+)*$/;

export class FirmwareError extends Error {}

/** `application`, `dsp`, `boot`, `telephony`. */
const ROLE = /^[a-z][a-z0-9]{0,15}$/;

const MANIFEST = 'manifest.json';
/** How often a running serve looks at the manifest's modification time. */
const RELOAD_CHECK_MS = 1000;

export class ManifestFirmwareCatalogue implements FirmwareCatalogue {
  private list_: FirmwareImage[] = [];
  private loadedMtime = -1;
  private checkedAt = 0;

  constructor(readonly dir: string, private readonly log: Logger) {
    this.reload();
  }

  private manifestPath(): string {
    return join(this.dir, MANIFEST);
  }

  /** Reads the manifest if it changed; a bad manifest or entry is logged and skipped. */
  reload(): void {
    const path = this.manifestPath();
    let mtime: number;
    try {
      mtime = statSync(path).mtimeMs;
    } catch {
      this.list_ = [];
      this.loadedMtime = -1;
      return;
    }
    if (mtime === this.loadedMtime) return;
    this.loadedMtime = mtime;
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { images?: unknown };
      const images = Array.isArray(parsed.images) ? parsed.images : [];
      this.list_ = images.filter((i): i is FirmwareImage => {
        const r = i as Record<string, unknown>;
        const ok =
          typeof i === 'object' && i !== null && ['model', 'version', 'file', 'sha256'].every((k) => typeof r[k] === 'string') &&
          typeof r.size === 'number' && basename(String(r.file)) === r.file && !String(r.file).startsWith('.') &&
          (r.role === undefined || (typeof r.role === 'string' && ROLE.test(r.role)));
        if (!ok) this.log.warn({ path }, 'skipping a firmware manifest entry that is not valid');
        return ok;
      });
    } catch {
      this.log.warn({ path }, 'the firmware manifest is not JSON; no firmware is offered');
      this.list_ = [];
    }
  }

  private fresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < RELOAD_CHECK_MS) return;
    this.checkedAt = now;
    this.reload();
  }

  target(model: string): FirmwareImage | undefined {
    return this.images(model)[APPLICATION];
  }

  images(model: string): Record<string, FirmwareImage> {
    this.fresh();
    const out: Record<string, FirmwareImage> = {};
    for (const image of this.list_) if (image.model.toUpperCase() === model.toUpperCase()) out[roleOf(image)] = image;
    return out;
  }

  list(): FirmwareImage[] {
    this.reload();
    return [...this.list_];
  }

  /** The image file named `file`, when the manifest lists it (nothing else in the folder is ever served). */
  image(file: string): { path: string; size: number } | undefined {
    this.fresh();
    const image = this.list_.find((i) => i.file === file);
    if (!image) return undefined;
    const path = join(this.dir, image.file);
    try {
      return { path, size: statSync(path).size };
    } catch {
      return undefined;
    }
  }

  /**
   * Copies `source` into the catalogue as the `role` image of `model` (already the canonical id) and records
   * it. The manifest is written last, atomically: a failure leaves the catalogue as it was.
   */
  async add(source: string, model: string, version: string, role: string = APPLICATION, options: { keepName?: boolean } = {}): Promise<{ image: FirmwareImage; replaced?: FirmwareImage | undefined }> {
    if (!ROLE.test(role)) throw new FirmwareError(`"${role}" is not a firmware role: a lowercase word such as application or dsp`);
    if (!VERSION.test(version)) throw new FirmwareError(`"${version}" is not a firmware version: use dotted numbers as the vendor writes them, e.g. 7.73.0.50`);
    let size: number;
    try {
      const st = statSync(source);
      if (!st.isFile()) throw new FirmwareError(`${source} is not a file`);
      size = st.size;
    } catch (err) {
      if (err instanceof FirmwareError) throw err;
      throw new FirmwareError(`cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (size === 0) throw new FirmwareError(`${source} is empty`);
    mkdirSync(this.dir, { recursive: true });
    this.reload();
    const file = options.keepName ? vendorName(source, model, role, this.list_) : `${model}-${role === APPLICATION ? '' : `${role}-`}${version}${extname(source).replace(/[^.A-Za-z0-9]/g, '') || '.bin'}`;
    const staging = join(this.dir, `.${file}.${process.pid}.tmp`);
    try {
      copyFileSync(source, staging);
      const sha256 = await sha256Of(staging);
      const image: FirmwareImage = { model, ...(role === APPLICATION ? {} : { role }), version, file, sha256, size, addedAt: new Date().toISOString() };
      renameSync(staging, join(this.dir, file));
      const same = (i: FirmwareImage) => i.model === model && roleOf(i) === role;
      const replaced = this.list_.find(same);
      this.writeManifest([...this.list_.filter((i) => !same(i)), image]);
      if (replaced && replaced.file !== file && !this.list_.some((i) => i.file === replaced.file)) removeQuietly(join(this.dir, replaced.file));
      return { image, replaced };
    } finally {
      removeQuietly(staging);
    }
  }

  /** Removes the images of `model` (only its `role` image when a role is given). Returns what was removed. */
  remove(model: string, role?: string): FirmwareImage[] {
    this.reload();
    const gone = this.list_.filter((i) => i.model === model && (role === undefined || roleOf(i) === role));
    if (!gone.length) return [];
    this.writeManifest(this.list_.filter((i) => !gone.includes(i)));
    for (const image of gone) if (!this.list_.some((i) => i.file === image.file)) removeQuietly(join(this.dir, image.file));
    return gone;
  }

  private writeManifest(images: FirmwareImage[]): void {
    const path = this.manifestPath();
    const tmp = `${path}.${process.pid}.tmp`;
    const sorted = [...images].sort((a, b) => a.model.localeCompare(b.model) || roleOf(a).localeCompare(roleOf(b)));
    writeFileSync(tmp, `${JSON.stringify({ images: sorted }, null, 2)}\n`);
    renameSync(tmp, path);
    this.loadedMtime = -1;
    this.reload();
  }
}

/** The vendor's own file name, when it is a plain name no other model's image uses. */
function vendorName(source: string, model: string, role: string, images: readonly FirmwareImage[]): string {
  const name = basename(source);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) || name === MANIFEST) {
    throw new FirmwareError(`the ${model} reads its image's version from the file name, so it is kept: rename "${name}" to letters, digits, dots, dashes and underscores only`);
  }
  const taken = images.find((i) => i.file === name && !(i.model === model && roleOf(i) === role));
  if (taken) throw new FirmwareError(`${name} is already the ${roleOf(taken)} image of ${taken.model}`);
  return name;
}

function removeQuietly(path: string): void {
  try {
    if (existsSync(path)) unlinkSync(path);
  } catch {
    /* a file we could not remove stays; the manifest no longer names it, so it is never served */
  }
}

export function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export const NO_FIRMWARE: FirmwareCatalogue = { target: () => undefined, images: () => ({}) };
