/**
 * The server's protocol decisions, through its real socket on loopback, replies captured in-process (so
 * nothing is ever broadcast on a real interface). The namespace tests run real clients; these pin each rule.
 */
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { DEFAULT_SETTINGS, type SiteSettings } from '../../src/config/schema.js';
import { BOOTREQUEST, MessageType, Option, decode, encode, ipList, readIpList, type DhcpMessage } from '../../src/dhcp/codec.js';
import { DhcpServer, type KnownDevice } from '../../src/dhcp/server.js';
import { mergeLayers } from '../../src/provisioning/settings.js';
import { Store } from '../../src/store/index.js';
import { createVendors } from '../../src/vendors/registry.js';

const vendors = createVendors();
const yealink = vendors.find((v) => v.id === 'yealink')!;

function site(phonesOnly: boolean): SiteSettings {
  return mergeLayers<SiteSettings>(DEFAULT_SETTINGS, {
    site: { domain: 'branch.example', ntp: ['127.0.0.1'] },
    network: { voiceVlan: 20 },
    dhcp: { enabled: true, interface: '', subnet: '127.0.0.0/8', range: ['127.0.0.100', '127.0.0.110'], router: '127.0.0.1', dns: ['127.0.0.1'], leaseTime: 600, phonesOnly },
  });
}

interface Harness {
  server: DhcpServer;
  store: Store;
  ask(m: DhcpMessage): Promise<{ reply?: DhcpMessage; to?: [string, number] }>;
  close(): Promise<void>;
}

