import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { Outpost } from '../../src/app/outpost.js';
import { FirmwareError, ManifestFirmwareCatalogue, needsUpgrade } from '../../src/provisioning/firmware.js';
import type { Mac } from '../../src/net/mac.js';

describe('firmware catalogue', () => {
  let dir: string;
  let catalogue: ManifestFirmwareCatalogue;
  let image: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-fw-'));
    catalogue = new ManifestFirmwareCatalogue(join(dir, 'firmware'), silentLogger);
    image = join(dir, 'T22P-7.73.0.60.rom');
    writeFileSync(image, Buffer.alloc(4096, 7));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const manifestText = () => readFileSync(join(dir, 'firmware', 'manifest.json'), 'utf8');

  it('copies the image in and records its sha256 and size', async () => {
    const { image: added } = await catalogue.add(image, 'T22P', '7.73.0.60');
    assert.equal(added.file, 'T22P-7.73.0.60.rom');
    assert.equal(added.size, 4096);
    assert.equal(added.sha256, createHash('sha256').update(Buffer.alloc(4096, 7)).digest('hex'));
    assert.ok(existsSync(join(dir, 'firmware', added.file)));
    assert.deepEqual(JSON.parse(manifestText()).images.map((i: { model: string; version: string }) => [i.model, i.version]), [['T22P', '7.73.0.60']]);
    assert.equal(catalogue.target('t22p')?.version, '7.73.0.60');
    assert.equal(catalogue.image('T22P-7.73.0.60.rom')?.size, 4096);
    assert.equal(catalogue.image('manifest.json'), undefined, 'only listed images are served');
  });

  it('replaces the target of a model and deletes the old image', async () => {
    await catalogue.add(image, 'T22P', '7.73.0.60');
    const newer = join(dir, 'new.rom');
    writeFileSync(newer, Buffer.alloc(100, 1));
    const { replaced } = await catalogue.add(newer, 'T22P', '7.73.0.70');
    assert.equal(replaced?.version, '7.73.0.60');
    assert.equal(catalogue.target('T22P')?.version, '7.73.0.70');
    assert.deepEqual(readdirSync(join(dir, 'firmware')).sort(), ['T22P-7.73.0.70.rom', 'manifest.json']);
  });

  it('removes a target', async () => {
    await catalogue.add(image, 'T22P', '7.73.0.60');
    assert.deepEqual(catalogue.remove('T22P').map((i) => i.version), ['7.73.0.60']);
    assert.equal(catalogue.target('T22P'), undefined);
    assert.deepEqual(readdirSync(join(dir, 'firmware')), ['manifest.json']);
    assert.deepEqual(catalogue.remove('T22P'), []);
  });

  it('keeps one image per model and role: a Thomson application, DSP and boot image side by side', async () => {
    await catalogue.add(image, 'ST2030', '2.74');
    await catalogue.add(image, 'ST2030', '3.20', 'dsp');
    await catalogue.add(image, 'ST2030', '1.11', 'boot');
    await catalogue.add(image, 'ST2030', '3.21', 'dsp');
    const images = catalogue.images('st2030');
    assert.deepEqual(Object.fromEntries(Object.entries(images).map(([role, i]) => [role, i.version])), { application: '2.74', dsp: '3.21', boot: '1.11' });
    assert.equal(catalogue.target('ST2030')?.version, '2.74', 'the application image is the upgrade target');
    assert.equal(images.dsp?.file, 'ST2030-dsp-3.21.rom');
    assert.deepEqual(readdirSync(join(dir, 'firmware')).sort(), ['ST2030-2.74.rom', 'ST2030-boot-1.11.rom', 'ST2030-dsp-3.21.rom', 'manifest.json']);
    assert.deepEqual(catalogue.remove('ST2030', 'dsp').map((i) => i.file), ['ST2030-dsp-3.21.rom']);
    assert.deepEqual(Object.keys(catalogue.images('ST2030')).sort(), ['application', 'boot']);
    await assert.rejects(catalogue.add(image, 'ST2030', '1.0', 'Bad Role'), /not a firmware role/);
    assert.equal(catalogue.remove('ST2030').length, 2, 'without a role every image of the model goes');
  });

  it('refuses bad input and leaves the catalogue as it was', async () => {
    await catalogue.add(image, 'T22P', '7.73.0.60');
    const before = manifestText();
    await assert.rejects(catalogue.add(join(dir, 'missing.rom'), 'T26P', '6.73.0.50'), (e: Error) => e instanceof FirmwareError && /cannot read .*missing\.rom: ENOENT/.test(e.message));
    await assert.rejects(catalogue.add(image, 'T26P', 'latest'), /"latest" is not a firmware version/);
    await assert.rejects(catalogue.add(image, 'T26P', '7'), /not a firmware version/);
    writeFileSync(join(dir, 'empty.rom'), '');
    await assert.rejects(catalogue.add(join(dir, 'empty.rom'), 'T26P', '6.73.0.50'), /is empty/);
    await assert.rejects(catalogue.add(dir, 'T26P', '6.73.0.50'), /is not a file/);
    assert.equal(manifestText(), before);
    assert.deepEqual(readdirSync(join(dir, 'firmware')).sort(), ['T22P-7.73.0.60.rom', 'manifest.json']);
  });

  it('skips a corrupt manifest or entry with a log line instead of failing', () => {
    const fw = join(dir, 'firmware2');
    const c = new ManifestFirmwareCatalogue(fw, silentLogger);
    assert.equal(c.target('T22P'), undefined);
    rmSync(fw, { recursive: true, force: true });
    mkdirSync(fw, { recursive: true });
    writeFileSync(join(fw, 'manifest.json'), '{"images":[{"model":"T22P","version":"1.2","file":"../x","sha256":"a","size":1},{"model":"T26P","version":"6.73.0.50","file":"T26P-6.73.0.50.rom","sha256":"b","size":2}]}');
    c.reload();
    assert.equal(c.target('T22P'), undefined, 'an entry pointing outside the folder is skipped');
    assert.equal(c.target('T26P')?.version, '6.73.0.50');
    writeFileSync(join(fw, 'manifest.json'), '{not json');
    c.reload();
    assert.equal(c.target('T26P'), undefined, 'an unreadable manifest offers nothing');
  });

  it('upgrades only a device that reports another version', () => {
    const target = { model: 'T22P', version: '7.73.0.60', file: 'f', sha256: 's', size: 1 };
    assert.equal(needsUpgrade(target, '7.73.0.50'), true);
    assert.equal(needsUpgrade(target, '7.73.0.60'), false);
    assert.equal(needsUpgrade(target, undefined), false, 'an unknown version is not upgraded blindly');
    assert.equal(needsUpgrade(undefined, '7.73.0.50'), false);
  });
});

