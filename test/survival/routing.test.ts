/** Survival-mode routing, table-tested: every way the branch dials, and what must happen. */
import { strict as assert } from 'node:assert';
import { decide, forwardRoute, survivalRoute, type Caller, type RoutableLine, type Route, type RoutingSite } from '../../src/survival/routing.js';

const L111: RoutableLine = { ext: '111', number: '234567111', user: '420234567111', forward: '0602123456' };
const L121: RoutableLine = { ext: '121', number: '234567121', user: '420234567121' };
const L131: RoutableLine = { ext: '131', user: 'reception', forward: '111' };
const LINES = [L111, L121, L131];
const SITE: RoutingSite = { outsidePrefix: '0', emergency: ['112', '150', '155', '158'], gateway: { host: '10.20.0.5', port: 5060, inbound: ['131', '121'], keepPrefix: false } };
const FROM_111: Caller = { kind: 'line', line: L111 };

const describeRoute = (r: Route): string =>
  r.kind === 'line' ? `line ${r.line.ext}` : r.kind === 'pstn' ? `pstn ${r.number}${r.emergency ? ' emergency' : ''}` : r.kind === 'inbound' ? `inbound ${r.lines.map((l) => l.ext).join(',')}` : `reject ${r.status}`;

describe('survival routing', () => {
  const table: Array<[string, string, Caller, RoutingSite, string]> = [
    ['extension', '121', FROM_111, SITE, 'line 121'],
    ['national number of a line', '234567121', FROM_111, SITE, 'line 121'],
    ['SIP user of a line', 'reception', FROM_111, SITE, 'line 131'],
    ['0 + national number of our own line stays local', '0234567121', FROM_111, SITE, 'line 121'],
    ['0 + national number: the gateway, prefix stripped', '0601234567', FROM_111, SITE, 'pstn 601234567'],
    ['0 + 00 + international: the gateway, prefix stripped', '000421212345678', FROM_111, SITE, 'pstn 00421212345678'],
    ['dialled with spaces and dashes', '0 601-234 567', FROM_111, SITE, 'pstn 601234567'],
    ['emergency without the prefix', '112', FROM_111, SITE, 'pstn 112 emergency'],
    ['emergency with the prefix', '0155', FROM_111, SITE, 'pstn 155 emergency'],
    ['the gateway keeps the prefix when it wants it', '0601234567', FROM_111, { ...SITE, gateway: { ...SITE.gateway!, keepPrefix: true } }, 'pstn 0601234567'],
    ['emergency, gateway keeps the prefix', '112', FROM_111, { ...SITE, gateway: { ...SITE.gateway!, keepPrefix: true } }, 'pstn 0112 emergency'],
    ['no gateway: outside calls fail clearly', '0601234567', FROM_111, { ...SITE, gateway: undefined }, 'reject 503'],
    ['no gateway: emergency fails clearly too', '112', FROM_111, { ...SITE, gateway: undefined }, 'reject 503'],
    ['unknown extension', '199', FROM_111, SITE, 'reject 404'],
    ['too short after the prefix', '01', FROM_111, SITE, 'reject 404'],
    ['letters', 'bob', FROM_111, SITE, 'reject 404'],
    ['from the gateway: the inbound lines', '234567999', { kind: 'gateway' }, SITE, 'inbound 131,121'],
    ['from the gateway without an inbound list: the number dialled, if ours', '234567111', { kind: 'gateway' }, { ...SITE, gateway: { ...SITE.gateway!, inbound: [] } }, 'line 111'],
    ['from the gateway without an inbound list, not ours', '234567999', { kind: 'gateway' }, { ...SITE, gateway: { ...SITE.gateway!, inbound: [] } }, 'reject 480'],
    ['from a stranger', '121', { kind: 'unknown' }, SITE, 'reject 403'],
    ['no outside prefix at the site: any number goes out', '601234567', FROM_111, { ...SITE, outsidePrefix: '' }, 'pstn 601234567'],
  ];
  for (const [what, user, caller, site, want] of table) {
    it(`${what}: ${user} -> ${want}`, () => assert.equal(describeRoute(survivalRoute(user, caller, LINES, site)), want));
  }

  it('forwards: a mobile goes out through the gateway; a forward to a line rings it; none when there is no number', () => {
    assert.equal(describeRoute(forwardRoute(L111, LINES, SITE)!), 'pstn 602123456');
    assert.equal(describeRoute(forwardRoute(L131, LINES, SITE)!), 'line 111');
    assert.equal(forwardRoute(L121, LINES, SITE), undefined);
    assert.equal(forwardRoute({ ...L121, forward: '121' }, LINES, SITE), undefined, 'a forward to itself would loop');
    assert.equal(forwardRoute(L111, LINES, { ...SITE, gateway: undefined }), undefined, 'no gateway: nowhere to forward');
  });

  it('normal mode relays to the Centrex with the survival route as the fallback; emergency calls go straight out', () => {
    const d = decide('normal', true, '121', FROM_111, LINES, SITE);
    assert.equal(d.kind, 'upstream');
    assert.equal(d.kind === 'upstream' && describeRoute(d.fallback), 'line 121');
    assert.equal(describeRoute(decide('normal', true, '112', FROM_111, LINES, SITE) as Route), 'pstn 112 emergency');
    assert.equal(describeRoute(decide('normal', false, '121', FROM_111, LINES, SITE) as Route), 'line 121', 'no Centrex configured: local');
    assert.equal(describeRoute(decide('survival', true, '121', FROM_111, LINES, SITE) as Route), 'line 121');
    assert.equal(describeRoute(decide('normal', true, '234567999', { kind: 'gateway' }, LINES, SITE) as Route), 'inbound 131,121', 'calls from the analog line are the branch\'s own');
  });
});
