/**
 * Fuzzing the running SIP service: tens of thousands of mutated REGISTER and INVITE messages, made from a few valid
 * seeds by a seeded PRNG (deterministic: the seed is printed; SIP_FUZZ_SEED=<n> replays a run), sent over UDP at a
 * bounded rate from several loopback addresses and over a few TCP connections. Afterwards the process still
 * serves HTTP and SIP, its heap is back where it was, the transactions have drained, nothing was thrown, and a
 * REGISTER with digest still gets its 200.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, isIP, type Socket } from 'node:net';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Rng } from '../support/rng.js';
import { authRow, HOST, killChildren, registrations, SipClient, sipp, sleep, startSip, waitFor, type SipHarness } from './harness.js';

const USER = '420234567111';
const PASSWORD = 'fuzz-line-Secret';
const MAX_DATAGRAM = 65_000;

interface Fill {
  transport: 'UDP' | 'TCP';
  src: string;
  srcPort: number;
  dst: number;
  n: number;
}

/** The valid messages everything is made from. */
const SEEDS: Array<(f: Fill) => string> = [
  (f) => [
    `REGISTER sip:${HOST}:${f.dst} SIP/2.0`,
    `Via: SIP/2.0/${f.transport} ${f.src}:${f.srcPort};branch=z9hG4bK-fz-${f.n};rport`,
    'Max-Forwards: 70',
    `From: "Fuzz ${f.n}" <sip:${USER}@${HOST}>;tag=ft${f.n}`,
    `To: <sip:${USER}@${HOST}>`,
    `Call-ID: fuzz-${f.n}@${f.src}`,
    `CSeq: ${1 + (f.n % 1000)} REGISTER`,
    `Contact: <sip:${USER}@${f.src}:${f.srcPort};transport=${f.transport.toLowerCase()}>;expires=300;q=0.5`,
    'Expires: 300',
    'User-Agent: Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01',
    'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS',
    'Content-Length: 0',
    '', '',
  ].join('\r\n'),
  (f) => [
    `REGISTER sip:${HOST}:${f.dst};transport=${f.transport.toLowerCase()} SIP/2.0`,
    `Via: SIP/2.0/${f.transport} ${f.src}:${f.srcPort};rport;branch=z9hG4bK-fz-${f.n}`,
    `From: <sip:${USER}@${HOST}>;tag=a${f.n}`,
    `To: "Line 111" <sip:${USER}@${HOST}>`,
    `Call-ID: ${f.n}-auth`,
    `CSeq: ${f.n % 65536} REGISTER`,
    `Contact: "Desk" <sip:${USER}@${f.src}:${f.srcPort}>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-00156500${String(f.n % 10000).padStart(4, '0')}>", <sip:${USER}@${f.src}:5999>;expires=60`,
    `Authorization: Digest username="${USER}", realm="outpost", nonce="AAAAAGsNaLywMcwcNthrNILVwNgktq-yFFbMzmCpTlGhftPK", uri="sip:${HOST}:${f.dst}", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="c${f.n}", qop=auth, nc=00000001, opaque="HCiqqlqDRTMwx27q1ooN"`,
    'Expires: 3600',
    'Supported: path, outbound, gruu',
    'Max-Forwards: 70',
    'Content-Length: 0',
    '', '',
  ].join('\r\n'),
  (f) => [
    `REGISTER sip:${HOST} SIP/2.0`,
    `v: SIP/2.0/${f.transport} ${f.src}:${f.srcPort};branch=z9hG4bK-fz-${f.n};rport`,
    `f: <sip:${USER}@${HOST}>;tag=c${f.n}`,
    `t: sip:${USER}@${HOST}`,
    `i: compact-${f.n}`,
    'CSeq: 7 REGISTER',
    'm: *',
    'Expires: 0',
    'l: 0',
    '', '',
  ].join('\r\n'),
  (f) => {
    const sdp = [
      'v=0', `o=- ${f.n} 1 IN IP4 ${f.src}`, 's=-', `c=IN IP4 ${f.src}`, 't=0 0', `m=audio ${10000 + (f.n % 1000) * 2} RTP/AVP 8 0 101`,
      'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', '',
    ].join('\r\n');
    return [
      `INVITE sip:234567112@${HOST}:${f.dst};user=phone SIP/2.0`,
      `Via: SIP/2.0/${f.transport} ${f.src}:${f.srcPort};branch=z9hG4bK-fz-${f.n};rport`,
      'Max-Forwards: 70',
      `From: "Jan Novak" <sip:${USER}@${HOST}>;tag=i${f.n}`,
      `To: <sip:234567112@${HOST}>`,
      `Call-ID: invite-${f.n}@${f.src}`,
      `CSeq: ${f.n % 100000} INVITE`,
      `Contact: <sip:${USER}@${f.src}:${f.srcPort}>`,
      'Supported: replaces, timer, 100rel',
      'Session-Expires: 1800',
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
  },
  (f) => [
    `INVITE sip:112@${HOST} SIP/2.0`,
    `Via: SIP/2.0/${f.transport} ${f.src}:${f.srcPort};branch=z9hG4bK-fz-${f.n};rport, SIP/2.0/UDP 10.20.0.99:5060;branch=z9hG4bK-old-${f.n};received=10.20.0.99`,
    'Via: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK-v6',
    'Max-Forwards: 3',
    `From: <sip:${USER}@${HOST}>;tag=e${f.n}`,
    'To: "Emergency" <sip:112@outpost.invalid>',
    `Call-ID: emergency-${f.n}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:${USER}@${f.src}:${f.srcPort};transport=${f.transport.toLowerCase()}>;expires=60`,
    `Proxy-Authorization: Digest username="${USER}", realm="outpost", nonce="x", uri="sip:112@${HOST}", response="00"`,
    'Require: 100rel',
    'Record-Route: <sip:10.20.0.1;lr>',
    'Content-Length: 0',
    '', '',
  ].join('\r\n'),
];

const JUNK_URIS = [
  'sip:', 'sip:@', 'sip:[::1', 'sip:u@h:99999', 'sip:u@h:-1', '<sip:a@b>', 'tel:+1;', 'sips:', 'sip:%00@host', 'sip:a@b;;;=', 'sip:user@host?',
  'http://x/', '*', '', 'sip:a@b:5060:5060', 'sip:[fe80::1%eth0]', 'sip:\u00ff\u00fe@h', 'sip:a@b;maddr=', 'sip:a@' + 'x'.repeat(3000), 'sip:%zz@h', 'SIP:A@B',
];
const CSEQ_NUMBERS = ['0', '4294967295', '4294967296', '2147483648', '99999999999999999999999999', '-1', '1.5', '', ' ', '0x10', '1e9', '00000000000000000000001'];
const METHODS = ['REGISTER', 'INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'register', 'REGISTERX', '', 'INV ITE', 'PRACK', 'SUBSCRIBE', 'X'.repeat(200)];
const CONTENT_LENGTHS = ['-1', '0', '99999999999999999999', '65536', '1e3', ' 5', 'abc', '4294967296', '00000000000000000000000000012', '', '1, 2'];
const HEADER_NAMES = ['Via', 'v', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'm', 'Expires', 'Content-Length', 'l', 'Authorization', 'Max-Forwards', 'Route', 'Require', 'WWW-Authenticate', 'Min-Expires'];

function splitHead(text: string): { lines: string[]; body: string } {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { lines: text.split('\r\n'), body: '' };
  return { lines: text.slice(0, end).split('\r\n'), body: text.slice(end + 4) };
}
const joinHead = (lines: string[], body: string) => `${lines.join('\r\n')}\r\n\r\n${body}`;

type Mutation = (text: string, r: Rng) => string;

/** Each takes and gives the message as Latin-1 text (one character a byte). */
const MUTATIONS: Record<string, Mutation> = {
  flipBytes(text, r) {
    const chars = text.split('');
    for (let i = 1 + r.int(8); i > 0 && chars.length; i--) {
      const at = r.int(chars.length);
      chars[at] = String.fromCharCode((chars[at]!.charCodeAt(0) ^ (1 << r.int(8))) & 0xff);
    }
    return chars.join('');
  },
  truncate: (text, r) => text.slice(0, r.int(text.length)),
  duplicateHeader(text, r) {
    const { lines, body } = splitHead(text);
    if (lines.length < 2) return text;
    const at = 1 + r.int(lines.length - 1);
    const times = r.pick([1, 2, 5, 50, 250]);
    lines.splice(at, 0, ...Array.from({ length: times }, () => lines[at]!));
    return joinHead(lines, body);
  },
  deleteCrlf(text, r) {
    let out = text;
    for (let i = 1 + r.int(3); i > 0; i--) {
      const positions = [...out.matchAll(/\r\n/g)].map((m) => m.index);
      if (!positions.length) break;
      const at = r.pick(positions);
      out = out.slice(0, at) + r.pick(['', '\r', '\n', ' ', '\n\r']) + out.slice(at + 2);
    }
    return out;
  },
  hugeValue(text, r) {
    const { lines, body } = splitHead(text);
    const at = r.int(lines.length);
    const size = r.pick([1000, 4000, 9000, 17_000, 40_000, 60_000]);
    const filler = r.pick(['A', ';x=y', ',', '"', '<', ' ', '%41']);
    lines[at] = lines[at]! + filler.repeat(Math.ceil(size / filler.length)).slice(0, size);
    return joinHead(lines, body);
  },
  contentLength(text, r) {
    const value = r.chance(0.3) ? String(r.int(3000)) : r.pick(CONTENT_LENGTHS);
    if (/\r\n(Content-Length|l)\s*:[^\r]*/i.test(text)) return text.replace(/\r\n(Content-Length|l)\s*:[^\r]*/i, `\r\nContent-Length: ${value}`);
    const { lines, body } = splitHead(text);
    lines.push(`Content-Length: ${value}`);
    return joinHead(lines, body);
  },
  nulAndHighBytes(text, r) {
    let out = text;
    for (let i = 1 + r.int(6); i > 0; i--) {
      const at = r.int(out.length + 1);
      const byte = r.chance(0.4) ? 0 : r.chance(0.2) ? r.pick([0x7f, 0x0b, 0x0c, 0x1b]) : 0x80 + r.int(128);
      out = out.slice(0, at) + String.fromCharCode(byte).repeat(r.pick([1, 1, 3, 100])) + out.slice(at);
    }
    return out;
  },
  mangleName(text, r) {
    const { lines, body } = splitHead(text);
    if (lines.length < 2) return text;
    const at = 1 + r.int(lines.length - 1);
    const line = lines[at]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : line;
    const value = colon > 0 ? line.slice(colon + 1) : '';
    const mangled = r.pick([
      () => `${name.toUpperCase()}:${value}`,
      () => `${name} \t :${value}`,
      () => `${name}${value}`,
      () => `:${value}`,
      () => `${name}\x01:${value}`,
      () => `${name.slice(0, 1)} ${name.slice(1)}:${value}`,
      () => `${r.pick(HEADER_NAMES)}:${value}`,
      () => `${name}::${value}`,
      () => ` ${line}`,
      () => `${name}: ${r.pick(JUNK_URIS)}`,
    ])();
    lines[at] = mangled;
    return joinHead(lines, body);
  },
  splitVia(text, r) {
    const { lines, body } = splitHead(text);
    const at = lines.findIndex((l) => /^(Via|v)\s*:/i.test(l));
    if (at < 0) return text;
    const value = lines[at]!.replace(/^(Via|v)\s*:\s*/i, '');
    const cut = r.int(value.length);
    const replacement = r.pick([
      () => [`Via: ${value.slice(0, cut)}`, `Via: ${value.slice(cut)}`],
      () => [`Via: ${value.slice(0, cut)}`, ` ${value.slice(cut)}`], // folded (obsolete line folding)
      () => [`Via: ${value.slice(0, cut)}`, `\t${value.slice(cut)}`],
      () => [`Via: ${value}, ${value.slice(cut)}`],
      () => [`Via: ${value.replace(/;branch=[^;,]*/, '')}`],
      () => [`Via: SIP/2.0/UDP [::1:${value.length}];branch=z9hG4bK${cut}`],
      () => [`Via: SIP/2.0/UDP ${'a.'.repeat(200)}b:${r.pick(['0', '65536', '-5', 'x'])};branch=z9hG4bK-h`],
      () => [`Via: ${value};received=${r.pick(['1.2.3', '::1', '999.1.1.1', ''])};rport=${r.pick(['', '0', '70000', 'x'])}`],
      () => [],
    ])();
    lines.splice(at, 1, ...replacement);
    return joinHead(lines, body);
  },
  insaneCseq(text, r) {
    const line = `CSeq: ${r.pick(CSEQ_NUMBERS)} ${r.pick(METHODS)}`;
    if (/\r\nCSeq\s*:[^\r]*/i.test(text)) return text.replace(/\r\nCSeq\s*:[^\r]*/i, `\r\n${line}`);
    return text.replace('\r\n', `\r\n${line}\r\n`);
  },
  badUri(text, r) {
    const uri = r.pick(JUNK_URIS);
    const where = r.int(4);
    if (where === 0) return text.replace(/^(\S+) \S+ /, `$1 ${uri} `);
    if (where === 1) return text.replace(/\r\n(To|t)\s*:[^\r]*/i, `\r\nTo: <${uri}>`);
    if (where === 2) return text.replace(/\r\n(From|f)\s*:[^\r]*/i, `\r\nFrom: ${uri};tag=1`);
    return text.replace(/\r\n(Contact|m)\s*:[^\r]*/i, `\r\nContact: <${uri}>;expires=${r.pick(['', 'x', '-1', '99999999999'])};q=${r.pick(['2', '0.5.5', ''])}`);
  },
  startLine(text, r) {
    const end = text.indexOf('\r\n');
    const first = end < 0 ? text : text.slice(0, end);
    const rest = end < 0 ? '' : text.slice(end);
    const parts = first.split(' ');
    const choice = r.int(4);
    if (choice === 0) parts[0] = r.pick(METHODS);
    else if (choice === 1) parts[parts.length - 1] = r.pick(['SIP/3.0', 'SIP/2.00', 'sip/2.0', 'SIP/2', 'HTTP/1.1', '']);
    else if (choice === 2) return `SIP/2.0 ${r.pick(['200 OK', '401 Unauthorized', '999 X', '100', '99 Low'])}${rest}`;
    else return `${first}  ${r.pick(['extra', '', 'SIP/2.0'])}${rest}`;
    return parts.join(' ') + rest;
  },
  shuffleLines(text, r) {
    const { lines, body } = splitHead(text);
    for (let i = lines.length - 1; i > 0; i--) {
      if (!r.chance(0.3)) continue;
      const j = r.int(i + 1);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    }
    return joinHead(lines, body);
  },
  junkBody(text, r) {
    const bytes = Array.from({ length: r.pick([1, 10, 500, 5000]) }, () => String.fromCharCode(r.int(256))).join('');
    return r.chance(0.5) ? text + bytes : `${text}\r\n\r\n${bytes}`;
  },
};
const MUTATION_NAMES = Object.keys(MUTATIONS);

/** One fuzzed message: a seed, then one to three mutations (and 3% left valid). */
function fuzzed(r: Rng, fill: Fill, used: Map<string, number>): Buffer {
  let text = r.pick(SEEDS)(fill);
  if (!r.chance(0.03)) {
    for (let i = 1 + r.int(3); i > 0; i--) {
      const name = r.pick(MUTATION_NAMES);
      used.set(name, (used.get(name) ?? 0) + 1);
      text = MUTATIONS[name]!(text, r);
    }
  }
  const bytes = Buffer.from(text, 'latin1');
  return bytes.length > MAX_DATAGRAM ? bytes.subarray(0, MAX_DATAGRAM) : bytes;
}

/** What is still alive in the transaction layer, by method and state (for a failure message). */
function leftovers(layer: unknown): string {
  const servers = (layer as { servers?: Map<string, { request: { method: string; uri: string }; state: string; remote: { transport: string }; last?: { status: number; reason: string } }> }).servers;
  const counts = new Map<string, number>();
  for (const tx of servers?.values() ?? []) {
    const key = `${tx.remote.transport} ${tx.request.method} ${tx.state} (answered ${tx.last?.status ?? '-'} ${tx.last?.reason ?? ''})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return JSON.stringify([...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20));
}

function spaces(): Record<string, number> {
  return Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_used_size]));
}

/** A real garbage-collected heap figure: --expose-gc turned on from inside (the test runner need not pass it). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

describe('SIP fuzz: mutated REGISTER and INVITE messages against the running server', function () {
  this.timeout(120_000);
  const seed = Number(process.env.SIP_FUZZ_SEED ?? 20261130);
  let h: SipHarness;
  const sockets: UdpSocket[] = [];
  const connections = new Set<Socket>();
  const thrown: unknown[] = [];
  let sampler: NodeJS.Timeout | undefined;
  const onThrow = (err: unknown) => thrown.push(err);

  before(async () => {
    h = await startSip({ site: { lines: [{ ext: '111', name: 'Fuzz', user: USER, password: PASSWORD }] }, logLevel: 'warn' });
    process.on('uncaughtException', onThrow);
    process.on('unhandledRejection', onThrow);
  });
  after(async () => {
    clearInterval(sampler);
    process.off('uncaughtException', onThrow);
    process.off('unhandledRejection', onThrow);
    for (const s of sockets.splice(0)) {
      try {
        s.close();
      } catch {
        /* closed */
      }
    }
    for (const c of connections) c.destroy();
    killChildren();
    await h?.close();
  });

  it(`survives 36,000 mutated datagrams and 4,000 TCP messages: still serving, heap flat, transactions drained, REGISTER still works (seed ${seed})`, async () => {
    console.log(`      fuzz seed ${seed} (SIP_FUZZ_SEED=${seed} replays this run)`);
    const r = new Rng(seed);
    const sip = h.running.sip!;
    const gc = collector();
    const sources = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];
    let answers = 0;
    for (const address of sources) {
      const s = createSocket('udp4');
      s.on('message', () => void answers++);
      s.on('error', () => undefined);
      await new Promise<void>((resolve) => s.bind(0, address, () => resolve()));
      sockets.push(s);
    }
    const ports = sockets.map((s) => s.address().port);
    // Traffic stays on 127.0.0.0/8: a mutated message can name any host (the survival proxy forwards in-dialog
    // requests to their Route or Request-URI), so whatever Outpost would send elsewhere, or to a name it would
    // have to look up, is counted and not sent. Calls Outpost forwards are counted by Call-ID.
    const transport = sip.transport;
    const send = transport.send.bind(transport);
    let heldBack = 0;
    const heldBackKinds = new Map<string, number>();
    const forwarded = new Set<string>();
    transport.send = (msg, remote) => {
      if (msg.kind === 'request' && msg.method === 'INVITE') forwarded.add(msg.headers.get('Call-ID') ?? '');
      if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(remote.address)) {
        heldBack++;
        const kind = `${msg.kind === 'request' ? msg.method : msg.status} to ${isIP(remote.address) ? 'an address' : 'a name'}`;
        heldBackKinds.set(kind, (heldBackKinds.get(kind) ?? 0) + 1);
        return;
      }
      send(msg, remote);
    };
    const used = new Map<string, number>();

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const spacesBefore = spaces();
    const t = sip.transport.counters;
    const arrived = () => t.received + t.keepalives;
    const arrivedBefore = arrived();
    let maxServer = 0;
    let maxHeap = heapBefore;
    const sample = () => {
      maxServer = Math.max(maxServer, sip.layer.size().server);
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    };
    sampler = setInterval(sample, 100);

    // UDP: batches of 200, then a pause until the server has read what was sent (bounded), so the socket buffer
    // does not simply drop the flood.
    const UDP_MESSAGES = 36_000;
    const started = Date.now();
    let sent = 0;
    let bytes = 0;
    for (let batch = 0; sent < UDP_MESSAGES; batch++) {
      for (let i = 0; i < 200 && sent < UDP_MESSAGES; i++, sent++) {
        const k = sent % sockets.length;
        const msg = fuzzed(r, { transport: 'UDP', src: sources[k]!, srcPort: ports[k]!, dst: h.sipPort, n: sent }, used);
        bytes += msg.length;
        sockets[k]!.send(msg, h.sipPort, HOST);
      }
      const deadline = Date.now() + 250;
      while (arrived() - arrivedBefore < sent - 50 && Date.now() < deadline) await sleep(2);
    }
    await waitFor('the last datagrams read', 2000, () => arrived() - arrivedBefore >= sent - 50).catch(() => undefined);
    const udpMs = Date.now() - started;
    const udpArrived = arrived() - arrivedBefore;

    // TCP: a few connections at a time with mutated messages and raw garbage; the server may close a connection
    // whose stream it cannot frame, then another one is opened (bounded).
    const TCP_MESSAGES = 4000;
    let tcpSent = 0;
    let tcpOpened = 0;
    const receivedBeforeTcp = t.received;
    const open = () =>
      new Promise<Socket | undefined>((resolve) => {
        tcpOpened++;
        const c = connect({ host: HOST, port: h.sipPort, localAddress: r.pick(sources) });
        connections.add(c);
        c.on('error', () => undefined);
        c.on('data', () => void answers++);
        c.on('close', () => connections.delete(c));
        c.once('connect', () => resolve(c));
        c.once('error', () => resolve(undefined));
      });
    const live: Socket[] = [];
    while (tcpSent < TCP_MESSAGES && tcpOpened < 1000) {
      for (let i = live.length - 1; i >= 0; i--) if (live[i]!.destroyed) live.splice(i, 1);
      while (live.length < 8 && tcpOpened < 1000) {
        const c = await open();
        if (c) live.push(c);
      }
      for (const c of live) {
        if (c.destroyed) continue;
        for (let i = 0; i < 5 && tcpSent < TCP_MESSAGES; i++, tcpSent++) {
          const a = c.address() as { address: string; port: number };
          const msg = r.chance(0.1)
            ? Buffer.from(Array.from({ length: r.pick([1, 64, 2000, 20_000]) }, () => r.int(256)))
            : fuzzed(r, { transport: 'TCP', src: a.address, srcPort: a.port, dst: h.sipPort, n: UDP_MESSAGES + tcpSent }, used);
          // Sometimes split one message over several writes.
          if (r.chance(0.2) && msg.length > 10) {
            const cut = 1 + r.int(msg.length - 1);
            c.write(msg.subarray(0, cut));
            c.write(msg.subarray(cut));
          } else c.write(msg);
        }
      }
      await sleep(5);
    }
    await sleep(300);
    const tcpReceived = t.received - receivedBeforeTcp;
    for (const c of connections) c.destroy();
    const totalMs = Date.now() - started;

    // The server is still up: HTTP answers, SIP answers, nothing was thrown.
    const health = await fetch(`http://${HOST}:${h.httpPort}/healthz`);
    assert.equal(health.status, 200);
    const mutationCounts = [...used.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(
      `      UDP: ${sent} datagrams (${(bytes / 1e6).toFixed(1)} MB) in ${udpMs} ms, ${udpArrived} read by the server; TCP: ${tcpSent} messages on ${tcpOpened} connections, ${tcpReceived} framed and read; ` +
        `${totalMs} ms in all; malformed ${sip.counters.malformed}, answered 400 ${sip.counters.answered400}, dropped ${sip.counters.dropped}, ` +
        `transactions ${sip.layer.counters.requests}, absorbed retransmissions ${sip.layer.counters.retransmissionsAbsorbed}, answers seen ${answers}, tarpitted ${sip.counters.tarpitted}, REGISTER outcomes ${JSON.stringify(sip.counters.registers)}`,
    );
    console.log(`      mutations used: ${mutationCounts}`);
    assert.ok(sent >= 30_000);
    assert.ok(udpArrived >= sent * 0.95, `the server read ${udpArrived} of ${sent} datagrams`);
    assert.ok(tcpReceived >= 800, `only ${tcpReceived} TCP messages were framed`);
    assert.ok(tcpOpened > 20, 'connections the server closed (streams it could not frame) were replaced');
    assert.ok(sip.counters.malformed > 1000 && sip.counters.answered400 > 1000, 'the mutations did produce malformed messages, and 400s were sent');
    assert.ok(sip.layer.counters.requests > 1000, 'and many still parsed into transactions');
    assert.equal(sip.counters.registers.ok, 0, 'no mutated REGISTER passed digest authentication');
    assert.equal(sip.counters.registers.error, 0, 'no request made the handler throw (a 500)');
    const errors = h.logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
    assert.deepEqual(errors, [], 'no error logged');

    // Transactions end by their timers (Timer J/H: 64*T1 = 32 s after the last answer). An INVITE Outpost
    // forwarded to a next hop that never answers lives Timer B and then Timer H (64 s): those, and only those, may
    // still be there.
    const drainStart = Date.now();
    await waitFor('the server transactions to drain', 40_000, () => sip.layer.size().server <= forwarded.size, 250).catch((err: Error) => {
      throw new Error(`${err.message}: ${leftovers(sip.layer)}`);
    });
    const left = leftovers(sip.layer);
    clearInterval(sampler);
    sample();
    const drainMs = Date.now() - drainStart;
    await sleep(100);
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    const spacesAfter = spaces();
    console.log(`      heap spaces (MB, before -> after): ${Object.keys(spacesAfter).map((k) => `${k} ${((spacesBefore[k] ?? 0) / 1e6).toFixed(1)}->${(spacesAfter[k]! / 1e6).toFixed(1)}`).join(', ')}`);
    console.log(
      `      transactions: at most ${maxServer} server transactions alive, drained ${drainMs} ms after the last message; ` +
        `heap ${(heapBefore / 1e6).toFixed(1)} MB before, ${(maxHeap / 1e6).toFixed(1)} MB at most, ${(heapAfter / 1e6).toFixed(1)} MB after (GC); ` +
        `INVITEs forwarded by the proxy ${forwarded.size}, messages to non-loopback destinations held back ${heldBack} (${JSON.stringify([...heldBackKinds])}); left: ${left}`,
    );
    assert.ok(!/"(udp|tcp) (?!INVITE)/.test(left), `only forwarded INVITEs may be left: ${left}`);
    assert.ok(maxServer > 100, 'transactions were alive during the run (the sampler saw them)');
    assert.ok(heapAfter - heapBefore < 10e6, `heap grew by ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB`);

    // A valid REGISTER with digest, from an address the fuzz did not get blocked, succeeds: UDP and TCP (sipp).
    const c = await SipClient.open({ host: HOST, port: h.sipPort });
    try {
      const reg = await c.registerWithAuth(USER, PASSWORD, { expires: 300 });
      assert.equal(reg.final?.status, 200, reg.final?.raw);
    } finally {
      c.close();
    }
    const viaTcp = await sipp(h, 'register.xml', [authRow(USER, PASSWORD)], { transport: 'tcp', keys: { expires: '300' } });
    assert.equal(viaTcp.successful, 1, viaTcp.stdout.slice(-2000));
    assert.equal((await registrations(h)).filter((x) => x.user === USER).length, 2);

    assert.deepEqual(thrown, []);
    const health2 = await fetch(`http://${HOST}:${h.httpPort}/healthz`);
    assert.equal(health2.status, 200);
  });
});