describe('firmware in the provisioning files', () => {
  let dir: string;
  let outpost: Outpost;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-fwp-'));
    outpost = await Outpost.open({ dataDir: join(dir, 'data'), firmwareDir: join(dir, 'fw'), log: silentLogger });
    await outpost.putLine({ ext: '111', user: 'u111', password: 'pw111' });
    await outpost.putDevice({ mac: '001565aabb01', model: 'T22P', lines: ['111'] });
    writeFileSync(join(dir, 'img.rom'), Buffer.alloc(64, 3));
    await outpost.firmware.add(join(dir, 'img.rom'), 'T22P', '7.73.0.60');
  });
  after(async () => {
    await outpost.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const server = { host: '10.20.0.2', httpPort: 8080, tftpPort: 69, sipPort: 5060 };
  const fetchAs = (ua: string | undefined, file: string) => outpost.catalogue(server).fetch({ file, userAgent: ua, ip: '127.0.0.1', protocol: 'http' });

  it('points a phone on another version at the target, over HTTP', async () => {
    const r = await fetchAs('Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01', '001565aabb01.cfg');
    assert.equal(r.status, 200);
    assert.match(r.status === 200 ? r.body.toString() : '', /^firmware\.url = http:\/\/10\.20\.0\.2:8080\/prov\/firmware\/T22P-7\.73\.0\.60\.rom$/m);
  });

  it('says nothing of firmware to a phone already on the target', async () => {
    const r = await fetchAs('Yealink SIP-T22P 7.73.0.60 00:15:65:aa:bb:01', '001565aabb01.cfg');
    assert.doesNotMatch(r.status === 200 ? r.body.toString() : 'x firmware.url', /firmware\.url/);
  });

  it('offers the target in the common file too when the requester says its version', async () => {
    const r = await fetchAs('Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:09', 'y000000000005.cfg');
    assert.match(r.status === 200 ? r.body.toString() : '', /^firmware\.url = /m);
  });

  it('identifies a TFTP client asking only for the common file by its DHCP lease, and pins secrets to that address', async () => {
    const leases = { macAt: (ip: string) => (ip === '10.20.0.57' ? ('001565aabb01' as Mac) : undefined), addressOf: (mac: Mac) => (mac === '001565aabb01' ? '10.20.0.57' : undefined) };
    const catalogue = outpost.catalogue(server);
    catalogue.useLeases(leases);
    const before = (await outpost.store.devices.get('001565aabb01' as Mac))?.ip;
    const common = await catalogue.fetch({ file: 'y000000000005.cfg', ip: '10.20.0.57', protocol: 'tftp' });
    assert.equal(common.status, 200);
    await outpost.store.devices.flush();
    assert.equal((await outpost.store.devices.get('001565aabb01' as Mac))?.ip, '10.20.0.57', `sighting recorded (was ${before})`);
    const own = await catalogue.fetch({ file: '001565aabb01.cfg', ip: '10.20.0.57', protocol: 'tftp' });
    assert.equal(own.status, 200);
    const other = await catalogue.fetch({ file: '001565aabb01.cfg', ip: '10.20.0.99', protocol: 'tftp' });
    assert.equal(other.status, 403, 'another address on the allowed network does not get the credentials');
  });

  it('records a device that only asked for its common file by model, once', async () => {
    const catalogue = outpost.catalogue(server);
    await catalogue.fetch({ file: 'y000000000004.cfg', ip: '10.20.0.58', protocol: 'tftp' });
    await catalogue.fetch({ file: 'y000000000004.cfg', ip: '10.20.0.58', protocol: 'tftp' });
    const seen = (await outpost.store.events.list({ type: 'device.seen' })).filter((e) => e.data?.ip === '10.20.0.58');
    assert.equal(seen.length, 1);
    assert.match(seen[0]!.message, /T26P at 10\.20\.0\.58 asked for its common file over tftp/);
  });
});
