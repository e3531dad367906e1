/**
 * Mediatrix (Media5) analog gateways: identification and what DHCP tells them. Their configuration scripts
 * come with the Mediatrix provisioning issue; until then a Mediatrix is recognised, recorded and pointed at
 * Outpost, and served no file.
 */
import type { FileMatch, ModelSpec, RenderedFile, VendorPlugin } from '../types.js';

export const MEDIATRIX_MODELS: readonly ModelSpec[] = [
  { id: '4102S', vendor: 'Mediatrix', kind: 'gateway', accounts: 2, aliases: ['4102'] },
  { id: '4104', vendor: 'Mediatrix', kind: 'gateway', accounts: 4 },
  { id: '4108', vendor: 'Mediatrix', kind: 'gateway', accounts: 8 },
  { id: 'C711', vendor: 'Mediatrix', kind: 'gateway', accounts: 2 },
];

export function createMediatrixPlugin(): VendorPlugin {
  return {
    id: 'mediatrix',
    name: 'Mediatrix (Media5)',
    models: MEDIATRIX_MODELS,
    macPrefixes: ['0090f8'],
    identifyUserAgent: () => undefined,
    matchFile: (): FileMatch | undefined => undefined,
    files: () => [],
    render(): RenderedFile {
      throw new Error('Mediatrix files are not provisioned by this version');
    },
    dhcp: {
      // v5 sends its product name (`Mediatrix 4102`); the DGW value is unconfirmed [?], likely the same word.
      vendorClass: [/^Mediatrix/i],
      userClass: [/^Mediatrix/i],
      modelFromClass: (text) => {
        const named = /(\d{4}S?|C7\d\d)/i.exec(text)?.[1]?.toUpperCase();
        return MEDIATRIX_MODELS.find((x) => x.id === named || (named !== undefined && x.aliases?.includes(named)))?.id;
      },
      // DGW: option 66 as a URL ending in `/` (the unit appends its generic script name) and 67 as the URL of
      // its specific script (`%mac%` is the unit's own macro). Names per the reference, unverified [?].
      provisioningOptions: (where) => [
        [66, Buffer.from(where.httpUrl, 'ascii')],
        [67, Buffer.from(`${where.httpUrl}%mac%.cfg`, 'ascii')],
      ],
    },
  };
}
