/**
 * DHCP integration: the real `outpost serve` inside a network namespace, real clients (busybox udhcpc, ISC
 * dhclient, perfdhcp, busybox udhcpd as a rogue server, and a raw client of our own built on codec.ts) in
 * other namespaces, joined by veth pairs. No real interface is touched and no traffic leaves the namespaces
 * these tests make (see netns.ts). Needs root; the whole suite is skipped, saying why, only when
 * `ip netns add` is not permitted.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import {
  DhcpAgent,
  MessageType,
  NetLab,
  Option,
  OutpostProcess,
  clientMessage,
  dbAll,
  dhclient,
  ensureBuilt,
  ip,
  ipBytes,
  netnsUnavailable,
  newXid,
  outpostCli,
  siteJson,
  sleep,
  udhcpc,
  udhcpcUntilBound,
  waitFor,
  type LeaseRow,
  type Received,
  type VethPair,
} from './netns.js';
import { readIpList, type DhcpMessage } from '../../src/dhcp/codec.js';

const SERVER = '10.20.0.2';
const PROV = 'http://10.20.0.2:8080/prov/';
const POSIX_TZ = 'CET-1CEST,M3.5.0,M10.5.0/3';
/** What a phone asks for (option 55), in this order. */
const PHONE_PRL = [1, 3, 6, 15, 42, 2, 100, 101, 120, 132, 66, 67, 43];

