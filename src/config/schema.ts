/**
 * The site file: its shape, its defaults and the validation that turns every mistake into `path: what is wrong`.
 * Pure: no I/O. The CLI and `serve` read the file; the store applies it.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { parseCidr } from '../net/cidr.js';
import { MAC_HINT, parseMac } from '../net/mac.js';

const CONTROL = /[\u0000-\u001f\u007f]/;

const text = (what: string, max = 64) =>
  z
    .string({ invalid_type_error: `must be a string (${what})` })
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters (newlines, tabs)');

const int = (min: number, max: number, what: string) =>
  z
    .number({ invalid_type_error: `must be a number (${what})` })
    .int(`must be a whole number (${what})`)
    .min(min, `must be at least ${min} (${what})`)
    .max(max, `must be at most ${max} (${what})`);

const host = z
  .string({ invalid_type_error: 'must be a string (a host name or IP address)' })
  .refine((s) => isIP(s) !== 0 || /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(s), {
    message: 'must be a host name or an IPv4/IPv6 address',
  });

const hostPort = z
  .string({ invalid_type_error: 'must be a string such as sip.centrex.example.net:5060' })
  .refine((s) => parseHostPort(s) !== undefined, 'must be host or host:port, e.g. sip.centrex.example.net:5060');

const ipv4 = z.string().refine((s) => isIP(s) === 4, 'must be an IPv4 address such as 10.20.0.1');

const cidr = z.string({ invalid_type_error: 'must be a CIDR string such as 10.20.0.0/24' }).superRefine((s, ctx) => {
  const parsed = parseCidr(s);
  if (typeof parsed === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
});

const timezone = z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Prague');

export const extension = z.string().regex(/^\d{2,8}$/, 'must be 2 to 8 digits, e.g. 111');
export const nationalNumber = z.string().regex(/^\d{3,15}$/, 'must be 3 to 15 digits without the outside prefix, e.g. 234567111');
export const forwardNumber = z.string().regex(/^\+?\d{3,20}$/, 'must be a number to dial, digits only, e.g. 0602123456');
export const sipUser = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9._~!$&'()*+,;=-]+$/, 'must be a SIP user part: letters, digits and . _ ~ ! $ & \' ( ) * + , ; = -');
export const sipPassword = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine((s) => !CONTROL.test(s), 'must not contain control characters (newlines, tabs)');

export const lineSchema = z
  .object({
    ext: extension,
    number: nationalNumber.optional(),
    name: text('the display name').default(''),
    user: sipUser,
    password: sipPassword,
    forward: forwardNumber.optional(),
    /** In survival mode a busy line (486) is forwarded too, not only an unreachable one. */
    forwardOnBusy: z.boolean({ invalid_type_error: 'must be true or false' }).optional(),
  })
  .strict();

export const macSchema = z.string().refine((s) => parseMac(s) !== undefined, (s) => ({ message: `"${s}" is not a MAC address: ${MAC_HINT}` }));

export const deviceSchema = z
  .object({
    mac: macSchema,
    model: z.string().min(1, 'must name a model, e.g. SIP-T22P (outpost device models lists them)'),
    lines: z.array(extension).default([]),
    location: text('where the device is, e.g. "reception"').optional(),
    address: z.string().refine((s) => s === '' || isIP(s) === 4, 'must be an IPv4 address that DHCP reserves for the device, or "" for none').optional(),
  })
  .strict();

