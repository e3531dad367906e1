/**
 * Mediatrix (Media5) analog gateways: identification, the one file each unit fetches (`<MAC>.cfg`, its MAC in
 * 12 uppercase hex digits, the `%mac%` macro) and its body in the unit's dialect: a DGW configuration script
 * (device-templates/mediatrix/dgw.cfg.njk, context in dgw.ts) or the v5 XML (v5.ts). See README.md here for
 * the fallback to Outpost, the FXO gateway and every unverified choice (unverified.ts).
 */
import { parseMac, type Mac } from '../../net/mac.js';
import { TemplateSet } from '../../provisioning/templates.js';
import type { FileMatch, ModelSpec, RenderInput, RenderedFile, VendorPlugin } from '../types.js';
import { dgwContext } from './dgw.js';
import { mediatrixProvisioningOptions } from './dhcp.js';
import { MEDIATRIX_MODELS, MEDIATRIX_OUIS, type MediatrixModel } from './models.js';
import { v5Xml } from './v5.js';

/**
 * `0090F8AABB01.cfg`. `%mac%` is uppercase on v5 (4100 reference manual) and assumed so on DGW [?]: either case
 * is accepted; a name Yealink also claims goes to the right vendor by inventory model or MAC prefix.
 */
const DEVICE_FILE = /^([0-9a-fA-F]{12})\.cfg$/;

/** The file a unit of this MAC fetches. */
export function mediatrixFileName(mac: Mac): string {
  return `${mac.toUpperCase()}.cfg`;
}

export function mediatrixModel(name: string): MediatrixModel | undefined {
  const n = name.trim().toUpperCase();
  return MEDIATRIX_MODELS.find((m) => m.id === n || m.aliases?.some((a) => a.toUpperCase() === n));
}

/** The model an option 60 value (`Mediatrix 4102`, padded or not) names. */
export function modelFromVendorClass(text: string): string | undefined {
  const named = /\b(\d{4}S?|C7\d\d)\b/i.exec(text)?.[1];
  return named ? mediatrixModel(named)?.id : undefined;
}

export function createMediatrixPlugin(options: { templateOverrides?: string | undefined } = {}): VendorPlugin {
  const templates = new TemplateSet('mediatrix', options.templateOverrides);
  return {
    id: 'mediatrix',
    name: 'Mediatrix (Media5)',
    models: MEDIATRIX_MODELS,
    macPrefixes: MEDIATRIX_OUIS,
    // No User-Agent of a Mediatrix provisioning request is documented (README: what to capture).
    identifyUserAgent: () => undefined,
    matchFile(file: string): FileMatch | undefined {
      const device = DEVICE_FILE.exec(file);
      return device ? { scope: 'device', mac: parseMac(device[1]!)!, secret: true } : undefined;
    },
    files: (_model: ModelSpec, mac: Mac) => [mediatrixFileName(mac)],
    render(input: RenderInput): RenderedFile {
      const model = input.model as MediatrixModel;
      if (model.generation === 'v5') return { body: Buffer.from(v5Xml(input), 'utf8'), contentType: 'application/xml; charset=utf-8' };
      return { body: Buffer.from(templates.render('dgw.cfg.njk', dgwContext(input)), 'utf8'), contentType: 'text/plain; charset=utf-8' };
    },
    dhcp: {
      // v5 sends its product name (`Mediatrix 4102`, MX-PRODUCT-NAMING-MIB); the DGW value is unconfirmed [?].
      vendorClass: [/^Mediatrix/i],
      userClass: [/^Mediatrix/i],
      modelFromClass: modelFromVendorClass,
      // v5 sends its product name in option 60 (MX-PRODUCT-NAMING-MIB); a router matches it whole.
      classOf: (model) => ({ vendorClass: `Mediatrix ${model}` }),
      provisioningOptions: (where, model) => mediatrixProvisioningOptions(where, model ? mediatrixModel(model) : undefined),
    },
  };
}
