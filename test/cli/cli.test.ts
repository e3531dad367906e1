/**
 * The command-line contract (docs: /work/shared/INTERFACE.md), checked against the REAL binary: every test runs
 * `node bin/outpost --data <its own temp dir> ...` as a child process and looks only at stdout, stderr and
 * the exit status (0 done, 1 the request was wrong, 2 internal error).
 */
import { strict as assert } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FIXTURES,
  ServeProcess,
  allKeys,
  describeRun,
  ensureBuilt,
  outpost,
  outpostJson,
  removeDir,
  tempDir,
  type RunResult,
} from './helpers.js';

interface PublicLine {
  ext: string;
  number?: string;
  name: string;
  user: string;
  forward?: string;
  hasPassword: boolean;
  updatedAt: string;
}

interface PublicDevice {
  mac: string;
  model: string;
  vendor: string;
  state: string;
  lines: string[];
  files: string[];
  updatedAt: string;
}

interface SiteJson {
  network: { voiceVlan: number };
  dialplan: { emergency: string[] };
  admin: { password: string };
}

const MAC = '001565aabb01';
const PW_111 = 'Pw111-n0tInOutput';
const JAN = 'Jan Novák';

function expectExit(r: RunResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}\n${describeRun(r)}`);
}

/** `outpost line add` for the usual test line 111. */
async function addLine111(data: string): Promise<void> {
  const r = await outpost(data, ['line', 'add', '--ext', '111', '--number', '234567111', '--name', JAN, '--user', '420234567111', '--password', PW_111]);
  expectExit(r, 0, 'line add 111');
}

before(function () {
  this.timeout(200_000);
  ensureBuilt();
});

describe('cli: line add / list / remove', function () {
  this.timeout(90_000);
  let data: string;
  before(() => (data = tempDir()));
  after(() => removeDir(data));

  it('adds a line with a Czech name (diacritics) and says so', async () => {
    const r = await outpost(data, [
      'line', 'add', '--ext', '111', '--number', '234567111', '--name', JAN, '--user', '420234567111', '--password', PW_111, '--forward', '0602123456',
    ]);
    expectExit(r, 0, 'line add');
    assert.match(r.stdout, /^line 111 added$/m);
    assert.equal(r.stderr, '');
  });

  it('adding the very same line again reports it unchanged', async () => {
    const r = await outpost(data, [
      'line', 'add', '--ext', '111', '--number', '234567111', '--name', JAN, '--user', '420234567111', '--password', PW_111, '--forward', '0602123456',
    ]);
    expectExit(r, 0, 'line add again');
    assert.match(r.stdout, /^line 111 unchanged$/m);
  });

  it('line list shows the line, the name with its diacritics intact, and never the password', async () => {
    const r = await outpost(data, ['line', 'list']);
    expectExit(r, 0, 'line list');
    const row = r.stdout.split('\n').find((l) => l.startsWith('111 '));
    assert.ok(row, `no row for 111 in:\n${r.stdout}`);
    assert.ok(row.includes(JAN), `name not shown as "${JAN}": ${row}`);
    assert.ok(row.includes('234567111') && row.includes('420234567111') && row.includes('0602123456'), row);
    assert.ok(!r.stdout.includes(PW_111), 'line list printed the password');
    assert.ok(!r.stderr.includes(PW_111), 'line list printed the password on stderr');
  });

  it('line list --json has the line with its fields and no password anywhere', async () => {
    const r = await outpost(data, ['line', 'list', '--json']);
    expectExit(r, 0, 'line list --json');
    assert.ok(!r.stdout.includes(PW_111), 'line list --json printed the password');
    const lines = JSON.parse(r.stdout) as PublicLine[];
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.ext, '111');
    assert.equal(line.number, '234567111');
    assert.equal(line.name, JAN);
    assert.equal(line.user, '420234567111');
    assert.equal(line.forward, '0602123456');
    assert.equal(line.hasPassword, true);
    assert.ok(!allKeys(lines).has('password'), `a "password" key is in ${r.stdout}`);
  });

  it('refuses a line whose extension is an emergency number (exit 1, says why)', async () => {
    const r = await outpost(data, ['line', 'add', '--ext', '112', '--user', '420234567112', '--password', 'x-secret']);
    expectExit(r, 1, 'line add 112');
    assert.match(r.stderr, /112/);
    assert.match(r.stderr, /emergency/i);
    const lines = await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']);
    assert.deepEqual(lines.map((l) => l.ext), ['111']);
  });

  it('removing a line a device carries: exit 1 naming the device, and the line stays', async () => {
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
    const r = await outpost(data, ['line', 'remove', '111']);
    expectExit(r, 1, 'line remove 111 (in use)');
    assert.match(r.stderr, /001565aabb01|00:15:65:aa:bb:01/i, 'the message does not name the device');
    const lines = await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']);
    assert.deepEqual(lines.map((l) => l.ext), ['111']);
  });

  it('removing a line that does not exist: exit 1', async () => {
    const r = await outpost(data, ['line', 'remove', '999']);
    expectExit(r, 1, 'line remove 999');
    assert.match(r.stderr, /999/);
    assert.equal(r.stdout, '');
  });

  it('removes a line once no device carries it', async () => {
    expectExit(await outpost(data, ['device', 'remove', MAC]), 0, 'device remove');
    const r = await outpost(data, ['line', 'remove', '111']);
    expectExit(r, 0, 'line remove 111');
    assert.match(r.stdout, /^line 111 removed$/m);
    assert.deepEqual(await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']), []);
  });
});

describe('cli: device add / show / list / models / remove', function () {
  this.timeout(90_000);
  let data: string;
  before(async () => {
    data = tempDir();
    await addLine111(data);
    const r = await outpost(data, ['line', 'add', '--ext', '113', '--user', '420234567113', '--password', 'pw-113-secret']);
    expectExit(r, 0, 'line add 113');
    const r2 = await outpost(data, ['line', 'add', '--ext', '114', '--user', '420234567114', '--password', 'pw-114-secret']);
    expectExit(r2, 0, 'line add 114');
  });
  after(() => removeDir(data));

  for (const notation of ['00:15:65:AA:BB:01', '00-15-65-aa-bb-01', '001565aabb01', '0015.65aa.bb01']) {
    it(`MAC written ${notation} is stored canonically as ${MAC}`, async () => {
      const add = await outpost(data, ['device', 'add', '--mac', notation, '--model', 'SIP-T22P', '--line', '111']);
      expectExit(add, 0, `device add --mac ${notation}`);
      assert.match(add.stdout, /^device 00:15:65:aa:bb:01 added$/m);
      const shown = await outpostJson<PublicDevice>(data, ['device', 'show', MAC, '--json']);
      assert.equal(shown.mac, MAC);
      const all = await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']);
      assert.deepEqual(all.map((d) => d.mac), [MAC]);
      // Any notation finds it again, and removes it.
      const removed = await outpost(data, ['device', 'remove', notation]);
      expectExit(removed, 0, `device remove ${notation}`);
      assert.match(removed.stdout, /removed/);
      assert.deepEqual(await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']), []);
    });
  }

  it('a bad MAC: exit 1 and stderr explains the notations', async () => {
    const r = await outpost(data, ['device', 'add', '--mac', '00:15:65:zz:bb:01', '--model', 'SIP-T22P', '--line', '111']);
    expectExit(r, 1, 'device add bad MAC');
    assert.ok(r.stderr.includes('00:15:65:zz:bb:01'), 'the message does not quote the bad MAC');
    for (const example of ['00:15:65:AA:BB:01', '00-15-65-aa-bb-01', '001565aabb01', '0015.65aa.bb01']) {
      assert.ok(r.stderr.includes(example), `the message does not show the notation ${example}:\n${r.stderr}`);
    }
    assert.deepEqual(await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']), []);
  });

  it('an unknown model: exit 1 mentioning outpost device models', async () => {
    const r = await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T99X']);
    expectExit(r, 1, 'device add unknown model');
    assert.match(r.stderr, /SIP-T99X/);
    assert.match(r.stderr, /outpost device models/);
  });

  for (const written of ['Yealink SIP-T22P', 't22p', 'T22P']) {
    it(`model written "${written}" is accepted as the T22P`, async () => {
      const r = await outpost(data, ['device', 'add', '--mac', '00:15:65:aa:bb:02', '--model', written, '--line', '113']);
      expectExit(r, 0, `device add --model "${written}"`);
      const d = await outpostJson<PublicDevice>(data, ['device', 'show', '001565aabb02', '--json']);
      assert.equal(d.model, 'T22P');
      assert.equal(d.vendor, 'Yealink');
      expectExit(await outpost(data, ['device', 'remove', '001565aabb02']), 0, 'device remove');
    });
  }

  it('more lines than the model has accounts (T20P has 2): exit 1, nothing stored', async () => {
    const r = await outpost(data, ['device', 'add', '--mac', '00:15:65:aa:bb:03', '--model', 'T20P', '--line', '111', '--line', '113', '--line', '114']);
    expectExit(r, 1, 'device add T20P with 3 lines');
    assert.match(r.stderr, /T20P/);
    assert.match(r.stderr, /\b2\b/);
    const show = await outpost(data, ['device', 'show', '001565aabb03', '--json']);
    expectExit(show, 1, 'device show of a device that was refused');
    // Two lines fit.
    expectExit(await outpost(data, ['device', 'add', '--mac', '00:15:65:aa:bb:03', '--model', 'T20P', '--line', '111', '--line', '113']), 0, 'device add T20P with 2 lines');
    const d = await outpostJson<PublicDevice>(data, ['device', 'show', '001565aabb03', '--json']);
    assert.deepEqual(d.lines, ['111', '113']);
    expectExit(await outpost(data, ['device', 'remove', '001565aabb03']), 0, 'device remove');
  });

  it('device show --json of a T22P: files are the common and the MAC file; no password anywhere', async () => {
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
    const r = await outpost(data, ['device', 'show', '00:15:65:aa:bb:01', '--json']);
    expectExit(r, 0, 'device show --json');
    const d = JSON.parse(r.stdout) as PublicDevice;
    assert.deepEqual(d.files, ['y000000000005.cfg', '001565aabb01.cfg']);
    assert.deepEqual(d.lines, ['111']);
    assert.ok(!r.stdout.includes(PW_111), 'device show --json printed the line password');
    assert.ok(!allKeys(d).has('password'), `a "password" key is in ${r.stdout}`);
  });

  it('device show (text) lists the files and the account, never the password', async () => {
    const r = await outpost(data, ['device', 'show', MAC]);
    expectExit(r, 0, 'device show');
    assert.match(r.stdout, /y000000000005\.cfg 001565aabb01\.cfg/);
    assert.ok(r.stdout.includes(JAN), r.stdout);
    assert.ok(!r.stdout.includes(PW_111), 'device show printed the line password');
  });

  it('device list shows the device with state assigned', async () => {
    const r = await outpost(data, ['device', 'list']);
    expectExit(r, 0, 'device list');
    const row = r.stdout.split('\n').find((l) => l.startsWith('00:15:65:aa:bb:01'));
    assert.ok(row, `no row for the device in:\n${r.stdout}`);
    assert.match(row, /\bassigned\b/);
    assert.match(row, /\bT22P\b/);
    const list = await outpost(data, ['device', 'list', '--json']);
    expectExit(list, 0, 'device list --json');
    assert.equal((JSON.parse(list.stdout) as PublicDevice[])[0]?.state, 'assigned');
    assert.ok(!list.stdout.includes(PW_111));
  });

  it('device models lists T22P, T26P, VP530 and T46G', async () => {
    const r = await outpost(data, ['device', 'models']);
    expectExit(r, 0, 'device models');
    for (const model of ['T22P', 'T26P', 'VP530', 'T46G']) assert.match(r.stdout, new RegExp(`\\s${model}\\s`), `${model} missing from:\n${r.stdout}`);
    assert.match(r.stdout, /T20P\s+2\b/, 'the T20P should show 2 accounts');
  });

  it('device remove removes it; removing it again is exit 1', async () => {
    const r = await outpost(data, ['device', 'remove', MAC]);
    expectExit(r, 0, 'device remove');
    assert.deepEqual(await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']), []);
    const again = await outpost(data, ['device', 'remove', MAC]);
    expectExit(again, 1, 'device remove (missing)');
    assert.match(again.stderr, /no device/);
  });
});

describe('cli: device import', function () {
  this.timeout(90_000);
  let data: string;
  let data2: string;
  const mixed = join(FIXTURES, 'import-mixed.csv');
  let first: RunResult;
  before(async () => {
    data = tempDir();
    data2 = tempDir();
    first = await outpost(data, ['device', 'import', mixed]);
  });
  after(() => {
    removeDir(data);
    removeDir(data2);
  });

  it('3 good and 2 bad rows: exit 1, one error line per bad row with its row number (header = row 1) and why', () => {
    expectExit(first, 1, 'device import with bad rows');
    const errors = first.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(errors.length, 2, `expected one error line per bad row:\n${first.stderr}`);
    assert.match(errors[0]!, /^row 3: .*error.*00:15:65:zz:bb:12.*not a MAC address/);
    assert.match(errors[1]!, /^row 5: .*error.*112.*emergency/);
    for (const row of [2, 4, 6]) assert.match(first.stdout, new RegExp(`^row ${row}: ok`, 'm'));
    assert.match(first.stdout, /3 rows imported, 2 rejected/);
  });

  it('keeps the good rows: their devices and lines, and nothing of the bad rows', async () => {
    const devices = await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']);
    const byMac = new Map(devices.map((d) => [d.mac, d]));
    assert.deepEqual([...byMac.keys()].sort(), ['001565aabb11', '001565aabb13', '001565aabb15']);
    assert.deepEqual(byMac.get('001565aabb11')?.lines, ['211']);
    assert.equal(byMac.get('001565aabb13')?.model, 'T26P');
    assert.equal(byMac.get('001565aabb15')?.model, 'T20P');
    const lines = await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']);
    assert.deepEqual(lines.map((l) => l.ext).sort(), ['211', '213', '215']);
    const jan = lines.find((l) => l.ext === '211')!;
    assert.equal(jan.name, 'Jan Novák');
    assert.equal(jan.forward, '0602123456');
    assert.equal(lines.find((l) => l.ext === '213')?.name, 'Petr Dvořák');
  });

  it('importing the same file again changes nothing and says unchanged', async () => {
    const devicesBefore = await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']);
    const linesBefore = await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']);
    const again = await outpost(data, ['device', 'import', mixed]);
    expectExit(again, 1, 'second import (the bad rows are still bad)');
    for (const row of [2, 4, 6]) assert.match(again.stdout, new RegExp(`^row ${row}: ok: .*\\(unchanged\\)$`, 'm'));
    assert.doesNotMatch(again.stdout, /\((added|updated)\)/);
    const devicesAfter = await outpostJson<PublicDevice[]>(data, ['device', 'list', '--json']);
    const linesAfter = await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']);
    assert.deepEqual(devicesAfter.map((d) => [d.mac, d.updatedAt]), devicesBefore.map((d) => [d.mac, d.updatedAt]));
    assert.deepEqual(linesAfter.map((l) => [l.ext, l.updatedAt]), linesBefore.map((l) => [l.ext, l.updatedAt]));
  });

  it('a semicolon-separated file (as Czech spreadsheets export, BOM and CRLF) works too', async () => {
    const file = join(data2, 'export.csv');
    const rows = [
      'mac;model;ext;number;name;user;password;forward',
      '00:15:65:aa:bb:21;SIP-T22P;221;234567221;"Dvořák; Petr";420234567221;pw-221-Xq7;',
      '00:15:65:aa:bb:22;T26P;222;234567222;Eva Černá;420234567222;pw-222-Xq7;0602123456',
      '00:15:65:aa:bb:22;T26P;223;234567223;Jiří Šťastný;420234567223;pw-223-Xq7;',
    ];
    writeFileSync(file, `\ufeff${rows.join('\r\n')}\r\n`, 'utf8');
    const r = await outpost(data2, ['device', 'import', file]);
    expectExit(r, 0, 'semicolon import');
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /3 rows imported, 0 rejected/);
    const devices = await outpostJson<PublicDevice[]>(data2, ['device', 'list', '--json']);
    assert.deepEqual(
      devices.map((d) => [d.mac, d.model, d.lines]).sort(),
      [
        ['001565aabb21', 'T22P', ['221']],
        ['001565aabb22', 'T26P', ['222', '223']],
      ],
    );
    const lines = await outpostJson<PublicLine[]>(data2, ['line', 'list', '--json']);
    assert.equal(lines.find((l) => l.ext === '221')?.name, 'Dvořák; Petr');
    assert.equal(lines.find((l) => l.ext === '223')?.name, 'Jiří Šťastný');
  });

  it('a missing file: exit 1 naming it', async () => {
    const missing = join(data2, 'no-such-file.csv');
    const r = await outpost(data2, ['device', 'import', missing]);
    expectExit(r, 1, 'import of a missing file');
    assert.ok(r.stderr.includes('no-such-file.csv'), r.stderr);
  });
});

describe('cli: config render', function () {
  this.timeout(90_000);
  let data: string;
  before(async () => {
    data = tempDir();
    await addLine111(data);
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
  });
  after(() => removeDir(data));

  it('the MAC file: starts #!version:1.0.0.1 and has account 1 with the line password', async () => {
    const r = await outpost(data, ['config', 'render', '00:15:65:AA:BB:01', '001565aabb01.cfg']);
    expectExit(r, 0, 'config render MAC file');
    assert.ok(r.stdoutBytes.subarray(0, 17).equals(Buffer.from('#!version:1.0.0.1')), `starts with ${JSON.stringify(r.stdout.slice(0, 40))}`);
    assert.match(r.stdout, new RegExp(`^account\\.1\\.password = ${PW_111}$`, 'm'));
    assert.match(r.stdout, /^account\.1\.user_name = 420234567111$/m);
    assert.match(r.stdout, /^account\.1\.display_name = Jan Novák$/m);
    assert.match(r.stdout, /^account\.2\.enable = 0$/m);
    assert.equal(r.stderr, '');
  });

  it('the common file has no password', async () => {
    const r = await outpost(data, ['config', 'render', MAC, 'y000000000005.cfg']);
    expectExit(r, 0, 'config render common file');
    assert.ok(r.stdout.startsWith('#!version:1.0.0.1'), r.stdout.slice(0, 40));
    assert.ok(!r.stdout.includes(PW_111), 'the common file holds the line password');
    assert.doesNotMatch(r.stdout, /^account\.\d+\.password/m);
  });

  it('renders the same bytes twice (it prints exactly the file, nothing else)', async () => {
    const a = await outpost(data, ['config', 'render', MAC, '001565aabb01.cfg']);
    const b = await outpost(data, ['config', 'render', MAC, '001565aabb01.cfg']);
    assert.ok(a.stdoutBytes.equals(b.stdoutBytes));
    assert.doesNotMatch(a.stdout, /outpost:|ready|\{"level"/);
  });

  it('an unknown file: exit 1', async () => {
    const r = await outpost(data, ['config', 'render', MAC, 'nope.cfg']);
    expectExit(r, 1, 'config render nope.cfg');
    assert.match(r.stderr, /nope\.cfg/);
    assert.equal(r.stdout, '');
  });

  it("another device's file, another model's common file, an unknown device: exit 1", async () => {
    const other = await outpost(data, ['config', 'render', MAC, '001565aabb99.cfg']);
    expectExit(other, 1, "config render of another device's file");
    assert.ok(!other.stdout.includes(PW_111));
    const common = await outpost(data, ['config', 'render', MAC, 'y000000000028.cfg']);
    expectExit(common, 1, "config render of the T46G's common file for a T22P");
    const unknown = await outpost(data, ['config', 'render', '001565aabb99', '001565aabb99.cfg']);
    expectExit(unknown, 1, 'config render of an unknown device');
  });
});

describe('cli: site show / set', function () {
  this.timeout(90_000);
  let data: string;
  before(async () => {
    data = tempDir();
    await addLine111(data);
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
  });
  after(() => removeDir(data));

  it('site set network.voiceVlan 20: site show --json has 20 and the rendered file tags the voice VLAN', async () => {
    const r = await outpost(data, ['site', 'set', 'network.voiceVlan', '20']);
    expectExit(r, 0, 'site set network.voiceVlan 20');
    const site = await outpostJson<SiteJson>(data, ['site', 'show', '--json']);
    assert.equal(site.network.voiceVlan, 20);
    const rendered = await outpost(data, ['config', 'render', MAC, '001565aabb01.cfg']);
    expectExit(rendered, 0, 'config render');
    assert.match(rendered.stdout, /^network\.vlan\.internet_port_vid = 20$/m);
    assert.match(rendered.stdout, /^network\.vlan\.internet_port_enable = 1$/m);
    const text = await outpost(data, ['site', 'show']);
    assert.match(text.stdout, /^network\.voiceVlan\s+20\s+set$/m);
  });

  it('site set network.voiceVlan 5000: exit 1 mentioning 4094, value unchanged', async () => {
    const r = await outpost(data, ['site', 'set', 'network.voiceVlan', '5000']);
    expectExit(r, 1, 'site set network.voiceVlan 5000');
    assert.match(r.stderr, /4094/);
    assert.equal((await outpostJson<SiteJson>(data, ['site', 'show', '--json'])).network.voiceVlan, 20);
  });

  it('site set network.nope 1: exit 1 (unknown key)', async () => {
    const r = await outpost(data, ['site', 'set', 'network.nope', '1']);
    expectExit(r, 1, 'site set network.nope');
    assert.match(r.stderr, /unknown key/i);
    assert.match(r.stderr, /network\.nope/);
  });

  it('site set dialplan.emergency 112,111 while line 111 exists: exit 1 (collision), unchanged', async () => {
    const r = await outpost(data, ['site', 'set', 'dialplan.emergency', '112,111']);
    expectExit(r, 1, 'site set dialplan.emergency 112,111');
    assert.match(r.stderr, /111/);
    assert.match(r.stderr, /emergency/i);
    const site = await outpostJson<SiteJson>(data, ['site', 'show', '--json']);
    assert.deepEqual(site.dialplan.emergency, ['112', '150', '155', '158']);
  });

  it('site show masks admin.password (text and JSON)', async () => {
    const secret = 'Adm1n-n0tInOutput';
    expectExit(await outpost(data, ['site', 'set', 'admin.password', secret]), 0, 'site set admin.password');
    const text = await outpost(data, ['site', 'show']);
    expectExit(text, 0, 'site show');
    assert.ok(!text.stdout.includes(secret), 'site show printed admin.password');
    assert.match(text.stdout, /^admin\.password\s+"\*+"/m);
    const json = await outpost(data, ['site', 'show', '--json']);
    expectExit(json, 0, 'site show --json');
    assert.ok(!json.stdout.includes(secret), 'site show --json printed admin.password');
    assert.equal((JSON.parse(json.stdout) as SiteJson).admin.password, '********');
  });

  it('site set of a key the site file names: exit 1 saying to change the file; other keys still settable', async () => {
    const file = join(data, 'site-vlan.json');
    writeFileSync(file, JSON.stringify({ network: { voiceVlan: 30 } }));
    const r = await outpost(data, ['site', 'set', 'network.voiceVlan', '40'], { config: file });
    expectExit(r, 1, 'site set of a key named by the site file');
    assert.ok(r.stderr.includes('site-vlan.json'), `the message does not name the file:\n${r.stderr}`);
    assert.match(r.stderr, /change it there/);
    const site = await outpostJson<SiteJson>(data, ['site', 'show', '--json'], { config: file });
    assert.equal(site.network.voiceVlan, 30);
    expectExit(await outpost(data, ['site', 'set', 'network.dataVlan', '30'], { config: file }), 0, 'site set network.dataVlan');
  });
});

describe('cli: device set / unset (per-device settings)', function () {
  this.timeout(90_000);
  let data: string;
  before(async () => {
    data = tempDir();
    await addLine111(data);
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
    expectExit(await outpost(data, ['site', 'set', 'network.voiceVlan', '20']), 0, 'site set network.voiceVlan 20');
  });
  after(() => removeDir(data));

  it('device set MAC network.voiceVlan 30: this phone\'s file tags VLAN 30, the site stays 20, device show lists it', async () => {
    const r = await outpost(data, ['device', 'set', '00-15-65-AA-BB-01', 'network.voiceVlan', '30']);
    expectExit(r, 0, 'device set network.voiceVlan 30');
    const rendered = await outpost(data, ['config', 'render', MAC, '001565aabb01.cfg']);
    assert.match(rendered.stdout, /^network\.vlan\.internet_port_vid = 30$/m);
    assert.equal((await outpostJson<SiteJson>(data, ['site', 'show', '--json'])).network.voiceVlan, 20);
    const shown = await outpost(data, ['device', 'show', MAC]);
    assert.match(shown.stdout, /^setting network\.voiceVlan 30 \(this device only\)$/m);
    const json = await outpostJson<{ overrides: Record<string, unknown> }>(data, ['device', 'show', MAC, '--json']);
    assert.deepEqual(json.overrides, { 'network.voiceVlan': 30 });
  });

  it('bad keys and values: exit 1 with the reason, nothing stored', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['network.voiceVlan', '5000'], /4094/],
      [['network.voiceVlen', '3'], /unknown key.*voiceVlan/],
      [['dhcp.range', '10.0.0.1,10.0.0.9'], /setting of the box/],
      [['admin.password', 'secretsecret'], /setting of the box/],
      [['dialplan.emergency', '112,111'], /111.*emergency|emergency.*111/],
      [['fax.t38', 'maybe'], /not true or false/],
    ];
    for (const [args, why] of cases) {
      const r = await outpost(data, ['device', 'set', MAC, ...args]);
      expectExit(r, 1, `device set ${args.join(' ')}`);
      assert.match(r.stderr, why, args.join(' '));
    }
    const json = await outpostJson<{ overrides: Record<string, unknown> }>(data, ['device', 'show', MAC, '--json']);
    assert.deepEqual(json.overrides, { 'network.voiceVlan': 30 });
    const unknown = await outpost(data, ['device', 'set', '001565aabb99', 'network.voiceVlan', '30']);
    expectExit(unknown, 1, 'device set of an unknown device');
  });

  it('device unset: the phone follows the site (VLAN 20) again; unsetting again is exit 1', async () => {
    expectExit(await outpost(data, ['device', 'unset', MAC, 'network.voiceVlan']), 0, 'device unset');
    const rendered = await outpost(data, ['config', 'render', MAC, '001565aabb01.cfg']);
    assert.match(rendered.stdout, /^network\.vlan\.internet_port_vid = 20$/m);
    const again = await outpost(data, ['device', 'unset', MAC, 'network.voiceVlan']);
    expectExit(again, 1, 'device unset again');
    assert.match(again.stderr, /no setting of its own/);
  });
});

describe('cli: site file validation (--config)', function () {
  this.timeout(90_000);
  let data: string;
  let work: string;
  before(() => {
    data = tempDir();
    work = tempDir();
  });
  after(() => {
    removeDir(data);
    removeDir(work);
  });

  function siteFile(name: string, content: unknown): string {
    const file = join(work, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  }

  const line = (ext: string, extra: Record<string, string> = {}) => ({ ext, name: `Line ${ext}`, user: `420234567${ext}`, password: `pw-${ext}-secret`, ...extra });

  /** Every kind of mistake at once: schema problems AND cross-checks. */
  const manyProblems = {
    network: { voiceVlan: 5000, voicevlan: 20 },
    provisioning: { allow: ['10.20.0.0/33'] },
    lines: [line('111', { number: '234567111' }), line('111', { number: '234567222', user: '420234567222' }), line('112'), line('222', { number: '111' })],
    devices: [{ mac: 'xx', model: 'SIP-T22P', lines: ['999'] }],
  };
  const manyPaths = ['network.voiceVlan', 'network.voicevlan', 'provisioning.allow[0]', 'devices[0].mac', 'devices[0].lines[0]', 'lines[1].ext', 'lines[2].ext', 'lines[3].number'];

  /** Only cross-checks (the schema is satisfied). */
  const crossProblems = {
    lines: [line('111', { number: '234567111' }), line('111', { number: '234567222', user: '420234567222' }), line('112'), line('222', { number: '111' })],
    devices: [{ mac: '00:15:65:12:34:56', model: 'SIP-T22P', lines: ['999'] }],
  };
  const crossPaths = ['lines[1].ext', 'lines[2].ext', 'lines[3].number', 'devices[0].lines[0]'];

  /** Only schema problems. */
  const schemaProblems = {
    network: { voiceVlan: 5000, voicevlan: 20 },
    provisioning: { allow: ['10.20.0.0/33'] },
    devices: [{ mac: 'xx', model: 'SIP-T22P' }],
  };
  const schemaPaths = ['network.voiceVlan', 'network.voicevlan', 'provisioning.allow[0]', 'devices[0].mac'];

  function assertEveryProblem(r: RunResult, paths: readonly string[]): void {
    expectExit(r, 1, 'invalid site file');
    const missing = paths.filter((p) => !new RegExp(`^\\s*${p.replace(/[.[\]]/g, '\\$&')}: \\S`, 'm').test(r.stderr));
    assert.deepEqual(missing, [], `problems not listed as "path: message":\n${r.stderr}`);
  }

  function assertSpecificMessages(r: RunResult): void {
    assert.match(r.stderr, /network\.voiceVlan: .*4094/);
    assert.match(r.stderr, /network\.voicevlan: .*voiceVlan/, 'the unknown key should suggest voiceVlan');
    assert.match(r.stderr, /provisioning\.allow\[0\]: .*10\.20\.0\.0\/33/);
  }

  it('schema problems: line list exits 1 listing every one as path: message (unknown key suggests voiceVlan)', async () => {
    const r = await outpost(data, ['line', 'list'], { config: siteFile('schema.json', schemaProblems) });
    assertEveryProblem(r, schemaPaths);
    assertSpecificMessages(r);
    assert.equal(r.stdout, '');
  });

  it('cross-check problems (duplicate ext, number = another ext, emergency ext, missing device line): every one listed', async () => {
    const r = await outpost(data, ['line', 'list'], { config: siteFile('cross.json', crossProblems) });
    assertEveryProblem(r, crossPaths);
    assert.match(r.stderr, /lines\[2\]\.ext: .*emergency/);
    assert.match(r.stderr, /devices\[0\]\.lines\[0\]: .*999/);
  });

  it('schema AND cross-check problems in one file: line list lists EVERY problem', async () => {
    const r = await outpost(data, ['line', 'list'], { config: siteFile('many.json', manyProblems) });
    assertEveryProblem(r, manyPaths);
    assertSpecificMessages(r);
  });

  it('serve with that file: exit 1 listing EVERY problem, before it listens (no ready line, no database)', async () => {
    const fresh = tempDir();
    try {
      const serve = ServeProcess.start(fresh, ['--bind', '127.0.0.1', '--http-port', '0', '--no-tftp', '--no-sip', '--no-mdns'], { config: siteFile('many-serve.json', manyProblems) });
      const exit = await serve.waitForExit(20_000);
      if (!exit) await serve.kill();
      assert.ok(exit, `serve kept running with an invalid site file:\n${serve.stdout}\n${serve.stderr}`);
      assert.doesNotMatch(serve.stdout, /ready/);
      assert.ok(!existsSync(join(fresh, 'outpost.db')), 'serve opened the database with an invalid site file');
      assertEveryProblem({ code: exit.code, signal: exit.signal, stdout: serve.stdout, stderr: serve.stderr, stdoutBytes: Buffer.from(serve.stdout) }, manyPaths);
    } finally {
      removeDir(fresh);
    }
  });

  it('serve with schema-only problems: exit 1, every problem listed, nothing listens', async () => {
    const fresh = tempDir();
    try {
      const serve = ServeProcess.start(fresh, ['--bind', '127.0.0.1', '--http-port', '0', '--no-tftp', '--no-sip', '--no-mdns'], { config: siteFile('schema-serve.json', schemaProblems) });
      const exit = await serve.waitForExit(20_000);
      if (!exit) await serve.kill();
      assert.ok(exit, `serve kept running with an invalid site file:\n${serve.stdout}\n${serve.stderr}`);
      assert.doesNotMatch(serve.stdout, /ready/);
      assertEveryProblem({ code: exit.code, signal: exit.signal, stdout: serve.stdout, stderr: serve.stderr, stdoutBytes: Buffer.from(serve.stdout) }, schemaPaths);
    } finally {
      removeDir(fresh);
    }
  });

  it('invalid JSON (a trailing comma): exit 1 with line and column', async () => {
    const file = siteFile('trailing-comma.json', '{\n  "network": {\n    "voiceVlan": 20,\n  }\n}\n');
    const r = await outpost(data, ['line', 'list'], { config: file });
    expectExit(r, 1, 'invalid JSON');
    assert.match(r.stderr, /not valid JSON/);
    assert.match(r.stderr, /line 4 column 3/);
    const serve = await outpost(data, ['serve', '--bind', '127.0.0.1', '--http-port', '0', '--no-tftp', '--no-sip', '--no-mdns'], { config: file });
    expectExit(serve, 1, 'serve with invalid JSON');
    assert.match(serve.stderr, /line 4 column 3/);
    assert.doesNotMatch(serve.stdout, /ready/);
  });

  it('invalid JSON (a misspelt literal, `tru`): exit 1 with line and column', async () => {
    const file = siteFile('bad-literal.json', '{\n  "fax": {\n    "t38": tru\n  }\n}\n');
    const r = await outpost(data, ['line', 'list'], { config: file });
    expectExit(r, 1, 'invalid JSON');
    assert.match(r.stderr, /not valid JSON/);
    assert.match(r.stderr, /line \d+ column \d+/);
  });

  it('a site file that does not exist: exit 1 naming it', async () => {
    const r = await outpost(data, ['line', 'list'], { config: join(work, 'missing.json') });
    expectExit(r, 1, 'missing site file');
    assert.match(r.stderr, /missing\.json/);
  });
});

describe('cli: wrong command lines and help', function () {
  this.timeout(90_000);
  let data: string;
  before(() => (data = tempDir()));
  after(() => removeDir(data));

  it('an unknown command: exit 1 with a hint', async () => {
    const r = await outpost(data, ['frobnicate']);
    expectExit(r, 1, 'unknown command');
    assert.match(r.stderr, /unknown command/i);
    assert.match(r.stderr, /frobnicate/);
    assert.match(r.stderr, /--help/);
  });

  it('a missing required option (line add --ext 111): exit 1 naming the option, nothing added', async () => {
    const r = await outpost(data, ['line', 'add', '--ext', '111']);
    expectExit(r, 1, 'line add --ext 111');
    assert.match(r.stderr, /required option/i);
    assert.match(r.stderr, /--(user|password)/);
    assert.deepEqual(await outpostJson<PublicLine[]>(data, ['line', 'list', '--json']), []);
  });

  it('a missing argument (device show without MAC): exit 1', async () => {
    const r = await outpost(data, ['device', 'show']);
    expectExit(r, 1, 'device show');
    assert.match(r.stderr, /missing required argument/i);
  });

  it('--help: exit 0 and the usage lists the commands', async () => {
    const r = await outpost(data, ['--help']);
    expectExit(r, 0, '--help');
    assert.match(r.stdout, /Usage: outpost/);
    for (const command of ['serve', 'line', 'device', 'config', 'site', 'status']) assert.match(r.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `${command} missing from --help`);
  });

  it('line add --help: exit 0 and shows the options', async () => {
    const r = await outpost(data, ['line', 'add', '--help']);
    expectExit(r, 0, 'line add --help');
    assert.match(r.stdout, /--ext/);
    assert.match(r.stdout, /--password/);
  });
});

describe('cli: status lists the live registrations', function () {
  this.timeout(60_000);
  let data: string;
  before(async () => {
    data = tempDir();
    await addLine111(data);
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
    // What a running registrar stores: one live binding of line 111 from the T22P, one that has expired.
    const { Store } = await import('../../src/store/index.js');
    const { silentLogger } = await import('../../src/app/log.js');
    const store = await Store.open(data, silentLogger);
    const now = Date.now();
    const line = (await store.lines.list())[0]!;
    await store.bindings.apply([
      { aor: line.user, contact: 'sip:111@10.20.0.31:5062', callId: 'a', cseq: 2, expiresAt: now + 600_000, source: 'udp:10.20.0.31:5062', mac: '001565aabb01', updatedAt: now },
      { aor: line.user, contact: 'sip:111@10.20.0.99:5062', callId: 'b', cseq: 2, expiresAt: now - 1000, source: 'udp:10.20.0.99:5062', updatedAt: now },
    ], []);
    await store.close();
  });
  after(() => removeDir(data));

  it('counts and lists the live one with its line and device; the expired one is not there', async () => {
    const r = await outpost(data, ['status']);
    expectExit(r, 0, 'status');
    assert.match(r.stdout, /^registrations 1$/m);
    const row = r.stdout.split('\n').find((l) => l.startsWith('111 '));
    assert.ok(row, r.stdout);
    assert.match(row, /sip:111@10\.20\.0\.31:5062/);
    assert.match(row, /00:15:65:aa:bb:01/);
    assert.ok(!r.stdout.includes('10.20.0.99'));
    const j = await outpostJson<{ registrations: number; registered: Array<{ line: string; device: string }> }>(data, ['status', '--json']);
    assert.equal(j.registrations, 1);
    assert.deepEqual(j.registered.map((x) => [x.line, x.device]), [['111', '00:15:65:aa:bb:01']]);
  });
});
