import { strict as assert } from 'node:assert';
import { formatProblem, parseSiteText, validateSiteFile, type ModelLookup } from '../../src/config/validate.js';
import { createVendors, modelCatalogue } from '../../src/vendors/registry.js';
import { checkSiteChange, effectiveSite, keysNamedBy } from '../../src/app/site.js';

const models = modelCatalogue(createVendors());
const model: ModelLookup = (name) => {
  const found = models.find(name);
  return found ? { id: found.model.id, accounts: found.model.accounts } : undefined;
};

function problems(input: unknown, storedLines: Array<{ ext: string; number?: string; user: string }> = []): string[] {
  const result = validateSiteFile(input, { model, storedLines });
  return result.ok ? [] : result.problems.map(formatProblem);
}

const line = (ext: string, extra: Record<string, unknown> = {}) => ({ ext, user: `u${ext}`, password: 'pw', ...extra });

describe('site file validation', () => {
  it('a file that does not name a key does not own it: site set (and the page) may change advertise, and the stored value counts', () => {
    const checked = validateSiteFile({ site: { name: 'Brno' } }, { model });
    assert.ok(checked.ok);
    const file = checked.value;
    assert.equal(keysNamedBy(file).has('advertise'), false);
    assert.deepEqual(checkSiteChange('advertise', '10.20.0.9', { file, stored: new Map(), lines: [], model }), []);
    assert.equal(effectiveSite(file, new Map([['advertise', '10.20.0.9']])).advertise, '10.20.0.9');
    const named = validateSiteFile({ advertise: '10.20.0.2' }, { model });
    assert.ok(named.ok);
    assert.match(checkSiteChange('advertise', '10.20.0.9', { file: named.value, stored: new Map(), lines: [], model })[0]?.message ?? '', /set by the site file/);
  });

  it('accepts the contract example', () => {
    const example = {
      site: { name: 'Brno', domain: 'centrex.example.net', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
      advertise: '10.20.0.2',
      network: { voiceVlan: 20, voicePriority: 5, dataVlan: 0, dataPriority: 0 },
      qos: { sipDscp: 26, rtpDscp: 46 },
      upstream: { proxy: 'sip.centrex.example.net:5060', transport: 'udp', interval: 10, failures: 3, holdDown: 120 },
      gateway: { host: '10.20.0.5', port: 5060 },
      dialplan: { outsidePrefix: '0', emergency: ['112', '150', '155', '158'] },
      fax: { t38: true, redundancy: 2, ecm: true },
      provisioning: { allow: ['10.20.0.0/24'] },
      dhcp: { enabled: false, interface: 'eth1', subnet: '10.20.0.0/24', range: ['10.20.0.100', '10.20.0.199'], router: '10.20.0.1', dns: ['10.20.0.1'], leaseTime: 86400, phonesOnly: true },
      admin: { password: 'change-me' },
      lines: [{ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: 's3cret' }],
      devices: [{ mac: '00:15:65:12:34:56', model: 'SIP-T22P', lines: ['111'] }],
    };
    assert.deepEqual(problems(example), []);
  });

  it('reports a VLAN of 5000 with its path and the range', () => {
    assert.deepEqual(problems({ network: { voiceVlan: 5000 } }), ['network.voiceVlan: must be at most 4094 (VLAN id 1-4094, 0 for none)']);
  });

  it('reports an unknown key and suggests the right one', () => {
    assert.deepEqual(problems({ network: { voicevlan: 20 } }), ['network.voicevlan: unknown key (did you mean "voiceVlan"?)']);
    assert.match(problems({ sipp: {} })[0]!, /^sipp: unknown key/);
  });

  it('reports a bad CIDR', () => {
    assert.deepEqual(problems({ provisioning: { allow: ['10.20.0.0/33'] } }), ['provisioning.allow[0]: "10.20.0.0/33" is not a CIDR: the prefix length must be 0 to 32']);
  });

  it('reports a MAC that is not one', () => {
    const p = problems({ lines: [line('111')], devices: [{ mac: '00:15:65:zz:00:01', model: 'T22P', lines: ['111'] }] });
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^devices\[0\]\.mac: "00:15:65:zz:00:01" is not a MAC address: use 12 hex digits/);
  });

  it('reports a device line that does not exist, and accepts one that is stored', () => {
    assert.deepEqual(problems({ devices: [{ mac: '001565000001', model: 'T22P', lines: ['999'] }] }), [
      'devices[0].lines[0]: line 999 does not exist (add it under "lines" or with outpost line add)',
    ]);
    assert.deepEqual(problems({ devices: [{ mac: '001565000001', model: 'T22P', lines: ['999'] }] }, [{ ext: '999', user: 'x' }]), []);
  });

  it('reports an unknown model and more lines than accounts', () => {
    assert.deepEqual(problems({ devices: [{ mac: '001565000001', model: 'T99X' }] }), ['devices[0].model: unknown model "T99X" (outpost device models lists them)']);
    const p = problems({ lines: [line('111'), line('113'), line('114')], devices: [{ mac: '001565000001', model: 'T20P', lines: ['111', '113', '114'] }] });
    assert.deepEqual(p, ['devices[0].lines: T20P has 2 accounts but 3 lines are assigned']);
  });

  it('reports extensions and numbers that collide with each other, with stored lines and with emergency numbers', () => {
    const p = problems({
      lines: [line('111', { number: '234567111' }), line('111'), line('222', { number: '111' }), line('112'), line('333', { number: '155' })],
    });
    assert.deepEqual(p, [
      'lines[1].ext: 111 is already used by line 111 (lines[0])',
      'lines[1].user: SIP user u111 is already used by line 111 (lines[0])',
      'lines[2].number: 111 is already used by line 111 (lines[0])',
      'lines[3].ext: 112 is an emergency number (dialplan.emergency); choose another',
      'lines[4].number: 155 is an emergency number (dialplan.emergency); choose another',
    ]);
    assert.deepEqual(problems({ lines: [line('444', { number: '234567000' })] }, [{ ext: '555', number: '234567000', user: 'other' }]), [
      'lines[0].number: 234567000 is already used by line 555',
    ]);
  });

  it('refuses an extension that starts with the outside prefix', () => {
    assert.deepEqual(problems({ lines: [line('0111')] }), ['lines[0].ext: 0111 starts with the outside prefix 0, so it could not be dialled internally']);
  });

  it('refuses control characters that would inject configuration lines', () => {
    const p = problems({ lines: [line('111', { name: 'Jan\naccount.1.password = x' })] });
    assert.deepEqual(p, ['lines[0].name: must not contain control characters (newlines, tabs)']);
  });

  it('lists every problem at once', () => {
    const p = problems({ network: { voiceVlan: 5000, dataPriority: 9 }, qos: { rtpDscp: 64 }, site: { timezone: 'Mars/Base' } });
    assert.equal(p.length, 4);
    assert.ok(p.some((x) => x.startsWith('network.voiceVlan:')));
    assert.ok(p.some((x) => x.startsWith('network.dataPriority:')));
    assert.ok(p.some((x) => x.startsWith('qos.rtpDscp:')));
    assert.ok(p.some((x) => x.startsWith('site.timezone: must be an IANA time zone')));
  });

  it('still finds collisions and missing lines when other parts of the file are invalid', () => {
    const p = problems({
      network: { voiceVlan: 5000 },
      lines: [line('111'), line('111'), { ext: 'x' }, line('112')],
      devices: [{ mac: 'xx', model: 'T22P' }, { mac: '001565000001', model: 'T22P', lines: ['999'] }],
    });
    for (const path of ['network.voiceVlan:', 'lines[1].ext:', 'lines[2].ext:', 'lines[2].user:', 'lines[3].ext:', 'devices[0].mac:', 'devices[1].lines[0]:']) {
      assert.ok(p.some((x) => x.startsWith(path)), `${path} in ${JSON.stringify(p)}`);
    }
  });

  it('checks DHCP when it is enabled', () => {
    const p = problems({ dhcp: { enabled: true, interface: 'eth1', subnet: '10.20.0.0/24', range: ['10.20.0.100', '10.20.1.10'], router: '10.30.0.1' } });
    assert.deepEqual(p, ['dhcp.range[1]: 10.20.1.10 is outside dhcp.subnet 10.20.0.0/24', 'dhcp.router: 10.30.0.1 is outside dhcp.subnet 10.20.0.0/24']);
    assert.deepEqual(problems({ dhcp: { enabled: true } }).sort(), [
      'dhcp.interface: is required when dhcp.enabled is true',
      'dhcp.range: is required when dhcp.enabled is true',
      'dhcp.router: is required when dhcp.enabled is true',
      'dhcp.subnet: is required when dhcp.enabled is true',
    ]);
  });

  it('checks the VLAN hand-off segment', () => {
    const base = { enabled: true, interface: 'eth1.20', subnet: '10.20.0.0/24', range: ['10.20.0.100', '10.20.0.199'], router: '10.20.0.1' };
    assert.deepEqual(problems({ network: { voiceVlan: 20 }, dhcp: { ...base, untagged: { interface: 'eth1', subnet: '10.19.0.0/24', range: ['10.19.0.100', '10.19.0.199'] } } }), []);
    assert.deepEqual(problems({ dhcp: { ...base, untagged: { interface: 'eth1.20', subnet: '10.19.0.0/24', range: ['10.19.0.100', '10.18.0.199'] } } }), [
      'dhcp.untagged: hands phones over to the voice VLAN: set network.voiceVlan too',
      'dhcp.untagged.interface: is dhcp.interface too; the untagged segment is another interface',
      'dhcp.untagged.range[1]: 10.18.0.199 is outside dhcp.untagged.subnet 10.19.0.0/24',
    ]);
  });

  it('says where JSON is broken', () => {
    const r = parseSiteText('{\n  "network": { "voiceVlan": 20, }\n}');
    assert.equal(r.ok, false);
    assert.equal(!r.ok ? r.problems[0]!.message : '', 'not valid JSON at line 2 column 33: expected another "key": value (no comma before "}"), found "}"');
    const typo = parseSiteText('{\n  "fax": {\n    "t38": tru\n  }\n}');
    assert.equal(!typo.ok ? typo.problems[0]!.message : '', 'not valid JSON at line 3 column 12: expected "true", found "tru"');
    const empty = parseSiteText('');
    assert.equal(!empty.ok ? empty.problems[0]!.message : '', 'not valid JSON at line 1 column 1: expected a value, found the end of the file');
    const trailing = parseSiteText('{} x');
    assert.equal(!trailing.ok ? trailing.problems[0]!.message : '', 'not valid JSON at line 1 column 4: expected the end of the file, found "x"');
  });
});
