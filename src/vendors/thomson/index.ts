/**
 * Thomson / Technicolor ST2022 and ST2030: identification (User-Agent, DHCP) and what DHCP tells them. Their
 * files (the .inf, the common and the per-device INI) come with the Thomson provisioning issue; until then a
 * Thomson is recognised, recorded and pointed at its .inf, and served no file.
 */
import { parseMac } from '../../net/mac.js';
import type { DeviceHint, FileMatch, ModelSpec, RenderedFile, VendorPlugin } from '../types.js';

export const THOMSON_MODELS: readonly ModelSpec[] = [
  { id: 'ST2030', vendor: 'Thomson', kind: 'phone', accounts: 4, aliases: ['ST2030S'] },
  { id: 'ST2022', vendor: 'Thomson', kind: 'phone', accounts: 2, aliases: ['ST2022S'] },
];

/** `THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3` (wazo's pattern). */
const UA = /^(?:Thomson|THOMSON) (\w+) hw\S+ fw(\S+) ([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})\s*$/;

export function identifyThomsonUserAgent(ua: string): DeviceHint | undefined {
  const m = UA.exec(ua.trim());
  if (!m) return undefined;
  const model = THOMSON_MODELS.find((x) => x.id === m[1]!.toUpperCase());
  const hint: DeviceHint = { vendor: 'Thomson', model: model?.id ?? m[1]!, firmware: m[2]! };
  const mac = parseMac(m[3]!);
  if (mac) hint.mac = mac;
  return hint;
}

export function createThomsonPlugin(): VendorPlugin {
  return {
    id: 'thomson',
    name: 'Thomson (Technicolor)',
    models: THOMSON_MODELS,
    macPrefixes: ['00147f', '0018f6', '001f9f'],
    identifyUserAgent: identifyThomsonUserAgent,
    matchFile: (): FileMatch | undefined => undefined,
    files: () => [],
    render(): RenderedFile {
      throw new Error('Thomson files are not provisioned by this version');
    },
    dhcp: {
      // Option 60 is TLV-like: ... "Thomson" 0x02 0x06 "ST2030" ... ; option 77 is `Thomson ST2030S`.
      vendorClass: [/Thomson/],
      userClass: [/^Thomson ST20(22|30)S?$/i],
      modelFromClass: (text) => /ST20(22|30)/i.exec(text)?.[0]?.toUpperCase(),
      // Option 43 is the plain URL of the model's .inf (not sub-options); 66 names the TFTP server too.
      provisioningOptions: (where, model) => [
        ...(model ? ([[43, Buffer.from(`${where.httpUrl}${model}S.inf`, 'ascii')]] as Array<[number, Buffer]>) : []),
        [66, Buffer.from(where.host, 'ascii')],
      ],
    },
  };
}
