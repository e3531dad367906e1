/**
 * What the doctor says about the site itself: settings that are valid (the schema took them) but will hurt the
 * branch, such as no NTP, a voice VLAN without priority, no PSTN gateway for survival mode's emergency calls.
 * Pure: the site, its lines and devices in, checks out; table-tested.
 */
import { isIPv4 } from 'node:net';
import type { SiteSettings } from '../config/schema.js';
import { formatMac, type Mac } from '../net/mac.js';
import type { LineRecord } from '../provisioning/settings.js';
import { survivalRoute, type RoutingSite } from '../survival/routing.js';
import { count, fail, listing, pass, warn, type Check } from './report.js';

export interface DeviceView {
  mac: Mac;
  model?: string | undefined;
  /** Extensions in account order. */
  lines: readonly string[];
  /** The device's own values of site settings, dotted keys. */
  overrides: Readonly<Record<string, unknown>>;
}

/** Where the admin password comes from (the same order `serve` takes it in); the password itself never leaves. */
export type AdminPassword = { source: 'env' | 'site' | 'generated'; password: string } | { source: 'none' };

export interface SiteView {
  site: SiteSettings;
  /** Dotted keys the site file or `site set` gives a value; every other key is a built-in default. */
  explicit: ReadonlySet<string>;
  lines: readonly LineRecord[];
  devices: readonly DeviceView[];
  admin: AdminPassword;
}

const G = 'site' as const;

/** Passwords that are someone's first guess: the example site file's, the vendors' and the obvious. */
export const WELL_KNOWN_PASSWORDS: ReadonlySet<string> = new Set([
  'change-me', 'changeme', 'change_me', 'admin', 'administrator', 'password', 'passw0rd', 'outpost', 'secret',
  '12345678', '123456789', '1234567890', 'admin123', 'admin1234', 'password1', 'qwertyui', 'default', 'letmein',
]);

/** Signalling: CS3 (24) or AF31 (26); media: EF (46). What phones, switches and carriers expect. */
export const SIGNALLING_DSCP: ReadonlyMap<number, string> = new Map([[24, 'CS3'], [26, 'AF31']]);
export const MEDIA_DSCP = 46;

const DSCP_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'best effort'], [8, 'CS1'], [10, 'AF11'], [16, 'CS2'], [18, 'AF21'], [24, 'CS3'], [26, 'AF31'], [32, 'CS4'],
  [34, 'AF41'], [40, 'CS5'], [46, 'EF'], [48, 'CS6'], [56, 'CS7'],
]);

function dscpText(v: number): string {
  const name = DSCP_NAMES.get(v);
  return name ? `${v} (${name})` : String(v);
}

export function siteChecks(view: SiteView): Check[] {
  return [
    upstreamCheck(view.site),
    ntpCheck(view.site),
    timezoneCheck(view.site, view.explicit),
    adminCheck(view.admin),
    vlanCheck(view.site),
    dscpCheck(view.site),
    overridesCheck(view.site, view.devices),
    gatewayCheck(view.site, view.lines),
    forwardsCheck(view.site, view.lines),
    linesCheck(view.lines),
    assignmentsCheck(view.site, view.lines, view.devices),
  ];
}

export function upstreamCheck(site: SiteSettings): Check {
  const title = 'Centrex proxy';
  if (!site.upstream.proxy) {
    return fail(G, 'site.upstream', title, 'upstream.proxy is not set: the phones have no Centrex to register to (server 1) and Outpost has nothing to watch for survival mode',
      'set upstream.proxy to the Centrex SIP proxy the telco gave you, e.g. outpost site set upstream.proxy sip.centrex.example.net:5060');
  }
  return pass(G, 'site.upstream', title, `${site.upstream.proxy} over ${site.upstream.transport}, watched every ${site.upstream.interval} s`);
}

export function ntpCheck(site: SiteSettings): Check {
  const title = 'NTP';
  const servers = site.site.ntp;
  if (!servers.length) {
    return fail(G, 'site.ntp', title, 'no NTP server in site.ntp: phones fall back to pool.ntp.org, which branch firewalls often block; a phone with the wrong time shows it to its user, and TLS certificates and digest nonces may be refused',
      'set site.ntp to an NTP server the phones reach, usually the branch router: outpost site set site.ntp 10.20.0.1');
  }
  const names = servers.filter((s) => !isIPv4(s));
  if (site.dhcp.enabled && names.length) {
    return warn(G, 'site.ntp', title, `${listing(servers)}; DHCP option 42 carries IPv4 addresses only, so phones that take NTP from DHCP do not learn ${listing(names)}`,
      'give site.ntp as IPv4 addresses so DHCP can hand them out too');
  }
  return pass(G, 'site.ntp', title, listing(servers));
}

