/**
 * Thomson / Technicolor ST2022 and ST2030: identification (User-Agent, file names, DHCP) and the three files a
 * phone fetches: `<MODEL>S.inf` (where the firmware and the configuration are), the common configuration (a
 * name that changes with its content: the phones keep a removed key otherwise) and `<MODEL>S_<MAC>.txt`.
 * Configuration files are INI in ISO-8859-1 with a `config_sn` that changes whenever the content does.
 */
import { createHash } from 'node:crypto';
import { parseMac, type Mac } from '../../net/mac.js';
import { TemplateSet } from '../../provisioning/templates.js';
import { transliterate } from '../../provisioning/text.js';
import { zoneRule } from '../../provisioning/timezone.js';
import type { DeviceHint, FileMatch, ModelSpec, RenderInput, RenderedFile, VendorPlugin } from '../types.js';
import { UNVERIFIED } from './unverified.js';
import { thomsonZoneNumber } from './zones.js';

/** Images a Thomson takes from the firmware catalogue: application (fwurl), DSP, boot, and the vendor's telephony script. */
const ROLES = ['application', 'dsp', 'boot', 'telephony'] as const;

export const THOMSON_MODELS: readonly ModelSpec[] = [
  { id: 'ST2030', vendor: 'Thomson', kind: 'phone', accounts: 4, aliases: ['ST2030S'], firmwareRoles: ROLES, firmwareKeepsName: true },
  { id: 'ST2022', vendor: 'Thomson', kind: 'phone', accounts: 2, aliases: ['ST2022S'], firmwareRoles: ROLES, firmwareKeepsName: true },
];

/** `THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3` (wazo's pattern). */
const UA = /^(?:Thomson|THOMSON) (\w+) hw\S+ fw(\S+) ([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})\s*$/;

const INF_FILE = /^(ST20(?:22|30))S\.inf$/i;
/** The inf names `ST2030S-common-<digest>.txt`; the name without a digest serves the same file (for previews). */
const COMMON_FILE = /^(ST20(?:22|30))S-common(?:-[0-9a-f]{10})?\.txt$/i;
const DEVICE_FILE = /^(ST20(?:22|30))S_([0-9A-Fa-f]{12})\.txt$/i;

const byId = (id: string) => THOMSON_MODELS.find((m) => m.id === id.toUpperCase());

export function identifyThomsonUserAgent(ua: string): DeviceHint | undefined {
  const m = UA.exec(ua.trim());
  if (!m) return undefined;
  const model = byId(m[1]!);
  const hint: DeviceHint = { vendor: 'Thomson', model: model?.id ?? m[1]!, firmware: m[2]! };
  const mac = parseMac(m[3]!);
  if (mac) hint.mac = mac;
  return hint;
}

/** `ST2030S`: the prefix of every file name of the model. */
const prefixOf = (model: ModelSpec) => `${model.id}S`;

export function thomsonDeviceFile(model: ModelSpec, mac: Mac): string {
  return `${prefixOf(model)}_${mac.toUpperCase()}.txt`;
}

/** Text in ISO-8859-1: what Latin-1 has stays (á, é, ü), other letters lose their accents (ř -> r), the rest is `?`. */
export function toLatin1(text: string): Buffer {
  return Buffer.from(transliterate(text, 0xff), 'latin1');
}

const SN_PLACEHOLDER = '@@CONFIG_SN@@';

/** Fills `config_sn` with 12 digits derived from everything else in the file: a change anywhere changes it. */
function withConfigSn(text: string): Buffer {
  const body = toLatin1(text);
  const digest = createHash('sha256').update(body).digest();
  const sn = (digest.readBigUInt64BE(0) % 10n ** BigInt(UNVERIFIED.configSnDigits)).toString().padStart(UNVERIFIED.configSnDigits, '0');
  return toLatin1(text.replace(SN_PLACEHOLDER, sn));
}

/** `|112|150|155|158|`: the phone dials these the moment they are complete. */
export function emergencyDialPlan(numbers: readonly string[]): string {
  return numbers.length ? `|${numbers.join('|')}|` : '';
}

