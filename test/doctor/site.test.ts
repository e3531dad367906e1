/**
 * The doctor's pure checks, table by table: each site check passing and failing (or warning), the box verdicts
 * (ports, database, disk, clock), the network verdicts (DHCP, DNS, OPTIONS), the SNTP codec, and the report's
 * order, summary, exit status and text.
 */
import { strict as assert } from 'node:assert';
import { DEFAULT_SETTINGS, type SiteSettings } from '../../src/config/schema.js';
import type { Mac } from '../../src/net/mac.js';
import type { LineRecord } from '../../src/provisioning/settings.js';
import {
  adminCheck,
  assignmentsCheck,
  dscpCheck,
  forwardsCheck,
  gatewayCheck,
  linesCheck,
  ntpCheck,
  overridesCheck,
  siteChecks,
  siteFileCheck,
  timezoneCheck,
  upstreamCheck,
  vlanCheck,
  type AdminPassword,
  type DeviceView,
} from '../../src/doctor/site.js';
import { clockCheck, databaseCheck, diskCheck, portCheck, runningServeCheck, serveCheck, type DatabaseProbe, type NtpSample } from '../../src/doctor/box.js';
import { centrexCheck, dhcpCheck, discoverMessage, dnsCheck, offerFrom, optionsRequest, probeMac, type DhcpProbe } from '../../src/doctor/network.js';
import { buildReport, exitStatus, fail, pass, renderText, warn, type Check, type CheckStatus } from '../../src/doctor/report.js';
import { clockOffset, fromNtp, parseSntpReply, sntpRequest, toNtp } from '../../src/doctor/sntp.js';
import { BOOTREPLY, MessageType, Option, encode, decode, ipList } from '../../src/dhcp/codec.js';
import { parseMessage, serializeMessage } from '../../src/sip/message.js';

type Partial2<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Partial<T[K]> : T[K] };

/** A good site: every check passes on it. */
function site(changes: Partial2<SiteSettings> = {}): SiteSettings {
  const base: SiteSettings = structuredClone(DEFAULT_SETTINGS);
  base.site = { ...base.site, name: 'Brno', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] };
  base.network = { ...base.network, voiceVlan: 20, voicePriority: 5 };
  base.upstream = { ...base.upstream, proxy: 'sip.centrex.example.net:5060' };
  base.gateway = { ...base.gateway, host: '10.20.0.5' };
  const out = base as unknown as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(changes)) out[section] = { ...out[section], ...(values as Record<string, unknown>) };
  return base;
}

const line = (ext: string, more: Partial<LineRecord> = {}): LineRecord => ({ ext, number: `234567${ext}`, name: `User ${ext}`, user: `420234567${ext}`, password: `Secret-${ext}-pw`, ...more });
const device = (mac: string, lines: string[] = [], overrides: Record<string, unknown> = {}): DeviceView => ({ mac: mac as Mac, model: 'T22P', lines, overrides });
const EXPLICIT = new Set(['site.timezone', 'site.ntp', 'upstream.proxy']);
const ADMIN: AdminPassword = { source: 'site', password: 'correct-horse-battery' };

function expect(check: Check, status: CheckStatus, pattern?: RegExp, fix?: RegExp): void {
  assert.equal(check.status, status, `${check.id}: ${check.detail}`);
  if (pattern) assert.match(check.detail, pattern, check.id);
  if (status === 'pass') assert.equal(check.fix, '', `${check.id}: a pass has nothing to fix`);
  else assert.ok(check.fix.length > 20, `${check.id}: a ${status} says what to do: ${check.fix}`);
  if (fix) assert.match(check.fix, fix, check.id);
}

