import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMac, type Mac } from '../../src/net/mac.js';
import { resolveSettings, type LineRecord } from '../../src/provisioning/settings.js';
import { createYealinkPlugin, identifyYealinkUserAgent } from '../../src/vendors/yealink/index.js';
import { YEALINK_MODELS } from '../../src/vendors/yealink/models.js';
import { modelCatalogue } from '../../src/vendors/registry.js';
import { parseYealinkCfg } from '../support/yealink-cfg.js';

const plugin = createYealinkPlugin();

describe('Yealink identification', () => {
  // The User-Agents as the reference (device-formats.md §1.2) and wazo's extractor record them.
  const cases: Array<[string, { vendor: string; model: string; firmware: string; mac?: string }]> = [
    ['Yealink SIP-T22P 7.72.0.30 00:15:65:39:31:fc', { vendor: 'Yealink', model: 'T22P', firmware: '7.72.0.30', mac: '0015653931fc' }],
    ['Yealink SIP-T26P 6.72.0.30 00:15:65:4b:57:d2', { vendor: 'Yealink', model: 'T26P', firmware: '6.72.0.30', mac: '0015654b57d2' }],
    ['yealink SIP-T28P 2.70.0.140 00:15:65:13:ae:0b', { vendor: 'yealink', model: 'T28P', firmware: '2.70.0.140', mac: '00156513ae0b' }],
    ['yealink SIP-T22P 7.61.0.80 00:15:65:21:03:df', { vendor: 'yealink', model: 'T22P', firmware: '7.61.0.80', mac: '0015652103df' }],
    ['VP530P 23.70.0.40 00:15:65:31:4b:c0', { vendor: 'Yealink', model: 'VP530', firmware: '23.70.0.40', mac: '001565314bc0' }],
    ['VP530 23.70.0.41 00:15:65:3d:58:e3', { vendor: 'Yealink', model: 'VP530', firmware: '23.70.0.41', mac: '0015653d58e3' }],
    ['Yealink SIP VP-T49G 51.80.0.10 00:15:65:9b:5a:44', { vendor: 'Yealink', model: 'T49G', firmware: '51.80.0.10', mac: '0015659b5a44' }],
    ['Yealink SIP-T38G  38.70.0.125 00:15:65:2f:c3:5e', { vendor: 'Yealink', model: 'T38G', firmware: '38.70.0.125', mac: '0015652fc35e' }],
    ['Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37', { vendor: 'Yealink', model: 'T46G', firmware: '28.72.0.1', mac: '0015654aa937' }],
    ['Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0', { vendor: 'Yealink', model: 'T46G', firmware: '28.71.0.81' }],
    // "Well" rebrands: the same firmware behind another vendor word, possibly another OUI.
    ['Well SIP-T22P 7.73.0.50 00:1f:c1:00:00:01', { vendor: 'Well', model: 'T22P', firmware: '7.73.0.50', mac: '001fc1000001' }],
    ['Well SIP-T26P 6.73.0.50 00:15:65:4b:57:d2', { vendor: 'Well', model: 'T26P', firmware: '6.73.0.50', mac: '0015654b57d2' }],
  ];
  for (const [ua, expected] of cases) {
    it(`reads ${JSON.stringify(ua)}`, () => {
      const hint = identifyYealinkUserAgent(ua);
      assert.deepEqual(hint, expected.mac ? { ...expected, mac: parseMac(expected.mac) } : expected);
    });
  }

  it('recognises an unlisted model of the family by its firmware (how a Well YV3 would first appear)', () => {
    assert.deepEqual(identifyYealinkUserAgent('Well YV3 23.70.0.41 00:15:65:3d:58:e3'), {
      vendor: 'Well', model: 'VP530', firmware: '23.70.0.41', mac: parseMac('0015653d58e3'),
    });
  });

  it('does not claim other vendors\' phones', () => {
    assert.equal(identifyYealinkUserAgent('THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3'), undefined);
    assert.equal(identifyYealinkUserAgent('Fanvil X4 2.4.5 0c:38:3e:00:00:01'), undefined);
    assert.equal(identifyYealinkUserAgent('Mozilla/5.0 (X11; Linux x86_64)'), undefined);
    assert.equal(identifyYealinkUserAgent(''), undefined);
  });

  it('matches its file names and nothing else', () => {
    assert.deepEqual(plugin.matchFile('y000000000005.cfg'), { scope: 'common', model: YEALINK_MODELS.find((m) => m.id === 'T22P'), secret: false });
    assert.equal(plugin.matchFile('y000000000004.cfg')?.model?.id, 'T26P');
    assert.equal(plugin.matchFile('y000000000023.cfg')?.model?.id, 'VP530');
    assert.equal(plugin.matchFile('y000000000028.cfg')?.model?.id, 'T46G');
    assert.deepEqual(plugin.matchFile('001565AABB01.cfg'), { scope: 'device', mac: '001565aabb01', secret: true });
    for (const other of ['y000000000099.cfg', 'y00000000005.cfg', '001565aabb0.cfg', '001565aabb01.cfg.bak', 'ST2030S.inf', 'x001565aabb01.cfg']) {
      assert.equal(plugin.matchFile(other), undefined, other);
    }
  });

  it('serves a common file and a MAC file per device', () => {
    const t22p = YEALINK_MODELS.find((m) => m.id === 'T22P')!;
    assert.deepEqual(plugin.files(t22p, '001565aabb01' as Mac), ['y000000000005.cfg', '001565aabb01.cfg']);
  });

  it('has the account counts and codes of the reference table', () => {
    const want: Record<string, [string, number]> = { T20P: ['07', 2], T22P: ['05', 3], T26P: ['04', 3], T28P: ['00', 6], VP530: ['23', 4], T46G: ['28', 16], T42G: ['29', 12], T41P: ['36', 6] };
    for (const [id, [code, accounts]] of Object.entries(want)) {
      const m = YEALINK_MODELS.find((x) => x.id === id)!;
      assert.deepEqual([m.code, m.accounts], [code, accounts], id);
    }
  });

  it('finds models as written on labels', () => {
    const catalogue = modelCatalogue([plugin]);
    for (const name of ['SIP-T22P', 'T22P', 'Yealink SIP-T22P', 't22p', 'yealink t22p', 'Well SIP-T22P']) assert.equal(catalogue.find(name)?.model.id, 'T22P', name);
    assert.equal(catalogue.find('VP530P')?.model.id, 'VP530');
    assert.equal(catalogue.find('T99'), undefined);
  });
});