export function thomsonContext(input: RenderInput, withLines: boolean) {
  const s = input.settings;
  const rule = zoneRule(s.site.timezone);
  const accounts = Array.from({ length: input.model.accounts }, (_, i) => s.lines.find((l) => l.index === i + 1) ?? { index: i + 1 });
  return {
    model: { id: input.model.id, prefix: prefixOf(input.model), accounts: input.model.accounts },
    mac: input.device?.mac.toUpperCase() ?? '',
    withLines,
    site: s.site,
    server: s.server,
    centrex: s.centrex ?? { host: '', port: 5060, transport: 'udp' },
    transport: { udp: 0, tcp: 1, tls: 2 }[s.centrex?.transport ?? 'udp'],
    network: s.network,
    qos: { ...s.qos, tos: s.qos.rtpDscp << 2, flag: UNVERIFIED.dscpFlag, keys: UNVERIFIED.dscpKeys, pcPortPriorityKey: UNVERIFIED.pcPortPriorityKey },
    ntp: { server: s.site.ntp[0] ?? 'pool.ntp.org', zone: thomsonZoneNumber(s.site.timezone), daylight: rule.dst ? 1 : 0 },
    dialplan: { voip: UNVERIFIED.voipDialPlan, emergency: emergencyDialPlan(s.dialplan.emergency), timeout: UNVERIFIED.dialTimeout },
    recheckDays: s.provisioning.recheckMinutes ? Math.max(1, Math.ceil(s.provisioning.recheckMinutes / 1440)) : 0,
    recheckDaysKey: UNVERIFIED.recheckDaysKey,
    backupExpires: UNVERIFIED.backupExpires,
    accounts,
    configSn: SN_PLACEHOLDER,
  };
}

export function createThomsonPlugin(options: { templateOverrides?: string | undefined } = {}): VendorPlugin {
  const templates = new TemplateSet('thomson', options.templateOverrides);
  const config = (input: RenderInput, withLines: boolean) => withConfigSn(templates.render('config.txt.njk', thomsonContext(input, withLines)));
  /** The common file's name carries a digest of its content. */
  const commonFile = (model: ModelSpec, body: Buffer) => `${prefixOf(model)}-common-${createHash('sha256').update(body).digest('hex').slice(0, 10)}.txt`;
  const TEXT = 'text/plain; charset=iso-8859-1';

  return {
    id: 'thomson',
    name: 'Thomson (Technicolor)',
    models: THOMSON_MODELS,
    macPrefixes: ['00147f', '0018f6', '001f9f'],
    identifyUserAgent: identifyThomsonUserAgent,
    matchFile(file: string): FileMatch | undefined {
      const inf = INF_FILE.exec(file) ?? COMMON_FILE.exec(file);
      if (inf) return { scope: 'common', model: byId(inf[1]!)!, secret: false };
      const device = DEVICE_FILE.exec(file);
      if (device) return { scope: 'device', model: byId(device[1]!)!, mac: parseMac(device[2]!)!, secret: true };
      return undefined;
    },
    files(model: ModelSpec, mac: Mac): string[] {
      return [`${prefixOf(model)}.inf`, `${prefixOf(model)}-common.txt`, thomsonDeviceFile(model, mac)];
    },
    render(input: RenderInput): RenderedFile {
      if (input.match.scope === 'device') return { body: config(input, true), contentType: TEXT };
      const common = config({ ...input, device: undefined }, false);
      if (!INF_FILE.test(input.file)) return { body: common, contentType: TEXT };
      const base = input.settings.server.provisioningUrl;
      const text = templates.render('inf.njk', {
        images: {
          fw: input.images.application?.url ?? '',
          dsp: input.images.dsp?.url ?? '',
          boot: input.images.boot?.url ?? '',
          telephony: input.images.telephony?.url ?? '',
        },
        common: `${base}${commonFile(input.model, common)}`,
        base,
      });
      return { body: toLatin1(text), contentType: TEXT };
    },
    dhcp: {
      // Option 60 is TLV-like: ... "Thomson" 0x02 0x06 "ST2030" ... ; option 77 is `Thomson ST2030S`.
      vendorClass: [/Thomson/],
      userClass: [/^Thomson ST20(22|30)S?$/i],
      modelFromClass: (text) => /ST20(22|30)/i.exec(text)?.[0]?.toUpperCase(),
      classOf: (model) => ({ userClass: `Thomson ${model}S` }),
      // Option 43 is the plain URL of the model's .inf (not sub-options); 66 names the TFTP server too.
      provisioningOptions: (where, model) => [
        ...(model ? ([[43, Buffer.from(`${where.httpUrl}${model}S.inf`, 'ascii')]] as Array<[number, Buffer]>) : []),
        [66, Buffer.from(where.host, 'ascii')],
      ],
    },
  };
}
