import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

function unit(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(join(root, 'scripts', 'outpost.service'), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

describe('the systemd unit', () => {
  const u = unit();
  it('runs serve as an unprivileged user', () => {
    assert.equal(u.get('User')?.[0], 'outpost');
    assert.match(u.get('ExecStart')?.[0] ?? '', /bin\/outpost serve\b/);
    assert.equal(u.get('NoNewPrivileges')?.[0], 'yes');
  });
  it('grants only the capabilities for ports 67, 69 and 5060, the DHCP interface binding and its ARP entries', () => {
    assert.deepEqual(u.get('AmbientCapabilities')?.[0]?.split(/\s+/).sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    assert.deepEqual(u.get('CapabilityBoundingSet')?.[0]?.split(/\s+/).sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
  });
  it('restarts on failure and logs to the journal', () => {
    assert.equal(u.get('Restart')?.[0], 'on-failure');
    assert.equal(u.get('StandardOutput')?.[0], 'journal');
    assert.equal(u.get('StandardError')?.[0], 'journal');
  });
  it('keeps its data where it may write', () => {
    assert.ok(u.get('Environment')?.includes('OUTPOST_DATA=/var/lib/outpost'));
    assert.ok(u.get('ReadWritePaths')?.includes('/var/lib/outpost'));
  });
});

describe('CI', () => {
  it('.ci/run is executable, updates apt first and runs the README test command', () => {
    const text = readFileSync(join(root, '.ci', 'run'), 'utf8');
    assert.ok(statSync(join(root, '.ci', 'run')).mode & 0o100);
    assert.ok(text.indexOf('apt-get update') < text.indexOf('apt-get install'));
    assert.match(text, /^npm ci/m);
    assert.match(text, /^npm test$/m);
    assert.match(readFileSync(join(root, 'README.md'), 'utf8'), /npm test/);
  });
});
