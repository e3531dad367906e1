/**
 * The firmware catalogue's interface, as the provisioning core uses it: which image a model should run.
 * The catalogue lives in `<firmware dir>/manifest.json` (`outpost firmware add` maintains it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../app/log.js';

export interface FirmwareImage {
  /** Canonical model id, e.g. `T22P`. */
  model: string;
  version: string;
  /** File name inside the catalogue folder, served as `/prov/firmware/<file>`. */
  file: string;
  sha256: string;
  size: number;
}

export interface FirmwareCatalogue {
  /** The image devices of `model` should run, if the catalogue has one. */
  target(model: string): FirmwareImage | undefined;
}

/** Whether a device reporting `reported` should be pointed at `target`. Unknown versions are not upgraded blindly. */
export function needsUpgrade(target: FirmwareImage | undefined, reported: string | undefined): boolean {
  return target !== undefined && reported !== undefined && reported !== '' && reported !== target.version;
}

export class ManifestFirmwareCatalogue implements FirmwareCatalogue {
  private images: FirmwareImage[] = [];

  constructor(readonly dir: string, private readonly log: Logger) {
    this.reload();
  }

  reload(): void {
    const path = join(this.dir, 'manifest.json');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      this.images = [];
      return;
    }
    try {
      const parsed = JSON.parse(text) as { images?: unknown };
      const images = Array.isArray(parsed.images) ? parsed.images : [];
      this.images = images.filter((i): i is FirmwareImage => {
        const ok = typeof i === 'object' && i !== null && ['model', 'version', 'file', 'sha256'].every((k) => typeof (i as Record<string, unknown>)[k] === 'string');
        if (!ok) this.log.warn({ path }, 'skipping a firmware manifest entry that is not valid');
        return ok;
      });
    } catch {
      this.log.warn({ path }, 'the firmware manifest is not JSON; no firmware is offered');
      this.images = [];
    }
  }

  target(model: string): FirmwareImage | undefined {
    return this.images.find((i) => i.model.toUpperCase() === model.toUpperCase());
  }
}

export const NO_FIRMWARE: FirmwareCatalogue = { target: () => undefined };