describe('doctor: site checks (pure)', function () {
  it('a good site passes every check, each with a stable id in the site group', function () {
    const checks = siteChecks({ site: site(), explicit: EXPLICIT, lines: [line('111'), line('121', { forward: '0602123456' })], devices: [device('001565aabb01', ['111'])], admin: ADMIN });
    for (const c of checks) expect(c, 'pass');
    assert.ok(checks.every((c) => c.group === 'site' && /^site\.[a-z]+$/.test(c.id)));
    assert.deepEqual(checks.map((c) => c.id), ['site.upstream', 'site.ntp', 'site.timezone', 'site.admin', 'site.vlan', 'site.qos', 'site.overrides', 'site.gateway', 'site.forwards', 'site.lines', 'site.assignments']);
  });

  const cases: Array<[string, () => Check, CheckStatus, RegExp?, RegExp?]> = [
    ['upstream set', () => upstreamCheck(site()), 'pass', /sip\.centrex\.example\.net:5060 over udp/],
    ['upstream missing', () => upstreamCheck(site({ upstream: { proxy: '' } })), 'fail', /upstream\.proxy is not set/, /outpost site set upstream\.proxy/],

    ['NTP set', () => ntpCheck(site()), 'pass', /10\.20\.0\.1/],
    ['NTP missing', () => ntpCheck(site({ site: { ntp: [] } })), 'fail', /no NTP server.*wrong time.*TLS/, /site\.ntp/],
    ['NTP by name while DHCP serves option 42', () => ntpCheck(site({ site: { ntp: ['ntp.branch.example'] }, dhcp: { enabled: true } })), 'warn', /option 42 carries IPv4 addresses only/],
    ['NTP by name without DHCP', () => ntpCheck(site({ site: { ntp: ['ntp.branch.example'] } })), 'pass'],

    ['time zone set', () => timezoneCheck(site(), EXPLICIT), 'pass', /Europe\/Prague/],
    ['time zone left at the default', () => timezoneCheck(site(), new Set()), 'warn', /not set.*built-in Europe\/Prague/, /site\.timezone/],

    ['admin password from the site', () => adminCheck(ADMIN), 'pass', /admin\.password/],
    ['admin password generated', () => adminCheck({ source: 'generated', password: 'Zx81-generated-pw' }), 'pass', /admin-password/],
    ['admin password: the example file\'s', () => adminCheck({ source: 'site', password: 'change-me' }), 'fail', /well-known default/, /another admin\.password of at least 8/],
    ['admin password: admin, any case', () => adminCheck({ source: 'env', password: 'ADMIN' }), 'fail', /OUTPOST_ADMIN_PASSWORD is a well-known default/, /OUTPOST_ADMIN_PASSWORD/],
    ['admin password empty', () => adminCheck({ source: 'generated', password: '' }), 'fail', /empty/],
    ['admin password short (env)', () => adminCheck({ source: 'env', password: 'x7#kq' }), 'warn', /only 5 characters/],
    ['admin password none yet', () => adminCheck({ source: 'none' }), 'warn', /generates one/],

    ['voice VLAN with priority 5', () => vlanCheck(site()), 'pass', /VLAN 20 with 802\.1p 5 for Yealink and Thomson phones and Mediatrix gateways/],
    ['no voice VLAN', () => vlanCheck(site({ network: { voiceVlan: 0, voicePriority: 0 } })), 'pass', /untagged/],
    ['voice VLAN with priority 0', () => vlanCheck(site({ network: { voicePriority: 0 } })), 'warn', /VLAN 20 .*priority 0/, /voicePriority 5/],
    ['voice VLAN 1', () => vlanCheck(site({ network: { voiceVlan: 1 } })), 'warn', /VLAN 1 is the default/],
    ['data VLAN = voice VLAN', () => vlanCheck(site({ network: { dataVlan: 20 } })), 'warn', /PC port's VLAN .*20.* is the voice VLAN/],
    ['data VLAN without voice VLAN', () => vlanCheck(site({ network: { voiceVlan: 0, dataVlan: 30 } })), 'warn', /Thomson phones tag it only when they have a voice VLAN/],
    ['data VLAN beside the voice VLAN', () => vlanCheck(site({ network: { dataVlan: 30, dataPriority: 0 } })), 'pass', /PC port VLAN 30/],

    ['DSCP 26/46', () => dscpCheck(site()), 'pass', /signalling 26 \(AF31\), media 46 \(EF\).*TOS bytes 104 and 184/],
    ['DSCP 24/46', () => dscpCheck(site({ qos: { sipDscp: 24 } })), 'pass', /24 \(CS3\)/],
    ['media DSCP not EF', () => dscpCheck(site({ qos: { rtpDscp: 34 } })), 'warn', /media \(qos\.rtpDscp\) is 34 \(AF41\), not EF/, /qos\.rtpDscp 46/],
    ['signalling DSCP 0', () => dscpCheck(site({ qos: { sipDscp: 0 } })), 'warn', /signalling \(qos\.sipDscp\) is 0 \(best effort\), neither CS3/],
    ['signalling DSCP swapped with media', () => dscpCheck(site({ qos: { sipDscp: 46, rtpDscp: 26 } })), 'warn', /media .* 26 .*; signalling .* 46/],

    ['no per-device settings', () => overridesCheck(site(), [device('001565aabb01', [], { 'network.voiceVlan': 20 })]), 'pass', /every device follows the site/],
    ['a phone in another VLAN', () => overridesCheck(site(), [device('001565aabb01', [], { 'network.voiceVlan': 30 }), device('001565aabb02'), device('0090f8aabb03', [], { 'qos.rtpDscp': 34, 'site.ntp': ['10.0.0.1'] })]), 'warn',
      /2 devices have their own values: 00:15:65:aa:bb:01 network\.voiceVlan 30 \(site 20\); 00:90:f8:aa:bb:03 qos\.rtpDscp 34 \(site 46\)$/, /00:15:65:aa:bb:01 and 00:90:f8:aa:bb:03.*outpost device unset/],

    ['gateway set', () => gatewayCheck(site(), [line('111', { forward: '0602123456' })]), 'pass', /10\.20\.0\.5:5060 takes emergency calls \(112, 150, 155 and 158\), 0 \+ number calls and 1 forward/],
    ['no gateway, lines and emergency numbers', () => gatewayCheck(site({ gateway: { host: '' } }), [line('111')]), 'fail', /emergency calls \(112, 150, 155 and 158\) and 0 \+ number calls cannot go out/, /gateway\.host/],
    ['no gateway, a forward out', () => gatewayCheck(site({ gateway: { host: '' } }), [line('111', { forward: '0602123456' }), line('121', { forward: '111' })]), 'fail', /, 0 \+ number calls and the forwards of 1 line \(111\) cannot go out/],
    ['no gateway, forwards but no emergency numbers', () => gatewayCheck(site({ gateway: { host: '' }, dialplan: { emergency: [] } }), [line('111', { forward: '0602123456' })]), 'warn', /only calls between the branch's lines work; 0 \+ number calls and the forwards of 1 line \(111\) cannot go out/],
    ['no gateway, no lines yet', () => gatewayCheck(site({ gateway: { host: '' } }), []), 'warn', /emergency calls .* cannot go out/],

    ['forwards dialable', () => forwardsCheck(site(), [line('111', { forward: '0602123456' }), line('121', { forward: '111' })]), 'pass', /2 lines with a forward number, each one dialable/],
    ['no forwards', () => forwardsCheck(site(), [line('111')]), 'pass', /no line has a forward number/],
    ['a forward without the outside prefix', () => forwardsCheck(site(), [line('111', { forward: '602123456' })]), 'warn', /line 111 forwards to 602123456, which survival mode cannot dial/, /outside prefix 0/],
    ['a forward to itself', () => forwardsCheck(site(), [line('111', { forward: '0234567111' })]), 'warn', /line 111 forwards to itself/],

    ['lines with passwords', () => linesCheck([line('111'), line('121')]), 'pass', /2 lines, each with a password/],
    ['no lines', () => linesCheck([]), 'warn', /no lines yet/, /outpost line add/],
    ['a line without a password', () => linesCheck([line('111'), line('121', { password: '' })]), 'fail', /1 line without a SIP password \(121\)/, /--password/],
    ['a guessable password', () => linesCheck([line('111', { password: '420234567111' }), line('121', { password: '121' }), line('131')]), 'warn', /2 lines with a guessable SIP password.*111 and 121/],

    ['devices with existing lines', () => assignmentsCheck(site(), [line('111')], [device('001565aabb01', ['111']), device('001565aabb02')]), 'pass', /2 devices, 1 with lines/],
    ['a device with a missing line', () => assignmentsCheck(site(), [line('111')], [device('001565aabb01', ['111', '999'])]), 'fail', /00:15:65:aa:bb:01 has line 999, which does not exist/, /outpost line add/],
    ['gateway.inbound naming a missing line', () => assignmentsCheck(site({ gateway: { inbound: ['111', '130', '140'] } }), [line('111')], []), 'fail', /gateway\.inbound names 130 and 140, which do not exist/],

    ['site file valid', () => siteFileCheck('/etc/outpost.json'), 'pass', /is valid/],
    ['no site file', () => siteFileCheck(undefined), 'pass', /database/],
    ['site file not valid', () => siteFileCheck('/etc/outpost.json', ['network.voiceVlan: must be at most 4094']), 'fail', /serve will not start: network\.voiceVlan: must be at most 4094/],
  ];
  for (const [name, make, status, detail, fix] of cases) {
    it(`${status.toUpperCase()} ${name}`, function () {
      expect(make(), status, detail, fix);
    });
  }

  it('never puts the admin password or a line password into a check', function () {
    const secret = 'Zq-very-secret-9';
    const checks = siteChecks({ site: site(), explicit: EXPLICIT, lines: [line('111', { password: secret })], devices: [], admin: { source: 'site', password: 'admin' } });
    checks.push(adminCheck({ source: 'env', password: secret.slice(0, 5) }));
    assert.ok(!JSON.stringify(checks).includes(secret.slice(0, 5)));
  });
});

describe('doctor: box and network verdicts (pure)', function () {
  const cases: Array<[string, () => Check, CheckStatus, RegExp?, RegExp?]> = [
    ['serve answers', () => serveCheck({ kind: 'outpost', url: 'http://127.0.0.1:8080/healthz', status: 200 }), 'pass', /serve is running and answers/],
    ['serve degraded', () => serveCheck({ kind: 'outpost', url: 'http://127.0.0.1:8080/healthz', status: 503 }), 'warn', /failed/, /journalctl/],
    ['serve not running', () => serveCheck({ kind: 'none', url: 'http://127.0.0.1:8080/healthz' }), 'warn', /not running/, /systemctl start outpost/],
    ['another program on the HTTP port', () => serveCheck({ kind: 'other', url: 'http://127.0.0.1:8080/healthz', status: 404 }), 'warn', /something else answers/],
    ['serve running (API)', () => runningServeCheck({ http: { state: 'up', address: '0.0.0.0:8080' }, tftp: { state: 'off', reason: 'disabled' } }), 'pass', /http 0\.0\.0\.0:8080, tftp off \(disabled\)/],

    ['port free', () => portCheck({ id: 'box.port.sip', service: 'SIP', flag: '--sip-port', port: 5060, results: [{ proto: 'UDP', outcome: { ok: true } }, { proto: 'TCP', outcome: { ok: true } }] }, 0), 'pass', /UDP\+TCP 5060 is free/],
    ['port taken', () => portCheck({ id: 'box.port.sip', service: 'SIP', flag: '--sip-port', port: 5060, results: [{ proto: 'UDP', outcome: { ok: true } }, { proto: 'TCP', outcome: { ok: false, code: 'EADDRINUSE', message: 'in use' } }] }, 0), 'fail', /TCP 5060 is taken by another program/, /ss -lntup \| grep ':5060 '.*--sip-port/],
    ['port needs root', () => portCheck({ id: 'box.port.tftp', service: 'TFTP', flag: '--tftp-port', port: 69, results: [{ proto: 'UDP', outcome: { ok: false, code: 'EACCES', message: 'denied' } }] }, 1000), 'warn', /needs root or CAP_NET_BIND_SERVICE.*uid 1000/, /CAP_NET_BIND_SERVICE.*--tftp-port above 1023/],

    ['database fine', () => databaseCheck({ file: '/d/outpost.db', integrity: 'ok', sizeBytes: 2048 }), 'pass', /2\.0 kB.*writable, quick_check ok/],
    ['database read-only', () => databaseCheck({ file: '/d/outpost.db', integrity: 'ok', writeError: 'SQLITE_READONLY: attempt to write a readonly database' }), 'fail', /cannot be written: SQLITE_READONLY/, /writable by the user that runs Outpost/],
    ['database damaged', () => databaseCheck({ file: '/d/outpost.db', integrity: '*** in database main *** Page 5 is never used' }), 'fail', /damaged/, /backup/],
    ['database folder read-only', () => databaseCheck({ file: '/d/outpost.db', integrity: 'ok', folderWritable: 'EACCES' }), 'fail', /folder .* not writable/],
    ['database cannot open', () => databaseCheck({ file: '/d/outpost.db', openError: 'SQLITE_CANTOPEN' }), 'fail', /cannot open/],

    ['disk plenty', () => diskCheck('/d', 20 * 1024 ** 3), 'pass', /20\.0 GB free/],
    ['disk under 500 MB', () => diskCheck('/d', 400 * 1024 ** 2), 'warn', /400\.0 MB free .*under 500 MB/, /free space/],
    ['disk under 50 MB', () => diskCheck('/d', 10 * 1024 ** 2), 'fail', /10\.0 MB free/],
    ['disk unknown', () => diskCheck('/d', new Error('ENOENT')), 'warn', /cannot tell/],

    ['clock in sync', () => clockCheck(Date.UTC(2026, 10, 30), [{ server: '10.20.0.1', ok: true, offsetMs: 120, delayMs: 3 }]), 'pass', /within 0\.12 s of 10\.20\.0\.1/],
    ['clock with no NTP to ask', () => clockCheck(Date.UTC(2026, 10, 30), []), 'pass', /no NTP server/],
    ['clock in 2019', () => clockCheck(Date.UTC(2019, 0, 1), []), 'warn', /2019-01-01T00:00:00Z, which cannot be right/, /timedatectl set-ntp true/],
    ['clock 5 s behind', () => clockCheck(Date.UTC(2026, 10, 30), [{ server: '10.20.0.1', ok: true, offsetMs: 5300, delayMs: 3 }]), 'warn', /5\.3 s behind 10\.20\.0\.1/],
    ['clock 3 s ahead', () => clockCheck(Date.UTC(2026, 10, 30), [{ server: '10.20.0.1', ok: true, offsetMs: -3000, delayMs: 3 }]), 'warn', /3\.0 s ahead of 10\.20\.0\.1/],
    ['NTP unreachable', () => clockCheck(Date.UTC(2026, 10, 30), [{ server: '10.20.0.1', ok: false, error: 'no answer within 3.0 s' }, { server: '10.20.0.9', ok: true, offsetMs: 1, delayMs: 1 }] as NtpSample[]), 'warn', /10\.20\.0\.1: no answer within 3\.0 s \(the others answer\)/, /UDP 123/],

    ['DNS resolves', () => dnsCheck('sip.centrex.example.net', { ok: true, literal: false, addresses: ['192.0.2.10', '192.0.2.11'] }), 'pass', /resolves to 192\.0\.2\.10 and 192\.0\.2\.11/],
    ['DNS fails', () => dnsCheck('sip.centrex.example.net', { ok: false, error: 'no such name' }), 'fail', /does not resolve: no such name/, /resolvectl/],

    ['Centrex 200', () => centrexCheck('127.0.0.1:5070', { answered: true, status: 200, reason: 'OK', rttMs: 12, transport: 'udp', address: '127.0.0.1', port: 5070 }), 'pass', /answered 200 OK in 12 ms/],
    ['Centrex 404 is up', () => centrexCheck('127.0.0.1:5070', { answered: true, status: 404, reason: 'Not Found', rttMs: 12, transport: 'udp', address: '127.0.0.1', port: 5070 }), 'pass', /404 Not Found.*below 500 means it is up/],
    ['Centrex 503', () => centrexCheck('127.0.0.1:5070', { answered: true, status: 503, reason: 'Service Unavailable', rttMs: 12, transport: 'udp', address: '127.0.0.1', port: 5070 }), 'fail', /5xx as down/],
    ['Centrex silent', () => centrexCheck('127.0.0.1:5070', { answered: false, error: 'no answer within 1.0 s', transport: 'udp', address: '127.0.0.1', port: 5070 }), 'fail', /did not answer: no answer within 1\.0 s/, /WAN.*firewall.*fail over to Outpost/],
    ['Centrex unresolved', () => centrexCheck('sip.example.net', { unresolved: 'no such name' }), 'fail', /not asked/],
  ];
  for (const [name, make, status, detail, fix] of cases) {
    it(`${status.toUpperCase()} ${name}`, function () {
      expect(make(), status, detail, fix);
    });
  }

  const own = new Set(['10.20.0.2']);
  const offers = (...list: Array<[string, string]>): DhcpProbe => ({ ok: true, iface: 'eth1', offers: list.map(([server, address]) => ({ server, address })), waitedMs: 3000 });
  const dhcpCases: Array<[string, Parameters<typeof dhcpCheck>[0], CheckStatus, RegExp, RegExp?]> = [
    ['ours on, only ours answers', { iface: 'eth1', from: 'site', ours: true, probe: offers(['10.20.0.2', '10.20.0.101']), own, timeoutMs: 3000 }, 'pass', /no other DHCP server answered within 3 s \(Outpost's own did\)/],
    ['ours on, a rogue answers', { iface: 'eth1', from: 'site', ours: true, probe: offers(['10.20.0.2', '10.20.0.101'], ['10.20.0.3', '10.20.0.50']), own, timeoutMs: 3000 }, 'fail', /another DHCP server at 10\.20\.0\.3 offers 10\.20\.0\.50 on eth1/, /outpost dhcp snippet/],
    ['ours off, the router answers', { iface: 'eth1', from: 'flag', ours: false, probe: offers(['10.20.0.1', '10.20.0.60']), own, timeoutMs: 3000 }, 'pass', /10\.20\.0\.1 offers 10\.20\.0\.60 \(Outpost's DHCP is off\)/],
    ['ours off, two answer', { iface: 'eth1', from: 'flag', ours: false, probe: offers(['10.20.0.1', '10.20.0.60'], ['10.20.0.3', '10.20.0.50']), own, timeoutMs: 3000 }, 'warn', /2 DHCP servers answer/],
    ['ours off, none answers', { iface: 'eth1', from: 'flag', ours: false, probe: offers(), own, timeoutMs: 3000 }, 'warn', /phones on eth1 get no address/],
    ['not root', { iface: 'eth1', from: 'site', ours: true, probe: { ok: false, iface: 'eth1', code: 'EACCES', error: 'bind EACCES' }, own, timeoutMs: 3000 }, 'warn', /UDP 68 needs root/, /as root \(sudo\)/],
    ['no such interface', { iface: 'eth9', from: 'flag', ours: true, probe: { ok: false, iface: 'eth9', code: 'NOIF', error: 'No such device' }, own, timeoutMs: 3000 }, 'fail', /eth9 does not exist/, /--interface/],
    ['a leftover dhcp.interface while ours is off', { iface: 'eth9', from: 'site', ours: false, probe: { ok: false, iface: 'eth9', code: 'NOIF', error: 'No such device' }, own, timeoutMs: 3000 }, 'warn', /not probed: dhcp\.interface eth9 does not exist/, /dhcp\.interface/],
    ['addon not built', { iface: 'eth1', from: 'site', ours: true, probe: { ok: false, iface: 'eth1', code: 'ADDON', error: 'the bindtodevice addon is not built' }, own, timeoutMs: 3000 }, 'warn', /addon/, /npm install/],
    ['nothing to probe', { from: 'site', ours: false, own, timeoutMs: 3000 }, 'pass', /not probed/],
  ];
  for (const [name, input, status, detail, fix] of dhcpCases) {
    it(`${status.toUpperCase()} DHCP: ${name}`, function () {
      expect(dhcpCheck(input), status, detail, fix);
    });
  }

  it('DHCP probe messages: a broadcast DISCOVER from a locally administered MAC; only OFFERs to it count', function () {
    const mac = probeMac();
    assert.equal(mac[0]! & 0x03, 0x02, 'locally administered, unicast');
    const discover = decode(encode(discoverMessage(0x1234, mac)).packet);
    assert.ok(!(discover instanceof Error));
    assert.equal(discover.flags & 0x8000, 0x8000);
    assert.equal(discover.options.get(Option.MESSAGE_TYPE)?.[0], MessageType.DISCOVER);
    const reply = (type: number, xid: number, chaddr: Buffer) =>
      encode({ ...discover, op: BOOTREPLY, xid, chaddr, yiaddr: '10.20.0.50', options: new Map([[Option.MESSAGE_TYPE, Buffer.from([type])], [Option.SERVER_ID, ipList(['10.20.0.3'])]]) }).packet;
    assert.deepEqual(offerFrom(reply(MessageType.OFFER, 0x1234, mac), '10.20.0.3', 0x1234, mac), { server: '10.20.0.3', address: '10.20.0.50' });
    assert.equal(offerFrom(reply(MessageType.OFFER, 0x9999, mac), '10.20.0.3', 0x1234, mac), undefined, 'another transaction');
    assert.equal(offerFrom(reply(MessageType.OFFER, 0x1234, probeMac()), '10.20.0.3', 0x1234, mac), undefined, 'another client');
    assert.equal(offerFrom(reply(MessageType.ACK, 0x1234, mac), '10.20.0.3', 0x1234, mac), undefined, 'not an OFFER');
    assert.equal(offerFrom(Buffer.from('junk'), '10.20.0.3', 0x1234, mac), undefined);
  });

  it('the OPTIONS request is a well-formed SIP request of the project\'s codec', function () {
    const req = optionsRequest({ host: 'sip.centrex.example.net', port: 5060 }, { host: '10.20.0.2', port: 40000 }, 'udp');
    const parsed = parseMessage(serializeMessage(req));
    assert.equal(parsed.kind, 'request');
    assert.match(serializeMessage(req).toString(), /^OPTIONS sip:sip\.centrex\.example\.net:5060 SIP\/2\.0\r\nVia: SIP\/2\.0\/UDP 10\.20\.0\.2:40000;branch=z9hG4bK/);
    assert.equal(parsed.headers.get('CSeq'), '1 OPTIONS');
  });
});

describe('doctor: SNTP codec (pure)', function () {
  it('NTP timestamps round-trip to the millisecond', function () {
    for (const ms of [Date.UTC(2026, 10, 30, 12, 0, 0, 123), Date.UTC(2024, 0, 1), 1_700_000_000_999]) assert.ok(Math.abs(fromNtp(toNtp(ms)) - ms) < 0.01, String(ms));
  });

  it('a request is version 4, mode 3, carrying its send time; the offset follows RFC 4330', function () {
    const sent = Date.UTC(2026, 10, 30, 12);
    const req = sntpRequest(sent);
    assert.equal(req.length, 48);
    assert.equal(req[0], 0x23);
    const reply = Buffer.alloc(48);
    reply[0] = (0 << 6) | (4 << 3) | 4;
    reply[1] = 2;
    req.copy(reply, 24, 40, 48);
    // The server's clock is 10 s ahead; the network takes 20 ms each way, the server 5 ms.
    toNtp(sent + 10_000 + 20).copy(reply, 32);
    toNtp(sent + 10_000 + 25).copy(reply, 40);
    const parsed = parseSntpReply(reply);
    assert.ok(!(parsed instanceof Error));
    assert.ok(parsed.originate.equals(req.subarray(40, 48)));
    const { offsetMs, delayMs } = clockOffset(sent, parsed, sent + 45);
    assert.ok(Math.abs(offsetMs - 10_000) < 1, String(offsetMs));
    assert.ok(Math.abs(delayMs - 40) < 1, String(delayMs));
  });

  it('refuses what is not a server\'s answer', function () {
    const reply = Buffer.alloc(48);
    reply[0] = 0x23;
    assert.match((parseSntpReply(reply) as Error).message, /mode 3/);
    reply[0] = 0x24;
    assert.match((parseSntpReply(reply) as Error).message, /kiss-o'-death/);
    reply[1] = 2;
    reply[0] = 0xe4;
    assert.match((parseSntpReply(reply) as Error).message, /not synchronised/);
    assert.match((parseSntpReply(Buffer.alloc(10)) as Error).message, /10 bytes/);
  });
});

describe('doctor: the report', function () {
  const checks = [
    warn('network', 'network.dhcp', 'other DHCP servers', 'two answer', 'leave one'),
    pass('site', 'site.ntp', 'NTP', '10.20.0.1'),
    fail('box', 'box.disk', 'disk space', '10 MB free', 'free some space'),
    pass('box', 'box.clock', 'clock', 'fine'),
    warn('site', 'site.timezone', 'time zone', 'not set\u001b[31m', 'set it'),
  ];

  it('orders by group (site, box, network), keeps the order within a group, and counts', function () {
    const report = buildReport(checks);
    assert.deepEqual(report.checks.map((c) => c.id), ['site.ntp', 'site.timezone', 'box.disk', 'box.clock', 'network.dhcp']);
    assert.deepEqual(report.summary, { pass: 2, warn: 2, fail: 1 });
  });

  it('exit status 1 when anything fails, 0 for warnings alone', function () {
    assert.equal(exitStatus(buildReport(checks)), 1);
    assert.equal(exitStatus(buildReport(checks.filter((c) => c.status !== 'fail'))), 0);
    assert.equal(exitStatus(buildReport([])), 0);
  });

  it('renders one line per check, a fix under each warning and failure, control characters escaped', function () {
    assert.equal(
      renderText(buildReport(checks)),
      [
        'PASS  NTP: 10.20.0.1',
        'WARN  time zone: not set\\x1b[31m',
        '      fix: set it',
        'FAIL  disk space: 10 MB free',
        '      fix: free some space',
        'PASS  clock: fine',
        'WARN  other DHCP servers: two answer',
        '      fix: leave one',
        '',
        '2 passed, 2 warnings, 1 failed',
        '',
      ].join('\n'),
    );
  });
});
