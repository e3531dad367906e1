/**
 * One sentence per settable site key, for a technician: what the setting does, in the words of the branch.
 * Shown by the web page next to each field (GET /api/v1/site/fields). Every key `outpost site set` accepts has
 * one (test/http/web-api.test.ts checks it).
 */
export const SITE_KEY_EXPLANATIONS: Readonly<Record<string, string>> = {
  'site.name': 'The branch name, shown on the page and written into the phones\' files.',
  'site.domain': 'The SIP domain of the Centrex: the part after the @ in the users\' SIP addresses.',
  'site.timezone': 'The branch\'s time zone (for example Europe/Prague); the phones\' clocks and summer time follow it.',
  'site.ntp': 'Up to two time servers the phones set their clocks from; empty means pool.ntp.org.',
  advertise: 'The address of this box that phones are told to use; empty means its first network address.',
  'network.voiceVlan': 'The VLAN the phones put their voice traffic in (1-4094); 0 means no VLAN.',
  'network.voicePriority': 'The 802.1p priority (0-7) of the phones\' tagged traffic; 5 is usual for voice.',
  'network.dataVlan': 'The VLAN for the computer plugged into the phone\'s PC port; 0 leaves it untagged.',
  'network.dataPriority': 'The 802.1p priority (0-7) of the computer\'s tagged traffic behind the phone.',
  'qos.sipDscp': 'The DSCP mark (0-63) on call signalling, so the network can favour it; 26 (AF31) is usual.',
  'qos.rtpDscp': 'The DSCP mark (0-63) on the voice itself; 46 (EF) is usual.',
  'upstream.proxy': 'The Centrex SIP server (host or host:port) every phone registers to first.',
  'upstream.transport': 'How SIP reaches the Centrex: udp, tcp or tls.',
  'upstream.interval': 'Seconds between the checks that the Centrex still answers.',
  'upstream.failures': 'How many checks in a row must fail before the branch goes into survival mode.',
  'upstream.holdDown': 'Seconds the Centrex must answer again before the branch leaves survival mode.',
  'gateway.host': 'The local PSTN gateway that carries outside calls while the Centrex is unreachable; empty for none.',
  'gateway.port': 'The SIP port of the local PSTN gateway, usually 5060.',
  'gateway.inbound': 'The extensions that ring when a call comes in from the PSTN gateway during an outage.',
  'gateway.keepPrefix': 'Whether numbers sent to the PSTN gateway keep the outside-line prefix.',
  'survival.registerExpires': 'Seconds a phone\'s registration lasts during an outage, so phones return to the Centrex soon after it is back.',
  'survival.forwardAfter': 'Seconds a call rings during an outage before it goes to the line\'s forward number.',
  'dialplan.outsidePrefix': 'The digit(s) dialled before an outside number, usually 0; empty for none.',
  'dialplan.emergency': 'Emergency numbers: dialled at once, always allowed, never used as an extension.',
  'fax.t38': 'Whether fax machines on gateways send faxes with T.38 (recommended) instead of as sound.',
  'fax.redundancy': 'How many times each T.38 fax packet is repeated against packet loss (0-5).',
  'fax.ecm': 'Fax error correction mode; kept for the record: neither Mediatrix firmware has a setting for it, so it changes nothing yet.',
  'provisioning.allow': 'The networks (CIDR, e.g. 10.20.0.0/24) allowed to fetch files with SIP passwords; empty means the DHCP subnet or the private ranges.',
  'provisioning.recheckMinutes': 'How often phones look for a new configuration, in minutes (1440 = once a day; 0 = only at boot).',
  'firmware.maxConcurrent': 'How many firmware downloads may run at once, so an upgrade does not flood the network.',
  'sip.maxContacts': 'How many phones may be registered at once for the same line.',
  'sip.minExpires': 'The shortest registration this box accepts, in seconds.',
  'sip.maxExpires': 'The longest registration this box grants, in seconds; longer requests are shortened.',
  'sip.defaultExpires': 'The registration time, in seconds, when a phone does not ask for one.',
  'sip.maxConnections': 'How many SIP connections over TCP this box keeps open at once.',
  'sip.algorithms': 'The password check methods offered to phones, in order (MD5, SHA-256); old phones read only the first.',
  'dhcp.enabled': 'Whether this box hands out network addresses to the phones itself.',
  'dhcp.interface': 'The network port (for example eth1) on which this box serves DHCP.',
  'dhcp.subnet': 'The phones\' network, as a CIDR such as 10.20.0.0/24.',
  'dhcp.range': 'The first and last address given to phones, for example 10.20.0.100,10.20.0.199.',
  'dhcp.router': 'The default gateway (router) address given to the phones.',
  'dhcp.dns': 'The DNS server addresses given to the phones.',
  'dhcp.leaseTime': 'How long, in seconds, a phone keeps its address before renewing it.',
  'dhcp.phonesOnly': 'Whether DHCP answers only phones and gateways and stays silent for computers.',
  'dhcp.untagged.interface': 'The network port of the untagged segment where new phones first ask for an address before they know the voice VLAN; empty for none.',
  'dhcp.untagged.subnet': 'The untagged segment\'s network, as a CIDR.',
  'dhcp.untagged.range': 'The first and last address given on the untagged segment.',
  'dhcp.untagged.leaseTime': 'Seconds an address lasts on the untagged segment; short, since phones only pass through it.',
  'admin.password': 'The password of this page and of the API (user admin); changing it logs everyone out.',
};

/** The sentence for `key`, or a neutral one for a key without its own (never undefined). */
export function explainSiteKey(key: string): string {
  return SITE_KEY_EXPLANATIONS[key] ?? `The site setting ${key}.`;
}
