import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describeRun, ensureBuilt, outpost, outpostJson, removeDir, tempDir } from './helpers.js';

interface Image {
  model: string;
  version: string;
  file: string;
  sha256: string;
  size: number;
}

describe('cli: firmware add, list, remove', function () {
  this.timeout(60_000);
  let data: string;
  let rom: string;
  const firmwareDir = () => join(data, 'firmware');

  before(() => {
    ensureBuilt();
    data = tempDir();
    rom = join(data, 'fw.rom');
    writeFileSync(rom, Buffer.alloc(10_000, 0x5a));
  });
  after(() => removeDir(data));

  it('adds an image: copied into the catalogue with its sha256 and size', async () => {
    const r = await outpost(data, ['firmware', 'add', rom, '--model', 'Yealink SIP-T22P', '--version', '7.73.0.60']);
    assert.equal(r.code, 0, describeRun(r));
    const sha = createHash('sha256').update(Buffer.alloc(10_000, 0x5a)).digest('hex');
    assert.match(r.stdout, new RegExp(`T22P 7\\.73\\.0\\.60 added as T22P-7\\.73\\.0\\.60\\.rom \\(10000 bytes, sha256 ${sha}\\)`));
    const images = await outpostJson<Image[]>(data, ['firmware', 'list', '--json']);
    assert.deepEqual(images.map((i) => [i.model, i.version, i.file, i.size, i.sha256]), [['T22P', '7.73.0.60', 'T22P-7.73.0.60.rom', 10_000, sha]]);
    assert.ok(readFileSync(join(firmwareDir(), 'T22P-7.73.0.60.rom')).equals(Buffer.alloc(10_000, 0x5a)));
    const text = await outpost(data, ['firmware', 'list']);
    assert.match(text.stdout, /^T22P\s+application\s+7\.73\.0\.60\s+T22P-7\.73\.0\.60\.rom\s+10000/m);
  });

  it('refuses a missing file, an unknown model and a bad version, and changes nothing', async () => {
    const before = readFileSync(join(firmwareDir(), 'manifest.json'), 'utf8');
    const missing = await outpost(data, ['firmware', 'add', join(data, 'nope.rom'), '--model', 'T26P', '--version', '6.73.0.50']);
    assert.equal(missing.code, 1, describeRun(missing));
    assert.match(missing.stderr, /cannot read .*nope\.rom: ENOENT/);
    const model = await outpost(data, ['firmware', 'add', rom, '--model', 'T99X', '--version', '6.73.0.50']);
    assert.equal(model.code, 1);
    assert.match(model.stderr, /unknown model "T99X"; outpost device models lists them/);
    const version = await outpost(data, ['firmware', 'add', rom, '--model', 'T26P', '--version', 'newest']);
    assert.equal(version.code, 1);
    assert.match(version.stderr, /"newest" is not a firmware version/);
    assert.equal(readFileSync(join(firmwareDir(), 'manifest.json'), 'utf8'), before);
    assert.deepEqual(readdirSync(firmwareDir()).sort(), ['T22P-7.73.0.60.rom', 'manifest.json']);
  });

  it('a second version for the same model replaces the target', async () => {
    const r = await outpost(data, ['firmware', 'add', rom, '--model', 'T22P', '--version', '7.73.0.70']);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /replaces 7\.73\.0\.60/);
    const images = await outpostJson<Image[]>(data, ['firmware', 'list', '--json']);
    assert.deepEqual(images.map((i) => i.version), ['7.73.0.70']);
    assert.deepEqual(readdirSync(firmwareDir()).sort(), ['T22P-7.73.0.70.rom', 'manifest.json']);
  });

  it('removes a target', async () => {
    const r = await outpost(data, ['firmware', 'remove', 'SIP-T22P']);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(await outpostJson<Image[]>(data, ['firmware', 'list', '--json']), []);
    const again = await outpost(data, ['firmware', 'remove', 'T22P']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no firmware for T22P/);
  });

  it('a Thomson takes application, dsp, boot and telephony images under the vendor\'s file names; a Yealink takes no dsp', async () => {
    const app = join(data, 'v2030SG.R11.1.SED.101223.2.74.zz');
    const dsp = join(data, 'v2030_dsp_R11.1_SED_v320.zz');
    writeFileSync(app, Buffer.alloc(5000, 1));
    writeFileSync(dsp, Buffer.alloc(3000, 2));
    assert.equal((await outpost(data, ['firmware', 'add', app, '--model', 'ST2030', '--version', '2.74'])).code, 0);
    const r = await outpost(data, ['firmware', 'add', dsp, '--model', 'Thomson ST2030', '--version', '3.20', '--role', 'dsp']);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /ST2030 dsp 3\.20 added as v2030_dsp_R11\.1_SED_v320\.zz/);
    const images = await outpostJson<Array<Image & { role?: string }>>(data, ['firmware', 'list', '--json']);
    assert.deepEqual(images.map((i) => [i.model, i.role ?? 'application', i.file]), [
      ['ST2030', 'application', 'v2030SG.R11.1.SED.101223.2.74.zz'],
      ['ST2030', 'dsp', 'v2030_dsp_R11.1_SED_v320.zz'],
    ]);
    const wrong = await outpost(data, ['firmware', 'add', dsp, '--model', 'T22P', '--version', '3.20', '--role', 'dsp']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /T22P takes no "dsp" image; its roles: application/);
    const clash = await outpost(data, ['firmware', 'add', dsp, '--model', 'ST2022', '--version', '3.20', '--role', 'dsp']);
    assert.equal(clash.code, 1, 'the same vendor file name cannot be two models\' images');
    assert.match(clash.stderr, /already the dsp image of ST2030/);
    const one = await outpost(data, ['firmware', 'remove', 'ST2030', '--role', 'dsp']);
    assert.equal(one.code, 0, describeRun(one));
    assert.deepEqual((await outpostJson<Image[]>(data, ['firmware', 'list', '--json'])).map((i) => i.file), ['v2030SG.R11.1.SED.101223.2.74.zz']);
  });
});
