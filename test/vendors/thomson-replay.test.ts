/**
 * Thomson boot sequences replayed against a running serve(), request by request as the reference records them
 * (device-formats.md §2.1, the contacta capture of an ST2030 on firmware 2.67.2): over HTTP with the phone's
 * User-Agent, and over TFTP (option 66) with nothing but file names; from an unknown phone to a provisioned one.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeAllSockets, tftpGet } from '../tftp/client.js';
import { startServer, type Harness } from '../tftp/harness.js';
import { iniGet, parseThomsonIni } from '../support/thomson-ini.js';
import type { Mac } from '../../src/net/mac.js';

const UA = 'THOMSON ST2030 hw5 fw2.67.2 00-14-7F-E1-47-B3';
const MAC_2030 = '00147fe147b3' as Mac;
const MAC_2022 = '00147fe1fc6d' as Mac;
const PW = { '111': 'pw-111-secret', '121': 'pw-121-secret', '131': 'pw-131-secret' } as const;

const site = {
  site: { name: 'Brno', timezone: 'Europe/Prague' },
  network: { voiceVlan: 20 },
  upstream: { proxy: 'sip.centrex.example.net:5060' },
  lines: Object.entries(PW).map(([ext, password]) => ({ ext, name: ext === '111' ? 'Jan Dvořák' : `Desk ${ext}`, user: `420234567${ext}`, password })),
};

describe('Thomson boot sequences replayed (HTTP and TFTP)', function () {
  this.timeout(60_000);
  let h: Harness;
  const get = async (path: string, userAgent = UA) => {
    const res = await fetch(`${h.base}${path}`, { headers: { 'user-agent': userAgent } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
  };
  const tftp = async (file: string) => {
    const r = await tftpGet({ port: h.tftpPort, file });
    r.socket.close();
    return r;
  };
  const state = async (mac: Mac) => (await h.running.outpost.store.devices.get(mac))?.state;

  before(async () => {
    h = await startServer({ site });
    // The catalogue holds the vendor's application image and telephony script under their own names.
    const fw = join(h.work, 'v2030SG.R11.1.SED.101223.2.74.zz');
    writeFileSync(fw, Buffer.alloc(70_000, 7));
    const tel = join(h.work, 'TelConf2030SG.R11.1.2.74.txt');
    writeFileSync(tel, 'set ipp_prof 0\n; vendor script\n');
    await h.running.outpost.firmware.add(fw, 'ST2030', '2.74', 'application', { keepName: true });
    await h.running.outpost.firmware.add(tel, 'ST2030', '2.74', 'telephony', { keepName: true });
  });
  after(async () => {
    closeAllSockets();
    await h?.close();
  });

  it('HTTP: an unknown ST2030 boots (inf, firmware, tones, telephony, common, .ser, MAC file) and is discovered without credentials', async () => {
    const inf = await get('/prov/st2030s.inf');
    assert.equal(inf.status, 200);
    assert.match(inf.type, /charset=iso-8859-1/);
    const ini = parseThomsonIni(inf.body);
    const base = `${h.base}/prov/`;
    assert.equal(iniGet(ini, 'config.config'), base);
    assert.equal(iniGet(ini, 'application.fwurl'), `${base}firmware/v2030SG.R11.1.SED.101223.2.74.zz`, 'the vendor\'s name is kept: the phone reads the version from it');
    assert.equal(iniGet(ini, 'config.telcfg'), `${base}firmware/TelConf2030SG.R11.1.2.74.txt`);
    assert.equal(await state(MAC_2030), 'discovered', 'the User-Agent names the MAC: the phone is in the inventory from its first request');

    const image = await get(new URL(iniGet(ini, 'application.fwurl')).pathname);
    assert.equal(image.status, 200);
    assert.equal(image.body.length, 70_000);
    for (const vendorFile of ['Tone-Melodies.txt', 'Tone-RG.txt', 'Tone-CW.txt', 'ToneTbl_2.67.2.zz', 'LangTbl_2.67.2.zz']) {
      assert.equal((await get(`/prov/${vendorFile}`)).status, 404, vendorFile);
    }
    const telconf = await get(new URL(iniGet(ini, 'config.telcfg')).pathname);
    assert.equal(telconf.body.toString(), 'set ipp_prof 0\n; vendor script\n');

    const common = await get(new URL(iniGet(ini, 'config.common_config')).pathname);
    assert.equal(common.status, 200);
    const commonIni = parseThomsonIni(common.body);
    assert.equal(iniGet(commonIni, 'qos.VLANid1'), '20');
    assert.equal(iniGet(commonIni, 'ntp.NtpZoneNum'), '24');
    assert.ok(!common.body.toString('latin1').includes('secret'));

    assert.equal((await get('/prov/ST2030S_00147FE147B3.ser')).status, 404);
    const own = await get('/prov/ST2030S_00147FE147B3.txt');
    assert.equal(own.status, 200);
    const ownIni = parseThomsonIni(own.body);
    assert.equal(iniGet(ownIni, 'sip.TEL01Use'), '0', 'no line yet');
    assert.ok(!own.body.toString('latin1').includes('secret'));
    assert.equal(await state(MAC_2030), 'discovered');
  });

  it('HTTP: once the technician gives it lines 111 and 121, the next boot gets both accounts and the phone is provisioned', async () => {
    await h.running.outpost.putDevice({ mac: MAC_2030, model: 'ST2030', lines: ['111', '121'] });
    assert.equal(await state(MAC_2030), 'assigned');
    const ini = parseThomsonIni((await get('/prov/st2030s.inf')).body);
    assert.equal((await get(new URL(iniGet(ini, 'config.common_config')).pathname)).status, 200);
    assert.equal((await get('/prov/ST2030S_00147FE147B3.ser')).status, 404);
    const own = await get('/prov/ST2030S_00147FE147B3.txt');
    const ownIni = parseThomsonIni(own.body);
    assert.equal(iniGet(ownIni, 'sip.regpwd1'), PW['111']);
    assert.equal(iniGet(ownIni, 'sip.regpwd2'), PW['121']);
    assert.equal(iniGet(ownIni, 'sip.DisplayName1'), 'Jan Dvorák');
    assert.ok(own.body.includes(Buffer.from([0xe1])), 'á as one ISO-8859-1 byte');
    assert.equal(iniGet(ownIni, 'sip.RegisterServerBK1'), '127.0.0.1', 'Outpost is the backup registrar');
    assert.equal(await state(MAC_2030), 'provisioned');
  });

  it('HTTP: another phone\'s MAC file with this phone\'s User-Agent is refused', async () => {
    assert.equal((await get('/prov/ST2022S_00147FE1FC6D.txt')).status, 403);
  });

  it('TFTP: an unknown ST2022 with no User-Agent gets the same bytes as over HTTP and is discovered by its MAC file name', async () => {
    const inf = await tftp('ST2022S.inf');
    assert.equal(inf.outcome, 'complete');
    assert.deepEqual(inf.data, (await get('/prov/ST2022S.inf', '')).body);
    const commonUrl = iniGet(parseThomsonIni(inf.data), 'config.common_config');
    const common = await tftp(commonUrl.split('/').pop()!);
    assert.equal(common.outcome, 'complete');
    assert.equal(iniGet(parseThomsonIni(common.data), 'qos.VLANid1'), '20');
    const ser = await tftp('ST2022S_00147FE1FC6D.ser');
    assert.equal(ser.outcome, 'error');
    assert.equal(ser.error?.code, 1, 'file not found');
    const own = await tftp('ST2022S_00147FE1FC6D.txt');
    assert.equal(own.outcome, 'complete');
    assert.equal(iniGet(parseThomsonIni(own.data), 'sip.TEL01Use'), '0');
    const device = await h.running.outpost.store.devices.get(MAC_2022);
    assert.deepEqual([device?.state, device?.model], ['discovered', 'ST2022']);
  });

  it('TFTP: three lines on an ST2022 are refused with a clear message; two are provisioned', async () => {
    await assert.rejects(h.running.outpost.putDevice({ mac: MAC_2022, model: 'ST2022', lines: ['111', '121', '131'] }), /the ST2022 has 2 accounts but 3 lines were given/);
    assert.equal((await h.running.outpost.store.devices.get(MAC_2022))?.lines.length, 0, 'nothing stored');
    await h.running.outpost.putDevice({ mac: MAC_2022, model: 'ST2022', lines: ['131'] });
    const own = await tftp('ST2022S_00147FE1FC6D.txt');
    const ini = parseThomsonIni(own.data);
    assert.equal(iniGet(ini, 'sip.regpwd1'), PW['131']);
    assert.equal(iniGet(ini, 'sip.TEL02Use'), '0');
    assert.equal(await state(MAC_2022), 'provisioned');
  });
});