async function harness(phonesOnly: boolean, known = new Map<string, KnownDevice>()): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-dhcpd-'));
  const store = await Store.open(dir, silentLogger);
  const replies: Array<{ m: DhcpMessage; to: [string, number] }> = [];
  const server = new DhcpServer({
    site: site(phonesOnly),
    serverId: '127.0.0.1',
    where: { host: '127.0.0.1', httpPort: 8080, tftpPort: 69, httpUrl: 'http://127.0.0.1:8080/prov/' },
    vendors,
    store,
    log: silentLogger,
    port: 0,
    bindAddress: '127.0.0.1',
    relayPort: 6767,
    known: async () => known,
    transmit: (packet, port, host) => {
      const m = decode(packet);
      if (!(m instanceof Error)) replies.push({ m, to: [host, port] });
    },
  });
  const { port } = await server.start();
  const client: Socket = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  return {
    server,
    store,
    async ask(m) {
      const before = replies.length;
      const received = server.counters.received;
      await new Promise<void>((r) => client.send(encode(m).packet, port, '127.0.0.1', () => r()));
      for (let i = 0; i < 200 && server.counters.received === received; i++) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 40 && replies.length === before; i++) await new Promise((r) => setTimeout(r, 5));
      const got = replies.slice(before).find((r) => r.m.xid === m.xid);
      return { reply: got?.m, to: got?.to };
    },
    async close() {
      client.close();
      await server.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let xid = 1;
function msg(type: number, mac: string, opts: Array<[number, Buffer]> = [], fields: Partial<DhcpMessage> = {}): DhcpMessage {
  return {
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid: xid++, secs: 0, flags: 0x8000,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: Buffer.from(mac, 'hex'), sname: '', file: '',
    options: new Map<number, Buffer>([[Option.MESSAGE_TYPE, Buffer.from([type])], ...opts]),
    ...fields,
  };
}
const type = (m?: DhcpMessage) => m?.options.get(Option.MESSAGE_TYPE)?.[0];
const YEALINK: Array<[number, Buffer]> = [[Option.VENDOR_CLASS, Buffer.from('yealink')]];
const SERVER: Array<[number, Buffer]> = [[Option.SERVER_ID, ipList(['127.0.0.1'])]];

describe('DHCP server rules', function () {
  this.timeout(30_000);

  describe('with phonesOnly', () => {
    let h: Harness;
    before(async () => (h = await harness(true, new Map<string, KnownDevice>([
      ['02aabbccdd01', { address: '127.0.0.105', recognition: { vendor: yealink, model: 'T22P', by: 'inventory' } }],
      ['001565000077', { recognition: { vendor: yealink, model: 'T22P', by: 'inventory' }, voiceVlan: 30 }],
    ]))));
    after(() => h.close());

    it('tells a device with a VLAN of its own (device set ... network.voiceVlan 30) that VLAN in option 132; the others the site\'s', async () => {
      const own = await h.ask(msg(MessageType.DISCOVER, '001565000077', [...YEALINK, [Option.PARAMETER_LIST, Buffer.from([1, 132])]]));
      assert.equal(own.reply!.options.get(132)?.readUInt32BE(0), 30);
      const other = await h.ask(msg(MessageType.DISCOVER, '001565000078', [...YEALINK, [Option.PARAMETER_LIST, Buffer.from([1, 132])]]));
      assert.equal(other.reply!.options.get(132)?.readUInt32BE(0), 20);
    });

    it('answers a phone, in the order of its parameter list, with what it asked for and its provisioning URL', async () => {
      const { reply, to } = await h.ask(msg(MessageType.DISCOVER, '001565000001', [...YEALINK, [Option.PARAMETER_LIST, Buffer.from([42, 1, 3, 100, 132])]]));
      assert.equal(type(reply), MessageType.OFFER);
      assert.deepEqual([...reply!.options.keys()], [53, 54, 42, 1, 3, 100, 132, 66, 51, 58, 59]);
      assert.equal(reply!.options.get(66)?.toString(), 'http://127.0.0.1:8080/prov/');
      assert.equal(reply!.options.get(132)?.readUInt32BE(0), 20);
      assert.equal(reply!.options.get(100)?.toString(), 'CET-1CEST,M3.5.0,M10.5.0/3');
      assert.equal(reply!.options.get(6), undefined, 'DNS was not asked for');
      assert.deepEqual(to, ['255.255.255.255', 68], 'no address yet: broadcast');
    });

    it('stays silent for a PC', async () => {
      const { reply } = await h.ask(msg(MessageType.DISCOVER, '02aabbccdd99', [[Option.VENDOR_CLASS, Buffer.from('MSFT 5.0')]]));
      assert.equal(reply, undefined);
    });

    it('answers a device of the inventory that does not say what it is, with its reserved address', async () => {
      const { reply } = await h.ask(msg(MessageType.DISCOVER, '02aabbccdd01'));
      assert.equal(type(reply), MessageType.OFFER);
      assert.equal(reply!.yiaddr, '127.0.0.105');
      assert.equal(reply!.options.get(66)?.toString(), 'http://127.0.0.1:8080/prov/', 'told what its model\'s vendor is told');
      const other = await h.ask(msg(MessageType.DISCOVER, '001565000002', [...YEALINK, [Option.REQUESTED_IP, ipList(['127.0.0.105'])]]));
      assert.notEqual(other.reply?.yiaddr, '127.0.0.105', 'a reserved address is nobody else\'s');
    });
  });

  describe('leases', () => {
    let h: Harness;
    before(async () => (h = await harness(false)));
    after(() => h.close());

    it('SELECTING: REQUEST with our server id is acknowledged after the lease is stored', async () => {
      const offer = (await h.ask(msg(MessageType.DISCOVER, '001565000010', YEALINK))).reply!;
      const { reply } = await h.ask(msg(MessageType.REQUEST, '001565000010', [...YEALINK, ...SERVER, [Option.REQUESTED_IP, ipList([offer.yiaddr])]]));
      assert.equal(type(reply), MessageType.ACK);
      assert.equal(reply!.yiaddr, offer.yiaddr);
      assert.equal(reply!.options.get(Option.LEASE_TIME)?.readUInt32BE(0), 600);
      assert.ok((await h.store.leases.list()).some((l) => l.address === offer.yiaddr && l.state === 'bound'));
    });

    it('stays silent to a REQUEST that chose another server', async () => {
      const { reply } = await h.ask(msg(MessageType.REQUEST, '001565000011', [[Option.SERVER_ID, ipList(['127.0.0.9'])], [Option.REQUESTED_IP, ipList(['127.0.0.101'])]]));
      assert.equal(reply, undefined);
    });

    it('NAKs an address of another subnet or another client', async () => {
      const foreign = await h.ask(msg(MessageType.REQUEST, '001565000012', [[Option.REQUESTED_IP, ipList(['10.99.0.5'])]]));
      assert.equal(type(foreign.reply), MessageType.NAK);
      assert.match(foreign.reply!.options.get(Option.MESSAGE)?.toString() ?? '', /not on subnet/);
      const taken = (await h.store.leases.list())[0]!.address;
      const theirs = await h.ask(msg(MessageType.REQUEST, '001565000013', [[Option.REQUESTED_IP, ipList([taken])]]));
      assert.equal(type(theirs.reply), MessageType.NAK);
    });

    it('RENEWING: unicast to the client\'s address; INFORM: options without a lease', async () => {
      const bound = (await h.store.leases.list()).find((l) => l.state === 'bound')!;
      const renew = await h.ask(msg(MessageType.REQUEST, bound.mac!, [], { ciaddr: bound.address, flags: 0 }));
      assert.equal(type(renew.reply), MessageType.ACK);
      assert.deepEqual(renew.to, [bound.address, 68]);
      const inform = await h.ask(msg(MessageType.INFORM, '001565000020', [...YEALINK, [Option.PARAMETER_LIST, Buffer.from([1, 3, 66])]], { ciaddr: '127.0.0.50', flags: 0 }));
      assert.equal(type(inform.reply), MessageType.ACK);
      assert.equal(inform.reply!.yiaddr, '0.0.0.0');
      assert.equal(inform.reply!.options.get(Option.LEASE_TIME), undefined);
      assert.deepEqual(inform.to, ['127.0.0.50', 68]);
    });

    it('answers a relay on its port, by the relay address, with option 82 echoed', async () => {
      const agent = Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x31]);
      const { reply, to } = await h.ask(msg(MessageType.DISCOVER, '001565000030', [...YEALINK, [Option.RELAY_AGENT, agent]], { giaddr: '127.0.0.1', hops: 1 }));
      assert.equal(type(reply), MessageType.OFFER);
      assert.deepEqual(to, ['127.0.0.1', 6767]);
      assert.ok(reply!.options.get(Option.RELAY_AGENT)?.equals(agent));
      assert.equal([...reply!.options.keys()].at(-1), Option.RELAY_AGENT);
      const elsewhere = await h.ask(msg(MessageType.DISCOVER, '001565000031', YEALINK, { giaddr: '10.99.0.1' }));
      assert.equal(elsewhere.reply, undefined, 'a relay of a subnet this server does not serve');
    });

    it('DECLINE quarantines the address; RELEASE frees it', async () => {
      const offer = (await h.ask(msg(MessageType.DISCOVER, '001565000040', YEALINK))).reply!;
      await h.ask(msg(MessageType.DECLINE, '001565000040', [...SERVER, [Option.REQUESTED_IP, ipList([offer.yiaddr])]]));
      assert.equal((await h.store.leases.list()).find((l) => l.address === offer.yiaddr)?.state, 'declined');
      const next = (await h.ask(msg(MessageType.DISCOVER, '001565000040', YEALINK))).reply!;
      assert.notEqual(next.yiaddr, offer.yiaddr);
      await h.ask(msg(MessageType.REQUEST, '001565000040', [...SERVER, [Option.REQUESTED_IP, ipList([next.yiaddr])]]));
      await h.ask(msg(MessageType.RELEASE, '001565000040', SERVER, { ciaddr: next.yiaddr }));
      assert.equal((await h.store.leases.list()).find((l) => l.address === next.yiaddr)?.state, 'released');
    });

    it('fits the reply into the client\'s maximum message size', async () => {
      const { reply } = await h.ask(msg(MessageType.DISCOVER, '001565000050', [...YEALINK, [Option.MAX_MESSAGE_SIZE, Buffer.from([0x02, 0x40])], [Option.PARAMETER_LIST, Buffer.from([1, 3, 6, 15, 42, 2, 100, 101, 120, 132, 66])]]));
      assert.equal(type(reply), MessageType.OFFER);
      assert.deepEqual(readIpList(reply!.options.get(Option.SERVER_ID)), ['127.0.0.1']);
    });
  });
});
