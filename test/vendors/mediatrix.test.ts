import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recognise } from '../../src/dhcp/policy.js';
import type { Mac } from '../../src/net/mac.js';
import { resolveSettings, type LineRecord, type SettingsLayer } from '../../src/provisioning/settings.js';
import { zoneRule } from '../../src/provisioning/timezone.js';
import { createVendors, modelCatalogue } from '../../src/vendors/registry.js';
import type { RenderInput } from '../../src/vendors/types.js';
import { asciiName, recheckPeriod, tos } from '../../src/vendors/mediatrix/common.js';
import { media5Address } from '../../src/vendors/mediatrix/dhcp.js';
import { createMediatrixPlugin, modelFromVendorClass } from '../../src/vendors/mediatrix/index.js';
import { MEDIATRIX_MODELS, type MediatrixModel } from '../../src/vendors/mediatrix/models.js';
import { UNVERIFIED } from '../../src/vendors/mediatrix/unverified.js';
import { parseDgwScript, type DgwScript } from '../support/mediatrix-script.js';
import { parseV5Xml, type V5Document } from '../support/mediatrix-xml.js';

const plugin = createMediatrixPlugin();
const model = (id: string) => MEDIATRIX_MODELS.find((m) => m.id === id)!;
const server = { host: '10.20.0.2', httpPort: 8080, tftpPort: 69, sipPort: 5060 };
const where = { host: '10.20.0.2', httpPort: 8080, tftpPort: 69, httpUrl: 'http://10.20.0.2:8080/prov/' };

