/**
 * The vendor registry: one line per vendor plugin. Model names are matched the way they are written on
 * labels: without regard to case, with or without the vendor word and Yealink's `SIP-` prefix.
 */
import type { ModelSpec, VendorPlugin } from './types.js';
import { createYealinkPlugin } from './yealink/index.js';
import { createThomsonPlugin } from './thomson/index.js';
import { createMediatrixPlugin } from './mediatrix/index.js';

export interface VendorOptions {
  templateOverrides?: string | undefined;
}

export function createVendors(options: VendorOptions = {}): VendorPlugin[] {
  return [createYealinkPlugin(options), createThomsonPlugin(options), createMediatrixPlugin(options)];
}

const VENDOR_WORDS = /^(yealink|well|thomson|technicolor|mediatrix)[\s-]*/i;

function normaliseModelName(name: string): string {
  return name.trim().replace(VENDOR_WORDS, '').replace(/^sip[\s-]+/i, '').replace(/\s+/g, '').toUpperCase();
}

export interface ModelCatalogue {
  find(name: string): { model: ModelSpec; vendor: VendorPlugin } | undefined;
  all(): Array<{ model: ModelSpec; vendor: VendorPlugin }>;
}

export function modelCatalogue(vendors: readonly VendorPlugin[]): ModelCatalogue {
  const index = new Map<string, { model: ModelSpec; vendor: VendorPlugin }>();
  for (const vendor of vendors) {
    for (const model of vendor.models) {
      for (const name of [model.id, ...(model.aliases ?? [])]) index.set(normaliseModelName(name), { model, vendor });
    }
  }
  return {
    find: (name) => index.get(normaliseModelName(name)),
    all: () => vendors.flatMap((vendor) => vendor.models.map((model) => ({ model, vendor }))),
  };
}
