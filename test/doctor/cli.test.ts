/**
 * `outpost doctor` through the real binary: the text and JSON reports, exit status 0 (warnings alone), 1 (a
 * check fails) and 2 (a usage error), an invalid site file reported rather than refused, and the Centrex check
 * against a SIP peer on 127.0.0.1 that answers 200 to OPTIONS, and against one that stays silent (bounded by
 * --timeout 1).
 */
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServeProcess, describeRun, ensureBuilt, freePort, outpost, removeDir, tempDir, type RunResult } from '../cli/helpers.js';
import { parseMessage, responseTo, serializeMessage } from '../../src/sip/message.js';

interface JsonCheck {
  id: string;
  group: string;
  status: string;
  title: string;
  detail: string;
  fix: string;
}
interface JsonReport {
  checks: JsonCheck[];
  summary: { pass: number; warn: number; fail: number };
}

const LINE_PASSWORD = 'Doctor-Secret-111';

async function sipPeer(answer: boolean): Promise<{ socket: Socket; port: number; asked: number }> {
  const socket = createSocket('udp4');
  const peer = { socket, port: 0, asked: 0 };
  socket.on('message', (bytes, rinfo) => {
    const msg = parseMessage(bytes);
    if (msg.kind !== 'request' || msg.method !== 'OPTIONS') return;
    peer.asked++;
    if (answer) socket.send(serializeMessage(responseTo(msg, 200, undefined, { toTag: 'centrex' })), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  peer.port = socket.address().port;
  return peer;
}

function siteFile(dir: string, upstreamPort: number, changes: Record<string, unknown> = {}): string {
  const file = join(dir, 'site.json');
  writeFileSync(file, JSON.stringify({
    site: { name: 'Brno', timezone: 'Europe/Prague', ntp: ['127.0.0.1'] },
    network: { voiceVlan: 20, voicePriority: 5 },
    upstream: { proxy: `127.0.0.1:${upstreamPort}` },
    gateway: { host: '127.0.0.5' },
    admin: { password: 'correct-horse' },
    lines: [{ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: LINE_PASSWORD }],
    devices: [{ mac: '00:15:65:aa:bb:01', model: 'SIP-T22P', lines: ['111'] }],
    ...changes,
  }));
  return file;
}

const TEXT_LINE = /^(PASS|WARN|FAIL) {2}[^:]+: .+$/;
const FIX_LINE = /^ {6}fix: .+$/;

/** Every line of the text report is a check, a fix under a warning or failure, the blank line, or the summary. */
function assertTextShape(r: RunResult): string[] {
  const lines = r.stdout.split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  const summary = lines.pop()!;
  assert.match(summary, /^\d+ passed, \d+ warnings?, \d+ failed$/);
  assert.equal(lines.pop(), '');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (FIX_LINE.test(line)) {
      assert.match(lines[i - 1]!, /^(WARN|FAIL) /, `a fix follows a warning or failure: ${line}`);
      continue;
    }
    assert.match(line, TEXT_LINE, `line ${i + 1}: ${line}`);
    if (!line.startsWith('PASS')) assert.match(lines[i + 1] ?? '', FIX_LINE, `${line} is followed by its fix`);
  }
  return lines;
}

describe('outpost doctor (CLI)', function () {
  this.timeout(60_000);
  let dir = '';
  let data = '';
  let ports: string[] = [];
  const peers: Socket[] = [];

  before(function () {
    ensureBuilt();
  });

  beforeEach(async () => {
    dir = tempDir('outpost-doctor-cli-');
    data = join(dir, 'data');
    mkdirSync(data);
    // Ports nobody holds, so the box checks do not depend on what else runs on this machine.
    const free = String(await freePort());
    ports = ['--http-port', free, '--tftp-port', free, '--sip-port', free, '--dhcp-port', free];
  });

  afterEach(() => {
    for (const p of peers.splice(0)) p.close();
    removeDir(dir);
  });

  it('exit 0 with warnings alone: the Centrex answers 200, one line per check, a fix under each warning', async function () {
    const peer = await sipPeer(true);
    peers.push(peer.socket);
    const r = await outpost(data, ['doctor', '--timeout', '1', ...ports], { config: siteFile(dir, peer.port) });
    assert.equal(r.code, 0, describeRun(r));
    const lines = assertTextShape(r);
    const centrex = lines.find((l) => l.includes('Centrex answers OPTIONS'));
    assert.match(centrex ?? '', new RegExp(`^PASS  Centrex answers OPTIONS: 127\\.0\\.0\\.1:${peer.port} \\(udp 127\\.0\\.0\\.1:${peer.port}\\) answered 200 OK in \\d+ ms$`));
    assert.ok(peer.asked >= 1);
    assert.ok(lines.some((l) => /^WARN  serve: serve is not running/.test(l)), 'serve is not running here');
    // NTP on loopback: usually nobody answers (WARN); a box running an NTP server may (PASS). Never a failure.
    assert.ok(lines.some((l) => /^(WARN|PASS)  clock: /.test(l)), r.stdout);
    assert.ok(!lines.some((l) => l.startsWith('FAIL')));
    assert.ok(!r.stdout.includes(LINE_PASSWORD) && !r.stdout.includes('correct-horse'), 'no password in the report');
    assert.equal(r.stderr, '');
    // Groups in order: the site's checks, then the box's, then the network's.
    const order = lines.filter((l) => TEXT_LINE.test(l)).map((l) => l.replace(TEXT_LINE, '$1'));
    assert.ok(order.length >= 15);
  });

  it('exit 1 when the Centrex is silent: FAIL with the fix, within the --timeout 1 bound', async function () {
    const peer = await sipPeer(false);
    peers.push(peer.socket);
    const started = Date.now();
    const r = await outpost(data, ['doctor', '--timeout', '1', ...ports], { config: siteFile(dir, peer.port) });
    const took = Date.now() - started;
    assert.equal(r.code, 1, describeRun(r));
    const lines = assertTextShape(r);
    const i = lines.findIndex((l) => l.startsWith('FAIL  Centrex answers OPTIONS'));
    assert.ok(i >= 0, r.stdout);
    assert.match(lines[i]!, /did not answer: no answer within 1\.0 s/);
    assert.match(lines[i + 1]!, /^ {6}fix: check the WAN link and the firewall .*phones will fail over to Outpost$/);
    assert.ok(peer.asked >= 2, 'retransmitted');
    assert.ok(took < 8000, `bounded: ${took} ms`);
    assert.match(r.stdout, /\n\d+ passed, \d+ warnings?, 1 failed\n$/);
  });

  it('--json: {checks: [{id, group, status, title, detail, fix}], summary}, the same exit status', async function () {
    const peer = await sipPeer(false);
    peers.push(peer.socket);
    const r = await outpost(data, ['doctor', '--json', '--timeout', '0.5', ...ports], { config: siteFile(dir, peer.port, { site: { name: 'Brno', ntp: [] } }) });
    assert.equal(r.code, 1, describeRun(r));
    const report = JSON.parse(r.stdout) as JsonReport;
    assert.deepEqual(Object.keys(report).sort(), ['checks', 'summary']);
    for (const c of report.checks) {
      assert.deepEqual(Object.keys(c).sort(), ['detail', 'fix', 'group', 'id', 'status', 'title']);
      assert.ok(['site', 'box', 'network'].includes(c.group));
      assert.ok(['pass', 'warn', 'fail'].includes(c.status));
      assert.equal(c.fix === '', c.status === 'pass', `${c.id}: a fix exactly for warnings and failures`);
    }
    const groups = report.checks.map((c) => c.group);
    assert.deepEqual(groups, [...groups].sort((a, b) => ['site', 'box', 'network'].indexOf(a) - ['site', 'box', 'network'].indexOf(b)), 'grouped in order');
    const count = (s: string) => report.checks.filter((c) => c.status === s).length;
    assert.deepEqual(report.summary, { pass: count('pass'), warn: count('warn'), fail: count('fail') });
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    assert.equal(byId.get('site.ntp')?.status, 'fail');
    assert.equal(byId.get('site.timezone')?.status, 'warn', 'the file does not name a time zone');
    assert.equal(byId.get('network.centrex')?.status, 'fail');
    assert.equal(byId.get('box.database')?.status, 'pass');
    assert.ok(byId.has('box.port.http') && byId.has('box.port.tftp') && byId.has('box.port.sip'));
    assert.ok(!byId.has('box.port.dhcp'), 'DHCP is off in this site');
  });

  it('an invalid site file is reported (exit 1), with the database still checked', async function () {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ network: { voiceVlan: 5000 }, upstream: { proxy: 'sip.example.net' } }));
    const r = await outpost(data, ['doctor', '--json', '--timeout', '0.5', ...ports], { config: file });
    assert.equal(r.code, 1, describeRun(r));
    const report = JSON.parse(r.stdout) as JsonReport;
    const file0 = report.checks.find((c) => c.id === 'site.file');
    assert.equal(file0?.status, 'fail');
    assert.match(file0!.detail, /network\.voiceVlan: must be at most 4094/);
    assert.equal(report.checks.find((c) => c.id === 'box.database')?.status, 'pass');
  });

  it('a well-known admin password fails, without the password in the report', async function () {
    const peer = await sipPeer(true);
    peers.push(peer.socket);
    const r = await outpost(data, ['doctor', '--timeout', '0.5', ...ports], { config: siteFile(dir, peer.port, { admin: { password: 'change-me' } }) });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stdout, /^FAIL {2}admin password: admin\.password is a well-known default/m);
    assert.ok(!r.stdout.includes('change-me') && !r.stdout.includes(LINE_PASSWORD));
  });

  it('beside a running serve: "serve is running and answers", its ports left alone, its generated admin password found', async function () {
    const http = String(await freePort());
    const running = ServeProcess.start(data, ['--bind', '127.0.0.1', '--http-port', http, '--no-tftp', '--no-sip', '--no-mdns']);
    try {
      await running.waitForReady();
      const r = await outpost(data, ['doctor', '--json', '--timeout', '0.5', '--http-port', http]);
      const report = JSON.parse(r.stdout) as JsonReport;
      const byId = new Map(report.checks.map((c) => [c.id, c]));
      assert.equal(byId.get('box.serve')?.status, 'pass', describeRun(r));
      assert.match(byId.get('box.serve')!.detail, new RegExp(`serve is running and answers \\(http://127\\.0\\.0\\.1:${http}/healthz: ok\\)`));
      assert.ok(![...byId.keys()].some((id) => id.startsWith('box.port.')), 'the running serve holds its ports');
      assert.equal(byId.get('site.admin')?.status, 'pass');
      assert.match(byId.get('site.admin')!.detail, /admin-password in the data folder/);
      assert.equal(byId.get('box.database')?.status, 'pass', 'the database is shared with the running serve');
    } finally {
      await running.kill();
    }
  });

  it('usage errors exit 2 and print nothing on stdout; --help exits 0', async function () {
    for (const args of [['--timeout', '0'], ['--timeout', 'soon'], ['--timeout', '120'], ['--bogus'], ['--interface', 'not an interface!'], ['--http-port', '70000'], ['--timeout']]) {
      const r = await outpost(data, ['doctor', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /error: /);
    }
    const help = await outpost(data, ['doctor', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--interface <if>/);
    assert.match(help.stdout, /--timeout <s>/);
  });
});
