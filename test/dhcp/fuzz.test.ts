/**
 * Tens of thousands of mutated and random packets through the server's real socket (on loopback), then a
 * normal DISCOVER/REQUEST: the server is still up, counted what it dropped, and still leases correctly.
 * Replies are captured in-process (`transmit`), so nothing is ever broadcast on a real interface.
 */
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { DEFAULT_SETTINGS, type SiteSettings } from '../../src/config/schema.js';
import { BOOTREQUEST, MessageType, Option, decode, encode, ipList, type DhcpMessage } from '../../src/dhcp/codec.js';
import { DhcpServer } from '../../src/dhcp/server.js';
import { mergeLayers } from '../../src/provisioning/settings.js';
import { Store } from '../../src/store/index.js';
import { createVendors } from '../../src/vendors/registry.js';

const site = mergeLayers<SiteSettings>(DEFAULT_SETTINGS, {
  dhcp: { enabled: true, interface: '', subnet: '127.0.0.0/8', range: ['127.0.0.100', '127.0.0.199'], router: '127.0.0.1', dns: ['127.0.0.1'], leaseTime: 600, phonesOnly: false },
});

function request(type: number, xid: number, mac: string, extra: Array<[number, Buffer]> = []): DhcpMessage {
  return {
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 1, xid, secs: 0, flags: 0,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '127.0.0.1',
    chaddr: Buffer.from(mac, 'hex'), sname: '', file: '',
    options: new Map<number, Buffer>([[Option.MESSAGE_TYPE, Buffer.from([type])], [Option.VENDOR_CLASS, Buffer.from('yealink')], ...extra]),
  };
}

describe('DHCP server under fuzzing', function () {
  this.timeout(120_000);
  let dir: string;
  let store: Store;
  let server: DhcpServer;
  let client: Socket;
  let port: number;
  const replies: DhcpMessage[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-fuzz-'));
    store = await Store.open(dir, silentLogger);
    server = new DhcpServer({
      site,
      serverId: '127.0.0.1',
      where: { host: '127.0.0.1', httpPort: 8080, tftpPort: 69, httpUrl: 'http://127.0.0.1:8080/prov/' },
      vendors: createVendors(),
      store,
      log: silentLogger,
      port: 0,
      bindAddress: '127.0.0.1',
      transmit: (packet, _port, host) => {
        assert.ok(host.startsWith('127.'), `a reply addressed to ${host} would have left loopback`);
        const m = decode(packet);
        if (!(m instanceof Error)) replies.push(m);
      },
    });
    port = (await server.start()).port;
    client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  });
  after(async () => {
    client?.close();
    await server?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (packet: Buffer) => new Promise<void>((resolve) => client.send(packet, port, '127.0.0.1', () => resolve()));
  const settle = async (received: number) => {
    for (let i = 0; i < 500 && server.counters.received < received; i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 100 && server.counters.received < received; i++) await new Promise((r) => setTimeout(r, 5));
  };

  it('stays up through 30,000 mutated and random packets, counting what it drops, with flat memory', async () => {
    const seeds = [
      encode(request(MessageType.DISCOVER, 1, '001565000001', [[Option.PARAMETER_LIST, Buffer.from([1, 3, 6, 66, 132])]])).packet,
      encode(request(MessageType.REQUEST, 2, '001565000002', [[Option.REQUESTED_IP, ipList(['127.0.0.150'])], [Option.SERVER_ID, ipList(['127.0.0.1'])]])).packet,
      encode(request(MessageType.INFORM, 3, '001565000003')).packet,
    ];
    let state = 7;
    const rand = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const heapBefore = process.memoryUsage().heapUsed;
    let sent = 0;
    // 600 rounds of 50, each sent when the previous one has been received: loopback drops what overflows the
    // socket buffer, and this test is about robustness, not throughput.
    for (let round = 0; round < 600; round++) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        let packet: Buffer;
        const kind = rand();
        if (kind < 0.1) packet = Buffer.from(Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256)));
        else {
          packet = Buffer.from(seeds[Math.floor(rand() * seeds.length)]!);
          const flips = 1 + Math.floor(rand() * 6);
          for (let f = 0; f < flips; f++) packet[Math.floor(rand() * packet.length)] = Math.floor(rand() * 256);
          if (rand() < 0.2) packet = packet.subarray(0, Math.floor(rand() * packet.length));
        }
        batch.push(send(packet));
        sent++;
      }
      await Promise.all(batch);
      await settle(sent);
    }
    const c = server.counters;
    assert.ok(c.received >= sent * 0.99, `received ${c.received} of ${sent}`);
    assert.ok(c.malformed > 1000, `malformed counted: ${c.malformed}`);
    global.gc?.();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(growth < 100 * 1024 * 1024, `heap grew by ${Math.round(growth / 1e6)} MB`);
  });

  it('still leases correctly afterwards', async () => {
    replies.length = 0;
    await send(encode(request(MessageType.DISCOVER, 0xabcdef, '001565abcdef', [[Option.PARAMETER_LIST, Buffer.from([1, 3, 66])]])).packet);
    for (let i = 0; i < 100 && !replies.some((r) => r.xid === 0xabcdef); i++) await new Promise((r) => setTimeout(r, 10));
    const offer = replies.find((r) => r.xid === 0xabcdef);
    assert.equal(offer?.options.get(Option.MESSAGE_TYPE)?.[0], MessageType.OFFER);
    const address = offer!.yiaddr;
    assert.ok(server.leases.inRange(address), address);
    await send(encode(request(MessageType.REQUEST, 0xabcdf0, '001565abcdef', [[Option.REQUESTED_IP, ipList([address])], [Option.SERVER_ID, ipList(['127.0.0.1'])]])).packet);
    for (let i = 0; i < 200 && !replies.some((r) => r.xid === 0xabcdf0); i++) await new Promise((r) => setTimeout(r, 10));
    const ack = replies.find((r) => r.xid === 0xabcdf0);
    assert.equal(ack?.options.get(Option.MESSAGE_TYPE)?.[0], MessageType.ACK);
    assert.equal(ack?.yiaddr, address);
    assert.equal(ack?.options.get(66)?.toString(), 'http://127.0.0.1:8080/prov/', 'a Yealink still gets its provisioning URL');
    assert.ok((await store.leases.list()).some((l) => l.address === address && l.state === 'bound'), 'the lease is in the store');
  });
});
