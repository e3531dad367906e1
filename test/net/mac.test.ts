import { strict as assert } from 'node:assert';
import { formatMac, parseMac } from '../../src/net/mac.js';
import { anyCidrContains, parseCidr, type Cidr } from '../../src/net/cidr.js';

describe('MAC addresses', () => {
  for (const notation of ['00:15:65:AA:BB:01', '00-15-65-aa-bb-01', '001565aabb01', '0015.65aa.bb01', '001565AABB01', ' 00:15:65:aa:bb:01 ']) {
    it(`reads ${JSON.stringify(notation)} as 001565aabb01`, () => {
      assert.equal(parseMac(notation), '001565aabb01');
    });
  }
  for (const bad of ['00:15:65:zz:bb:01', '00:15:65:aa:bb', '001565aabb0', '001565aabb011', '00:15-65:aa:bb:01', '00155.65aa.bb01', '', 'hello']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.equal(parseMac(bad), undefined);
    });
  }
  it('formats for display', () => {
    assert.equal(formatMac(parseMac('001565aabb01')!), '00:15:65:aa:bb:01');
  });
});

describe('CIDRs', () => {
  it('parses and matches', () => {
    const c = parseCidr('10.20.0.0/24') as Cidr;
    assert.equal(typeof c, 'object');
    assert.ok(anyCidrContains([c], '10.20.0.7'));
    assert.ok(anyCidrContains([c], '::ffff:10.20.0.7'));
    assert.ok(!anyCidrContains([c], '10.20.1.7'));
  });
  it('explains a prefix out of range and host bits', () => {
    assert.match(parseCidr('10.20.0.0/33') as string, /prefix length must be 0 to 32/);
    assert.match(parseCidr('10.20.0.1/24') as string, /did you mean 10\.20\.0\.0\/24/);
    assert.match(parseCidr('10.300.0.0/16') as string, /not an IPv4 address/);
  });
  it('matches IPv6 loopback only when loopback is allowed', () => {
    assert.ok(anyCidrContains([parseCidr('127.0.0.0/8') as Cidr], '::1'));
    assert.ok(!anyCidrContains([parseCidr('10.0.0.0/8') as Cidr], '::1'));
  });
});