export function timezoneCheck(site: SiteSettings, explicit: ReadonlySet<string>): Check {
  const title = 'time zone';
  if (!explicit.has('site.timezone')) {
    return warn(G, 'site.timezone', title, `site.timezone is not set: phones get the built-in ${site.site.timezone} and its daylight-saving rule`,
      `set the branch's IANA zone, e.g. outpost site set site.timezone ${site.site.timezone}, even when the default is right, so nobody has to guess`);
  }
  return pass(G, 'site.timezone', title, site.site.timezone);
}

export function adminCheck(admin: AdminPassword): Check {
  const title = 'admin password';
  const id = 'site.admin';
  if (admin.source === 'none') {
    return warn(G, id, title, 'none set yet: serve generates one at its first start and keeps it in admin-password in the data folder',
      'set admin.password in the site file (at least 8 characters), or read the generated one from the data folder after the first start');
  }
  const where = { env: 'OUTPOST_ADMIN_PASSWORD', site: 'admin.password', generated: 'admin-password in the data folder' }[admin.source];
  if (!admin.password) {
    return fail(G, id, title, `${where} is empty: nobody can use the API or the web page`, 'set admin.password in the site file to a password of at least 8 characters');
  }
  if (WELL_KNOWN_PASSWORDS.has(admin.password.toLowerCase())) {
    return fail(G, id, title, `${where} is a well-known default (such as the example site file's): anyone on the LAN can change the phones' configuration`,
      admin.source === 'env' ? 'choose another password for OUTPOST_ADMIN_PASSWORD' : 'choose another admin.password of at least 8 characters, in the site file (or with outpost site set admin.password when the file does not set it)');
  }
  if (admin.password.length < 8) {
    return warn(G, id, title, `${where} has only ${admin.password.length} characters`, 'choose a password of at least 8 characters');
  }
  return pass(G, id, title, `from ${where}`);
}

/** The voice VLAN and 802.1p as every vendor gets them: Yealink and Thomson phones, Mediatrix gateways. */
export function vlanCheck(site: SiteSettings): Check {
  const title = 'voice VLAN and 802.1p';
  const { voiceVlan: v, voicePriority: p, dataVlan: d, dataPriority: dp } = site.network;
  const problems: string[] = [];
  const fixes: string[] = [];
  if (v && p === 0) {
    problems.push(`voice VLAN ${v} is tagged with 802.1p priority 0 (best effort): switches queue voice behind data`);
    fixes.push('set network.voicePriority 5, the class switches give voice');
  }
  if (v === 1) {
    problems.push('voice VLAN 1 is the default (native) VLAN of most switches, so voice is not kept apart');
    fixes.push('use the voice VLAN the switches are configured for (network.voiceVlan)');
  }
  if (d && d === v) {
    problems.push(`the PC port's VLAN (network.dataVlan ${d}) is the voice VLAN: the PCs behind the phones join the voice network`);
    fixes.push('set network.dataVlan to the office data VLAN, or 0 for untagged');
  }
  if (d && !v) {
    problems.push(`network.dataVlan ${d} without a voice VLAN: Yealink phones tag their PC port with it, Thomson phones tag it only when they have a voice VLAN, so PCs end up in different VLANs`);
    fixes.push('set network.voiceVlan too, or network.dataVlan 0');
  }
  if (problems.length) return warn(G, 'site.vlan', title, problems.join('; '), sentence(fixes));
  if (!v) return pass(G, 'site.vlan', title, 'no voice VLAN: phones and gateways send untagged');
  return pass(G, 'site.vlan', title, `VLAN ${v} with 802.1p ${p} for Yealink and Thomson phones and Mediatrix gateways alike${d ? `; PC port VLAN ${d}, 802.1p ${dp}` : ''}`);
}

