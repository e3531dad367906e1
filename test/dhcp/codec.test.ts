import { strict as assert } from 'node:assert';
import {
  BOOTREQUEST,
  FIXED_LENGTH,
  MAGIC_COOKIE,
  MessageType,
  Option,
  clientKey,
  chaddrMac,
  decode,
  dnsName,
  encode,
  ipList,
  readIpList,
  readSubOptions,
  sipServers,
  subOptions,
  type DhcpMessage,
} from '../../src/dhcp/codec.js';

function message(options: Array<[number, Buffer]>, extra: Partial<DhcpMessage> = {}): DhcpMessage {
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x12345678,
    secs: 3,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.from('001565aabb01', 'hex'),
    sname: '',
    file: '',
    options: new Map(options),
    ...extra,
  };
}

/** A raw packet: the fixed part, the cookie, then the given option bytes. */
function raw(optionBytes: number[], patch: (b: Buffer) => void = () => undefined): Buffer {
  const fixed = Buffer.alloc(FIXED_LENGTH + 4);
  fixed[0] = 1;
  fixed[1] = 1;
  fixed[2] = 6;
  Buffer.from('001565aabb01', 'hex').copy(fixed, 28);
  fixed.writeUInt32BE(MAGIC_COOKIE, FIXED_LENGTH);
  patch(fixed);
  return Buffer.concat([fixed, Buffer.from(optionBytes)]);
}

