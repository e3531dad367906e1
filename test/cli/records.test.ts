/**
 * `outpost events|calls|leases|handover`: the page's Events, Calls, Leases and Handover sheet from the command
 * line, against a real data dir (the real binary; records a running serve would write put in with the store).
 */
import { strict as assert } from 'node:assert';
import { silentLogger } from '../../src/app/log.js';
import { Store } from '../../src/store/index.js';
import { describeRun, ensureBuilt, outpost, outpostJson, removeDir, tempDir, type RunResult } from './helpers.js';

const SECRET = 'Records-Secret-111';

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: ${describeRun(r)}`);
  return r.stdout;
}

describe('cli: events, calls, leases, handover', function () {
  this.timeout(60_000);
  let data: string;

  before(async function () {
    this.timeout(200_000);
    ensureBuilt();
    data = tempDir();
    ok(await outpost(data, ['line', 'add', '--ext', '111', '--number', '234567111', '--name', 'Jan Novák', '--user', '420234567111', '--password', SECRET]), 'line add');
    ok(await outpost(data, ['line', 'add', '--ext', '222', '--name', 'Sklad', '--user', '420234567222', '--password', 'Records-Secret-222']), 'line add 222');
    ok(await outpost(data, ['device', 'add', '--mac', '00:15:65:aa:bb:01', '--model', 'SIP-T22P', '--line', '111', '--location', 'Recepce']), 'device add');
    ok(await outpost(data, ['site', 'set', 'network.voiceVlan', '20']), 'site set');
    const store = await Store.open(data, silentLogger);
    const now = Date.now();
    const call = await store.calls.start({ callId: 'rec-1', caller: '111', callee: '0602123456', route: 'pstn 602123456', at: now - 60_000 });
    await call.written;
    await store.calls.update(call.id, { answeredAt: now - 55_000, endedAt: now - 10_000, result: 'completed' });
    await store.leases.save({ address: '10.20.0.150', client: 'hw:1:001565aabb01', mac: '001565aabb01', state: 'bound', expiresAt: now + 3_600_000, updatedAt: now, hostname: 'SIP-T22P' });
    await store.close();
  });
  after(() => removeDir(data));

  it('handover prints the network settings and each device with its line, and never a password', async () => {
    const text = ok(await outpost(data, ['handover']), 'handover');
    assert.match(text, /Voice VLAN\s+20 \(802\.1p priority 5\)/);
    assert.match(text, /00:15:65:aa:bb:01\s+Yealink T22P\s+Recepce\s+111\s+234567111\s+Jan Novák\s+assigned/);
    assert.match(text, /Lines not on a phone\n\s+222 Sklad/);
    const sheet = await outpostJson<{ devices: Array<{ mac: string; lines: Array<{ ext: string }> }>; network: { voiceVlan: number } }>(data, ['handover', '--json']);
    assert.equal(sheet.network.voiceVlan, 20);
    assert.deepEqual(sheet.devices.map((d) => [d.mac, d.lines.map((l) => l.ext)]), [['00:15:65:aa:bb:01', ['111']]]);
    for (const out of [text, JSON.stringify(sheet)]) assert.ok(!out.includes('Records-Secret'), 'no password on the sheet');
  });

  it('events filters by type and device; calls and leases list what serve recorded', async () => {
    const added = ok(await outpost(data, ['events', '--type', 'device.added']), 'events --type');
    assert.match(added, /device\.added\s+00:15:65:aa:bb:01/);
    assert.doesNotMatch(added, /site\.changed/);
    const byMac = await outpostJson<Array<{ type: string }>>(data, ['events', '--mac', '001565aabb01', '--json']);
    assert.ok(byMac.length >= 1 && byMac.every((e) => e.type.startsWith('device.')), JSON.stringify(byMac));
    assert.match(ok(await outpost(data, ['calls']), 'calls'), /111\s+0602123456\s+pstn 602123456\s+completed\s+45 s/);
    const calls = await outpostJson<Array<{ callId: string; answeredAt: string }>>(data, ['calls', '--json']);
    assert.equal(calls[0]?.callId, 'rec-1');
    assert.match(calls[0]?.answeredAt ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.match(ok(await outpost(data, ['leases']), 'leases'), /10\.20\.0\.150\s+001565aabb01\s+SIP-T22P/);
  });

  it('site show --explain gives each setting its value, source and the sentence the page shows', async () => {
    const text = ok(await outpost(data, ['site', 'show', '--explain']), 'site show --explain');
    assert.match(text, /^network\.voiceVlan = 20 \(set\)\n    The VLAN the phones put their voice traffic in/m);
    assert.match(text, /^qos\.rtpDscp = 46 \(default\)\n    The DSCP mark/m);
  });

  it('a bad --limit says what is wrong (exit 1)', async () => {
    const r = await outpost(data, ['events', '--limit', '0']);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /--limit must be a whole number 1\.\.10000, not "0"/);
  });
});
