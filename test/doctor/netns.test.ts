/**
 * The rogue DHCP check for real: network namespaces this test makes, joined by a veth pair (never a real
 * interface), busybox udhcpd answering in one, and `outpost doctor --interface <veth>` run inside the other.
 * Needs root (ip netns); skipped, saying why, when it is not permitted.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, NetLab, ensureBuilt, netnsUnavailable, waitFor, type RunResult, type VethPair } from '../dhcp/netns.js';

interface JsonReport {
  checks: Array<{ id: string; status: string; detail: string; fix: string }>;
}

const ROGUE = '10.20.0.3';

function site(iface: string, enabled: boolean): string {
  return JSON.stringify({
    site: { name: 'T', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
    dhcp: { enabled, interface: iface, subnet: '10.20.0.0/24', range: ['10.20.0.100', '10.20.0.199'], router: '10.20.0.1', dns: ['10.20.0.1'] },
  });
}

describe('outpost doctor: another DHCP server on the segment (network namespaces)', function () {
  this.timeout(120_000);
  let lab: NetLab;
  let skipReason: string | undefined;

  before(function () {
    skipReason = netnsUnavailable();
    if (skipReason) {
      console.log(`      skipped: the rogue DHCP checks need root for network namespaces: ${skipReason}`);
      this.skip();
    }
    ensureBuilt();
    lab = new NetLab();
  });

  after(async () => {
    await lab?.cleanup();
  });

  /** `outpost doctor ARGS` inside namespace `ns`, with its own data folder and site file. */
  async function doctorIn(ns: string, name: string, siteJson: string, args: string[]): Promise<RunResult> {
    const data = join(lab.dir, name);
    mkdirSync(data, { recursive: true });
    const config = lab.file(`${name}.json`, siteJson);
    return lab.exec(ns, process.execPath, [BIN, '--data', data, '--firmware', join(data, 'firmware'), '--config', config, 'doctor', ...args], { timeoutMs: 60_000 });
  }

  async function pairWithRogue(): Promise<{ pair: VethPair; log: () => string }> {
    const S = await lab.namespace('server');
    const C = await lab.namespace('client');
    const pair = await lab.veth(S, C, `${ROGUE}/24`);
    const leases = lab.file(`udhcpd-${pair.serverIf}.leases`, '');
    const conf = lab.file(
      `udhcpd-${pair.serverIf}.conf`,
      [`interface ${pair.serverIf}`, 'start 10.20.0.50', 'end 10.20.0.60', `lease_file ${leases}`, `pidfile ${join(lab.dir, `udhcpd-${pair.serverIf}.pid`)}`, 'opt subnet 255.255.255.0', `opt router ${ROGUE}`, 'opt lease 600', ''].join('\n'),
    );
    const rogue = lab.spawn(S, 'busybox', ['udhcpd', '-f', conf]);
    let log = '';
    rogue.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    rogue.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    assert.ok(await waitFor(() => (/started/.test(log) ? true : rogue.exitCode !== null ? false : undefined), 10_000, 50), `udhcpd did not start: ${log}`);
    return { pair, log: () => log };
  }

  it('a rogue server answering while Outpost\'s DHCP is on: FAIL naming its address and what it offers (exit 1)', async function () {
    const { pair, log } = await pairWithRogue();
    const r = await doctorIn(pair.clientNs, 'rogue', site(pair.clientIf, true), ['--interface', pair.clientIf, '--timeout', '4']);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.includes(`other DHCP servers on ${pair.clientIf}`));
    assert.ok(line, r.stdout);
    assert.match(line, new RegExp(`^FAIL {2}other DHCP servers on ${pair.clientIf}: another DHCP server at 10\\.20\\.0\\.3 offers 10\\.20\\.0\\.(5\\d|60) on ${pair.clientIf}`));
    assert.match(r.stdout, /fix: switch that server off for this segment/);
    assert.match(log(), /sending OFFER/i, 'control: the rogue answered');
  });

  it('the same server while Outpost\'s DHCP is off: PASS, it is the segment\'s DHCP server', async function () {
    const { pair } = await pairWithRogue();
    const r = await doctorIn(pair.clientNs, 'router', site(pair.clientIf, false), ['--json', '--interface', pair.clientIf, '--timeout', '4']);
    const report = JSON.parse(r.stdout) as JsonReport;
    const dhcp = report.checks.find((c) => c.id === 'network.dhcp');
    assert.equal(dhcp?.status, 'pass', JSON.stringify(dhcp));
    assert.match(dhcp!.detail, /the DHCP server at 10\.20\.0\.3 offers 10\.20\.0\.\d+ \(Outpost's DHCP is off\)/);
  });

  it('no other server on the segment: PASS', async function () {
    const S = await lab.namespace('server');
    const C = await lab.namespace('client');
    const pair = await lab.veth(S, C, `${ROGUE}/24`);
    const started = Date.now();
    const r = await doctorIn(C, 'quiet', site(pair.clientIf, true), ['--json', '--interface', pair.clientIf, '--timeout', '2']);
    const report = JSON.parse(r.stdout) as JsonReport;
    const dhcp = report.checks.find((c) => c.id === 'network.dhcp');
    assert.equal(dhcp?.status, 'pass', JSON.stringify(dhcp));
    assert.match(dhcp!.detail, /no other DHCP server answered within 2 s/);
    assert.ok(Date.now() - started < 30_000);
  });

  it('an interface that does not exist in the namespace: FAIL saying so', async function () {
    const C = await lab.namespace('client');
    const r = await doctorIn(C, 'noif', site('ovx-none', true), ['--json', '--timeout', '1']);
    const report = JSON.parse(r.stdout) as JsonReport;
    const dhcp = report.checks.find((c) => c.id === 'network.dhcp');
    assert.equal(dhcp?.status, 'fail', JSON.stringify(dhcp));
    assert.match(dhcp!.detail, /interface ovx-none does not exist/);
    assert.match(dhcp!.fix, /dhcp\.interface/);
  });
});
