/**
 * `outpost dhcp snippet`: the options this site gives its phones, as configuration for a DHCP server that must
 * keep serving the segment itself (often the telco's router): Kea, ISC dhcpd or dnsmasq. The values come from
 * the same policy the built-in server uses, so both say the same thing. Pure.
 */
import type { SiteSettings } from '../config/schema.js';
import { netmask, parseCidr } from '../net/cidr.js';
import type { ProvisioningLocation, VendorPlugin } from '../vendors/types.js';
import { availableOptions } from './policy.js';

export type SnippetFormat = 'kea' | 'isc' | 'dnsmasq';

interface VendorRule {
  name: string;
  /** Prefixes of option 60. */
  vendorClass: string[];
  /** Whole values of option 60 (a model's class; a prefix could match a longer model name). */
  vendorClassExact?: string[];
  userClass: string[];
  ouis: string[];
  options: Array<[number, Buffer]>;
}

/** Regular expressions of the plugins reduced to the literal prefix routers can match on. */
function literalPrefix(r: RegExp): string | undefined {
  const m = /^\^?([A-Za-z0-9 ]+)/.exec(r.source.replace(/\\b|\\s/g, ' '));
  return m ? m[1]!.trim() : undefined;
}

function vendorRules(vendors: readonly VendorPlugin[], where: ProvisioningLocation): VendorRule[] {
  const rules: VendorRule[] = [];
  for (const vendor of vendors) {
    const models = vendor.models.map((m) => m.id);
    const perModel = models.map((model) => ({ model, options: vendor.dhcp.provisioningOptions(where, model) }));
    const shared = vendor.dhcp.provisioningOptions(where);
    const modelSpecific = perModel.some((p) => JSON.stringify(p.options) !== JSON.stringify(shared));
    const vc = vendor.dhcp.vendorClass.map(literalPrefix).filter((s): s is string => !!s);
    // Options that differ by model (Thomson's .inf URL, a Mediatrix v5's option 43): a rule per such model,
    // matched by the exact class it sends, ahead of the vendor's shared rule.
    if (modelSpecific && vendor.dhcp.classOf) {
      for (const { model, options } of perModel) {
        if (JSON.stringify(options) === JSON.stringify(shared)) continue;
        const cls = vendor.dhcp.classOf(model);
        rules.push({ name: `${vendor.id}-${model.toLowerCase()}`, vendorClass: [], vendorClassExact: cls.vendorClass ? [cls.vendorClass] : [], userClass: cls.userClass ? [cls.userClass] : [], ouis: [], options });
      }
    }
    if (shared.length) rules.push({ name: vendor.id, vendorClass: vc, userClass: [], ouis: [...vendor.macPrefixes], options: shared });
  }
  return rules;
}

const hex = (b: Buffer) => b.toString('hex').toUpperCase();

export function dhcpSnippet(format: SnippetFormat, site: SiteSettings, vendors: readonly VendorPlugin[], where: ProvisioningLocation): string {
  const subnet = parseCidr(site.dhcp.subnet || '10.20.0.0/24');
  if (typeof subnet === 'string') throw new Error(`dhcp.subnet: ${subnet}`);
  const mask = netmask(subnet);
  const common = availableOptions({ site, serverId: where.host, subnetMask: mask, where, leaseSeconds: site.dhcp.leaseTime }, undefined);
  common.delete(1); // the router knows its own mask
  const rules = vendorRules(vendors, where);
  const range = site.dhcp.range.length === 2 ? site.dhcp.range : [];
  if (format === 'kea') return keaSnippet(site, subnet.text, range, common, rules);
  if (format === 'isc') return iscSnippet(subnet.text, mask, range, common, rules, site);
  return dnsmasqSnippet(range, mask, common, rules);
}

function keaSnippet(site: SiteSettings, subnet: string, range: readonly string[], common: Map<number, Buffer>, rules: VendorRule[]): string {
  const data = (options: Iterable<[number, Buffer]>) => [...options].map(([code, value]) => ({ code, 'csv-format': false, data: hex(value), 'always-send': true }));
  const test = (r: VendorRule) =>
    [
      ...r.vendorClass.map((v) => `substring(option[60].hex,0,${v.length}) == '${v}'`),
      ...(r.vendorClassExact ?? []).map((v) => `option[60].hex == '${v}'`),
      ...r.userClass.map((u) => `option[77].hex == '${u}'`),
      ...r.ouis.map((o) => `substring(pkt4.mac,0,3) == 0x${o.toUpperCase()}`),
    ].join(' or ');
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: [site.dhcp.interface || 'eth1'] },
      'lease-database': { type: 'memfile', persist: true },
      'valid-lifetime': site.dhcp.leaseTime,
      'option-def': [{ name: 'outpost-voice-vlan', code: 132, type: 'uint32', space: 'dhcp4' }],
      'client-classes': rules.map((r) => ({ name: `outpost-${r.name}`, test: test(r), 'option-data': data(r.options) })),
      subnet4: [{ subnet, pools: range.length ? [{ pool: `${range[0]} - ${range[1]}` }] : [], 'option-data': data(common) }],
    },
  };
  return `// Outpost: the options for site "${site.site.name}", for Kea (kea-dhcp4). Merge the classes and options\n// into your Dhcp4 configuration; check it with kea-dhcp4 -t.\n${JSON.stringify(config, null, 2)}\n`;
}