export function dscpCheck(site: SiteSettings): Check {
  const title = 'DSCP (QoS)';
  const { sipDscp: s, rtpDscp: r } = site.qos;
  const problems: string[] = [];
  if (r !== MEDIA_DSCP) problems.push(`media (qos.rtpDscp) is ${dscpText(r)}, not EF (46)`);
  if (!SIGNALLING_DSCP.has(s)) problems.push(`signalling (qos.sipDscp) is ${dscpText(s)}, neither CS3 (24) nor AF31 (26)`);
  if (problems.length) {
    return warn(G, 'site.qos', title, `${problems.join('; ')}: routers and the carrier may queue voice as ordinary traffic`,
      'set qos.rtpDscp 46 and qos.sipDscp 26 (or 24), unless the WAN provider asks for other values');
  }
  return pass(G, 'site.qos', title, `signalling ${dscpText(s)}, media ${dscpText(r)}; Thomson and Mediatrix get the same as TOS bytes ${s << 2} and ${r << 2}`);
}

/** Per-device values of network and QoS settings that differ from the site's. */
export function overridesCheck(site: SiteSettings, devices: readonly DeviceView[]): Check {
  const title = 'per-device network settings';
  const found: string[] = [];
  const macs: string[] = [];
  for (const d of devices) {
    const own = Object.entries(d.overrides).filter(([key, value]) => (key.startsWith('network.') || key.startsWith('qos.')) && value !== siteValue(site, key));
    if (!own.length) continue;
    macs.push(formatMac(d.mac));
    found.push(`${formatMac(d.mac)} ${own.map(([key, value]) => `${key} ${JSON.stringify(value)} (site ${JSON.stringify(siteValue(site, key))})`).join(', ')}`);
  }
  if (found.length) {
    return warn(G, 'site.overrides', title, `${count(macs.length, 'device')} ${macs.length === 1 ? 'has its' : 'have their'} own values: ${found.join('; ')}`,
      `make sure the switch ports of ${listing(macs)} carry those values, or make them follow the site again with outpost device unset MAC KEY`);
  }
  return pass(G, 'site.overrides', title, 'every device follows the site');
}