const LINES: LineRecord[] = [
  { ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: 's3cret' },
  { ext: '113', number: '234567113', name: 'Recepce', user: '420234567113', password: 'p@ss=word;1' },
];
const SITE: SettingsLayer = {
  site: { name: 'Brno', domain: 'centrex.example.net', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
  network: { voiceVlan: 20, voicePriority: 5, dataVlan: 10, dataPriority: 0 },
  qos: { sipDscp: 26, rtpDscp: 46 },
  upstream: { proxy: 'sip.centrex.example.net:5060' },
  gateway: { host: '10.20.0.5', port: 5060 },
  fax: { t38: true, redundancy: 2, ecm: true },
};

function layer(...layers: SettingsLayer[]): SettingsLayer {
  return layers.reduce<SettingsLayer>((acc, l) => ({ ...acc, ...l }), {});
}

function render(id: string, opts: { lines?: LineRecord[]; site?: SettingsLayer; mac?: string; images?: RenderInput['images']; firmware?: RenderInput['firmware']; plugin?: typeof plugin } = {}) {
  const mac = (opts.mac ?? '0090f8aabb01') as Mac;
  const file = `${mac.toUpperCase()}.cfg`;
  const p = opts.plugin ?? plugin;
  const match = p.matchFile(file)!;
  const settings = resolveSettings({ site: opts.site ?? SITE, lines: opts.lines ?? LINES, server });
  return p.render({ file, match, model: model(id), settings, device: { mac }, images: opts.images ?? {}, firmware: opts.firmware });
}

const dgw = (id: string, opts: Parameters<typeof render>[1] = {}): DgwScript => parseDgwScript(render(id, opts).body.toString('utf8'));
const v5 = (opts: Parameters<typeof render>[1] = {}): V5Document => parseV5Xml(render('4102', opts).body.toString('utf8'));
const ep = UNVERIFIED.dgw.fxsEndpoint;

describe('Mediatrix identification', () => {
  it('claims <MAC>.cfg (the %mac% macro: 12 hex digits) and nothing else', () => {
    assert.deepEqual(plugin.matchFile('0090F8AABB01.cfg'), { scope: 'device', mac: '0090f8aabb01', secret: true });
    assert.equal(plugin.matchFile('0090f8aabb01.cfg')?.mac, '0090f8aabb01', 'either case: the DGW macro case is unverified');
    for (const other of ['y000000000005.cfg', '0090F8AABB0.cfg', '0090F8AABB01.xml', '0090F8AABB01.cfg.bak', 'x0090F8AABB01.cfg', 'ST2030S.inf', '0090F8AABBZZ.cfg']) {
      assert.equal(plugin.matchFile(other), undefined, other);
    }
  });

  it('serves one file per unit, named as the unit asks for it', () => {
    assert.deepEqual(plugin.files(model('4102S'), '0090f8aabb01' as Mac), ['0090F8AABB01.cfg']);
    assert.deepEqual(plugin.files(model('4102'), '0090f8aabb02' as Mac), ['0090F8AABB02.cfg']);
  });

  it('has the models with their FXS ports, FXO ports and firmware generation', () => {
    const want: Record<string, [number, number, 'dgw' | 'v5']> = {
      '4102S': [2, 0, 'dgw'], '4104': [4, 0, 'dgw'], '4108': [8, 0, 'dgw'], '4116': [16, 0, 'dgw'], '4124': [24, 0, 'dgw'], C711: [2, 1, 'dgw'], '4102': [2, 0, 'v5'],
    };
    assert.deepEqual(MEDIATRIX_MODELS.map((m) => m.id).sort(), Object.keys(want).sort());
    for (const m of MEDIATRIX_MODELS) {
      assert.deepEqual([m.accounts, m.fxo ?? 0, m.generation], want[m.id], m.id);
      assert.equal(m.kind, 'gateway', m.id);
      assert.equal(m.vendor, 'Mediatrix', m.id);
    }
  });

  it('finds models as technicians write them; 4102 is the v5 unit, not the 4102S', () => {
    const catalogue = modelCatalogue(createVendors());
    assert.equal((catalogue.find('4102')?.model as MediatrixModel).generation, 'v5');
    assert.equal(catalogue.find('Mediatrix 4102')?.model.id, '4102');
    for (const name of ['4102S', '4102s', 'Mediatrix 4102S', 'mediatrix 4102 s']) assert.equal(catalogue.find(name)?.model.id, '4102S', name);
    assert.equal(catalogue.find('mediatrix c711')?.model.id, 'C711');
    assert.equal(catalogue.find('Mediatrix 1104'), undefined);
  });

  it('model names are unique across vendors', () => {
    const seen = new Map<string, string>();
    for (const { model: m, vendor } of modelCatalogue(createVendors()).all()) {
      for (const name of [m.id, ...(m.aliases ?? [])]) {
        const key = name.replace(/\s+/g, '').toUpperCase();
        assert.ok(!seen.has(key) || seen.get(key) === vendor.id, `${name} of ${vendor.id} is also ${seen.get(key)}'s`);
        seen.set(key, vendor.id);
      }
    }
  });

  it('reads the model from the v5 vendor class (option 60), with its padding', () => {
    assert.equal(modelFromVendorClass('Mediatrix 4102'), '4102');
    assert.equal(modelFromVendorClass('Mediatrix 4102   \0\0'), '4102');
    assert.equal(modelFromVendorClass('Mediatrix 4102S'), '4102S');
    assert.equal(modelFromVendorClass('Mediatrix C711'), 'C711');
    assert.equal(modelFromVendorClass('Mediatrix 1104'), undefined);
    // The DHCP policy, as the server runs it, with every vendor.
    const found = recognise({ vendorClass: 'Mediatrix 4102', userClasses: [], mac: '0090f8aabb01' } as Parameters<typeof recognise>[0], createVendors());
    assert.equal(found?.vendor.id, 'mediatrix');
    assert.equal(found?.model, '4102');
  });

  it('does not claim other vendors\' User-Agents', () => {
    assert.equal(plugin.identifyUserAgent('Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01'), undefined);
    assert.equal(plugin.identifyUserAgent(''), undefined);
  });
});

describe('Mediatrix DHCP options', () => {
  it('tells a DGW unit its script URLs in 66 and 67 (%mac% is the unit\'s macro)', () => {
    for (const m of [undefined, '4102S', 'C711']) {
      const options = plugin.dhcp.provisioningOptions(where, m);
      assert.deepEqual(options.map(([code, value]) => [code, value.toString('ascii')]), [[66, 'http://10.20.0.2:8080/prov/'], [67, 'http://10.20.0.2:8080/prov/%mac%.cfg']], String(m));
    }
  });

  it('tells a v5 unit its configuration-file server in option 43 sub-option 201 (address and TFTP port)', () => {
    const options = plugin.dhcp.provisioningOptions(where, '4102');
    assert.deepEqual(options.map(([code]) => code), [43]);
    assert.deepEqual([...options[0]![1]], [201, 6, 10, 20, 0, 2, 0, 69]);
    const named = plugin.dhcp.provisioningOptions({ ...where, host: 'outpost.lan', tftpPort: 6969 }, '4102')[0]![1];
    assert.deepEqual([named[0], named[1]], [201, 'outpost.lan:6969'.length]);
    assert.equal(named.subarray(2).toString('ascii'), 'outpost.lan:6969');
  });

  it('pads a short host name so it cannot be read as an address', () => {
    assert.equal(media5Address('a.b', 69).toString('ascii'), 'a.b:69 ');
    assert.equal(media5Address('a.b', 69).length, 7);
    assert.deepEqual([...media5Address('192.168.1.2', 6969)], [192, 168, 1, 2, 0x1b, 0x39]);
  });
});

describe('Mediatrix pure rules', () => {
  it('converts DSCP to the TOS byte the units take', () => {
    assert.deepEqual([46, 26, 0, 63, 24].map(tos), [184, 104, 0, 252, 96]);
    assert.throws(() => tos(64), RangeError);
    assert.throws(() => tos(-1), RangeError);
  });

  it('transliterates display names to ASCII', () => {
    assert.equal(asciiName('Jan Novák', '111'), 'Jan Novak');
    assert.equal(asciiName('Łukasz Żółć', '1'), 'Lukasz Zolc');
    assert.equal(asciiName('Müller-Straße', '1'), 'Muller-Strasse');
    assert.equal(asciiName('Ærø  Þór', '1'), 'AEro Thor');
    assert.equal(asciiName('王小明', '112'), '112', 'nothing left: the extension');
    assert.equal(asciiName('Ann "Boss" \\ Smith', '1'), 'Ann "Boss" \\ Smith', 'quotes are the script quoting\'s business');
  });

  it('turns recheckMinutes into the units\' (count, unit) within their limits', () => {
    assert.deepEqual(recheckPeriod(1440, 60), { count: 1, unit: 'days' });
    assert.deepEqual(recheckPeriod(120, 60), { count: 2, unit: 'hours' });
    assert.deepEqual(recheckPeriod(30, 60), { count: 30, unit: 'minutes' });
    assert.deepEqual(recheckPeriod(90, 60), { count: 2, unit: 'hours' }, 'not exact: the nearest in the smallest unit that holds it');
    assert.deepEqual(recheckPeriod(2880, 48), { count: 2, unit: 'days' });
    assert.deepEqual(recheckPeriod(100_000, 60), { count: 60, unit: 'days' });
    assert.equal(recheckPeriod(0, 60), undefined);
  });

  it('the POSIX TZ of Europe/Prague is the CET rule the units take', () => {
    assert.equal(zoneRule('Europe/Prague').posix, 'CET-1CEST,M3.5.0,M10.5.0/3');
  });
});

describe('Mediatrix format checkers', () => {
  it('the script reader refuses what is not the grammar', () => {
    const ok = 'Conf.ScriptsLocation="prov"\n';
    assert.equal(parseDgwScript(ok).values.get('Conf.ScriptsLocation'), 'prov');
    for (const bad of [
      'Conf.ScriptsLocation="prov\n', 'Conf.ScriptsLocation=prov\n', 'Conf.ScriptsLocation="a"b"\n', 'Conf.ScriptsLocation="a\\b"\n',
      '# a comment\n', 'Conf.ScriptsLocation={{ x }}\n', 'SipEp.UserAgent[EpId=Port01.Username="1"\n', 'SipEp.UserAgent[EpId=Port01]Username="1"\n',
      ' Conf.ScriptsLocation="prov"\n', 'Conf.ScriptsLocation = "prov"\n', 'conf.scriptsLocation="prov"\n', 'Conf.ScriptsLocation="prov"',
      `${ok}${ok}`, '   \n',
    ]) {
      assert.throws(() => parseDgwScript(bad), Error, JSON.stringify(bad));
    }
    assert.equal(parseDgwScript('Conf.X="a\\"b\\\\c"\n').values.get('Conf.X'), 'a"b\\c');
    assert.deepEqual(parseDgwScript('Scm.RestartRequiredServices\n').commands, ['Scm.RestartRequiredServices']);
  });

  it('the XML reader refuses what is not well-formed', () => {
    const head = '<?xml version="1.0" encoding="UTF-8"?>\n';
    assert.equal(parseV5Xml(`${head}<R><a Value="1"/></R>\n`).value('a'), '1');
    for (const bad of [
      `${head}<R><a Value="1"></R>`, `${head}<R><a Value="1" Value="2"/></R>`, `${head}<R><a Value="&foo;"/></R>`, `${head}<R><a Value="<"/></R>`,
      `${head}<R/><S/>`, `${head}<R><a Value=1/></R>`, `<R/>`, `${head}<R>`, `${head}<R><!-- a -- b --></R>`, `${head}<R></S>`,
    ]) {
      assert.throws(() => parseV5Xml(bad), Error, bad);
    }
  });
});

describe('Mediatrix files (golden)', () => {
  const golden = join(import.meta.dirname, '..', 'golden', 'mediatrix');
  const update = process.env.UPDATE_GOLDEN === '1';
  function matchesGolden(name: string, body: string): void {
    const path = join(golden, name);
    if (update || !existsSync(path)) {
      mkdirSync(golden, { recursive: true });
      writeFileSync(path, body);
    }
    assert.equal(body, readFileSync(path, 'utf8'), `test/golden/mediatrix/${name} (UPDATE_GOLDEN=1 to regenerate)`);
  }

  it('DGW 4102S, two FXS lines, T.38 fax', () => {
    const images = { application: { version: '48.0.100', file: '4102S-48.0.100.mfp', url: 'http://10.20.0.2:8080/prov/firmware/4102S-48.0.100.mfp' } };
    const rendered = render('4102S', { images });
    assert.equal(rendered.contentType, 'text/plain; charset=utf-8');
    const text = rendered.body.toString('utf8');
    assert.ok(/^[\x20-\x7e\n]*$/.test(text), 'plain ASCII');
    matchesGolden('4102S-0090F8AABB01.cfg', text);
    const s = parseDgwScript(text);
    const v = (k: string) => s.values.get(k);

    // Lines: user, authentication, display name, registered on every gateway.
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(1)}].Username`), '420234567111');
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(1)}].FriendlyName`), 'Jan Novak');
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(1)}].Register`), 'Enable');
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(1)}].GatewayName`), 'all');
    assert.equal(v('SipEp.Authentication[Index=1].EpId'), ep(1));
    assert.equal(v('SipEp.Authentication[Index=1].Username'), '420234567111');
    assert.equal(v('SipEp.Authentication[Index=1].Password'), 's3cret');
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(2)}].Username`), '420234567113');
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(2)}].FriendlyName`), 'Recepce');
    assert.equal(v('SipEp.Authentication[Index=2].Password'), 'p@ss=word;1');
    assert.equal(s.rows('SipEp.UserAgent').size, 2, 'no port beyond the model\'s two');

    // The Centrex on `default`, Outpost on `outpost`, the hunt Centrex first.
    assert.equal(v('SipEp.DefaultStaticRegistrarServerHost'), 'sip.centrex.example.net:5060');
    assert.equal(v('SipEp.DefaultStaticProxyHomeDomainHost'), 'sip.centrex.example.net:5060');
    assert.equal(v('SipEp.Gateway[Name=default].Domain'), 'centrex.example.net');
    assert.equal(v('SipEp.GwSpecificRegistration[GatewayName=outpost].EnableConfig'), 'Enable');
    assert.equal(v('SipEp.GwSpecificRegistration[GatewayName=outpost].ServerHost'), '10.20.0.2:5060');
    assert.equal(v('SipEp.GwSpecificProxy[GatewayName=outpost].HomeDomainHost'), '10.20.0.2:5060');
    assert.notEqual(v('SipEp.Gateway[Name=outpost].Port'), v('SipEp.Gateway[Name=default].Port'), 'two gateways, two ports');
    assert.equal(v(`Crout.AutoRouting[EpId=${ep(1)}].AutoRoutingGateway`), 'default,outpost');
    assert.equal(v(`Crout.AutoRouting[EpId=${ep(1)}].AutoRoutingDestination`), 'hunt-outpost-fallback');
    assert.equal(v('Crout.Hunt[Index=1].Name'), 'outpost-fallback');
    assert.equal(v('Crout.Hunt[Index=1].Destinations'), 'sip-default,sip-outpost');
    assert.equal(v('Crout.Hunt[Index=1].SelectionAlgorithm'), 'Sequential');
    assert.equal(v('SipEp.SipKeepAliveMethod'), 'SipOptions');
    assert.equal(v('SipEp.DefaultRegistrationUnregisteredBehavior'), 'Enable', 'a line keeps working while one registrar is down');
    assert.equal(s.rows('Crout.Route').size, 0, 'no FXO, no PSTN routes');

    // Check-sync and the scripts' own schedule.
    assert.equal(v('SipEp.GwEventHandling[GatewayName=default].CheckSync'), 'TransferScript');
    assert.equal(v('SipEp.GwEventHandling[GatewayName=outpost].CheckSync'), 'TransferScript');
    assert.equal(v('Conf.ScriptsTransferSrvHostname'), '10.20.0.2:8080');
    assert.equal(v('Conf.ScriptsLocation'), 'prov');
    assert.equal(v('Conf.ScriptSpecificFileName'), '%mac%.cfg');
    assert.equal(v('Conf.ScriptsTransferProtocol'), 'Http');
    assert.equal(v('Conf.ScriptsTransferOnRestartEnable'), 'Enable');
    assert.equal(v('Conf.ScriptsTransferPeriodicEnable'), 'Enable');
    assert.deepEqual([v('Conf.ScriptsTransferInterval'), v('Conf.ScriptsTransferPeriodicTimeUnit')], ['1', 'Days'], 'recheckMinutes 1440');

    // Fax.
    assert.equal(v('Mipt.DefaultCodecT38DataEnable'), 'Enable');
    assert.equal(v('Mipt.DefaultCodecT38RedundancyLevel'), '2');
    assert.equal(v('Mipt.DefaultCodecG711AlawDataEnable'), 'Enable', 'G.711 pass-through when T.38 is refused');
    assert.equal(v('SipEp.BehaviorOnT38InviteNotAccepted[SipErrorCode=488].Behavior'), UNVERIFIED.dgw.t38RefusedBehavior);
    assert.equal(v('Mipt.DefaultVbdJitterBufferType'), 'Fixed');
    assert.equal(v('Telif.DefaultMachineDetectionBehaviorOnCedToneDetection'), 'FaxMode');

    // Network, QoS, time, dialling.
    assert.equal(v('Eth.Vlan[Idx=1].VlanId'), '20');
    assert.equal(v('Eth.Vlan[Idx=1].DefaultUserPriority'), '5');
    assert.equal(v(`Bni.NetworkInterfaces[InterfaceName=${UNVERIFIED.dgw.networkInterface}].LinkName`), UNVERIFIED.dgw.vlanLink(UNVERIFIED.dgw.uplinkLink, 20));
    assert.equal(v(`LQos.ServiceClasses[Id=${UNVERIFIED.dgw.serviceClass.signalling}].DiffServ`), '104', 'SIP DSCP 26');
    assert.equal(v(`LQos.ServiceClasses[Id=${UNVERIFIED.dgw.serviceClass.voice}].DiffServ`), '184', 'RTP DSCP 46');
    assert.equal(v('LQos.DefaultDiffServ'), '184');
    assert.equal(v('Hoc.StaticTimeZone'), 'CET-1CEST,M3.5.0,M10.5.0/3');
    assert.equal(v('Hoc.SntpConfigSource'), 'Static');
    assert.equal(v('Hoc.StaticSntpServers[Priority=1].HostName'), '10.20.0.1:123');
    assert.deepEqual([1, 2, 3, 4].map((i) => v(`EpServ.CallDtmfMapAllowed[Index=${i}].DtmfMap`)), ['112', '150', '155', '158']);
    assert.equal(v('EpServ.CallDtmfMapAllowed[Index=1].Emergency'), 'Enable');
    assert.equal(v('EpServ.CallDtmfMapAllowed[Index=5].DtmfMap'), 'x.T');
    assert.equal(v('EpServ.CallDtmfMapAllowed[Index=5].Emergency'), 'Disable');

    // Firmware image known, no upgrade offered: the URL, no install.
    assert.equal(v('Fpu.MfpUrl'), images.application.url);
    assert.ok(!s.commands.includes(UNVERIFIED.dgw.commands.installFirmware));
    assert.deepEqual(s.commands, [UNVERIFIED.dgw.commands.applyRouting, UNVERIFIED.dgw.commands.restartServices]);
    assert.equal(s.order.at(-1), UNVERIFIED.dgw.commands.restartServices, 'services restart last');
  });

  it('v5 4102 with lines: well-formed XML, T.38 off, pass-through fax', () => {
    const rendered = render('4102', { site: layer(SITE, { fax: { t38: false, redundancy: 3, ecm: true } }) });
    assert.match(rendered.contentType, /^application\/xml\b/);
    const text = rendered.body.toString('utf8');
    matchesGolden('4102-0090F8AABB01.xml', text);
    const x = parseV5Xml(text, UNVERIFIED.v5.instanceAttribute);
    assert.equal(x.root, UNVERIFIED.v5.root);
    const i1 = String(UNVERIFIED.v5.ifIndex(1));
    const i2 = String(UNVERIFIED.v5.ifIndex(2));
    assert.equal(x.value('sipUAMainUsername', i1), '420234567111');
    assert.equal(x.value('sipUADisplayName', i1), 'Jan Novak');
    assert.equal(x.value('sipUAAuthUsername', `${i1}.1`), '420234567111');
    assert.equal(x.value('sipUAAuthPassword', `${i1}.1`), 's3cret');
    assert.equal(x.value('sipUAMainUsername', i2), '420234567113');
    assert.equal(x.value('sipUAAuthPassword', `${i2}.1`), 'p@ss=word;1');
    assert.equal(x.value('sipRegistrarStaticHost'), 'sip.centrex.example.net');
    assert.equal(x.value('sipRegistrarStaticPort'), '5060');
    assert.equal(x.value('dataIfCodecT38Enable', i1), '0', 'fax.t38 false');
    assert.equal(x.value('dataIfCodecT38ProtectionLevel', i1), '3');
    assert.equal(x.value('dataIfClearChannelCodecPreferred', i1), '2', 'A-law in Europe');
    assert.equal(x.value('voiceIfMaxJitterBufferLength', i1), '135', 'fax in G.711: the deeper jitter buffer');
    assert.equal(x.value('voiceIfEchoCancellationEnable', i1), '1');
    assert.equal(x.value('qosSignalingDiffServ'), '104');
    assert.equal(x.value('qosVoiceDiffServ'), '184');
    assert.equal(x.value('qosVlanIeee8021qTaggingEnable'), '1');
    assert.equal(x.value('qosVlanIeee8021qVirtualLanID'), '20');
    assert.equal(x.value('qosVlanIeee8021qDefaultUserPriority'), '5');
    assert.equal(x.value('sntpStaticHost'), '10.20.0.1');
    assert.equal(x.value('sntpTimeZoneString'), 'CET-1CEST,M3.5.0,M10.5.0/3');
    assert.equal(x.value('configFileFetchingStaticHost'), '10.20.0.2');
    assert.equal(x.value('configFileFetchingStaticPort'), '8080');
    assert.equal(x.value('configFileFetchingSpecificFileName'), '%mac%.cfg');
    assert.equal(x.value('configFileAutoUpdatePeriodicEnable'), '1');
    assert.deepEqual([x.value('configFileAutoUpdatePeriod'), x.value('configFileAutoUpdateTimeUnit')], ['1', '1'], 'one day');
  });

  it('FXO gateway (C711): calls from Outpost go out on the analog line, calls on it go to Outpost as "pstn"', () => {
    const text = render('C711', { lines: [LINES[0]!], mac: '0090f8aabb03' }).body.toString('utf8');
    matchesGolden('C711-0090F8AABB03.cfg', text);
    const s = parseDgwScript(text);
    const v = (k: string) => s.values.get(k);
    const fxo = UNVERIFIED.dgw.fxoEndpoint(2, 1);
    const fxoIf = `fxo-${UNVERIFIED.dgw.routerInterface(fxo)}`;
    // The gateway facing Outpost listens where the site sends PSTN calls (gateway.port 5060); `default` moves aside.
    assert.equal(v('SipEp.Gateway[Name=outpost].Port'), '5060');
    assert.equal(v('SipEp.Gateway[Name=default].Port'), '5062');
    assert.equal(v('SipEp.GwSpecificProxy[GatewayName=outpost].HomeDomainHost'), '10.20.0.2:5060');
    assert.equal(v(`SipEp.UserAgent[EpId=${fxo}].Register`), 'Disable', 'the analog line registers nowhere');
    assert.equal(v(`Crout.AutoRouting[EpId=${fxo}].Autoroutable`), 'Disable');
    const routes = [...s.rows('Crout.Route').values()];
    assert.equal(routes.length, 3);
    assert.deepEqual(Object.fromEntries(routes[0]!), { SourceCriteria: 'sip-outpost', PropertiesCriteria: 'CalledSipUsername', ExpressionCriteria: '^420234567111$', Destination: `fxs-${ep(1)}` }, 'the unit\'s own line first');
    assert.deepEqual(Object.fromEntries(routes[1]!), { SourceCriteria: 'sip-outpost', PropertiesCriteria: 'None', Destination: 'hunt-pstn-lines' }, 'any other number: the PSTN');
    assert.equal(v('Crout.Hunt[Index=2].Destinations'), fxoIf);
    assert.deepEqual(Object.fromEntries(routes[2]!), { SourceCriteria: fxoIf, PropertiesCriteria: 'None', Destination: 'sip-outpost', Mappings: 'to-outpost-pstn' });
    const expressions = [...s.rows('Crout.MappingExpression').values()];
    assert.deepEqual(expressions.map((e) => [e.get('Name'), e.get('Transformation')]), [['to-outpost-pstn', 'pstn'], ['to-outpost-pstn', 'pstn']]);
    // The FXS line still falls back as on any DGW unit.
    assert.equal(v(`Crout.AutoRouting[EpId=${ep(1)}].AutoRoutingGateway`), 'default,outpost');
    assert.equal(v(`SipEp.UserAgent[EpId=${ep(2)}].Register`), 'Disable', 'port 2 has no line');
  });
});