describe('Yealink files (golden)', () => {
  const golden = join(import.meta.dirname, '..', 'golden', 'yealink');
  const update = process.env.UPDATE_GOLDEN === '1';
  const lines: LineRecord[] = [
    { ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: 's3cret' },
    { ext: '113', number: '234567113', name: 'Recepce', user: '420234567113', password: 'p@ss=word;1' },
  ];
  const site = {
    site: { name: 'Brno', domain: 'centrex.example.net', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
    network: { voiceVlan: 20, voicePriority: 5, dataVlan: 10, dataPriority: 0 },
    qos: { sipDscp: 26, rtpDscp: 46 },
    upstream: { proxy: 'sip.centrex.example.net:5060' },
  };
  const server = { host: '10.20.0.2', httpPort: 8080, tftpPort: 69, sipPort: 5060 };

  for (const [modelId, mac, firmware] of [['T22P', '001565aabb01', '7.73.0.50'], ['T26P', '001565aabb02', '6.73.0.50'], ['VP530', '001565aabb03', '23.70.0.40'], ['T46G', '001565aabb04', '28.72.0.1']] as const) {
    const model = YEALINK_MODELS.find((m) => m.id === modelId)!;
    const common = `y0000000000${model.code}.cfg`;
    for (const file of [common, `${mac}.cfg`]) {
      it(`${modelId} ${file} matches test/golden/yealink/${modelId}-${file}`, () => {
        const match = plugin.matchFile(file)!;
        const settings = resolveSettings({ site, lines: match.scope === 'device' ? lines : [], server });
        const firmwareUpgrade = modelId === 'T22P' && match.scope === 'device' ? { version: '7.73.0.60', url: 'http://10.20.0.2:8080/prov/firmware/T22P-7.73.0.60.rom' } : undefined;
        const body = plugin.render({ file, match, model, settings, device: match.scope === 'device' ? { mac: mac as Mac, firmware } : undefined, firmware: firmwareUpgrade, images: {} }).body.toString('utf8');
        const path = join(golden, `${modelId}-${file}`);
        if (update || !existsSync(path)) {
          mkdirSync(golden, { recursive: true });
          writeFileSync(path, body);
        }
        assert.equal(body, readFileSync(path, 'utf8'));

        const cfg = parseYealinkCfg(body);
        const p = model.generation === 'v8x' ? 'static.' : '';
        assert.equal(cfg.get(`${p}network.vlan.internet_port_vid`), '20');
        assert.equal(cfg.get(`${p}network.vlan.internet_port_priority`), '5');
        assert.equal(cfg.get(`${p}network.vlan.pc_port_vid`), '10');
        assert.equal(cfg.get(`${p}network.vlan.dhcp_option`), '132');
        assert.equal(cfg.get(`${p}network.qos.rtptos`), '46');
        assert.equal(cfg.get(`${p}network.qos.signaltos`), '26');
        assert.equal(cfg.get('local_time.ntp_server1'), '10.20.0.1');
        assert.equal(cfg.get('local_time.time_zone'), '+1');
        assert.equal(cfg.get('local_time.start_time'), '3/5/7/2');
        assert.equal(cfg.get('local_time.end_time'), '10/5/7/3');
        assert.equal(cfg.get(`${p}auto_provision.server.url`), 'http://10.20.0.2:8080/prov/');
        assert.equal(cfg.get(`${p}auto_provision.repeat.minutes`), '1440');
        assert.equal(cfg.get('sip.notify_reboot_enable'), '0');
        assert.deepEqual([1, 2, 3, 4].map((i) => cfg.get(`dialplan.dialnow.rule.${i}`)), ['112', '150', '155', '158']);
        if (match.scope === 'common') {
          assert.ok(![...cfg.keys()].some((k) => k.includes('password')), 'no password key in a common file');
          assert.ok(!body.includes('s3cret'));
          return;
        }
        assert.equal(cfg.get('account.1.enable'), '1');
        assert.equal(cfg.get('account.1.label'), '111');
        assert.equal(cfg.get('account.1.display_name'), 'Jan Novák');
        assert.equal(cfg.get('account.1.user_name'), '420234567111');
        assert.equal(cfg.get('account.1.auth_name'), '420234567111');
        assert.equal(cfg.get('account.1.password'), 's3cret');
        assert.equal(cfg.get('account.2.password'), 'p@ss=word;1');
        assert.equal(cfg.get('account.1.sip_server.1.address'), 'sip.centrex.example.net');
        assert.equal(cfg.get('account.1.sip_server.2.address'), '10.20.0.2');
        assert.equal(cfg.get('account.1.sip_server.2.port'), '5060');
        assert.equal(cfg.get('account.1.fallback.redundancy_type'), '0', 'concurrent registration');
        for (let i = 3; i <= model.accounts; i++) {
          assert.equal(cfg.get(`account.${i}.enable`), '0', `unused account ${i} is switched off`);
          assert.equal(cfg.get(`account.${i}.password`), '%NULL%', `unused account ${i} keeps no old password`);
        }
        assert.equal(cfg.get(`account.${model.accounts + 1}.enable`), undefined, 'no account beyond the model\'s');
        assert.equal(cfg.get(`${p}firmware.url`), modelId === 'T22P' ? 'http://10.20.0.2:8080/prov/firmware/T22P-7.73.0.60.rom' : undefined);
      });
    }
  }

  it('fails loudly on a template variable the context lacks', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-tpl-'));
    try {
      mkdirSync(join(dir, 'yealink'));
      writeFileSync(join(dir, 'yealink', 'common.cfg.njk'), '#!version:1.0.0.1\nnetwork.vlan.internet_port_vid = {{ network.voiceVLAN }}\n');
      const overridden = createYealinkPlugin({ templateOverrides: dir });
      const model = YEALINK_MODELS.find((m) => m.id === 'T22P')!;
      const match = overridden.matchFile('y000000000005.cfg')!;
      assert.throws(
        () => overridden.render({ file: 'y000000000005.cfg', match, model, settings: resolveSettings({ site: {}, lines: [], server }), images: {} }),
        /template yealink\/common\.cfg\.njk: .*undefined/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