function siteValue(site: SiteSettings, dotted: string): unknown {
  let v: unknown = site;
  for (const part of dotted.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function routingSite(site: SiteSettings, withGateway: boolean): RoutingSite {
  return {
    outsidePrefix: site.dialplan.outsidePrefix,
    emergency: site.dialplan.emergency,
    gateway: withGateway ? { host: site.gateway.host || 'gateway', port: site.gateway.port, inbound: site.gateway.inbound, keepPrefix: site.gateway.keepPrefix } : undefined,
  };
}

/** Lines whose forward number goes out through the PSTN gateway. */
function forwardsOut(site: SiteSettings, lines: readonly LineRecord[]): LineRecord[] {
  const routing = routingSite(site, true);
  return lines.filter((l) => l.forward && survivalRoute(l.forward, { kind: 'line', line: l }, lines, routing).kind === 'pstn');
}

export function gatewayCheck(site: SiteSettings, lines: readonly LineRecord[]): Check {
  const title = 'PSTN gateway for survival mode';
  const emergency = site.dialplan.emergency;
  const forwards = forwardsOut(site, lines);
  const outward = [
    ...(emergency.length ? [`emergency calls (${listing(emergency)})`] : []),
    `${site.dialplan.outsidePrefix || 'outside'} + number calls`,
    ...(forwards.length ? [`the forwards of ${count(forwards.length, 'line')} (${listing(forwards.map((l) => l.ext))})`] : []),
  ];
  if (!site.gateway.host) {
    const detail = `gateway.host is not set: while the Centrex is down only calls between the branch's lines work; ${listing(outward)} cannot go out`;
    const fix = 'connect an analog line through a Mediatrix gateway with an FXO port (such as a C711) and set gateway.host to its address';
    return emergency.length && lines.length ? fail(G, 'site.gateway', title, detail, fix) : warn(G, 'site.gateway', title, detail, fix);
  }
  const through = [
    ...(emergency.length ? [`emergency calls (${listing(emergency)})`] : []),
    `${site.dialplan.outsidePrefix || 'outside'} + number calls`,
    ...(forwards.length ? [count(forwards.length, 'forward')] : []),
  ];
  return pass(G, 'site.gateway', title, `${site.gateway.host}:${site.gateway.port} takes ${listing(through)} while the Centrex is down`);
}

/** Forward numbers survival mode cannot dial. */
export function forwardsCheck(site: SiteSettings, lines: readonly LineRecord[]): Check {
  const title = 'forward numbers';
  const routing = routingSite(site, true);
  const withForward = lines.filter((l) => l.forward);
  const bad: string[] = [];
  for (const line of withForward) {
    const route = survivalRoute(line.forward!, { kind: 'line', line }, lines, routing);
    if (route.kind === 'reject') bad.push(`line ${line.ext} forwards to ${line.forward}, which survival mode cannot dial (${route.reason})`);
    else if (route.kind === 'line' && route.line.ext === line.ext) bad.push(`line ${line.ext} forwards to itself`);
  }
  if (bad.length) {
    return warn(G, 'site.forwards', title, bad.join('; '),
      `write forward numbers as the phones dial them: an extension, or ${site.dialplan.outsidePrefix ? `the outside prefix ${site.dialplan.outsidePrefix} and the number` : 'the number'} (outpost line add --ext EXT ... --forward NUMBER)`);
  }
  if (!withForward.length) return pass(G, 'site.forwards', title, 'no line has a forward number');
  return pass(G, 'site.forwards', title, `${count(withForward.length, 'line')} with a forward number, each one dialable`);
}

export function linesCheck(lines: readonly LineRecord[]): Check {
  const title = 'lines and their SIP passwords';
  if (!lines.length) {
    return warn(G, 'site.lines', title, 'no lines yet: no phone has an account to register', 'add the users\' Centrex accounts with outpost line add (or under "lines" in the site file)');
  }
  const missing = lines.filter((l) => !l.password);
  if (missing.length) {
    return fail(G, 'site.lines', title, `${count(missing.length, 'line')} without a SIP password (${listing(missing.map((l) => l.ext))}): neither the Centrex nor Outpost will let them register`,
      'give each line the password of its Centrex account: outpost line add --ext EXT ... --password PASSWORD');
  }
  const weak = lines.filter((l) => [l.user, l.ext, l.number].includes(l.password) || l.password.length < 6);
  if (weak.length) {
    return warn(G, 'site.lines', title, `${count(weak.length, 'line')} with a guessable SIP password (its extension, number or user, or under 6 characters): ${listing(weak.map((l) => l.ext))}`,
      'ask the telco to set stronger passwords on these Centrex accounts and put the new ones in with outpost line add');
  }
  return pass(G, 'site.lines', title, `${count(lines.length, 'line')}, each with a password`);
}

export function assignmentsCheck(site: SiteSettings, lines: readonly LineRecord[], devices: readonly DeviceView[]): Check {
  const title = 'devices\' lines';
  const known = new Set(lines.map((l) => l.ext));
  const problems: string[] = [];
  for (const d of devices) {
    const missing = d.lines.filter((ext) => !known.has(ext));
    if (missing.length) problems.push(`${formatMac(d.mac)} has ${missing.length === 1 ? 'line' : 'lines'} ${listing(missing)}, which ${missing.length === 1 ? 'does' : 'do'} not exist`);
  }
  const inbound = site.gateway.inbound.filter((ext) => !known.has(ext));
  if (inbound.length) problems.push(`gateway.inbound names ${listing(inbound)}, which ${inbound.length === 1 ? 'does' : 'do'} not exist`);
  if (problems.length) {
    return fail(G, 'site.assignments', title, `${problems.join('; ')}: those accounts are left empty`,
      'add the missing lines (outpost line add) or give the devices existing ones (outpost device add --mac MAC --model MODEL --line EXT)');
  }
  const withLines = devices.filter((d) => d.lines.length).length;
  return pass(G, 'site.assignments', title, `${count(devices.length, 'device')}, ${withLines} with lines; every line they name exists`);
}

/** Clauses joined into one sentence. */
function sentence(parts: readonly string[]): string {
  return parts.join('; ');
}

/** The site file: valid, missing (the database holds every setting), or not valid (serve would not start). */
export function siteFileCheck(path: string | undefined, problems?: readonly string[]): Check {
  const title = 'site file';
  if (problems) {
    return fail(G, 'site.file', title, `${path ?? 'the site file'} is not valid, so serve will not start: ${problems.join('; ')}`,
      'correct the file where each problem says (path: what is wrong) and run outpost doctor again');
  }
  if (!path) return pass(G, 'site.file', title, 'none: every setting comes from the database (outpost site show lists them)');
  return pass(G, 'site.file', title, `${path} is valid`);
}
