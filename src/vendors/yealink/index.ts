/**
 * Yealink (and its "Well" rebrands): identification from User-Agent and file names, the two files each phone
 * asks for (`y0000000000XX.cfg` common, `<mac>.cfg` per device) and their template context.
 */
import { parseMac, type Mac } from '../../net/mac.js';
import type { ResolvedSettings } from '../../provisioning/settings.js';
import { TemplateSet } from '../../provisioning/templates.js';
import { yealinkDstTime, yealinkTimeZone, zoneRule } from '../../provisioning/timezone.js';
import type { DeviceHint, FileMatch, ModelSpec, RenderInput, RenderedFile, VendorPlugin } from '../types.js';
import { YEALINK_MODELS, YEALINK_OUIS, type YealinkModel } from './models.js';

const MAC = '[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}';
const FW = '\\d+(?:\\.\\d+){2,}';
/** `Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01`, `yealink SIP-T28P ...`, `Yealink SIP VP-T49G ...`, `Well SIP-T26P ...`. */
const UA_SIP = new RegExp(`^(?<vendor>[A-Za-z][\\w]*)\\s+SIP(?:\\s+VP)?-(?<model>\\w+)\\s+(?<fw>${FW})\\s+(?<mac>${MAC})\\s*$`);
/** `VP530P 23.70.0.40 00:15:65:31:4b:c0`, `Yealink W52P 25.80.0.15 ...`, `Well YV3 ...`. */
const UA_BARE = new RegExp(`^(?:(?<vendor>[A-Za-z][\\w]*)\\s+)?(?<model>[A-Z]{1,3}\\d[\\w]*)\\s+(?<fw>${FW})\\s+(?<mac>${MAC})\\s*$`);
/** `Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0`: some T46G builds send no MAC. */
const UA_NOMAC = new RegExp(`^(?<vendor>[yY]ealink|Well)-(?<model>\\w+)\\s+(?<fw>${FW})\\s+[\\d.]+\\s*$`);
/** Vendor words whose unknown models may be recognised by their firmware family alone. */
const FAMILY_WORDS = new Set(['yealink', 'well']);

const COMMON_FILE = /^y0000000000(\d{2,3})\.cfg$/;
const DEVICE_FILE = /^([0-9a-fA-F]{12})\.cfg$/;

const byCode = new Map(YEALINK_MODELS.map((model) => [model.code, model]));

function modelByName(name: string): YealinkModel | undefined {
  const n = name.toUpperCase();
  return YEALINK_MODELS.find((model) => model.id === n || model.aliases?.some((a) => a.toUpperCase() === n));
}

function modelByFirmware(fw: string): YealinkModel | undefined {
  const candidates = YEALINK_MODELS.filter((model) => fw.startsWith(model.firmwarePrefix!));
  return candidates.length === 1 ? candidates[0] : undefined;
}

export function identifyYealinkUserAgent(userAgent: string): DeviceHint | undefined {
  const ua = userAgent.trim();
  const m = UA_SIP.exec(ua) ?? UA_BARE.exec(ua) ?? UA_NOMAC.exec(ua);
  if (!m?.groups) return undefined;
  const { vendor, model: rawModel, fw, mac } = m.groups as { vendor?: string; model: string; fw: string; mac?: string };
  const familyWord = vendor === undefined || FAMILY_WORDS.has(vendor.toLowerCase());
  const model = modelByName(rawModel) ?? (familyWord ? modelByFirmware(fw) : undefined);
  if (!model && !familyWord) return undefined;
  const hint: DeviceHint = { vendor: vendor ?? 'Yealink', model: model?.id ?? rawModel, firmware: fw };
  const parsed = mac ? parseMac(mac) : undefined;
  if (parsed) hint.mac = parsed;
  return hint;
}

export function yealinkFiles(model: ModelSpec, mac: Mac): string[] {
  return [`y0000000000${(model as YealinkModel).code}.cfg`, `${mac}.cfg`];
}

/** The template context: the resolved settings turned into Yealink's vocabulary (DSCP, DST rules, key prefix). */
export function yealinkContext(input: RenderInput) {
  const s: ResolvedSettings = input.settings;
  const model = input.model as YealinkModel;
  const rule = zoneRule(s.site.timezone);
  const accounts = Array.from({ length: model.accounts }, (_, i) => s.lines.find((l) => l.index === i + 1) ?? { index: i + 1 });
  return {
    model: { id: model.id, code: model.code, accounts: model.accounts },
    static: model.generation === 'v8x' ? 'static.' : '',
    site: s.site,
    server: s.server,
    centrex: s.centrex ?? { host: '', port: 5060, transport: 'udp' },
    transport: { udp: 0, tcp: 1, tls: 2 }[s.centrex?.transport ?? 'udp'],
    network: s.network,
    qos: s.qos,
    ntp: [s.site.ntp[0] ?? 'pool.ntp.org', s.site.ntp[1] ?? ''],
    time: {
      zone: yealinkTimeZone(rule),
      dst: rule.dst
        ? { start: yealinkDstTime(rule.dst.start), end: yealinkDstTime(rule.dst.end), offset: rule.dst.saveMinutes }
        : undefined,
    },
    provisioning: s.provisioning,
    survival: s.survival,
    emergency: s.dialplan.emergency,
    firmwareUrl: input.firmware?.url ?? '',
    accounts,
    mac: input.device?.mac ?? '',
  };
}

export function createYealinkPlugin(options: { templateOverrides?: string | undefined } = {}): VendorPlugin {
  const templates = new TemplateSet('yealink', options.templateOverrides);
  return {
    id: 'yealink',
    name: 'Yealink (and Well rebrands)',
    models: YEALINK_MODELS,
    macPrefixes: YEALINK_OUIS,
    identifyUserAgent: identifyYealinkUserAgent,
    matchFile(file: string): FileMatch | undefined {
      const common = COMMON_FILE.exec(file);
      if (common) {
        const model = byCode.get(common[1]!);
        return model ? { scope: 'common', model, secret: false } : undefined;
      }
      const device = DEVICE_FILE.exec(file);
      if (device) return { scope: 'device', mac: parseMac(device[1]!)!, secret: true };
      return undefined;
    },
    files: yealinkFiles,
    dhcp: {
      // Option 60 is configurable on the phone (`auto_provision.dhcp_option.option60_value`); "yealink" is common.
      vendorClass: [/^yealink/i, /^well\b/i],
      userClass: [],
      // Option 66 may hold a whole URL: Yealink phones then fetch over HTTP (wazo relies on this).
      provisioningOptions: (where) => [[66, Buffer.from(where.httpUrl, 'ascii')]],
    },
    render(input: RenderInput): RenderedFile {
      const context = yealinkContext(input);
      const name = input.match.scope === 'common' ? 'common.cfg.njk' : 'device.cfg.njk';
      return { body: Buffer.from(templates.render(name, context), 'utf8'), contentType: 'text/plain; charset=utf-8' };
    },
  };
}