function ipInt(a: string): number {
  return a.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

function inRange(a: string | undefined, first = '10.20.0.100', last = '10.20.0.199'): boolean {
  return a !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(a) && ipInt(a) >= ipInt(first) && ipInt(a) <= ipInt(last);
}

function text(m: DhcpMessage, code: number): string | undefined {
  return m.options.get(code)?.toString('latin1');
}

function hex(m: DhcpMessage, code: number): string | undefined {
  return m.options.get(code)?.toString('hex');
}

function typeOf(m: DhcpMessage): number | undefined {
  return m.options.get(Option.MESSAGE_TYPE)?.[0];
}

function describeRun(r: { code: number | null; stdout: string; stderr: string; timedOut?: boolean }): string {
  return `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;
}

interface DeviceJson {
  mac: string;
  vendor?: string;
  model?: string;
  ip?: string;
  state: string;
  origin: string;
}

async function devices(dataDir: string): Promise<DeviceJson[]> {
  const r = await outpostCli(dataDir, ['device', 'list', '--json']);
  assert.equal(r.code, 0, `device list --json: ${describeRun(r)}`);
  return JSON.parse(r.stdout) as DeviceJson[];
}

async function leasesOf(o: OutpostProcess, where = '1', params: unknown[] = []): Promise<LeaseRow[]> {
  return dbAll<LeaseRow>(o.dbFile, `SELECT * FROM leases WHERE ${where}`, params);
}

/** DISCOVER then REQUEST (SELECTING) for `mac`; returns the OFFER and ACK seen (either may be undefined). */
async function dora(agent: DhcpAgent, mac: string, extra: Array<[number, Buffer]> = [], opts: { requested?: string } = {}) {
  const common: Array<[number, Buffer]> = [[Option.VENDOR_CLASS, Buffer.from('yealink')], [Option.PARAMETER_LIST, Buffer.from(PHONE_PRL)], ...extra];
  const xid = newXid();
  agent.send(clientMessage(MessageType.DISCOVER, { mac, xid, options: [...(opts.requested ? ([[Option.REQUESTED_IP, ipBytes(opts.requested)]] as Array<[number, Buffer]>) : []), ...common] }));
  const offer = await agent.reply(xid, MessageType.OFFER);
  if (!offer) return { offer, ack: undefined as Received | undefined, address: undefined as string | undefined };
  const address = offer.msg.yiaddr;
  const xid2 = newXid();
  agent.send(clientMessage(MessageType.REQUEST, { mac, xid: xid2, options: [[Option.REQUESTED_IP, ipBytes(address)], [Option.SERVER_ID, ipBytes(SERVER)], ...common] }));
  const ack = await agent.expect((m) => m.xid === xid2 && (typeOf(m) === MessageType.ACK || typeOf(m) === MessageType.NAK), 5000);
  return { offer, ack, address };
}

/** The address a DISCOVER from `mac` (asking for `requested`, if given) is offered, or undefined if no OFFER. */
async function offered(agent: DhcpAgent, mac: string, requested?: string, vendorClass = 'yealink'): Promise<string | undefined> {
  const xid = newXid();
  const options: Array<[number, Buffer]> = [[Option.VENDOR_CLASS, Buffer.from(vendorClass)], [Option.PARAMETER_LIST, Buffer.from(PHONE_PRL)]];
  if (requested) options.unshift([Option.REQUESTED_IP, ipBytes(requested)]);
  agent.send(clientMessage(MessageType.DISCOVER, { mac, xid, options }));
  return (await agent.reply(xid, MessageType.OFFER))?.msg.yiaddr;
}

describe('DHCP integration in network namespaces', function () {
  this.timeout(180_000);

  before(function () {
    const reason = netnsUnavailable();
    if (reason) {
      console.log(`      SKIPPED: DHCP integration suite: ${reason}`);
      this.skip();
    }
    ensureBuilt();
  });

  describe('one segment, phonesOnly (udhcpc, dhclient, raw client)', () => {
    let lab: NetLab;
    let S: string;
    let C: string;
    let pair: VethPair;
    let outpost: OutpostProcess;
    let lastStart = 0;
    const seen: { yealink?: string; thomson?: string; mediatrix?: string; declined?: string } = {};
    const agents: DhcpAgent[] = [];
    const agent = async () => {
      const a = await DhcpAgent.start(lab, C, pair.clientIf);
      agents.push(a);
      return a;
    };
    /** Client-side addresses a test added, removed after it. */
    const clientAddresses: string[] = [];
    const addClientAddress = async (cidr: string) => {
      await ip(['-n', C, 'addr', 'add', cidr, 'dev', pair.clientIf]);
      clientAddresses.push(cidr);
    };

    before(async () => {
      lab = new NetLab();
      S = await lab.namespace('server');
      C = await lab.namespace('client');
      pair = await lab.veth(S, C, `${SERVER}/24`);
      const site = lab.file('site.json', siteJson({ interface: pair.serverIf }));
      outpost = new OutpostProcess(lab, S, join(lab.dir, 'data'), site);
      const ready = await outpost.start();
      lastStart = Date.now();
      assert.match(ready, new RegExp(`^ready dhcp on ${pair.serverIf} port 67, 10\\.20\\.0\\.0/24 range 10\\.20\\.0\\.100-10\\.20\\.0\\.199`));
    });

    afterEach(async () => {
      for (const a of agents.splice(0)) a.close();
      for (const cidr of clientAddresses.splice(0)) await ip(['-n', C, 'addr', 'del', cidr, 'dev', pair.clientIf]).catch(() => undefined);
    });

    after(async () => {
      if (outpost?.running) await outpost.stop();
      await lab?.cleanup();
    });

    it('(1) a Yealink (udhcpc, vendor class "yealink", OUI 00:15:65) gets an address in the range and every site option', async () => {
      await lab.setMac(C, pair.clientIf, '00:15:65:10:00:01');
      const r = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink', request: [2, 42, 66, 67, 100, 101, 120, 132, 43] });
      assert.equal(r.code, 0, describeRun(r));
      const b = r.bound;
      assert.ok(b, `no bound event: ${JSON.stringify(r.events)}`);
      assert.ok(inRange(b.ip), `address ${b.ip} is not in 10.20.0.100-199`);
      assert.equal(b.subnet, '255.255.255.0');
      assert.equal(b.router, '10.20.0.1');
      assert.equal(b.dns, '10.20.0.1');
      assert.equal(b.ntpsrv, '10.20.0.1');
      assert.equal(b.domain, 'branch.example');
      assert.equal(b.serverid, SERVER);
      assert.equal(b.lease, '3600');
      assert.equal(b.sipsrv, SERVER, 'option 120 (RFC 3361, encoding 1)');
      assert.equal(b.vlanid, '0 20', 'option 132 as a 32-bit 20 (udhcpc prints it as two u16)');
      assert.equal(b.timezone, '3600', 'option 2: Europe/Prague standard offset');
      assert.equal(b.tzstr, POSIX_TZ, 'option 100');
      assert.equal(b.tzdbstr, 'Europe/Prague', 'option 101');
      assert.ok(b.tftp !== undefined, 'option 66 is sent (udhcpc calls a URL "bad"; test (1b) checks its bytes)');
      assert.equal(b.opt43, undefined, 'a Yealink gets no option 43');
      seen.yealink = b.ip;
    });

    it('(1b) the raw OFFER and ACK to a Yealink carry the exact option bytes, 66 as the HTTP URL, in the order asked', async () => {
      const a = await agent();
      const { offer, ack, address } = await dora(a, '00:15:65:10:00:1b');
      assert.ok(offer, 'no OFFER');
      assert.ok(ack && typeOf(ack.msg) === MessageType.ACK, 'no ACK');
      assert.ok(inRange(address));
      for (const m of [offer.msg, ack.msg]) {
        assert.equal(m.yiaddr, address);
        assert.equal(text(m, 66), PROV, 'option 66: the HTTP provisioning URL');
        assert.equal(hex(m, 1), 'ffffff00');
        assert.deepEqual(readIpList(m.options.get(3)), ['10.20.0.1']);
        assert.deepEqual(readIpList(m.options.get(6)), ['10.20.0.1']);
        assert.deepEqual(readIpList(m.options.get(42)), ['10.20.0.1']);
        assert.equal(text(m, 15), 'branch.example');
        assert.equal(hex(m, 2), '00000e10', 'option 2 = +3600 s');
        assert.equal(text(m, 100), POSIX_TZ);
        assert.equal(text(m, 101), 'Europe/Prague');
        assert.equal(hex(m, 120), '010a140002', 'option 120: encoding 1, 10.20.0.2');
        assert.equal(hex(m, 132), '00000014', 'option 132: voice VLAN 20 as a 32-bit integer');
        assert.equal(hex(m, 54), '0a140002');
        assert.equal(hex(m, 51), '00000e10');
        assert.equal(m.options.has(43), false, 'no option 43 for a Yealink');
        assert.equal(m.options.has(67), false, 'no option 67 for a Yealink');
        const order = [...m.options.keys()].filter((c) => PHONE_PRL.includes(c));
        assert.deepEqual(order, PHONE_PRL.filter((c) => m.options.has(c)), 'options in the order of the parameter request list');
      }
      assert.equal(ack.from, SERVER, 'the reply comes from the server address');
    });

    it('(2) a Thomson (dhclient, user class "Thomson ST2030S") gets 43 = the URL of its .inf and 66 = the server', async () => {
      await lab.setMac(C, pair.clientIf, '02:00:00:00:20:30'); // not a Thomson OUI: recognised by the user class alone
      const r = await dhclient(lab, C, pair.clientIf, [
        'option tftp66 code 66 = text;',
        'option thomson43 code 43 = text;',
        'option voice-vlan code 132 = unsigned integer 32;',
        'option sipsrv code 120 = string;',
        'option posixtz code 100 = text;',
        'option tzdb code 101 = text;',
        'send user-class "Thomson ST2030S";',
        'request subnet-mask, routers, domain-name-servers, domain-name, ntp-servers, time-offset, posixtz, tzdb, sipsrv, voice-vlan, thomson43, tftp66;',
      ]);
      assert.equal(r.code, 0, describeRun(r));
      const b = r.bound;
      assert.ok(b, `no BOUND: ${JSON.stringify(r.events)} ${r.stderr}`);
      assert.ok(inRange(b.new_ip_address), `address ${b.new_ip_address}`);
      assert.equal(b.new_thomson43, `${PROV}ST2030S.inf`, 'option 43: the plain URL of the .inf');
      assert.equal(b.new_tftp66, SERVER, 'option 66: the server');
      assert.equal(b.new_subnet_mask, '255.255.255.0');
      assert.equal(b.new_routers, '10.20.0.1');
      assert.equal(b.new_domain_name_servers, '10.20.0.1');
      assert.equal(b.new_domain_name, 'branch.example');
      assert.equal(b.new_ntp_servers, '10.20.0.1');
      assert.equal(b.new_time_offset, '3600');
      assert.equal(b.new_posixtz, POSIX_TZ);
      assert.equal(b.new_tzdb, 'Europe/Prague');
      assert.equal(b.new_sipsrv, '1:a:14:0:2');
      assert.equal(b.new_voice_vlan, '20');
      assert.equal(b.new_dhcp_server_identifier, SERVER);
      seen.thomson = b.new_ip_address;

      // The same identity from busybox udhcpc (option 77 as the plain string, -x 0x4d:HEX).
      await lab.setMac(C, pair.clientIf, '02:00:00:00:20:31');
      const u = await udhcpc(lab, C, pair.clientIf, { userClass: 'Thomson ST2030S', request: [43, 66] });
      assert.equal(u.code, 0, describeRun(u));
      assert.ok(inRange(u.bound?.ip));
      assert.equal(Buffer.from(u.bound?.opt43 ?? '', 'hex').toString('latin1'), `${PROV}ST2030S.inf`, `opt43=${u.bound?.opt43}`);
      assert.equal(u.bound?.tftp, SERVER);
    });

    it('(3) a Mediatrix DGW (dhclient, vendor class "Mediatrix 4102S") gets 66 and 67', async () => {
      await lab.setMac(C, pair.clientIf, '02:00:00:00:41:02');
      const r = await dhclient(lab, C, pair.clientIf, [
        'option tftp66 code 66 = text;',
        'option boot67 code 67 = text;',
        'send vendor-class-identifier "Mediatrix 4102S";',
        'request subnet-mask, routers, domain-name-servers, tftp66, boot67;',
      ]);
      assert.equal(r.code, 0, describeRun(r));
      const b = r.bound;
      assert.ok(b, `no BOUND: ${JSON.stringify(r.events)} ${r.stderr}`);
      assert.ok(inRange(b.new_ip_address));
      assert.equal(b.new_tftp66, PROV);
      assert.equal(b.new_boot67, `${PROV}%mac%.cfg`);
      assert.equal(b.new_routers, '10.20.0.1');
      seen.mediatrix = b.new_ip_address;
    });

    it('(3b) a Mediatrix v5 (vendor class "Mediatrix 4102") gets option 43 with sub-option 201: the configuration server', async () => {
      const a = await agent();
      const xid = newXid();
      a.send(clientMessage(MessageType.DISCOVER, { mac: '02:00:00:00:41:05', xid, options: [[Option.VENDOR_CLASS, Buffer.from('Mediatrix 4102')], [Option.PARAMETER_LIST, Buffer.from([1, 3, 43])]] }));
      const offer = await a.reply(xid, MessageType.OFFER);
      assert.ok(offer, 'no OFFER for the v5 unit');
      const o43 = offer.msg.options.get(43);
      assert.ok(o43, 'option 43');
      assert.equal(o43.subarray(0, 2).toString('hex'), 'c906', 'sub-option 201, 6 bytes');
      assert.equal([...o43.subarray(2, 6)].join('.'), SERVER, 'the configuration server is Outpost');
      assert.ok(o43.readUInt16BE(6) > 0, 'and its TFTP port');
    });

    it('(4) a PC (vendor class "MSFT 5.0", MAC 02:aa:bb:cc:dd:ee) gets no answer at all under phonesOnly', async () => {
      await lab.setMac(C, pair.clientIf, '02:aa:bb:cc:dd:ee');
      const r = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'MSFT 5.0', tries: 3 });
      assert.notEqual(r.code, 0, `udhcpc -n must fail: ${describeRun(r)}`);
      assert.equal(r.bound, undefined);
      const a = await agent();
      const xid = newXid();
      a.send(clientMessage(MessageType.DISCOVER, { mac: '02:aa:bb:cc:dd:ee', xid, options: [[Option.VENDOR_CLASS, Buffer.from('MSFT 5.0')], [Option.PARAMETER_LIST, Buffer.from([1, 3, 6])]] }));
      assert.equal(await a.anyReply(xid, 3000), undefined, 'no OFFER (nor anything) for a PC');
      assert.deepEqual(await leasesOf(outpost, 'mac = ?', ['02aabbccddee']), [], 'no lease for the PC');
      assert.equal((await devices(outpost.dataDir)).find((d) => d.mac === '02aabbccddee'), undefined, 'the PC is not in the inventory');
      // Control: the same MAC with a phone's vendor class is answered, so the silence above is the policy's.
      assert.ok(inRange(await offered(a, '02:aa:bb:cc:dd:ee', undefined, 'yealink')), 'the same MAC as a Yealink is answered');
    });

    it('(5) every phone that asked is in the inventory as discovered, vendor and model guessed from its classes', async () => {
      assert.ok(seen.yealink && seen.thomson && seen.mediatrix, 'needs tests (1)-(3)');
      const list = await waitFor(async () => {
        const l = await devices(outpost.dataDir);
        return ['001565100001', '020000002030', '020000004102'].every((m) => l.some((d) => d.mac === m)) ? l : undefined;
      }, 10_000, 300);
      assert.ok(list, 'the three phones did not all appear');
      const yealink = list.find((d) => d.mac === '001565100001')!;
      assert.equal(yealink.state, 'discovered');
      assert.equal(yealink.origin, 'discovered');
      assert.equal(yealink.vendor, 'Yealink');
      assert.equal(yealink.ip, seen.yealink);
      // "yealink" names no model (Yealink's default option 60), so there is none to guess for it.
      const thomson = list.find((d) => d.mac === '020000002030')!;
      assert.equal(thomson.state, 'discovered');
      assert.equal(thomson.vendor, 'Thomson');
      assert.equal(thomson.model, 'ST2030', 'model from the user class "Thomson ST2030S"');
      assert.equal(thomson.ip, seen.thomson);
      const mediatrix = list.find((d) => d.mac === '020000004102')!;
      assert.equal(mediatrix.state, 'discovered');
      assert.equal(mediatrix.vendor, 'Mediatrix');
      assert.equal(mediatrix.model, '4102S', 'model from the vendor class "Mediatrix 4102S"');
      const events = await dbAll<{ mac: string }>(outpost.dbFile, "SELECT mac FROM events WHERE type = 'device.discovered'");
      for (const mac of ['001565100001', '020000002030', '020000004102']) assert.ok(events.some((e) => e.mac === mac), `a device.discovered event for ${mac}`);
    });

    it('(5b) a phone with a static address that only sends DHCPINFORM gets its options (no lease) and is recorded too', async () => {
      await addClientAddress('10.20.0.60/24');
      const a = await agent();
      const xid = newXid();
      a.send(
        clientMessage(MessageType.INFORM, {
          mac: '00:15:65:10:00:5b',
          xid,
          ciaddr: '10.20.0.60',
          flags: 0,
          options: [[Option.VENDOR_CLASS, Buffer.from('yealink')], [Option.PARAMETER_LIST, Buffer.from(PHONE_PRL)]],
        }),
        SERVER,
      );
      const ack = await a.reply(xid, MessageType.ACK);
      assert.ok(ack, 'no ACK to the INFORM');
      assert.equal(ack.msg.yiaddr, '0.0.0.0');
      assert.equal(ack.msg.options.has(Option.LEASE_TIME), false, 'no lease time in an ACK to INFORM');
      assert.equal(text(ack.msg, 66), PROV);
      assert.equal(hex(ack.msg, 132), '00000014');
      assert.deepEqual(await leasesOf(outpost, 'mac = ?', ['00156510005b']), [], 'INFORM allocates nothing');
      const d = await waitFor(async () => (await devices(outpost.dataDir)).find((x) => x.mac === '00156510005b'), 5000, 300);
      assert.ok(d, 'a phone seen only through DHCPINFORM is not in the inventory');
      assert.equal(d.state, 'discovered');
      assert.equal(d.ip, '10.20.0.60');
    });

    it('(7) NAK for a foreign address: INIT-REBOOT asking for 10.99.0.5 gets DHCPNAK; udhcpc -r 10.99.0.5 gets a range address', async () => {
      const a = await agent();
      const xid = newXid();
      a.send(
        clientMessage(MessageType.REQUEST, {
          mac: '00:15:65:10:00:07',
          xid,
          options: [[Option.REQUESTED_IP, ipBytes('10.99.0.5')], [Option.VENDOR_CLASS, Buffer.from('yealink')], [Option.PARAMETER_LIST, Buffer.from(PHONE_PRL)]],
        }),
      );
      const nak = await a.anyReply(xid, 5000);
      assert.ok(nak, 'no reply to the INIT-REBOOT REQUEST');
      assert.equal(typeOf(nak.msg), MessageType.NAK);
      assert.equal(nak.msg.yiaddr, '0.0.0.0');
      assert.equal(hex(nak.msg, Option.SERVER_ID), '0a140002');
      assert.equal(nak.msg.options.has(Option.LEASE_TIME), false);
      assert.equal(nak.msg.options.has(66), false, 'a NAK carries no configuration');
      assert.deepEqual(await leasesOf(outpost, 'address = ?', ['10.99.0.5']), []);
      a.close();
      await lab.setMac(C, pair.clientIf, '00:15:65:10:00:07');
      const r = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink', requestIp: '10.99.0.5' });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(inRange(r.bound?.ip), `udhcpc -r 10.99.0.5 must end with a range address, got ${r.bound?.ip}`);
    });

    it('(8) DECLINE quarantines the address: neither the decliner nor the next client is offered it, and it is stored as declined', async () => {
      const a = await agent();
      const A = '00:15:65:10:00:08';
      const { ack, address: x } = await dora(a, A);
      assert.ok(ack && typeOf(ack.msg) === MessageType.ACK && x, 'A did not get a lease');
      a.send(clientMessage(MessageType.DECLINE, { mac: A, flags: 0, options: [[Option.REQUESTED_IP, ipBytes(x)], [Option.SERVER_ID, ipBytes(SERVER)]] }));
      const row = await waitFor(async () => (await leasesOf(outpost, 'address = ? AND state = ?', [x, 'declined']))[0], 5000, 100);
      assert.ok(row, `${x} is not stored as declined`);
      assert.ok(row.expires_at > Date.now() + 60_000, 'the quarantine lasts');
      const again = await offered(a, A);
      assert.ok(again && again !== x, `the decliner was offered ${again} (declined ${x})`);
      const B = '00:15:65:10:00:09';
      const other = await offered(a, B, x);
      assert.ok(other && other !== x, `the next client asking for ${x} was offered ${other}`);
      const xid = newXid();
      a.send(clientMessage(MessageType.REQUEST, { mac: B, xid, options: [[Option.REQUESTED_IP, ipBytes(x)], [Option.VENDOR_CLASS, Buffer.from('yealink')]] }));
      const nak = await a.anyReply(xid, 5000);
      assert.equal(nak && typeOf(nak.msg), MessageType.NAK, 'INIT-REBOOT for a quarantined address is NAKed');
      // A DECLINE of an address that was only offered works the same way.
      const Cm = '00:15:65:10:00:0c';
      const v = await offered(a, Cm);
      assert.ok(v);
      a.send(clientMessage(MessageType.DECLINE, { mac: Cm, flags: 0, options: [[Option.REQUESTED_IP, ipBytes(v)], [Option.SERVER_ID, ipBytes(SERVER)]] }));
      assert.ok(await waitFor(async () => (await leasesOf(outpost, 'address = ? AND state = ?', [v, 'declined']))[0], 5000, 100), `${v} not stored as declined`);
      const v2 = await offered(a, Cm, v);
      assert.ok(v2 && v2 !== v, `an offered-then-declined ${v} was offered again`);
      seen.declined = x;
    });

    it('(8b) RELEASE frees the address for the next client (raw unicast RELEASE, and udhcpc -R on exit)', async () => {
      const a = await agent();
      const D = '00:15:65:10:00:0d';
      const { ack, address: w } = await dora(a, D);
      assert.ok(ack && typeOf(ack.msg) === MessageType.ACK && w, 'D did not get a lease');
      const E = '00:15:65:10:00:0e';
      assert.notEqual(await offered(a, E, w), w, 'control: a bound address is not offered to another client');
      await addClientAddress(`${w}/24`);
      // RENEWING: unicast REQUEST with ciaddr, no 50/54; the ACK comes back by unicast to ciaddr.
      const renewXid = newXid();
      a.send(clientMessage(MessageType.REQUEST, { mac: D, xid: renewXid, ciaddr: w, flags: 0, options: [[Option.VENDOR_CLASS, Buffer.from('yealink')], [Option.PARAMETER_LIST, Buffer.from(PHONE_PRL)]] }), SERVER);
      const renewed = await a.anyReply(renewXid, 5000);
      assert.equal(renewed && typeOf(renewed.msg), MessageType.ACK, 'RENEW is acknowledged');
      assert.equal(renewed!.msg.yiaddr, w);
      assert.equal(renewed!.msg.ciaddr, w);
      a.send(clientMessage(MessageType.RELEASE, { mac: D, ciaddr: w, flags: 0, options: [[Option.SERVER_ID, ipBytes(SERVER)]] }), SERVER);
      assert.ok(await waitFor(async () => (await leasesOf(outpost, 'address = ? AND state = ?', [w, 'released']))[0], 5000, 100), `${w} is not stored as released`);
      // A client other than E (which now holds an outstanding offer of its own) asks for it.
      assert.equal(await offered(a, '00:15:65:10:00:1e', w), w, 'the released address is offered to the next client that asks for it');
      a.close();

      // busybox udhcpc -R sends a RELEASE (unicast, from its address) when it is stopped (SIGTERM).
      const q = '10.20.0.180';
      await addClientAddress(`${q}/24`);
      await lab.setMac(C, pair.clientIf, '00:15:65:10:00:0f');
      const r = await udhcpcUntilBound(lab, C, pair.clientIf, { vendorClass: 'yealink', requestIp: q, release: true });
      assert.equal(r.bound?.ip, q, describeRun(r));
      assert.match(r.stderr, /unicasting a release of 10\.20\.0\.180 to 10\.20\.0\.2/, describeRun(r));
      const released = await waitFor(async () => (await leasesOf(outpost, 'address = ? AND state = ?', [q, 'released']))[0], 5000, 100);
      assert.ok(released, `the RELEASE udhcpc sent did not free ${q}: ${JSON.stringify(await leasesOf(outpost, 'address = ?', [q]))}`);
    });

    it('(6) a restart keeps every address: SIGTERM, and kill -9 right after an ACK', async () => {
      const P = '00:15:65:10:00:61';
      const Q = '00:15:65:10:00:62';
      await lab.setMac(C, pair.clientIf, P);
      const rp = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink' });
      await lab.setMac(C, pair.clientIf, Q);
      const rq = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink' });
      const xp = rp.bound?.ip;
      const xq = rq.bound?.ip;
      assert.ok(inRange(xp) && inRange(xq) && xp !== xq, `P ${xp}, Q ${xq}`);

      const stopped = await outpost.stop('SIGTERM');
      assert.equal(stopped.forced, false, 'SIGTERM did not stop it');
      assert.equal(stopped.code, 0, `exit after SIGTERM: ${stopped.code} ${stopped.signal}\n${outpost.stderr.slice(-2000)}`);
      assert.ok(stopped.ms < 5000, `stopping took ${stopped.ms} ms`);
      await outpost.start();
      lastStart = Date.now();
      // Q first and without -r: a server that forgot would give it the lowest free address (P's or one below).
      await lab.setMac(C, pair.clientIf, Q);
      const rq2 = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink' });
      assert.equal(rq2.bound?.ip, xq, `Q after restart: ${describeRun(rq2)}`);
      await lab.setMac(C, pair.clientIf, P);
      const rp2 = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink', requestIp: xp });
      assert.equal(rp2.bound?.ip, xp, 'P asking for its address after restart');
      const rp3 = await udhcpc(lab, C, pair.clientIf, { vendorClass: 'yealink' });
      assert.equal(rp3.bound?.ip, xp, 'P without -r after restart');

      // kill -9 as soon as the ACK is on the wire: the lease must already be on disk.
      const a = await agent();
      const R = '00:15:65:10:00:63';
      const { ack, address: y } = await dora(a, R);
      assert.ok(ack && typeOf(ack.msg) === MessageType.ACK && y, 'R did not get a lease');
      const killed = await outpost.stop('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL');
      const rows = await leasesOf(outpost, 'address = ?', [y]);
      assert.equal(rows.length, 1, `the ACKed lease ${y} is not on disk after kill -9`);
      assert.equal(rows[0]!.state, 'bound');
      assert.equal(rows[0]!.mac, '001565100063');
      assert.ok(rows[0]!.expires_at > Date.now() + 3_000_000, 'with the full lease time');
      await outpost.start();
      lastStart = Date.now();
      // Another client first: had R's lease been lost, it would be handed R's address.
      const s = await offered(a, '00:15:65:10:00:64', y);
      assert.ok(s && s !== y, `another client was offered R's address ${y}`);
      const again = await dora(a, R);
      assert.equal(again.address, y, 'R is offered its address after kill -9 and restart');
      assert.equal(again.ack && typeOf(again.ack.msg), MessageType.ACK);
      if (seen.declined) assert.notEqual(await offered(a, '00:15:65:10:00:65', seen.declined), seen.declined, 'the quarantine survives a restart');
    });

    it('(11) binds only to the configured interface: a phone on a second interface of the box gets nothing', async () => {
      const C2 = await lab.namespace('client');
      const second = await lab.veth(S, C2, '10.30.0.2/24');
      const mac = '00:15:65:10:00:b1';
      await lab.setMac(C2, second.clientIf, mac);
      const r = await udhcpc(lab, C2, second.clientIf, { vendorClass: 'yealink', tries: 3 });
      assert.notEqual(r.code, 0, `a client on ${second.serverIf} got an answer: ${describeRun(r)}`);
      assert.equal(r.bound, undefined);
      const a2 = await DhcpAgent.start(lab, C2, second.clientIf);
      agents.push(a2);
      const xid = newXid();
      a2.send(clientMessage(MessageType.DISCOVER, { mac, xid, options: [[Option.VENDOR_CLASS, Buffer.from('yealink')], [Option.PARAMETER_LIST, Buffer.from(PHONE_PRL)]] }));
      assert.equal(await a2.anyReply(xid, 3000), undefined, 'no reply of any kind on the second interface');
      assert.deepEqual(await leasesOf(outpost, 'mac = ?', ['0015651000b1']), []);
      assert.equal((await devices(outpost.dataDir)).find((d) => d.mac === '0015651000b1'), undefined, 'the server never saw it');
      // Control: the same phone on the configured interface is answered.
      const a = await agent();
      assert.ok(inRange(await offered(a, mac)), 'the same phone on the DHCP interface is answered');
    });

    it('(10b) a clean segment: no rogue-server warning and no dhcp.rogue event', async () => {
      await sleep(Math.max(0, lastStart + 8000 - Date.now())); // past the probe window of the last start
      assert.equal(outpost.lines.find((l) => /ANOTHER DHCP SERVER/.test(l)), undefined, outpost.lines.join('\n'));
      assert.deepEqual(await dbAll(outpost.dbFile, "SELECT * FROM events WHERE type = 'dhcp.rogue'"), []);
    });
  });

  describe('relay: perfdhcp through giaddr 10.20.0.1 (phonesOnly off)', () => {
    let lab: NetLab;
    let C: string;
    let pair: VethPair;
    let outpost: OutpostProcess;
    const first = '10.20.0.10';
    const last = '10.20.0.250';

    before(async () => {
      lab = new NetLab();
      const S = await lab.namespace('server');
      C = await lab.namespace('client');
      pair = await lab.veth(S, C, `${SERVER}/24`);
      await ip(['-n', C, 'addr', 'add', '10.20.0.1/24', 'dev', pair.clientIf]); // the relay's address, in the client namespace
      const site = lab.file('site.json', siteJson({ interface: pair.serverIf, phonesOnly: false, range: [first, last] }));
      outpost = new OutpostProcess(lab, S, join(lab.dir, 'data'), site);
      await outpost.start();
    });

    after(async () => {
      if (outpost?.running) await outpost.stop();
      await lab?.cleanup();
    });

    it('(9a) a relayed DISCOVER is answered to the relay (giaddr, port 67) with an address of the range', async () => {
      const a = await DhcpAgent.start(lab, C, pair.clientIf, 67);
      try {
        const xid = newXid();
        const m = clientMessage(MessageType.DISCOVER, { mac: '02:00:00:00:99:01', xid, giaddr: '10.20.0.1', flags: 0, options: [[Option.PARAMETER_LIST, Buffer.from([1, 3, 6])]] });
        m.hops = 1;
        a.send(m, SERVER, 67);
        const offer = await a.reply(xid, MessageType.OFFER);
        assert.ok(offer, 'no OFFER back to the relay');
        assert.equal(offer.port, 67, 'sent to the relay on the server port');
        assert.equal(offer.msg.giaddr, '10.20.0.1');
        assert.ok(inRange(offer.msg.yiaddr, first, last));
      } finally {
        a.close();
      }
    });

    it('(9) perfdhcp -l 10.20.0.1 (relay mode): 200 exchanges of 150 clients, no drop, every lease stored', async () => {
      await sleep(300); // the agent above let go of port 67
      const r = await lab.exec(C, 'perfdhcp', ['-4', '-l', '10.20.0.1', '-r', '50', '-n', '200', '-R', '150', '-W', '2000000', '-d', '3', SERVER], { timeoutMs: 60_000 });
      const out = r.stdout;
      assert.equal(r.code, 0, `perfdhcp: ${describeRun(r)}`);
      const section = (name: string) => {
        const i = out.indexOf(`***Statistics for: ${name}***`);
        assert.ok(i >= 0, `no ${name} statistics in:\n${out}`);
        const body = out.slice(i, i + 600);
        const num = (label: string) => Number(new RegExp(`${label}: (\\d+)`).exec(body)?.[1]);
        return { sent: num('sent packets'), received: num('received packets'), drops: num('drops'), orphans: num('orphans'), rejected: num('rejected leases'), nonUnique: num('non unique addresses') };
      };
      const dO = section('DISCOVER-OFFER');
      const rA = section('REQUEST-ACK');
      assert.deepEqual(dO, { sent: 200, received: 200, drops: 0, orphans: 0, rejected: 0, nonUnique: 0 }, out);
      assert.deepEqual(rA, { sent: 200, received: 200, drops: 0, orphans: 0, rejected: 0, nonUnique: 0 }, out);
      assert.match(out, /Rate: [\d.]+ 4-way exchanges\/second/);
      const rows = await leasesOf(outpost, "state = 'bound' AND client <> '' AND mac IS NOT NULL AND mac NOT LIKE '0200000099%'");
      const macs = new Set(rows.map((l) => l.mac));
      assert.equal(macs.size, 150, `150 clients, ${macs.size} bound leases`);
      assert.equal(new Set(rows.map((l) => l.address)).size, rows.length, 'every lease has its own address');
      for (const l of rows) assert.ok(inRange(l.address, first, last), `${l.address} out of range`);
    });
  });

  describe('VLAN hand-off: the untagged segment tells phones the voice VLAN, the voice segment provisions them', () => {
    // This kernel has no 802.1Q (`ip link add ... type vlan` is refused), so the two segments are two veth pairs:
    // what is tested is Outpost's part (which server says what on which segment), not the tagging itself.
    let lab: NetLab;
    let outpost: OutpostProcess;

    before(async () => {
      lab = new NetLab();
    });
    after(async () => {
      if (outpost?.running) await outpost.stop();
      await lab?.cleanup();
    });

    it('(12) a phone on the untagged segment gets a short lease and VLAN 20 only; asking again in the voice segment it gets its provisioning URL', async () => {
      const S = await lab.namespace('server');
      const C = await lab.namespace('client');
      const untagged = await lab.veth(S, C, '10.19.0.2/24');
      const voice = await lab.veth(S, C, `${SERVER}/24`);
      await lab.setMac(C, untagged.clientIf, '00:15:65:aa:bb:77');
      await lab.setMac(C, voice.clientIf, '00:15:65:aa:bb:77');
      const site = JSON.parse(siteJson({ interface: voice.serverIf })) as { dhcp: Record<string, unknown> };
      site.dhcp.untagged = { interface: untagged.serverIf, subnet: '10.19.0.0/24', range: ['10.19.0.100', '10.19.0.199'], leaseTime: 300 };
      outpost = new OutpostProcess(lab, S, join(lab.dir, 'data'), lab.file('site.json', JSON.stringify(site)));
      await outpost.start();
      assert.ok(
        await waitFor(() => (outpost.lines.some((l) => l.startsWith(`ready dhcp hand-off on ${untagged.serverIf} port 67, 10.19.0.0/24`)) ? true : undefined), 10_000),
        outpost.lines.join('\n'),
      );

      const first = await udhcpc(lab, C, untagged.clientIf, { vendorClass: 'yealink', request: [1, 3, 6, 66, 132] });
      assert.equal(first.bound?.ip?.startsWith('10.19.0.'), true, JSON.stringify(first.bound));
      assert.equal(first.bound?.lease, '300');
      assert.equal(first.bound?.vlanid, '0 20', 'option 132: the voice VLAN, 20');
      assert.equal(first.bound?.tftp, undefined, 'no provisioning URL before the phone is in the voice VLAN');
      assert.equal(first.bound?.router, undefined);

      const second = await udhcpc(lab, C, voice.clientIf, { vendorClass: 'yealink', request: [1, 3, 6, 66, 132] });
      assert.equal(second.bound?.ip?.startsWith('10.20.0.'), true, JSON.stringify(second.bound));
      assert.equal(second.bound?.lease, '3600');
      assert.equal(second.bound?.router, '10.20.0.1');
      assert.ok(second.bound?.tftp, 'option 66 in the voice segment');
      // udhcpc does not set the broadcast flag: the OFFER/ACK went unicast to yiaddr, through the ARP entry the
      // server wrote for it (RFC 2131 4.1).
      const neigh = await ip(['-n', S, 'neigh', 'show', second.bound!.ip!, 'dev', voice.serverIf]);
      assert.match(neigh, /lladdr 00:15:65:aa:bb:77/, neigh);

      await lab.setMac(C, untagged.clientIf, '02:aa:bb:cc:dd:77');
      const pc = await udhcpc(lab, C, untagged.clientIf, { vendorClass: 'MSFT 5.0', tries: 2 });
      assert.equal(pc.bound, undefined, 'the hand-off segment answers phones only');
    });
  });

  describe('the probe for another DHCP server on the segment', () => {
    let lab: NetLab;
    let outpost: OutpostProcess;

    before(async () => {
      lab = new NetLab();
    });

    after(async () => {
      if (outpost?.running) await outpost.stop();
      await lab?.cleanup();
    });

    it('(10) with busybox udhcpd (default settings) already answering on 10.20.0.3, Outpost warns loudly and records dhcp.rogue', async () => {
      const S = await lab.namespace('server');
      const C = await lab.namespace('client');
      const pair = await lab.veth(S, C, `${SERVER}/24`);
      await ip(['-n', C, 'addr', 'add', '10.20.0.3/24', 'dev', pair.clientIf]);
      const leases = lab.file('udhcpd.leases', '');
      const conf = lab.file(
        'udhcpd.conf',
        [`interface ${pair.clientIf}`, 'start 10.20.0.50', 'end 10.20.0.60', `lease_file ${leases}`, `pidfile ${join(lab.dir, 'udhcpd.pid')}`, 'opt subnet 255.255.255.0', 'opt router 10.20.0.3', 'opt lease 600', ''].join('\n'),
      );
      const rogue = lab.spawn(C, 'busybox', ['udhcpd', '-f', conf]);
      let rogueLog = '';
      rogue.stdout!.on('data', (b: Buffer) => (rogueLog += b.toString()));
      rogue.stderr!.on('data', (b: Buffer) => (rogueLog += b.toString()));
      assert.ok(await waitFor(() => (/started/.test(rogueLog) ? true : rogue.exitCode !== null ? false : undefined), 5000, 50), `udhcpd did not start: ${rogueLog}`);

      const site = lab.file('site.json', siteJson({ interface: pair.serverIf }));
      outpost = new OutpostProcess(lab, S, join(lab.dir, 'data'), site);
      await outpost.start();
      const started = Date.now();
      const warning = await outpost.waitForLine(/^warning: ANOTHER DHCP SERVER/, 10_000);
      assert.ok(warning, `no warning within 10 s of start, though udhcpd answered the probe (its log: ${JSON.stringify(rogueLog)}); outpost stdout:\n${outpost.lines.join('\n')}`);
      assert.match(rogueLog, /sending OFFER/, 'control: the rogue answered the probe');
      assert.match(warning, /10\.20\.0\.3/);
      assert.ok(Date.now() - started < 10_000);
      const events = await waitFor(async () => {
        const e = await dbAll<{ level: string; data: string }>(outpost.dbFile, "SELECT level, data FROM events WHERE type = 'dhcp.rogue'");
        return e.length ? e : undefined;
      }, 5000, 100);
      assert.ok(events, 'no dhcp.rogue event');
      assert.deepEqual((JSON.parse(events[0]!.data) as { servers: string[] }).servers, ['10.20.0.3']);
      assert.equal(events[0]!.level, 'error');
    });
  });
});
