import { isIPv4, isIPv6 } from 'node:net';

/** An IPv4 network as a base address and a prefix length. IPv6 clients are matched only against IPv6 loopback. */
export interface Cidr {
  readonly text: string;
  readonly base: number;
  readonly prefix: number;
}

export function ipv4ToInt(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  return address.split('.').reduce((acc, octet) => (acc << 8) + Number(octet), 0) >>> 0;
}

export function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The dotted netmask of a network: `255.255.255.0` for a /24. */
export function netmask(cidr: Cidr): string {
  return intToIpv4(maskOf(cidr.prefix));
}

/** Parses `10.20.0.0/24` (or a bare address, as /32). Returns a message when it is not one. */
export function parseCidr(text: string): Cidr | string {
  const [address, prefixText, ...rest] = text.trim().split('/');
  if (rest.length > 0 || address === undefined) return `"${text}" is not a CIDR (expected e.g. 10.20.0.0/24)`;
  const base = ipv4ToInt(address);
  if (base === undefined) return `"${text}" is not a CIDR: "${address}" is not an IPv4 address (expected e.g. 10.20.0.0/24)`;
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (prefixText !== undefined && !/^\d{1,2}$/.test(prefixText)) return `"${text}" is not a CIDR: the prefix length must be 0 to 32`;
  if (prefix > 32) return `"${text}" is not a CIDR: the prefix length must be 0 to 32`;
  if ((base & ~maskOf(prefix)) >>> 0 !== 0) {
    return `"${text}" has host bits set: did you mean ${intToIpv4((base & maskOf(prefix)) >>> 0)}/${prefix}?`;
  }
  return { text: `${address}/${prefix}`, base, prefix };
}

/** Normalises `::ffff:10.0.0.1` (how Node reports IPv4 clients on a dual-stack socket) to `10.0.0.1`. */
export function normaliseAddress(address: string): string {
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  return address;
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const value = ipv4ToInt(normaliseAddress(address));
  if (value === undefined) return false;
  return ((value & maskOf(cidr.prefix)) >>> 0) === cidr.base;
}

export function anyCidrContains(cidrs: readonly Cidr[], address: string): boolean {
  const plain = normaliseAddress(address);
  if (isIPv6(plain)) return plain === '::1' && cidrs.some((c) => cidrContains(c, '127.0.0.1'));
  return cidrs.some((c) => cidrContains(c, plain));
}

/** Loopback and the RFC 1918 ranges: who may fetch secrets when the site names no one. */
export const PRIVATE_RANGES: readonly string[] = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
