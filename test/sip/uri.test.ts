/** SIP and tel URIs: parseUri, formatUri, uriEquals (RFC 3261 §19.1, RFC 3966), with every example of §19.1.4. */
import { strict as assert } from 'node:assert';
import { formatUri, parseUri, splitHostPort, UnsupportedSchemeError, UriError, uriEquals, uriScheme, unescapeUser } from '../../src/sip/uri.js';

const eq = (a: string, b: string): boolean => uriEquals(parseUri(a), parseUri(b));

describe('SIP URIs', () => {
  describe('RFC 3261 §19.1.4 comparison', () => {
    // "The URIs within each of the following sets are equivalent"
    const EQUIVALENT: string[][] = [
      ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
      ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
      ['sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'],
      ['sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'],
    ];
    // "The URIs within each of the following sets are not equivalent"
    const NOT_EQUIVALENT: Array<[string, string, string]> = [
      ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP', 'different usernames'],
      ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060', 'can resolve to different ports'],
      ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp', 'can resolve to different transports'],
      ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp', 'can resolve to different port and transports'],
      ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting', 'different header component'],
      ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4', 'even though that is what phone21.boxesbybob.com resolves to'],
    ];

    for (const set of EQUIVALENT) {
      it(`equivalent: ${set.join('  ==  ')}`, () => {
        for (const a of set) for (const b of set) assert.ok(eq(a, b), `${a} vs ${b}`);
      });
    }
    for (const [a, b, why] of NOT_EQUIVALENT) {
      it(`not equivalent (${why}): ${a}  !=  ${b}`, () => {
        assert.equal(eq(a, b), false);
        assert.equal(eq(b, a), false);
        assert.ok(eq(a, a) && eq(b, b));
      });
    }

    it('equality is not transitive: security=on and security=off each equal the bare URI, not each other', () => {
      assert.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'));
      assert.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;security=off'));
      assert.equal(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'), false);
    });

    it('the rules behind the examples', () => {
      // user and password: case-sensitive; an escape equals the unreserved character, not a reserved one.
      assert.equal(eq('sip:Alice@atlanta.com', 'sip:alice@atlanta.com'), false);
      assert.ok(eq('sip:%41lice@atlanta.com', 'sip:Alice@atlanta.com'));
      assert.ok(eq('sip:a%2Ab@atlanta.com', 'sip:a*b@atlanta.com'));
      assert.equal(eq('sip:a%3Bb@atlanta.com', 'sip:a;b@atlanta.com'), false);
      assert.ok(eq('sip:a%3bb@atlanta.com', 'sip:a%3Bb@atlanta.com'));
      assert.equal(eq('sip:alice:secret@atlanta.com', 'sip:alice:Secret@atlanta.com'), false);
      assert.equal(eq('sip:alice:secret@atlanta.com', 'sip:alice@atlanta.com'), false);
      assert.equal(eq('sip:alice@atlanta.com', 'sip:atlanta.com'), false);
      assert.equal(eq('sip:alice@atlanta.com', 'sips:alice@atlanta.com'), false);
      // user, ttl, method, maddr, transport: present on one side only -> different.
      for (const p of ['user=phone', 'ttl=1', 'method=INVITE', 'maddr=239.255.255.1', 'transport=tcp']) {
        assert.equal(eq('sip:alice@atlanta.com', `sip:alice@atlanta.com;${p}`), false, p);
      }
      assert.ok(eq('sip:alice@atlanta.com;maddr=ProxY.Example.com', 'sip:alice@atlanta.com;MADDR=proxy.example.com'));
      // Other parameters: ignored on one side (lr too), compared when on both.
      assert.ok(eq('sip:alice@atlanta.com;lr', 'sip:alice@atlanta.com'));
      assert.equal(eq('sip:alice@atlanta.com;foo=1', 'sip:alice@atlanta.com;foo=2'), false);
      // Headers: never ignored; names case-insensitive; any order.
      assert.ok(eq('sip:alice@atlanta.com?Subject=hi', 'sip:alice@atlanta.com?subject=hi'));
      assert.equal(eq('sip:alice@atlanta.com?subject=hi', 'sip:alice@atlanta.com?subject=Hi'), false);
      assert.equal(eq('sip:alice@atlanta.com?a=1&b=2', 'sip:alice@atlanta.com?a=1'), false);
      // Escaped parameters are compared decoded (RFC 4475 §3.1.1.3).
      assert.ok(eq('sip:caller@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31', 'sip:caller@host5.example.net;lr;name=value%2541'));
    });
  });

  describe('parseUri', () => {
    it('the RFC 3261 §19.1.3 examples', () => {
      const cases: Array<[string, Partial<ReturnType<typeof parseUri>> & { paramList?: Array<[string, string | null]> }]> = [
        ['sip:alice@atlanta.com', { scheme: 'sip', user: 'alice', password: undefined, host: 'atlanta.com', port: undefined, headers: undefined, paramList: [] }],
        ['sip:alice:secretword@atlanta.com;transport=tcp', { user: 'alice', password: 'secretword', host: 'atlanta.com', paramList: [['transport', 'tcp']] }],
        ['sips:alice@atlanta.com?subject=project%20x&priority=urgent', { scheme: 'sips', user: 'alice', headers: 'subject=project%20x&priority=urgent', paramList: [] }],
        ['sip:+1-212-555-1212:1234@gateway.com;user=phone', { user: '+1-212-555-1212', password: '1234', host: 'gateway.com', paramList: [['user', 'phone']] }],
        ['sips:1212@gateway.com', { scheme: 'sips', user: '1212', host: 'gateway.com' }],
        ['sip:alice@192.0.2.4', { user: 'alice', host: '192.0.2.4' }],
        ['sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com', { user: undefined, host: 'atlanta.com', headers: 'to=alice%40atlanta.com', paramList: [['method', 'REGISTER']] }],
        ['sip:alice;day=tuesday@atlanta.com', { user: 'alice;day=tuesday', host: 'atlanta.com', paramList: [] }],
      ];
      for (const [text, want] of cases) {
        const u = parseUri(text);
        const { paramList, ...fields } = want;
        for (const [k, v] of Object.entries(fields)) assert.deepEqual(u[k as keyof typeof u], v, `${text}: ${k}`);
        if (paramList) assert.deepEqual([...u.params], paramList, text);
        assert.equal(formatUri(u), text, 'prints back as written');
      }
    });

    it('hosts, ports and IPv6 references (RFC 5118)', () => {
      assert.deepEqual(splitHostPort('Example.COM:5060'), { host: 'example.com', port: 5060 });
      assert.deepEqual(splitHostPort('[2001:db8::10]:5070'), { host: '[2001:db8::10]', port: 5070 });
      const v6 = parseUri('sip:alice@[2001:DB8::10]:5070;transport=tcp');
      assert.deepEqual([v6.host, v6.port, v6.params.get('transport')], ['[2001:db8::10]', 5070, 'tcp']);
      // §4.3: port inside the brackets is part of the address.
      const amb = parseUri('sip:[2001:db8::10:5070]');
      assert.deepEqual([amb.host, amb.port], ['[2001:db8::10:5070]', undefined]);
      assert.equal(parseUri('sip:[::ffff:192.0.2.1]').host, '[::ffff:192.0.2.1]');
      assert.equal(parseUri('sip:host.example.com.').host, 'host.example.com.');
    });

    it('user-part escapes stay as written; unescapeUser decodes them', () => {
      const u = parseUri('sip:sips%3Auser%40example.com@example.net');
      assert.equal(u.user, 'sips%3Auser%40example.com');
      assert.equal(unescapeUser(u.user!), 'sips:user@example.com');
      const semi = parseUri('sip:user;par=u%40example.net@example.com');
      assert.deepEqual([semi.user, semi.host, semi.params.size], ['user;par=u%40example.net', 'example.com', 0]);
    });

    it('URI parameters are decoded once; formatUri escapes them again', () => {
      const u = parseUri('sip:caller@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31');
      assert.deepEqual([...u.params], [['lr', null], ['name', 'value%41']]);
      const printed = formatUri(u);
      assert.equal(printed, 'sip:caller@host5.example.net;lr;name=value%2541');
      assert.ok(uriEquals(parseUri(printed), u));
      assert.deepEqual([...parseUri(printed).params], [...u.params]);
      assert.equal(formatUri(parseUri('sip:a@b.example.com;x=%20y')), 'sip:a@b.example.com;x=%20y');
    });

    it('what the grammar refuses', () => {
      for (const bad of [
        'sip:', 'sip:alice@', 'sip:@atlanta.com', 'sip:alice@atlanta..com', 'sip:alice@-atlanta.com', 'sip:alice@atlanta.com:99999',
        'sip:alice@atlanta.com:port', 'sip:alice@atlanta.com;;lr', 'sip:alice@atlanta.com;', 'sip:alice@atlanta.com;a b', 'sip:al ice@atlanta.com',
        'sip:alice@atlanta.com?noequals', 'sip:alice@atlanta.com?a=<b>', 'sip:alice@[2001:db8::10', 'sip:alice@[2001:db8::g]',
        'sip:alice@[2001:db8::10]x', 'sip:2001:db8::10', 'sip:alice@256.1.1.1', 'sip:a%zz@atlanta.com', 'sip:alice:pass word@atlanta.com',
        'sip:alice@atl_anta.com', 'alice@atlanta.com', ':alice', '1sip:alice@atlanta.com',
      ]) {
        assert.throws(() => parseUri(bad), (err: unknown) => err instanceof UriError && !(err instanceof UnsupportedSchemeError), bad);
      }
    });

    it('other schemes: UnsupportedSchemeError (a UriError), so a server can answer 416', () => {
      for (const [text, scheme] of [['mailto:alice@atlanta.com', 'mailto'], ['nobodyKnowsThisScheme:totallyopaquecontent', 'nobodyknowsthisscheme'], ['soap.beep://192.0.2.103:3002', 'soap.beep'], ['HTTP://www.example.com', 'http']] as const) {
        assert.throws(() => parseUri(text), (err: unknown) => err instanceof UnsupportedSchemeError && err instanceof UriError && err.scheme === scheme, text);
        assert.equal(uriScheme(text), scheme);
      }
      assert.equal(uriScheme('SIPS:alice@atlanta.com'), 'sips');
      assert.equal(parseUri('SIP:alice@atlanta.com').scheme, 'sip');
      for (const none of ['alice@atlanta.com', ':x', '1a:b', 'a b:c']) assert.equal(uriScheme(none), undefined, none);
    });
  });
});

describe('tel URIs (RFC 3966)', () => {
  it('global and local numbers, with parameters', () => {
    const g = parseUri('tel:+1-201-555-0123');
    assert.deepEqual([g.scheme, g.user, g.host, g.port, g.params.size], ['tel', '+1-201-555-0123', '', undefined, 0]);
    const l = parseUri('tel:7042;phone-context=example.com');
    assert.equal(l.user, '7042');
    assert.equal(l.params.get('phone-context'), 'example.com');
    assert.equal(formatUri(l), 'tel:7042;phone-context=example.com');
    assert.equal(parseUri('tel:863-1234;phone-context=+1-914-555').params.get('phone-context'), '+1-914-555');
    for (const bad of ['tel:', 'tel:abc-xyz', 'tel:+1 201', 'tel:-', 'tel:+1-201;;x']) assert.throws(() => parseUri(bad), UriError, bad);
  });

  it('comparison: visual separators and parameter order do not matter; every parameter must match', () => {
    const teq = (a: string, b: string) => uriEquals(parseUri(a), parseUri(b));
    assert.ok(teq('tel:+1-201-555-0123', 'tel:+12015550123'));
    assert.ok(teq('tel:+1(201)555.0123', 'tel:+1-201-555-0123'));
    assert.ok(teq('tel:7042;phone-context=example.com;ext=1', 'tel:7042;ext=1;phone-context=EXAMPLE.com'));
    assert.equal(teq('tel:7042;phone-context=example.com', 'tel:7042;phone-context=example.org'), false);
    assert.equal(teq('tel:7042;phone-context=example.com', 'tel:7042'), false);
    assert.equal(teq('tel:+12015550123', 'tel:+12015550124'), false);
    assert.equal(teq('tel:+12015550123', 'sip:+12015550123@example.com'), false);
  });
});
