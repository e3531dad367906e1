import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Mac } from '../../src/net/mac.js';
import { resolveSettings, type LineRecord, type SettingsLayer } from '../../src/provisioning/settings.js';
import { createThomsonPlugin, identifyThomsonUserAgent, toLatin1 } from '../../src/vendors/thomson/index.js';
import { THOMSON_ZONES, thomsonZoneNumber } from '../../src/vendors/thomson/zones.js';
import { createVendors } from '../../src/vendors/registry.js';
import { recognise } from '../../src/dhcp/policy.js';
import type { CatalogueImage, RenderInput } from '../../src/vendors/types.js';
import { iniGet, parseThomsonIni } from '../support/thomson-ini.js';

const plugin = createThomsonPlugin();
const server = { host: '10.20.0.2', httpPort: 8080, tftpPort: 69, sipPort: 5060 };
const site: SettingsLayer = {
  site: { name: 'Brno', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
  network: { voiceVlan: 20, voicePriority: 5, dataVlan: 10, dataPriority: 0 },
  qos: { sipDscp: 26, rtpDscp: 46 },
  upstream: { proxy: 'sip.centrex.example.net:5060' },
};
const lines: LineRecord[] = [
  { ext: '111', number: '234567111', name: 'Jan Dvořák', user: '420234567111', password: 'pw-111-secret' },
  { ext: '121', number: '234567121', name: 'Reception', user: '420234567121', password: 'pw-121-secret' },
];
const images: Record<string, CatalogueImage> = {
  application: { version: '2.74', file: 'v2030SG.R11.1.SED.101223.2.74.zz', url: 'http://10.20.0.2:8080/prov/firmware/v2030SG.R11.1.SED.101223.2.74.zz' },
  dsp: { version: '3.20', file: 'v2030_dsp_R11.1_SED_v320.zz', url: 'http://10.20.0.2:8080/prov/firmware/v2030_dsp_R11.1_SED_v320.zz' },
};

function render(file: string, opts: { site?: SettingsLayer; device?: SettingsLayer; lines?: LineRecord[]; mac?: string; images?: Record<string, CatalogueImage> } = {}): Buffer {
  const match = plugin.matchFile(file);
  assert.ok(match, `${file} is a Thomson file`);
  const settings = resolveSettings({ site: opts.site ?? site, device: opts.device, lines: match.scope === 'device' ? (opts.lines ?? lines) : [], server });
  const input: RenderInput = { file, match, model: match.model!, settings, images: opts.images ?? {}, device: match.scope === 'device' ? { mac: (opts.mac ?? match.mac) as Mac } : undefined };
  return plugin.render(input).body;
}

describe('Thomson identification', () => {
  for (const [ua, want] of [
    ['THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3', { vendor: 'Thomson', model: 'ST2030', firmware: '2.74', mac: '00147fe147b3' }],
    ['THOMSON ST2022 hw2 fw4.68 00-14-7F-E1-FC-6D', { vendor: 'Thomson', model: 'ST2022', firmware: '4.68', mac: '00147fe1fc6d' }],
    ['Thomson ST2030 hw5 fw2.67.2 00-1F-9F-16-E7-F8', { vendor: 'Thomson', model: 'ST2030', firmware: '2.67.2', mac: '001f9f16e7f8' }],
  ] as const) {
    it(`reads ${ua}`, () => assert.deepEqual(identifyThomsonUserAgent(ua), want));
  }
  it('is not fooled by a Yealink or a truncated User-Agent', () => {
    assert.equal(identifyThomsonUserAgent('Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01'), undefined);
    assert.equal(identifyThomsonUserAgent('THOMSON ST2030 hw5 fw2.74'), undefined);
  });

  it('matches its file names in either case, and nothing else', () => {
    assert.deepEqual(plugin.matchFile('ST2030S.inf'), { scope: 'common', model: plugin.models[0], secret: false });
    assert.equal(plugin.matchFile('st2030s.inf')?.model?.id, 'ST2030', 'contacta serves the lowercase name');
    assert.equal(plugin.matchFile('ST2022S.inf')?.model?.id, 'ST2022');
    assert.equal(plugin.matchFile('ST2030S-common-0123456789.txt')?.scope, 'common');
    const device = plugin.matchFile('ST2030S_00147FE147B3.txt');
    assert.deepEqual([device?.scope, device?.mac, device?.secret, device?.model?.id], ['device', '00147fe147b3', true, 'ST2030']);
    assert.equal(plugin.matchFile('st2030s_00147fe147b3.txt')?.mac, '00147fe147b3');
    for (const other of ['ST2030S_00147FE147B3.ser', 'Tone-Melodies.txt', 'ST2040S.inf', 'ST2030S_00147FE147B.txt', 'y000000000005.cfg', 'ToneTbl_2.67.2.zz']) {
      assert.equal(plugin.matchFile(other), undefined, other);
    }
    assert.deepEqual(plugin.files(plugin.models[1]!, '00147fe1fc6d' as Mac), ['ST2022S.inf', 'ST2022S-common.txt', 'ST2022S_00147FE1FC6D.txt']);
  });

  it('is recognised in DHCP by its user class (option 77) and told the URL of its .inf in option 43', () => {
    const vendors = createVendors();
    const r = recognise({ mac: '00147fe147b3', vendorClass: undefined, userClasses: ['Thomson ST2030S'] }, vendors);
    assert.equal(r?.vendor.id, 'thomson');
    assert.equal(r?.model, 'ST2030');
    const options = new Map(r!.vendor.dhcp.provisioningOptions({ host: '10.20.0.2', httpPort: 8080, tftpPort: 69, httpUrl: 'http://10.20.0.2:8080/prov/' }, r!.model));
    assert.equal(options.get(43)?.toString(), 'http://10.20.0.2:8080/prov/ST2030S.inf');
    assert.equal(options.get(66)?.toString(), '10.20.0.2');
  });
});

describe('Thomson time zones', () => {
  it('has the 64 entries of the phones\' list', () => assert.equal(THOMSON_ZONES.length, 64));
  it('computes 24 for Prague from the list (not a table of answers), and the other European zones', () => {
    assert.equal(thomsonZoneNumber('Europe/Prague'), 24);
    assert.equal(thomsonZoneNumber('Europe/Warsaw'), 24);
    assert.equal(thomsonZoneNumber('Europe/Vienna'), 25);
    assert.equal(thomsonZoneNumber('Europe/Paris'), 22);
    assert.equal(thomsonZoneNumber('Europe/Lisbon'), 21);
    assert.equal(thomsonZoneNumber('America/New_York'), 11);
    assert.equal(thomsonZoneNumber('Asia/Kolkata'), 41);
  });
  it('a zone whose city no label names gets the first entry that keeps the same clock', () => {
    // Bratislava, Budapest ... Prague (24) and Brussels ... Vienna (25) keep the clock of Europe/Zurich; 22 comes first.
    assert.equal(thomsonZoneNumber('Europe/Zurich'), 22);
    assert.equal(thomsonZoneNumber('Asia/Tokyo'), 50);
  });
});

describe('Thomson files', () => {
  it('the inf names the firmware the catalogue holds, the common file by its current name and the base URL', () => {
    const inf = parseThomsonIni(render('ST2030S.inf', { images }));
    assert.equal(iniGet(inf, 'application.fwurl'), images.application!.url);
    assert.equal(iniGet(inf, 'application.dspurl'), images.dsp!.url);
    assert.equal(inf.get('application')?.has('booturl'), false, 'no boot image in the catalogue, none named');
    assert.equal(inf.get('config')?.has('telcfg'), false);
    assert.equal(iniGet(inf, 'config.config'), 'http://10.20.0.2:8080/prov/');
    assert.match(iniGet(inf, 'config.common_config'), /^http:\/\/10\.20\.0\.2:8080\/prov\/ST2030S-common-[0-9a-f]{10}\.txt$/);
    const withTel = parseThomsonIni(render('ST2030S.inf', { images: { ...images, telephony: { version: '2.74', file: 'telconf-2.74-1.txt', url: 'http://10.20.0.2:8080/prov/firmware/telconf-2.74-1.txt' } } }));
    assert.equal(iniGet(withTel, 'config.telcfg'), 'http://10.20.0.2:8080/prov/firmware/telconf-2.74-1.txt');
  });

  it('the common file gets a new name when its content changes, and the same name when it does not', () => {
    const nameOf = (s: SettingsLayer) => iniGet(parseThomsonIni(render('ST2030S.inf', { site: s })), 'config.common_config');
    const first = nameOf(site);
    assert.equal(nameOf(site), first);
    const moved = nameOf({ ...site, network: { ...site.network, voiceVlan: 30 } });
    assert.notEqual(moved, first);
    // The name is the content's: the file under that name is the one the digest was taken of.
    const body = render('ST2030S-common.txt');
    assert.equal(render(first.split('/').pop()!).toString('latin1'), body.toString('latin1'));
  });

  it('config_sn is 12 digits and changes whenever the content changes', () => {
    const sn = (b: Buffer) => iniGet(parseThomsonIni(b), 'sys.config_sn');
    const a = sn(render('ST2030S_00147FE147B3.txt'));
    assert.match(a, /^\d{12}$/);
    assert.equal(sn(render('ST2030S_00147FE147B3.txt')), a, 'same content, same serial');
    assert.notEqual(sn(render('ST2030S_00147FE147B3.txt', { lines: [{ ...lines[0]!, password: 'changed' }] })), a);
    assert.notEqual(sn(render('ST2030S-common.txt')), a);
  });

  it('the MAC file: main server = the Centrex, backup = Outpost, per line; unused lines switched off and cleared', () => {
    const ini = parseThomsonIni(render('ST2030S_00147FE147B3.txt'));
    for (const [n, line] of [[1, lines[0]!], [2, lines[1]!]] as const) {
      assert.equal(iniGet(ini, `sip.TEL0${n}Use`), '1');
      assert.equal(iniGet(ini, `sip.TEL${n}Number`), line.user);
      assert.equal(iniGet(ini, `sip.regid${n}`), line.user);
      assert.equal(iniGet(ini, `sip.regpwd${n}`), line.password);
      assert.equal(iniGet(ini, `sip.DisplayNum${n}`), line.ext);
      assert.equal(iniGet(ini, `sip.ProxyServerMP${n}`), 'sip.centrex.example.net');
      assert.equal(iniGet(ini, `sip.RegisterServerMP${n}`), 'sip.centrex.example.net');
      assert.equal(iniGet(ini, `sip.sip_reg_srv_portMP${n}`), '5060');
      assert.equal(iniGet(ini, `sip.ProxyServerBK${n}`), '10.20.0.2');
      assert.equal(iniGet(ini, `sip.RegisterServerBK${n}`), '10.20.0.2');
      assert.equal(iniGet(ini, `sip.sip_reg_srv_portBK${n}`), '5060');
    }
    for (const n of [3, 4]) {
      assert.equal(iniGet(ini, `sip.TEL0${n}Use`), '0');
      assert.equal(iniGet(ini, `sip.regpwd${n}`), '');
      assert.equal(iniGet(ini, `sip.RegisterServerBK${n}`), '');
    }
    assert.equal(ini.get('sip')?.has('TEL05Use'), false, 'the ST2030 has 4 lines');
    assert.equal(iniGet(ini, 'sip.AuthNotifyCheckSync'), '10.20.0.2', 'check-sync accepted from Outpost');
    assert.equal(iniGet(ini, 'sip.sw_notify_autoprovision'), '1');
  });

  it('VLAN, 802.1p, DSCP, NTP with zone 24, dial plan and emergency numbers from the site', () => {
    for (const file of ['ST2030S-common.txt', 'ST2030S_00147FE147B3.txt']) {
      const ini = parseThomsonIni(render(file));
      assert.equal(iniGet(ini, 'net.VLAN'), '1', file);
      assert.equal(iniGet(ini, 'qos.VLANid1'), '20');
      assert.equal(iniGet(ini, 'qos.VLANTag1'), '5');
      assert.equal(iniGet(ini, 'qos.VLANid2'), '10');
      assert.equal(iniGet(ini, 'qos.DSCP1'), '46');
      assert.equal(iniGet(ini, 'qos.DSCP2'), '26');
      assert.equal(iniGet(ini, 'qos.TOS'), '184');
      assert.equal(iniGet(ini, 'ntp.NTPFlag'), '1');
      assert.equal(iniGet(ini, 'ntp.NtpIP'), '10.20.0.1');
      assert.equal(iniGet(ini, 'ntp.NtpZoneNum'), '24');
      assert.equal(iniGet(ini, 'ntp.NtpDaylight'), '1');
      assert.equal(iniGet(ini, 'sys.EmergencyDialPlan'), '|112|150|155|158|');
      assert.equal(iniGet(ini, 'sys.VOIPDialPlan'), 'x.T');
    }
    const untagged = parseThomsonIni(render('ST2030S-common.txt', { site: { ...site, network: { voiceVlan: 0 } } }));
    assert.equal(iniGet(untagged, 'net.VLAN'), '0');
    assert.equal(untagged.get('qos')?.has('VLANid1'), false);
  });

  it('a per-device setting is in that device\'s file only; removing it writes the site value again (not a missing key)', () => {
    const own = parseThomsonIni(render('ST2030S_00147FE147B3.txt', { device: { network: { voiceVlan: 30 } } }));
    assert.equal(iniGet(own, 'qos.VLANid1'), '30');
    assert.equal(iniGet(parseThomsonIni(render('ST2030S-common.txt')), 'qos.VLANid1'), '20');
    assert.equal(iniGet(parseThomsonIni(render('ST2030S_00147FE147B3.txt')), 'qos.VLANid1'), '20');
  });

  it('is ISO-8859-1: á stays one byte (0xE1), ř loses its accent', () => {
    const body = render('ST2030S_00147FE147B3.txt');
    assert.equal(iniGet(parseThomsonIni(body), 'sip.DisplayName1'), 'Jan Dvorák');
    assert.ok(body.includes(Buffer.from([0x44, 0x76, 0x6f, 0x72, 0xe1, 0x6b])), '"Dvorák" in Latin-1 bytes');
    assert.ok(!body.includes(Buffer.from('á', 'utf8')), 'no UTF-8 sequences');
    assert.deepEqual([...toLatin1('Čeněk Šťastný €')], [...Buffer.from('Cenek Stastný ?', 'latin1')]);
  });

  it('the ST2022 has two lines: a third is not written', () => {
    const ini = parseThomsonIni(render('ST2022S_00147FE1FC6D.txt'));
    assert.equal(iniGet(ini, 'sip.TEL02Use'), '1');
    assert.equal(ini.get('sip')?.has('TEL03Use'), false);
  });
});

describe('Thomson files (golden)', () => {
  const golden = join(import.meta.dirname, '..', 'golden', 'thomson');
  const update = process.env.UPDATE_GOLDEN === '1';
  const cases: Array<[string, string]> = [
    ['ST2030', 'ST2030S.inf'], ['ST2030', 'ST2030S-common.txt'], ['ST2030', 'ST2030S_00147FE147B3.txt'],
    ['ST2022', 'ST2022S.inf'], ['ST2022', 'ST2022S-common.txt'], ['ST2022', 'ST2022S_00147FE1FC6D.txt'],
  ];
  for (const [model, file] of cases) {
    it(`${file} matches test/golden/thomson/${file}`, () => {
      const body = render(file, { images: model === 'ST2030' ? images : {} });
      parseThomsonIni(body);
      const path = join(golden, file);
      if (update || !existsSync(path)) {
        mkdirSync(golden, { recursive: true });
        writeFileSync(path, body);
      }
      assert.equal(body.toString('latin1'), readFileSync(path).toString('latin1'));
    });
  }
});
