/** UDP and TCP on one port, with real sockets on 127.0.0.1: framing, keep-alives, limits, malformed input. */
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { silentLogger } from '../../src/app/log.js';
import type { SipMessage } from '../../src/sip/message.js';
import { SipTransport, type Remote } from '../../src/sip/transport.js';

const OPTIONS = (n: number, body = '') =>
  `OPTIONS sip:outpost@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK${n}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: c${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

describe('SIP transport (UDP + TCP, real sockets)', function () {
  this.timeout(20_000);
  let transport: SipTransport;
  const got: Array<{ msg: SipMessage; remote: Remote }> = [];
  const bad: Array<{ raw: Buffer; reason: string }> = [];
  const sockets: Socket[] = [];

  before(async () => {
    transport = new SipTransport({
      host: '127.0.0.1', port: 0, log: silentLogger, maxConnections: 3,
      onMessage: (msg, remote) => got.push({ msg, remote }),
      onMalformed: (raw, _remote, err) => bad.push({ raw, reason: err.message }),
    });
    await transport.start();
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await transport.stop();
  });

  async function tcp(): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
    const socket = connect(transport.port, '127.0.0.1');
    sockets.push(socket);
    let data = '';
    let closed = false;
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    return { socket, received: () => data, closed: () => closed };
  }

  it('UDP: a datagram becomes a message with its source; a malformed one is reported, not thrown', async () => {
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const before = got.length;
    udp.send(Buffer.from(OPTIONS(1).replace('TCP', 'UDP')), transport.port, '127.0.0.1');
    udp.send(Buffer.from('GARBAGE\r\n\r\n'), transport.port, '127.0.0.1');
    await until(() => got.length > before && bad.length > 0);
    assert.equal(got[got.length - 1]!.remote.transport, 'udp');
    assert.equal(got[got.length - 1]!.remote.port, udp.address().port);
    assert.match(bad[0]!.reason, /request line|start line|not a header/i);
    udp.close();
  });

  it('UDP: sends to an address at once and to a host name through DNS', async () => {
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const heard: string[] = [];
    udp.on('message', (b) => heard.push(b.toString('latin1')));
    const port = udp.address().port;
    transport.sendBytes(Buffer.from('to an address'), { transport: 'udp', address: '127.0.0.1', port });
    transport.sendBytes(Buffer.from('to a name'), { transport: 'udp', address: 'localhost', port });
    transport.sendBytes(Buffer.from('to no name'), { transport: 'udp', address: 'no-such-host.invalid', port });
    await until(() => heard.length >= 2);
    await sleep(100);
    assert.deepEqual(heard.sort(), ['to a name', 'to an address']);
    udp.close();
  });

  it('TCP: two messages in one write, and one split across three writes, all framed by Content-Length', async () => {
    const c = await tcp();
    const before = got.length;
    c.socket.write(OPTIONS(2, 'hello') + OPTIONS(3));
    const third = Buffer.from(OPTIONS(4, 'body with\r\n\r\nCRLFs'));
    c.socket.write(third.subarray(0, 20));
    await sleep(30);
    c.socket.write(third.subarray(20, 150));
    await sleep(30);
    c.socket.write(third.subarray(150));
    await until(() => got.length >= before + 3);
    const msgs = got.slice(before).map((g) => g.msg);
    assert.deepEqual(msgs.map((m) => m.headers.get('Call-ID')), ['c2', 'c3', 'c4']);
    assert.equal(msgs[0]!.body.toString(), 'hello');
    assert.equal(msgs[2]!.body.toString(), 'body with\r\n\r\nCRLFs');
    assert.equal(got[got.length - 1]!.remote.transport, 'tcp');
    assert.ok(got[got.length - 1]!.remote.connection !== undefined, 'the connection is named, for the answer');
  });

  it('TCP: a CRLF CRLF keep-alive ping gets a CRLF pong (RFC 5626 §3.5.1)', async () => {
    const c = await tcp();
    c.socket.write('\r\n\r\n');
    await until(() => c.received().length > 0);
    assert.equal(c.received(), '\r\n');
    assert.ok(transport.counters.keepalives >= 1);
  });

  it('TCP: a message without Content-Length or with endless headers closes the connection; the server goes on', async () => {
    const a = await tcp();
    a.socket.write(OPTIONS(5).replace(/Content-Length: 0\r\n/, ''));
    await until(() => a.closed());
    const b = await tcp();
    b.socket.write(`OPTIONS sip:x@y SIP/2.0\r\nX-Long: ${'a'.repeat(20_000)}`);
    await until(() => b.closed());
    const c = await tcp();
    const before = got.length;
    c.socket.write(OPTIONS(6));
    await until(() => got.length > before);
  });

  it('TCP: past maxConnections a new connection is closed at once and counted', async () => {
    for (const s of sockets) s.destroy();
    await sleep(50);
    const open = [await tcp(), await tcp(), await tcp()];
    const refusedBefore = transport.counters.connectionsRefused;
    const extra = await tcp();
    await until(() => extra.closed());
    assert.equal(transport.counters.connectionsRefused, refusedBefore + 1);
    assert.ok(open.every((o) => !o.closed()), 'the first three stay');
  });

  it('sends a message back on the connection it came in on', async () => {
    for (const s of sockets) s.destroy();
    await sleep(50);
    const c = await tcp();
    const before = got.length;
    c.socket.write(OPTIONS(7));
    await until(() => got.length > before);
    const { msg, remote } = got[got.length - 1]!;
    transport.send({ kind: 'response', version: 'SIP/2.0', status: 200, reason: 'OK', headers: msg.headers.clone(), body: Buffer.alloc(0) }, remote);
    await until(() => c.received().includes('SIP/2.0 200 OK'));
    assert.match(c.received(), /Call-ID: c7\r\n/);
  });
});