describe('Mediatrix settings in the files', () => {
  it('T.38 and its redundancy follow the site (DGW)', () => {
    const off = dgw('4102S', { site: layer(SITE, { fax: { t38: false, redundancy: 4, ecm: false } }) });
    assert.equal(off.values.get('Mipt.DefaultCodecT38DataEnable'), 'Disable');
    assert.equal(off.values.get('Mipt.DefaultCodecT38RedundancyLevel'), '4');
    assert.equal(off.values.get('Telif.DefaultMachineDetectionBehaviorOnCedToneDetection'), 'Passthrough');
    assert.equal(off.values.get('SipEp.InteropBehaviorOnMachineDetection'), 'ReInviteOnNoNegotiatedDataCodec');
    assert.equal(dgw('4102S', { site: layer(SITE, { fax: { t38: true, redundancy: 9, ecm: true } }) }).values.get('Mipt.DefaultCodecT38RedundancyLevel'), '5', 'clamped to 1-5');
  });

  it('other DSCP values, no VLAN, two NTP servers and another zone', () => {
    const s = dgw('4104', { site: layer(SITE, { qos: { sipDscp: 24, rtpDscp: 34 }, network: { voiceVlan: 0, voicePriority: 5, dataVlan: 0, dataPriority: 0 }, site: { name: 'NY', domain: '', timezone: 'America/New_York', ntp: ['10.0.0.1', 'ntp.example.net'] } }) });
    assert.equal(s.values.get(`LQos.ServiceClasses[Id=${UNVERIFIED.dgw.serviceClass.signalling}].DiffServ`), '96');
    assert.equal(s.values.get(`LQos.ServiceClasses[Id=${UNVERIFIED.dgw.serviceClass.voice}].DiffServ`), '136');
    assert.equal(s.rows('Eth.Vlan').size, 0, 'no VLAN row');
    assert.equal(s.values.get(`Bni.NetworkInterfaces[InterfaceName=${UNVERIFIED.dgw.networkInterface}].LinkName`), UNVERIFIED.dgw.uplinkLink, 'untagged');
    assert.equal(s.values.get('Hoc.StaticSntpServers[Priority=2].HostName'), 'ntp.example.net:123');
    assert.equal(s.values.get('Hoc.StaticTimeZone'), zoneRule('America/New_York').posix);
    assert.match(s.values.get('Hoc.StaticTimeZone')!, /^EST5EDT/);
    assert.equal(s.values.get('SipEp.Gateway[Name=default].Domain'), '');
  });

  it('unused FXS ports are emptied and unregistered, so a removed line stops registering', () => {
    const before = dgw('4104', { lines: LINES });
    assert.equal(before.values.get('SipEp.Authentication[Index=2].Password'), 'p@ss=word;1');
    const after = dgw('4104', { lines: [LINES[0]!] });
    for (const port of [2, 3, 4]) {
      assert.equal(after.values.get(`SipEp.UserAgent[EpId=${ep(port)}].Register`), 'Disable', `port ${port}`);
      assert.equal(after.values.get(`SipEp.UserAgent[EpId=${ep(port)}].Username`), '', `port ${port}`);
      assert.equal(after.values.get(`SipEp.Authentication[Index=${port}].Password`), '', `port ${port} keeps no old password`);
      assert.equal(after.values.get(`Crout.AutoRouting[EpId=${ep(port)}].Autoroutable`), 'Disable', `port ${port}`);
    }
    assert.ok(!after.values.has(`SipEp.UserAgent[EpId=${ep(5)}].Register`), 'nothing beyond the model\'s ports');
    const x = v5({ lines: [LINES[0]!] });
    assert.equal(x.value('ifAdminInitialAdminState', '2'), '2', 'v5: the unused port is locked');
    assert.equal(x.value('sipUAAuthPassword', '2.1'), '');
  });

  it('a display name or password with " or \\ cannot break a script line; non-ASCII names are transliterated', () => {
    const tricky: LineRecord[] = [{ ext: '111', name: 'Ann "Boss" \\ Šťastná', user: '420234567111', password: 'pa"ss\\wo=rd"' }];
    const text = render('4102S', { lines: tricky }).body.toString('utf8');
    const s = parseDgwScript(text);
    assert.equal(s.values.get(`SipEp.UserAgent[EpId=${ep(1)}].FriendlyName`), 'Ann "Boss" \\ Stastna');
    assert.equal(s.values.get('SipEp.Authentication[Index=1].Password'), 'pa"ss\\wo=rd"');
    assert.ok(text.includes('Password="pa\\"ss\\\\wo=rd\\""'), 'escaped in the text');
    const utf = parseDgwScript(render('4102S', { lines: [{ ...tricky[0]!, password: 'héslo€' }] }).body.toString('utf8'));
    assert.equal(utf.values.get('SipEp.Authentication[Index=1].Password'), 'héslo€', 'a password is never changed');
    const x = v5({ lines: [{ ...tricky[0]!, name: '<Ann & "Bob">' }] });
    assert.equal(x.value('sipUADisplayName', '1'), '<Ann & "Bob">');
    assert.equal(x.value('sipUAAuthPassword', '1.1'), 'pa"ss\\wo=rd"');
  });

  it('re-checks follow provisioning.recheckMinutes; 0 means no periodic fetch', () => {
    const off = layer(SITE, { provisioning: { allow: [], recheckMinutes: 0 } });
    assert.equal(dgw('4102S', { site: off }).values.get('Conf.ScriptsTransferPeriodicEnable'), 'Disable');
    assert.ok(!dgw('4102S', { site: off }).values.has('Conf.ScriptsTransferInterval'));
    assert.equal(dgw('4102S', { site: off }).values.get('Conf.ScriptsTransferOnRestartEnable'), 'Enable', 'still at every restart');
    assert.equal(v5({ site: off }).value('configFileAutoUpdatePeriodicEnable'), '0');
    const half = dgw('4102S', { site: layer(SITE, { provisioning: { allow: [], recheckMinutes: 30 } }) });
    assert.deepEqual([half.values.get('Conf.ScriptsTransferInterval'), half.values.get('Conf.ScriptsTransferPeriodicTimeUnit')], ['30', 'Minutes']);
  });

  it('without a Centrex the default gateway is Outpost and there is no fallback hunt', () => {
    const s = dgw('4102S', { site: layer(SITE, { upstream: { proxy: '' } }) });
    assert.equal(s.values.get('SipEp.DefaultStaticRegistrarServerHost'), '10.20.0.2:5060');
    assert.equal(s.rows('Crout.Hunt').size, 0);
    assert.ok(!s.values.has('SipEp.Gateway[Name=outpost].Port'));
    assert.equal(s.values.get(`Crout.AutoRouting[EpId=${ep(1)}].AutoRoutingGateway`), 'default');
    assert.equal(v5({ site: layer(SITE, { upstream: { proxy: '' } }) }).value('sipRegistrarStaticHost'), '10.20.0.2');
  });

  it('installs the catalogue\'s firmware only when the unit reports another version', () => {
    const image = { version: '48.0.100', file: '4102S-48.0.100.mfp', url: 'http://10.20.0.2:8080/prov/firmware/4102S-48.0.100.mfp' };
    const offered = dgw('4102S', { images: { application: image }, firmware: { version: image.version, url: image.url } });
    assert.equal(offered.values.get('Fpu.MfpUrl'), image.url);
    assert.equal(offered.values.get('Fpu.AutomaticRestartEnable'), 'Enable');
    assert.ok(offered.commands.includes(UNVERIFIED.dgw.commands.installFirmware));
    const none = dgw('4102S', {});
    assert.ok(![...none.values.keys()].some((k) => k.startsWith('Fpu.')), 'no image, no Fpu settings');
    assert.ok(!none.commands.includes(UNVERIFIED.dgw.commands.installFirmware));
  });

  it('a technician\'s template override is used, and an unknown variable fails loudly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-mx-tpl-'));
    try {
      mkdirSync(join(dir, 'mediatrix'));
      writeFileSync(join(dir, 'mediatrix', 'dgw.cfg.njk'), 'Hoc.StaticTimeZone={{ q(time.posix) }}\n');
      const overridden = createMediatrixPlugin({ templateOverrides: dir });
      assert.equal(parseDgwScript(render('4102S', { plugin: overridden }).body.toString('utf8')).values.get('Hoc.StaticTimeZone'), 'CET-1CEST,M3.5.0,M10.5.0/3');
      writeFileSync(join(dir, 'mediatrix', 'dgw.cfg.njk'), 'Hoc.StaticTimeZone={{ q(time.posixx) }}\n');
      assert.throws(() => render('4102S', { plugin: createMediatrixPlugin({ templateOverrides: dir }) }), /template mediatrix\/dgw\.cfg\.njk: .*undefined/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