describe('DHCP codec', () => {
  it('round-trips every fixed field and the options in order', () => {
    const m = message(
      [
        [Option.MESSAGE_TYPE, Buffer.from([MessageType.REQUEST])],
        [Option.REQUESTED_IP, ipList(['10.20.0.101'])],
        [Option.SERVER_ID, ipList(['10.20.0.2'])],
        [Option.PARAMETER_LIST, Buffer.from([1, 3, 6, 66, 132])],
        [Option.VENDOR_CLASS, Buffer.from('yealink')],
      ],
      { hops: 1, giaddr: '10.20.0.1', ciaddr: '10.20.0.9', yiaddr: '10.20.0.10', siaddr: '10.20.0.2', sname: 'outpost', file: 'boot.cfg' },
    );
    const { packet, dropped } = encode(m);
    assert.deepEqual(dropped, []);
    const back = decode(packet);
    assert.ok(!(back instanceof Error), String(back));
    assert.deepEqual({ ...back, chaddr: back.chaddr.toString('hex') }, { ...m, chaddr: '001565aabb01' });
    assert.deepEqual([...back.options.keys()], [53, 50, 54, 55, 60]);
  });

  it('joins repeated options (RFC 3396) and splits long ones on the way out', () => {
    const long = Buffer.alloc(600, 0x41);
    const { packet } = encode(message([[Option.MESSAGE_TYPE, Buffer.from([1])], [Option.VENDOR_SPECIFIC, long]]), { maxSize: 1500 });
    const instances = [];
    for (let i = FIXED_LENGTH + 4; i < packet.length && packet[i] !== 255; i += 2 + packet[i + 1]!) if (packet[i] === 43) instances.push(packet[i + 1]);
    assert.deepEqual(instances, [255, 255, 90]);
    const back = decode(packet) as DhcpMessage;
    assert.ok(back.options.get(43)!.equals(long));
  });

  it('reads options carried in the file and sname fields (overload 52), file first', () => {
    const packet = raw([53, 1, 1, 52, 1, 3, 255], (b) => {
      Buffer.from([12, 4, 0x68, 0x6f, 0x73, 0x74, 255]).copy(b, 108); // hostname in file
      Buffer.from([12, 2, 0x2d, 0x32, 60, 3, 0x61, 0x62, 0x63, 255]).copy(b, 44); // more hostname + vendor class in sname
    });
    const m = decode(packet) as DhcpMessage;
    assert.equal(m.options.get(12)?.toString(), 'host-2');
    assert.equal(m.options.get(60)?.toString(), 'abc');
    assert.equal(m.file, '');
    assert.equal(m.sname, '');
  });

  it('uses overload to fit a reply into the client\'s maximum size, and says what did not fit', () => {
    const options: Array<[number, Buffer]> = [[Option.MESSAGE_TYPE, Buffer.from([5])]];
    for (let code = 200; code < 212; code++) options.push([code, Buffer.alloc(40, code)]);
    const { packet, dropped } = encode(message(options), { maxSize: 548 });
    assert.ok(packet.length <= 548, `${packet.length} bytes`);
    const back = decode(packet) as DhcpMessage;
    assert.equal(back.options.get(Option.OVERLOAD)?.[0], 3, 'both file and sname carry options');
    for (let code = 200; code < 212; code++) {
      if (dropped.includes(code)) assert.equal(back.options.get(code), undefined);
      else assert.ok(back.options.get(code)?.equals(Buffer.alloc(40, code)), `option ${code}`);
    }
    assert.ok(dropped.length > 0 && dropped.length < 6, `dropped ${dropped}`);
  });

  it('returns an error, never throws, for malformed packets', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty', Buffer.alloc(0), /too short/],
      ['no cookie', Buffer.alloc(300), /magic cookie/],
      ['option past the end', raw([53, 1, 1, 60, 20, 1, 2]), /runs past the end/],
      ['option without length', raw([53, 1, 1, 60]), /no length byte/],
      ['bad overload', raw([53, 1, 1, 52, 1, 9, 255]), /overload value 9/],
      ['bad message type', raw([53, 2, 1, 1, 255]), /message type/],
      ['hlen over 16', raw([53, 1, 1, 255], (b) => (b[2] = 40)), /hardware address length 40/],
    ];
    for (const [what, packet, expected] of cases) {
      const r = decode(packet);
      assert.ok(r instanceof Error, what);
      assert.match(r.message, expected, what);
    }
  });

  it('survives random and mutated bytes', () => {
    const seed = encode(message([[53, Buffer.from([1])], [55, Buffer.from([1, 3, 6])], [61, Buffer.from('01001565aabb01', 'hex')]])).packet;
    let state = 42;
    const rand = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
    for (let i = 0; i < 20_000; i++) {
      const b = Buffer.from(seed);
      for (let j = 0; j < 1 + rand() * 8; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.2 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
      const r = decode(cut);
      if (!(r instanceof Error)) encode(r);
    }
  });

  it('identifies the client by option 61 before chaddr', () => {
    const withId = message([[Option.CLIENT_ID, Buffer.from('01001565aabb01', 'hex')]]);
    assert.equal(clientKey(withId), 'id:01001565aabb01');
    assert.equal(clientKey(message([])), 'hw:1:001565aabb01');
    assert.equal(chaddrMac(message([])), '001565aabb01');
  });

  it('encodes the values phones need', () => {
    assert.deepEqual(readIpList(ipList(['10.20.0.1', '10.20.0.2'])), ['10.20.0.1', '10.20.0.2']);
    assert.deepEqual(sipServers(['10.20.0.2']), Buffer.from([1, 10, 20, 0, 2]), 'RFC 3361 encoding 1');
    assert.deepEqual(sipServers(['sip.example.net']), Buffer.from([0, 3, ...Buffer.from('sip'), 7, ...Buffer.from('example'), 3, ...Buffer.from('net'), 0]));
    assert.deepEqual(dnsName('a.b.'), Buffer.from([1, 0x61, 1, 0x62, 0]));
    const sub = subOptions([[66, Buffer.from('10.0.0.1')], [67, Buffer.from('x.cfg')]]);
    assert.deepEqual([...readSubOptions(sub)].map(([k, v]) => [k, v.toString()]), [[66, '10.0.0.1'], [67, 'x.cfg']]);
  });
});
