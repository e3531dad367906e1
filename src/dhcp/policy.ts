/**
 * What the DHCP server says, and to whom: recognising phones and gateways (vendor class 60, user class 77,
 * MAC vendor prefix) and the options each is given. Pure: no sockets, no store.
 */
import type { SiteSettings } from '../config/schema.js';
import { isIPv4 } from 'node:net';
import { zoneRule } from '../provisioning/timezone.js';
import type { ProvisioningLocation, VendorPlugin } from '../vendors/types.js';
import { Option, i32, ipList, sipServers, u32 } from './codec.js';

export interface ClientFacts {
  /** 12 lowercase hex digits, from chaddr. */
  mac?: string | undefined;
  vendorClass?: string | undefined;
  userClasses: string[];
}

export interface Recognition {
  vendor: VendorPlugin;
  model?: string | undefined;
  by: 'vendor class' | 'user class' | 'MAC prefix' | 'inventory';
}

/**
 * Option 77 as RFC 3004 has it (length-prefixed classes), or as many phones send it: one plain string. The
 * RFC reading is taken only when it covers the value exactly and yields printable text.
 */
export function userClasses(value: Buffer | undefined): string[] {
  if (!value || value.length === 0) return [];
  const classes: string[] = [];
  let i = 0;
  while (i < value.length) {
    const len = value[i]!;
    if (len === 0 || i + 1 + len > value.length) break;
    classes.push(value.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  const printable = (s: string) => /^[\x20-\x7e]+$/.test(s);
  if (i === value.length && classes.length && classes.every(printable)) return classes;
  return [value.toString('latin1').replace(/\0+$/, '')];
}

export function recognise(facts: ClientFacts, vendors: readonly VendorPlugin[]): Recognition | undefined {
  for (const vendor of vendors) {
    const vc = facts.vendorClass;
    if (vc && vendor.dhcp.vendorClass.some((r) => r.test(vc))) return { vendor, model: vendor.dhcp.modelFromClass?.(vc), by: 'vendor class' };
    const uc = facts.userClasses.find((c) => vendor.dhcp.userClass.some((r) => r.test(c)));
    if (uc) return { vendor, model: vendor.dhcp.modelFromClass?.(uc), by: 'user class' };
  }
  const prefix = facts.mac?.slice(0, 6);
  if (prefix) for (const vendor of vendors) if (vendor.macPrefixes.includes(prefix)) return { vendor, by: 'MAC prefix' };
  return undefined;
}

/**
 * Option 132, the voice VLAN: a 32-bit VLAN id, as the ISC and Windows examples for phones write it
 * ("unsigned integer 32" / "Long"). Some phones expect the text `VLAN-A=20;` instead [?]: this is the one place
 * to change when a capture says so.
 */
export function voiceVlanOption(vlan: number): Buffer {
  return u32(vlan);
}

export interface ReplyContext {
  site: SiteSettings;
  /** The server's own address on the segment (option 54). */
  serverId: string;
  subnetMask: string;
  where: ProvisioningLocation;
  leaseSeconds: number;
}

/** Everything this site can tell a client, keyed by option code. */
export function availableOptions(ctx: ReplyContext, recognised: Recognition | undefined): Map<number, Buffer> {
  const { site } = ctx;
  const options = new Map<number, Buffer>();
  options.set(Option.SUBNET_MASK, ipList([ctx.subnetMask]));
  if (site.dhcp.router) options.set(Option.ROUTER, ipList([site.dhcp.router]));
  if (site.dhcp.dns.length) options.set(Option.DNS, ipList(site.dhcp.dns));
  if (site.site.domain) options.set(Option.DOMAIN_NAME, Buffer.from(site.site.domain, 'ascii'));
  const ntp = site.site.ntp.filter((n) => isIPv4(n));
  if (ntp.length) options.set(Option.NTP, ipList(ntp));
  const rule = zoneRule(site.site.timezone);
  options.set(Option.TIME_OFFSET, i32(rule.standardOffsetMinutes * 60));
  options.set(Option.POSIX_TZ, Buffer.from(rule.posix, 'ascii'));
  options.set(Option.TZ_DATABASE, Buffer.from(site.site.timezone, 'ascii'));
  options.set(Option.SIP_SERVERS, sipServers([ctx.where.host]));
  if (site.network.voiceVlan) options.set(Option.VOICE_VLAN, voiceVlanOption(site.network.voiceVlan));
  if (recognised) for (const [code, value] of recognised.vendor.dhcp.provisioningOptions(ctx.where, recognised.model)) options.set(code, value);
  return options;
}

/** Options sent whether asked for or not: the lease terms and the server identifier. */
const ALWAYS = [Option.LEASE_TIME, Option.RENEWAL_TIME, Option.REBINDING_TIME];
/** What a client that sends no parameter request list gets. */
const DEFAULT_LIST = [1, 3, 6, 15, 42, 2, 100, 101, 120, 132, 43, 66, 67];

/**
 * The reply's options in the order the client asked for them (55), then the lease terms. Only what the client
 * asked for is sent (RFC 2132 §9.8), except the provisioning options of a recognised device and the voice
 * VLAN, which phones use whether or not their list names them.
 */
export function replyOptions(ctx: ReplyContext, recognised: Recognition | undefined, requested: Buffer | undefined, messageType: number): Map<number, Buffer> {
  const available = availableOptions(ctx, recognised);
  const out = new Map<number, Buffer>();
  out.set(Option.MESSAGE_TYPE, Buffer.from([messageType]));
  out.set(Option.SERVER_ID, ipList([ctx.serverId]));
  const list = requested && requested.length ? [...requested] : DEFAULT_LIST;
  for (const code of list) {
    const value = available.get(code);
    if (value && !out.has(code)) out.set(code, value);
  }
  if (recognised) {
    for (const [code] of recognised.vendor.dhcp.provisioningOptions(ctx.where, recognised.model)) if (!out.has(code)) out.set(code, available.get(code)!);
    if (available.has(Option.VOICE_VLAN) && !out.has(Option.VOICE_VLAN)) out.set(Option.VOICE_VLAN, available.get(Option.VOICE_VLAN)!);
  }
  if (messageType !== 8 /* an ACK to INFORM carries no lease */) {
    out.set(Option.LEASE_TIME, u32(ctx.leaseSeconds));
    out.set(Option.RENEWAL_TIME, u32(Math.floor(ctx.leaseSeconds / 2)));
    out.set(Option.REBINDING_TIME, u32(Math.floor((ctx.leaseSeconds * 7) / 8)));
  }
  void ALWAYS;
  return out;
}