/** ISC dhcpd's own names for the standard options, with how to write their values. */
const ISC_NAMES: Record<number, [string, (v: Buffer) => string]> = {
  2: ['time-offset', (v) => String(v.readInt32BE(0))],
  3: ['routers', (v) => ips(v)],
  6: ['domain-name-servers', (v) => ips(v)],
  15: ['domain-name', (v) => JSON.stringify(v.toString('latin1'))],
  42: ['ntp-servers', (v) => ips(v)],
  43: ['vendor-encapsulated-options', (v) => colonHex(v)],
  66: ['tftp-server-name', (v) => JSON.stringify(v.toString('latin1'))],
  67: ['bootfile-name', (v) => JSON.stringify(v.toString('latin1'))],
};

const colonHex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ips = (b: Buffer) => Array.from({ length: b.length / 4 }, (_, i) => [...b.subarray(i * 4, i * 4 + 4)].join('.')).join(', ');

function iscSnippet(subnet: string, mask: string, range: readonly string[], common: Map<number, Buffer>, rules: VendorRule[], site: SiteSettings): string {
  const lines = [`# Outpost: the options for site "${site.site.name}", for ISC dhcpd. Check with dhcpd -t -cf FILE.`];
  const codes = new Set<number>([...common.keys(), ...rules.flatMap((r) => r.options.map(([c]) => c))]);
  for (const code of [...codes].sort((a, b) => a - b)) if (!ISC_NAMES[code]) lines.push(`option outpost-${code} code ${code} = string;`);
  const opt = (code: number, value: Buffer) => {
    const known = ISC_NAMES[code];
    return known ? `option ${known[0]} ${known[1](value)};` : `option outpost-${code} ${colonHex(value)};`;
  };
  for (const r of rules) {
    const tests = [
      ...r.vendorClass.map((v) => `substring(option vendor-class-identifier, 0, ${v.length}) = "${v}"`),
      ...(r.vendorClassExact ?? []).map((v) => `option vendor-class-identifier = "${v}"`),
      ...r.userClass.map((u) => `option user-class = "${u}"`),
      ...r.ouis.map((o) => `substring(hardware, 1, 3) = ${o.match(/../g)!.join(':')}`),
    ];
    lines.push(`class "outpost-${r.name}" {`, `  match if ${tests.join(' or ')};`, ...r.options.map(([c, v]) => `  ${opt(c, v)}`), '}');
  }
  const [net] = subnet.split('/');
  lines.push(`subnet ${net} netmask ${mask} {`);
  if (range.length) lines.push(`  range ${range[0]} ${range[1]};`);
  for (const [code, value] of common) lines.push(`  ${opt(code, value)}`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** How dnsmasq wants each option written: it parses the values of the options it knows itself. */
function dnsmasqValue(code: number, value: Buffer): string {
  if (code === 3 || code === 6 || code === 42) return ips(value).replace(/ /g, '');
  if (code === 2) return String(value.readInt32BE(0));
  if (code === 120 && value[0] === 1) return ips(value.subarray(1)).replace(/ /g, '');
  if ([15, 66, 67, 100, 101].includes(code)) return JSON.stringify(value.toString('latin1'));
  return colonHex(value);
}

function dnsmasqSnippet(range: readonly string[], mask: string, common: Map<number, Buffer>, rules: VendorRule[]): string {
  const lines = ['# Outpost: the options for this site, for dnsmasq. Check with dnsmasq --test -C FILE.'];
  if (range.length) lines.push(`dhcp-range=${range[0]},${range[1]},${mask}`);
  for (const [code, value] of common) lines.push(`dhcp-option=${code},${dnsmasqValue(code, value)}`);
  for (const r of rules) {
    // dnsmasq matches vendor classes as substrings: an exact class is the best it can do.
    for (const v of [...r.vendorClass, ...(r.vendorClassExact ?? [])]) lines.push(`dhcp-vendorclass=set:outpost-${r.name},${v}`);
    for (const u of r.userClass) lines.push(`dhcp-userclass=set:outpost-${r.name},${u}`);
    for (const o of r.ouis) lines.push(`dhcp-mac=set:outpost-${r.name},${o.match(/../g)!.join(':')}:*:*:*`);
    for (const [code, value] of r.options) lines.push(`dhcp-option-force=tag:outpost-${r.name},${code},${dnsmasqValue(code, value)}`);
  }
  return `${lines.join('\n')}\n`;
}
