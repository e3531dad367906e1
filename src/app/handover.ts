/**
 * The handover sheet's content: the site's network and telephony settings and one row per device with its
 * lines, for `outpost handover`, GET /api/v1/handover and the page's printable sheet. Never a password.
 */
import { formatMac } from '../net/mac.js';
import type { Outpost } from './outpost.js';

export interface HandoverSheet {
  site: { name: string; domain: string; timezone: string; ntp: string[]; advertise: string };
  network: { voiceVlan: number; voicePriority: number; dataVlan: number; dataPriority: number; sipDscp: number; rtpDscp: number; dhcp: string };
  telephony: { upstream: string; transport: string; gateway: string; outsidePrefix: string; emergency: string[] };
  devices: Array<{ mac: string; model: string; location: string; state: string; lines: Array<{ ext: string; number: string; name: string }> }>;
  /** Lines no device carries. */
  unassigned: Array<{ ext: string; number: string; name: string }>;
  preparedAt: string;
}

export async function handoverSheet(outpost: Outpost, now = new Date()): Promise<HandoverSheet> {
  const [site, devices, lines] = await Promise.all([outpost.site(), outpost.store.devices.list(), outpost.store.lines.list()]);
  const byExt = new Map(lines.map((l) => [l.ext, l]));
  const carried = new Set(devices.flatMap((d) => d.lines));
  const lineView = (ext: string) => {
    const l = byExt.get(ext);
    return { ext, number: l?.number ?? '', name: l?.name ?? '' };
  };
  return {
    site: { name: site.site.name, domain: site.site.domain, timezone: site.site.timezone, ntp: [...site.site.ntp], advertise: site.advertise },
    network: {
      voiceVlan: site.network.voiceVlan, voicePriority: site.network.voicePriority, dataVlan: site.network.dataVlan, dataPriority: site.network.dataPriority,
      sipDscp: site.qos.sipDscp, rtpDscp: site.qos.rtpDscp,
      dhcp: site.dhcp.enabled ? `Outpost on ${site.dhcp.interface || 'its LAN'} (${site.dhcp.subnet})` : 'the office router (Outpost’s options added to it)',
    },
    telephony: {
      upstream: site.upstream.proxy, transport: site.upstream.transport,
      gateway: site.gateway.host ? `${site.gateway.host}:${site.gateway.port}` : '', outsidePrefix: site.dialplan.outsidePrefix, emergency: [...site.dialplan.emergency],
    },
    devices: devices
      .map((d) => ({ mac: formatMac(d.mac), model: [d.vendor, d.model].filter(Boolean).join(' ') || 'unknown', location: d.location ?? '', state: d.state, lines: d.lines.map(lineView) }))
      .sort((a, b) => (a.lines[0]?.ext ?? '\uffff').localeCompare(b.lines[0]?.ext ?? '\uffff', 'en', { numeric: true }) || a.mac.localeCompare(b.mac)),
    unassigned: lines.filter((l) => !carried.has(l.ext)).map((l) => lineView(l.ext)),
    preparedAt: now.toISOString(),
  };
}

/** The sheet as plain text (the CLI's form; the page prints its own). */
export function handoverText(sheet: HandoverSheet, table: (rows: string[][], header: string[]) => string): string {
  const n = sheet.network;
  const t = sheet.telephony;
  const kv = (rows: Array<[string, string]>) => rows.map(([k, v]) => `  ${k.padEnd(24)} ${v || '—'}`).join('\n');
  return [
    `Handover sheet: ${sheet.site.name || 'Outpost'}    (prepared ${sheet.preparedAt.slice(0, 10)})`,
    '',
    'Site',
    kv([['Centrex domain', sheet.site.domain], ['Outpost address', sheet.site.advertise], ['Time zone', sheet.site.timezone], ['NTP', sheet.site.ntp.join(', ')]]),
    '',
    'Network',
    kv([
      ['Voice VLAN', n.voiceVlan ? `${n.voiceVlan} (802.1p priority ${n.voicePriority})` : 'none (untagged)'],
      ['Data VLAN (PC port)', n.dataVlan ? `${n.dataVlan} (802.1p priority ${n.dataPriority})` : 'none (untagged)'],
      ['QoS (DSCP)', `SIP ${n.sipDscp}, voice (RTP) ${n.rtpDscp}`],
      ['DHCP', n.dhcp],
    ]),
    '',
    'Telephony',
    kv([['Centrex (upstream)', t.upstream ? `${t.upstream} (${t.transport.toUpperCase()})` : ''], ['PSTN gateway (survival)', t.gateway], ['Outside line prefix', t.outsidePrefix], ['Emergency numbers', t.emergency.join(', ')]]),
    '',
    `Phones and gateways (${sheet.devices.length})`,
    sheet.devices.length
      ? table(sheet.devices.map((d) => [d.mac, d.model, d.location, d.lines.map((l) => l.ext).join(', '), d.lines.map((l) => l.number).filter(Boolean).join(', '), d.lines.map((l) => l.name).filter(Boolean).join(', '), d.state]), ['MAC', 'MODEL', 'LOCATION', 'EXTENSION', 'NUMBER', 'NAME', 'STATE'])
      : '  none yet',
    ...(sheet.unassigned.length ? ['', 'Lines not on a phone', ...sheet.unassigned.map((l) => `  ${l.ext} ${l.name}${l.number ? ` (${l.number})` : ''}`)] : []),
    '',
  ].join('\n');
}
