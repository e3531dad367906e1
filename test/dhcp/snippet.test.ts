import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const site = {
  site: { name: 'Brno', domain: 'branch.example', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
  advertise: '10.20.0.2',
  network: { voiceVlan: 20 },
  dhcp: { enabled: false, interface: 'lo', subnet: '10.20.0.0/24', range: ['10.20.0.100', '10.20.0.199'], router: '10.20.0.1', dns: ['10.20.0.1'], leaseTime: 3600, phonesOnly: true },
};

describe('outpost dhcp snippet', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-snippet-'));
    writeFileSync(join(dir, 'site.json'), JSON.stringify(site));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function snippet(format: string): string {
    return execFileSync(process.execPath, [join(root, 'bin', 'outpost'), '--data', join(dir, 'data'), '--config', join(dir, 'site.json'), 'dhcp', 'snippet', '--format', format], { encoding: 'utf8', timeout: 20_000 });
  }

  /** Runs a real server's own configuration check; the test fails if the tool is missing (CI installs it). */
  function check(tool: string, args: string[]): { status: number | null; output: string } {
    const r = spawnSync(tool, args, { encoding: 'utf8', timeout: 20_000 });
    if (r.error) throw new Error(`${tool} is not installed: ${r.error.message}`);
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it('kea: loads in kea-dhcp4 -t and carries the phones\' options', () => {
    const text = snippet('kea');
    const file = join(dir, 'kea.json');
    writeFileSync(file, text);
    const r = check('kea-dhcp4', ['-t', file]);
    assert.equal(r.status, 0, r.output);
    const config = JSON.parse(text.replace(/^\/\/.*$/gm, '')) as { Dhcp4: { 'client-classes': Array<{ name: string; test: string; 'option-data': Array<{ code: number; data: string }> }>; subnet4: Array<{ 'option-data': Array<{ code: number; data: string }> }> } };
    const yealink = config.Dhcp4['client-classes'].find((c) => c.name === 'outpost-yealink')!;
    assert.match(yealink.test, /substring\(pkt4\.mac,0,3\) == 0x001565/);
    assert.equal(Buffer.from(yealink['option-data'].find((o) => o.code === 66)!.data, 'hex').toString(), 'http://10.20.0.2:8080/prov/');
    const thomson = config.Dhcp4['client-classes'].find((c) => c.name === 'outpost-thomson-st2030')!;
    assert.equal(Buffer.from(thomson['option-data'].find((o) => o.code === 43)!.data, 'hex').toString(), 'http://10.20.0.2:8080/prov/ST2030S.inf');
    const common = new Map(config.Dhcp4.subnet4[0]!['option-data'].map((o) => [o.code, Buffer.from(o.data, 'hex')]));
    assert.equal(common.get(132)?.readUInt32BE(0), 20, 'voice VLAN');
    assert.equal(common.get(100)?.toString(), 'CET-1CEST,M3.5.0,M10.5.0/3');
    assert.equal(common.get(101)?.toString(), 'Europe/Prague');
    assert.deepEqual([...(common.get(120) ?? [])], [1, 10, 20, 0, 2], 'SIP server, RFC 3361 encoding 1');
  });

  it('isc: passes dhcpd -t', () => {
    const file = join(dir, 'dhcpd.conf');
    const text = snippet('isc');
    writeFileSync(file, text);
    const r = check('dhcpd', ['-t', '-cf', file]);
    assert.equal(r.status, 0, r.output);
    assert.match(text, /class "outpost-yealink" \{\n  match if substring\(option vendor-class-identifier, 0, 7\) = "yealink"/);
    assert.match(text, /option tftp-server-name "http:\/\/10\.20\.0\.2:8080\/prov\/";/);
    assert.match(text, /option outpost-132 00:00:00:14;/);
  });

  it('dnsmasq: passes dnsmasq --test', () => {
    const file = join(dir, 'dnsmasq.conf');
    const text = snippet('dnsmasq');
    writeFileSync(file, text);
    const r = check('dnsmasq', ['--test', '-C', file]);
    assert.equal(r.status, 0, r.output);
    assert.match(text, /^dhcp-option-force=tag:outpost-yealink,66,"http:\/\/10\.20\.0\.2:8080\/prov\/"$/m);
    assert.match(text, /^dhcp-userclass=set:outpost-thomson-st2030,Thomson ST2030S$/m);
  });

  it('refuses an unknown format', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'outpost'), '--data', join(dir, 'data'), 'dhcp', 'snippet', '--format', 'windows'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Allowed choices are kea, isc, dnsmasq/);
  });
});
