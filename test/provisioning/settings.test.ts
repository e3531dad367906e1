import { strict as assert } from 'node:assert';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { coerceSettingValue, layerFromDotted, mergeLayers, resolveSettings } from '../../src/provisioning/settings.js';

const server = { host: '10.20.0.2', httpPort: 8080, tftpPort: 69, sipPort: 5060 };
const line = { ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: 's3cret' };

describe('settings resolution: defaults -> site -> model -> device -> line', () => {
  it('starts from the built-in defaults', () => {
    const s = resolveSettings({ site: {}, lines: [], server });
    assert.equal(s.network.voiceVlan, 0);
    assert.equal(s.network.voicePriority, 5);
    assert.equal(s.qos.rtpDscp, 46);
    assert.equal(s.site.timezone, 'Europe/Prague');
    assert.deepEqual(s.dialplan.emergency, ['112', '150', '155', '158']);
    assert.equal(s.centrex, undefined);
    assert.equal('admin' in s, false, 'the admin password never reaches a device');
  });

  it('lets each later layer win, key by key', () => {
    const s = resolveSettings({
      site: { network: { voiceVlan: 20, dataVlan: 10 }, qos: { sipDscp: 24 }, upstream: { proxy: 'sip.centrex.example.net:5070' } },
      model: { network: { voiceVlan: 21 }, qos: { rtpDscp: 40 } },
      device: { network: { voiceVlan: 30 } },
      lines: [line],
      server,
    });
    assert.equal(s.network.voiceVlan, 30, 'device beats model beats site');
    assert.equal(s.network.dataVlan, 10, 'site value kept where nothing later names it');
    assert.equal(s.qos.rtpDscp, 40, 'model beats default');
    assert.equal(s.qos.sipDscp, 24, 'site beats default');
    assert.deepEqual(s.centrex, { host: 'sip.centrex.example.net', port: 5070, transport: 'udp' });
  });

  it('replaces lists instead of merging them', () => {
    const s = resolveSettings({ site: { dialplan: { emergency: ['112'] } }, device: { site: { ntp: ['10.0.0.1'] } }, lines: [], server });
    assert.deepEqual(s.dialplan.emergency, ['112']);
    assert.deepEqual(s.site.ntp, ['10.0.0.1']);
  });

  it('derives each account from its line, numbered from 1', () => {
    const s = resolveSettings({ site: {}, lines: [line, { ext: '113', name: '', user: 'u2', password: 'p2' }], server });
    assert.deepEqual(s.lines[0], { index: 1, ext: '111', number: '234567111', user: '420234567111', authName: '420234567111', password: 's3cret', displayName: 'Jan Novák', label: '111', forward: '' });
    assert.equal(s.lines[1]!.index, 2);
    assert.equal(s.lines[1]!.displayName, '113', 'a line without a name shows its extension');
  });

  it('builds the provisioning URL from the advertised address', () => {
    assert.equal(resolveSettings({ site: {}, lines: [], server }).server.provisioningUrl, 'http://10.20.0.2:8080/prov/');
    assert.equal(resolveSettings({ site: {}, lines: [], server: { ...server, httpPort: 80 } }).server.provisioningUrl, 'http://10.20.0.2/prov/');
  });

  it('does not modify its inputs', () => {
    const site = { network: { voiceVlan: 20 } };
    const merged = mergeLayers(DEFAULT_SETTINGS, site);
    merged.network.voiceVlan = 99;
    assert.equal(site.network.voiceVlan, 20);
    assert.equal(DEFAULT_SETTINGS.network.voiceVlan, 0);
  });

  it('turns dotted keys into a layer', () => {
    assert.deepEqual(layerFromDotted([['network.voiceVlan', 30], ['qos.rtpDscp', 40]]), { network: { voiceVlan: 30 }, qos: { rtpDscp: 40 } });
  });

  it('coerces what a technician types to the key\'s type, or says why not', () => {
    assert.deepEqual(coerceSettingValue('network.voiceVlan', '20'), { value: 20 });
    assert.deepEqual(coerceSettingValue('fax.t38', 'off'), { value: false });
    assert.deepEqual(coerceSettingValue('site.ntp', '10.0.0.1, 10.0.0.2'), { value: ['10.0.0.1', '10.0.0.2'] });
    assert.deepEqual(coerceSettingValue('dialplan.emergency', '["112"]'), { value: ['112'] });
    assert.match((coerceSettingValue('network.voiceVlan', 'twenty') as { error: string }).error, /not a whole number/);
    assert.match((coerceSettingValue('network.vlan', '20') as { error: string }).error, /unknown key "network.vlan"/);
  });
});