/** Every section with its defaults. `.strict()` everywhere: an unknown key is a typo until proven otherwise. */
export const siteFileSchema = z
  .object({
    site: z
      .object({
        name: text('the branch name'),
        domain: z.union([z.literal(''), host]),
        timezone,
        ntp: z.array(host).max(2, 'at most 2 NTP servers (phones take two)'),
      })
      .partial()
      .strict()
      .default({}),
    // Optional, not defaulted: a file that does not name it must not own it (site set advertise would be refused).
    advertise: z.union([z.literal(''), host]).optional(),
    network: z
      .object({
        voiceVlan: int(0, 4094, 'VLAN id 1-4094, 0 for none'),
        voicePriority: int(0, 7, '802.1p class'),
        dataVlan: int(0, 4094, 'VLAN id 1-4094, 0 for none'),
        dataPriority: int(0, 7, '802.1p class'),
      })
      .partial()
      .strict()
      .default({}),
    qos: z
      .object({ sipDscp: int(0, 63, 'DSCP 0-63, e.g. 26 for AF31'), rtpDscp: int(0, 63, 'DSCP 0-63, e.g. 46 for EF') })
      .partial()
      .strict()
      .default({}),
    upstream: z
      .object({
        proxy: z.union([z.literal(''), hostPort]),
        transport: z.enum(['udp', 'tcp', 'tls'], { errorMap: () => ({ message: 'must be udp, tcp or tls' }) }),
        interval: int(1, 3600, 'seconds between OPTIONS probes'),
        failures: int(1, 100, 'failed probes before survival mode'),
        holdDown: int(0, 86400, 'seconds of good answers before leaving survival mode'),
      })
      .partial()
      .strict()
      .default({}),
    gateway: z
      .object({
        host: z.union([z.literal(''), host]),
        port: int(1, 65535, 'UDP/TCP port'),
        inbound: z.array(extension).max(20, 'at most 20 lines ring for a call from the PSTN'),
        keepPrefix: z.boolean({ invalid_type_error: 'must be true or false' }),
      })
      .partial()
      .strict()
      .default({}),
    survival: z
      .object({
        registerExpires: int(30, 3600, 'seconds: registrations during an outage, so phones return to the Centrex soon after'),
        forwardAfter: int(5, 300, 'seconds of ringing before an unanswered call goes to the line\'s forward number'),
      })
      .partial()
      .strict()
      .default({}),
    dialplan: z
      .object({
        outsidePrefix: z.string().regex(/^\d{0,2}$/, 'must be empty or one or two digits, e.g. 0'),
        emergency: z.array(z.string().regex(/^\d{2,6}$/, 'must be 2 to 6 digits, e.g. 112')),
      })
      .partial()
      .strict()
      .default({}),
    fax: z
      .object({ t38: z.boolean(), redundancy: int(0, 5, 'T.38 redundancy level'), ecm: z.boolean() })
      .partial()
      .strict()
      .default({}),
    provisioning: z
      .object({
        allow: z.array(cidr),
        recheckMinutes: int(0, 10080, 'minutes between re-checks of the configuration, 0 for none'),
      })
      .partial()
      .strict()
      .default({}),
    firmware: z
      .object({ maxConcurrent: int(1, 1000, 'firmware transfers at once over HTTP and TFTP together') })
      .partial()
      .strict()
      .default({}),
    sip: z
      .object({
        maxContacts: int(1, 100, 'registered contacts a line may have at once'),
        minExpires: int(10, 3600, 'seconds; shorter registrations are answered 423'),
        maxExpires: int(60, 86400, 'seconds; longer registrations are cut to this'),
        defaultExpires: int(60, 86400, 'seconds, when a REGISTER names none'),
        maxConnections: int(1, 100000, 'TCP connections at once'),
        algorithms: z
          .array(z.enum(['MD5', 'SHA-256'], { errorMap: () => ({ message: 'must be MD5 or SHA-256' }) }))
          .min(1, 'name at least one digest algorithm'),
      })
      .partial()
      .strict()
      .default({}),
    dhcp: z
      .object({
        enabled: z.boolean(),
        interface: text('a network interface name such as eth1', 15),
        subnet: cidr,
        range: z.tuple([ipv4, ipv4], { errorMap: () => ({ message: 'must be [first, last] IPv4 addresses' }) }),
        router: ipv4,
        dns: z.array(ipv4),
        leaseTime: int(60, 31536000, 'seconds'),
        phonesOnly: z.boolean(),
        untagged: z
          .object({
            interface: text('the untagged (data) segment\'s interface, e.g. eth1', 15),
            subnet: cidr,
            range: z.tuple([ipv4, ipv4], { errorMap: () => ({ message: 'must be [first, last] IPv4 addresses' }) }),
            leaseTime: int(60, 86400, 'seconds; short: phones only pass through'),
          })
          .partial()
          .strict(),
      })
      .partial()
      .strict()
      .default({}),
    admin: z.object({ password: z.string().min(8, 'must be at least 8 characters') }).partial().strict().default({}),
    lines: z.array(lineSchema).default([]),
    devices: z.array(deviceSchema).default([]),
  })
  .strict();

export type SiteFile = z.infer<typeof siteFileSchema>;
export type SiteFileInput = z.input<typeof siteFileSchema>;
export type LineInput = z.infer<typeof lineSchema>;
export type DeviceInput = z.infer<typeof deviceSchema>;

/** The settings every branch starts from. */
export const DEFAULT_SETTINGS = {
  site: { name: 'Branch', domain: '', timezone: 'Europe/Prague', ntp: [] as string[] },
  advertise: '',
  network: { voiceVlan: 0, voicePriority: 5, dataVlan: 0, dataPriority: 0 },
  qos: { sipDscp: 26, rtpDscp: 46 },
  upstream: { proxy: '', transport: 'udp' as 'udp' | 'tcp' | 'tls', interval: 10, failures: 3, holdDown: 120 },
  gateway: { host: '', port: 5060, inbound: [] as string[], keepPrefix: false },
  survival: { registerExpires: 60, forwardAfter: 20 },
  dialplan: { outsidePrefix: '0', emergency: ['112', '150', '155', '158'] },
  fax: { t38: true, redundancy: 2, ecm: true },
  provisioning: { allow: [] as string[], recheckMinutes: 1440 },
  firmware: { maxConcurrent: 20 },
  sip: {
    maxContacts: 5,
    minExpires: 60,
    maxExpires: 3600,
    defaultExpires: 3600,
    maxConnections: 1000,
    /** Digest challenges in this order: old phones (Yealink T2x, Thomson ST20xx) read only the first. */
    algorithms: ['MD5', 'SHA-256'] as Array<'MD5' | 'SHA-256'>,
  },
  dhcp: {
    enabled: false,
    interface: '',
    subnet: '',
    range: [] as string[],
    router: '',
    dns: [] as string[],
    leaseTime: 86400,
    phonesOnly: true,
    /** The untagged segment where phones arrive before they know the voice VLAN (VLAN hand-off); off when no interface. */
    untagged: { interface: '', subnet: '', range: [] as string[], leaseTime: 300 },
  },
  admin: { password: '' },
};

export type SiteSettings = typeof DEFAULT_SETTINGS;

export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(s);
  const plain = /^([^:\s]+)(?::(\d{1,5}))?$/.exec(s);
  const m = v6 ?? plain;
  if (!m || !m[1]) return undefined;
  const port = m[2] === undefined ? 5060 : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (v6 ? isIP(m[1]) !== 6 : !host.safeParse(m[1]).success) return undefined;
  return { host: m[1], port };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.includes('/') || zone === 'UTC';
  } catch {
    return false;
  }
}
