/**
 * An mDNS client for the mDNS tests, run inside a client network namespace (`node --import tsx browser.ts MODE
 * ADDRESS ...`). It prints one JSON object per line on stdout; `{"ready":true}` once it listens.
 *
 *   bonjour ADDRESS            bonjour-service's browser (what a real Bonjour client does) for _outpost._tcp and
 *                              _http._tcp: `{"event":"up"|"down",...}`; stdin `query` asks again.
 *   raw ADDRESS                our own DNS codec on a dgram socket bound to 5353 and joined to 224.0.0.251 on
 *                              ADDRESS: prints every response with every record and its TTL; stdin
 *                              `query NAME TYPE` multicasts a query (so goodbyes, TTL 0, are seen as sent).
 *   unicast ADDRESS NAME TYPE  a one-shot query from an ephemeral port (RFC 6762 §6.7): prints the replies
 *                              received within 2 s, then exits.
 * It never sends anything but queries, and only from ADDRESS.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { createInterface } from 'node:readline';
import Bonjour from 'bonjour-service';

const GROUP = '224.0.0.251';
const PORT = 5353;

function print(o: unknown): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

// --- a small DNS codec, independent of the one Outpost uses ------------------------------------------------------

const TYPES: Record<string, number> = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 };
const NAMES = Object.fromEntries(Object.entries(TYPES).map(([k, v]) => [v, k])) as Record<number, string>;

export interface Rr {
  name: string;
  type: string;
  ttl: number;
  cacheFlush: boolean;
  data: unknown;
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').map((l) => Buffer.from(l, 'utf8'));
  return Buffer.concat([...parts.flatMap((p) => [Buffer.from([p.length]), p]), Buffer.from([0])]);
}

export function encodeQuery(id: number, questions: Array<{ name: string; type: string }>): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(questions.length, 4);
  const qs = questions.map((q) => {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(TYPES[q.type] ?? 255, 0);
    tail.writeUInt16BE(1, 2);
    return Buffer.concat([encodeName(q.name), tail]);
  });
  return Buffer.concat([header, ...qs]);
}

function decodeName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  let at = offset;
  for (let hops = 0; hops < 64; hops++) {
    const len = buf[at];
    if (len === undefined) throw new Error('name runs past the packet');
    if (len === 0) {
      if (next < 0) next = at + 1;
      return { name: labels.join('.'), next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = at + 2;
      at = buf.readUInt16BE(at) & 0x3fff;
      continue;
    }
    if (len > 63) throw new Error(`bad label length ${len}`);
    labels.push(buf.toString('utf8', at + 1, at + 1 + len));
    at += 1 + len;
  }
  throw new Error('compression loop');
}

export function decodePacket(buf: Buffer): { id: number; response: boolean; questions: Array<{ name: string; type: string }>; records: Rr[] } {
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o));
  let at = 12;
  const questions: Array<{ name: string; type: string }> = [];
  for (let i = 0; i < counts[0]!; i++) {
    const n = decodeName(buf, at);
    questions.push({ name: n.name, type: NAMES[buf.readUInt16BE(n.next)] ?? String(buf.readUInt16BE(n.next)) });
    at = n.next + 4;
  }
  const records: Rr[] = [];
  const total = counts[1]! + counts[2]! + counts[3]!;
  for (let i = 0; i < total; i++) {
    const n = decodeName(buf, at);
    const type = buf.readUInt16BE(n.next);
    const cls = buf.readUInt16BE(n.next + 2);
    const ttl = buf.readUInt32BE(n.next + 4);
    const len = buf.readUInt16BE(n.next + 8);
    const start = n.next + 10;
    const rdata = buf.subarray(start, start + len);
    let data: unknown = rdata.toString('hex');
    if (type === 1) data = [...rdata].join('.');
    else if (type === 12) data = decodeName(buf, start).name;
    else if (type === 33) data = { priority: rdata.readUInt16BE(0), weight: rdata.readUInt16BE(2), port: rdata.readUInt16BE(4), target: decodeName(buf, start + 6).name };
    else if (type === 16) {
      const strings: string[] = [];
      for (let p = 0; p < rdata.length; ) {
        const l = rdata[p]!;
        strings.push(rdata.toString('utf8', p + 1, p + 1 + l));
        p += 1 + l;
      }
      data = strings;
    }
    records.push({ name: n.name, type: NAMES[type] ?? String(type), ttl, cacheFlush: (cls & 0x8000) !== 0, data });
    at = start + len;
  }
  return { id, response: (flags & 0x8000) !== 0, questions, records };
}

// --- modes -----------------------------------------------------------------------------------------------------

function onStdin(handler: (words: string[]) => void): void {
  createInterface({ input: process.stdin }).on('line', (line) => handler(line.trim().split(/\s+/)));
  process.stdin.on('end', () => process.exit(0));
}

function raw(address: string): void {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  socket.on('error', (err) => {
    print({ error: String(err) });
    process.exit(3);
  });
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    try {
      const p = decodePacket(msg);
      if (p.response) print({ event: 'response', from: rinfo.address, port: rinfo.port, id: p.id, records: p.records });
    } catch (err) {
      print({ event: 'undecodable', from: rinfo.address, error: String(err) });
    }
  });
  socket.bind(PORT, '0.0.0.0', () => {
    socket.addMembership(GROUP, address);
    socket.setMulticastInterface(address);
    socket.setMulticastTTL(255);
    print({ ready: true });
  });
  let id = 0;
  onStdin(([cmd, name, type]) => {
    if (cmd === 'query' && name) socket.send(encodeQuery(++id & 0xffff, [{ name, type: type ?? 'PTR' }]), PORT, GROUP);
  });
}

function unicast(address: string, name: string, type: string): void {
  const socket = createSocket({ type: 'udp4' });
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    try {
      const p = decodePacket(msg);
      if (p.response) print({ event: 'response', from: rinfo.address, port: rinfo.port, id: p.id, questions: p.questions, records: p.records });
    } catch (err) {
      print({ event: 'undecodable', from: rinfo.address, error: String(err) });
    }
  });
  socket.bind(0, address, () => {
    socket.setMulticastInterface(address);
    print({ ready: true, port: socket.address().port });
    socket.send(encodeQuery(0x1234, [{ name, type }]), PORT, GROUP);
    setTimeout(() => {
      socket.close();
      process.exit(0);
    }, 2000);
  });
}

function bonjour(address: string): void {
  const b = new Bonjour({ bind: '0.0.0.0', interface: address } as ConstructorParameters<typeof Bonjour>[0], (err: Error) => print({ error: String(err) }));
  const mdns = (b as unknown as { server: { mdns: NodeJS.EventEmitter } }).server.mdns;
  mdns.on('error', (err: Error) => {
    print({ error: String(err) });
    process.exit(3);
  });
  mdns.on('warning', (err: Error) => print({ warning: String(err) }));
  const browsers = (['outpost', 'http'] as const).map((type) => {
    const browser = b.find({ type });
    const view = (s: Bonjour.Service) => ({ type, name: s.name, host: s.host, port: s.port, addresses: s.addresses, txt: s.txt, fqdn: s.fqdn, from: s.referer?.address });
    browser.on('up', (s) => print({ event: 'up', ...view(s) }));
    browser.on('down', (s) => print({ event: 'down', ...view(s) }));
    return browser;
  });
  mdns.once('ready', () => print({ ready: true }));
  onStdin(([cmd]) => {
    if (cmd === 'query') for (const browser of browsers) browser.update();
  });
}

const [mode, address, name, type] = process.argv.slice(2);
if (!address) {
  process.stderr.write('usage: browser.ts bonjour|raw|unicast ADDRESS [NAME TYPE]\n');
  process.exit(2);
}
if (mode === 'raw') raw(address);
else if (mode === 'unicast') unicast(address, name ?? '_outpost._tcp.local', type ?? 'PTR');
else if (mode === 'bonjour') bonjour(address);
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
