/**
 * The SIP message codec against RFC 4475 ("SIP Torture Test Messages", the files in ./torture/, exact bytes) and a
 * set of malformed messages of our own. Valid messages parse to the right values; invalid ones are refused with
 * SipParseError, and replyHeaders() says whether the server answers (400, or the code named) or drops them; no
 * exception other than SipParseError / HeaderError / UriError ever escapes the codec.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  canonicalName,
  formatNameAddr,
  HeaderError,
  listValues,
  parseAddress,
  parseCSeq,
  parseMaxForwards,
  parseNameAddr,
  parseParams,
  parseParamsGeneral,
  NO_PARAMS,
  parseSipDate,
  parseVia,
  splitOutside,
  unquote,
} from '../../src/sip/headers.js';
import {
  essentials,
  headerEnd,
  Headers,
  LIMITS,
  parseMessage,
  readHead,
  readHeadGeneral,
  replyHeaders,
  responseTo,
  serializeMessage,
  SipParseError,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../src/sip/message.js';
import { parseUri, UnsupportedSchemeError, UriError, uriEquals, unescapeUser } from '../../src/sip/uri.js';
import { Rng } from '../support/rng.js';

const DIR = fileURLToPath(new URL('./torture/', import.meta.url));
const load = (name: string): Buffer => readFileSync(`${DIR}${name}.dat`);
/** Header text is Latin-1 (one char per octet): these move between it and real strings. */
const utf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');
const octets = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
const msg = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');

function request(buf: Buffer): SipRequest {
  const m = parseMessage(buf);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

function response(buf: Buffer): SipResponse {
  const m = parseMessage(buf);
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

function isCodecError(err: unknown): boolean {
  return err instanceof SipParseError || err instanceof HeaderError || err instanceof UriError;
}

/** parseMessage, then essentials: the SipParseError one of them throws, and which. */
function refusal(buf: Buffer): { at: 'parse' | 'essentials'; err: SipParseError } {
  let m: SipMessage;
  try {
    m = parseMessage(buf);
  } catch (err) {
    assert.ok(err instanceof SipParseError, `parseMessage threw ${String(err)}`);
    return { at: 'parse', err };
  }
  try {
    essentials(m);
  } catch (err) {
    assert.ok(err instanceof SipParseError, `essentials threw ${String(err)}`);
    return { at: 'essentials', err };
  }
  assert.fail('the message was accepted');
}

// ---------------------------------------------------------------------------------------------------------------
// The outcome of every RFC 4475 message.
//   accept   parseMessage() and essentials() succeed; the values are checked below.
//   refuse   parseMessage() or essentials() (`at`) throws SipParseError matching `error`; the server answers 400
//            (replyHeaders() gives what to copy) or drops the message (replyHeaders() is undefined).
//   decide   syntactically valid: parseMessage() and essentials() succeed; the server answers `status` after a
//            check the codec makes possible (shown in the message's own test).

type Outcome =
  | { kind: 'accept' }
  | { kind: 'refuse'; at: 'parse' | 'essentials'; answer: 400 | 'drop'; error: RegExp }
  | { kind: 'decide'; status: number; check: string };

const accept: Outcome = { kind: 'accept' };
const refuse = (at: 'parse' | 'essentials', answer: 400 | 'drop', error: RegExp): Outcome => ({ kind: 'refuse', at, answer, error });
const decide = (status: number, check: string): Outcome => ({ kind: 'decide', status, check });

const TORTURE: Array<{ section: string; file: string; title: string; outcome: Outcome }> = [
  // 3.1.1 Valid messages
  { section: '3.1.1.1', file: 'wsinv', title: 'A Short Tortuous INVITE', outcome: accept },
  { section: '3.1.1.2', file: 'intmeth', title: 'Wide Range of Valid Characters', outcome: accept },
  { section: '3.1.1.3', file: 'esc01', title: 'Valid Use of the % Escaping Mechanism', outcome: accept },
  { section: '3.1.1.4', file: 'escnull', title: 'Escaped Nulls in URIs', outcome: accept },
  { section: '3.1.1.5', file: 'esc02', title: 'Use of % When It Is Not an Escape', outcome: accept },
  { section: '3.1.1.6', file: 'lwsdisp', title: 'Message with No LWS between Display Name and <', outcome: accept },
  { section: '3.1.1.7', file: 'longreq', title: 'Long Values in Header Fields', outcome: accept },
  { section: '3.1.1.8', file: 'dblreq', title: 'Extra Trailing Octets in a UDP Datagram', outcome: accept },
  { section: '3.1.1.9', file: 'semiuri', title: 'Semicolon-Separated Parameters in URI User Part', outcome: accept },
  { section: '3.1.1.10', file: 'transports', title: 'Varied and Unknown Transport Types', outcome: accept },
  { section: '3.1.1.11', file: 'mpart01', title: 'Multipart MIME Message', outcome: accept },
  { section: '3.1.1.12', file: 'unreason', title: 'Unusual Reason Phrase', outcome: accept },
  { section: '3.1.1.13', file: 'noreason', title: 'Empty Reason Phrase', outcome: accept },
  // 3.1.2 Invalid messages
  { section: '3.1.2.1', file: 'badinv01', title: 'Extraneous Header Field Separators', outcome: refuse('essentials', 400, /empty parameter/) },
  { section: '3.1.2.2', file: 'clerr', title: 'Content Length Larger Than Message', outcome: refuse('parse', 400, /Content-Length 9999 but only 154 bytes/) },
  { section: '3.1.2.3', file: 'ncl', title: 'Negative Content-Length', outcome: refuse('parse', 400, /bad Content-Length "-999"/) },
  { section: '3.1.2.4', file: 'scalar02', title: 'Request Scalar Fields with Overlarge Values', outcome: refuse('essentials', 400, /bad CSeq/) },
  { section: '3.1.2.5', file: 'scalarlg', title: 'Response Scalar Fields with Overlarge Values', outcome: refuse('essentials', 'drop', /bad CSeq/) },
  { section: '3.1.2.6', file: 'quotbal', title: 'Unterminated Quoted String in Display Name', outcome: refuse('essentials', 400, /display name needs <uri>/) },
  { section: '3.1.2.7', file: 'ltgtruri', title: '<> Enclosing Request-URI', outcome: refuse('parse', 400, /bad Request-URI/) },
  { section: '3.1.2.8', file: 'lwsruri', title: 'Malformed SIP Request-URI (embedded LWS)', outcome: refuse('parse', 400, /bad request line/) },
  { section: '3.1.2.9', file: 'lwsstart', title: 'Multiple SP Separating Request-Line Elements', outcome: refuse('parse', 400, /bad request line/) },
  { section: '3.1.2.10', file: 'trws', title: 'SP Characters at End of Request-Line', outcome: refuse('parse', 400, /bad request line/) },
  { section: '3.1.2.11', file: 'escruri', title: 'Escaped Headers in SIP Request-URI', outcome: refuse('essentials', 400, /headers in the Request-URI/) },
  { section: '3.1.2.12', file: 'baddate', title: 'Invalid Time Zone in Date Header Field', outcome: decide(400, 'parseSipDate() refuses "EST"; reject only if Date matters') },
  { section: '3.1.2.13', file: 'regbadct', title: 'Failure to Enclose name-addr URI in <>', outcome: decide(400, 'parseNameAddr() refuses the Contact') },
  { section: '3.1.2.14', file: 'badaspec', title: 'Spaces within addr-spec', outcome: refuse('essentials', 400, /white space inside <>/) },
  // As stored (the 2006 archive copy) the header section has no closing blank line; see the baddn test for both forms.
  { section: '3.1.2.15', file: 'baddn', title: 'Non-token Characters in Display Name', outcome: refuse('parse', 400, /no blank line/) },
  { section: '3.1.2.16', file: 'badvers', title: 'Unknown Protocol Version', outcome: decide(505, 'version is SIP/7.0') },
  { section: '3.1.2.17', file: 'mismatch01', title: 'Start Line and CSeq Method Mismatch', outcome: refuse('essentials', 400, /CSeq method INVITE is not the request's OPTIONS/) },
  // RFC: 501 preferred, 400 acceptable; the start line in `partial` lets a server pick 501 for the unknown method.
  { section: '3.1.2.18', file: 'mismatch02', title: 'Unknown Method with CSeq Method Mismatch', outcome: refuse('essentials', 400, /CSeq method INVITE is not the request's NEWMETHOD/) },
  { section: '3.1.2.19', file: 'bigcode', title: 'Overlarge Response Code', outcome: refuse('parse', 'drop', /bad status line/) },
  // 3.2 Transaction layer semantics
  { section: '3.2.1', file: 'badbranch', title: 'Missing Transaction Identifier', outcome: decide(400, 'branch is the bare magic cookie (or fall back to RFC 2543 matching)') },
  // 3.3 Application layer semantics
  { section: '3.3.1', file: 'insuf', title: 'Missing Required Header Fields', outcome: refuse('essentials', 400, /missing Call-ID, From, To/) },
  { section: '3.3.2', file: 'unkscm', title: 'Request-URI with Unknown Scheme', outcome: decide(416, 'parseUri() throws UnsupportedSchemeError') },
  { section: '3.3.3', file: 'novelsc', title: 'Request-URI with Known but Atypical Scheme', outcome: decide(416, 'parseUri() throws UnsupportedSchemeError') },
  { section: '3.3.4', file: 'unksm2', title: 'Unknown URI Schemes in Header Fields', outcome: decide(400, 'a registrar needs a sip: To; parseAddress() shows isbn:') },
  { section: '3.3.5', file: 'bext01', title: 'Proxy-Require and Require', outcome: decide(420, 'Require / Proxy-Require values') },
  { section: '3.3.6', file: 'invut', title: 'Unknown Content-Type', outcome: decide(415, 'Content-Type application/unknownformat') },
  { section: '3.3.7', file: 'regaut01', title: 'Unknown Authorization Scheme', outcome: decide(401, 'Authorization scheme token') },
  { section: '3.3.8', file: 'multi01', title: 'Multiple Values in Single Value Required Fields', outcome: refuse('essentials', 400, /Call-ID given more than once/) },
  { section: '3.3.9', file: 'mcl01', title: 'Multiple Content-Length Values', outcome: refuse('parse', 400, /2 Content-Length headers/) },
  { section: '3.3.10', file: 'bcast', title: '200 OK Response with Broadcast Via Header Field Value', outcome: accept },
  { section: '3.3.11', file: 'zeromf', title: 'Max-Forwards of Zero', outcome: decide(483, 'parseMaxForwards() is 0 (a proxy answers 483; a UAS handles it)') },
  { section: '3.3.12', file: 'cparam01', title: 'REGISTER with a Contact Header Parameter', outcome: accept },
  { section: '3.3.13', file: 'cparam02', title: 'REGISTER with a url-parameter', outcome: accept },
  { section: '3.3.14', file: 'regescrt', title: 'REGISTER with a URL Escaped Header', outcome: accept },
  { section: '3.3.15', file: 'sdp01', title: 'Unacceptable Accept Offering', outcome: decide(406, 'Accept lacks application/sdp (400 also allowed)') },
  // 3.4 Backward compatibility
  { section: '3.4.1', file: 'inv2543', title: 'INVITE with RFC 2543 Syntax', outcome: accept },
];

/** The checks of each message that parses: real values, not just "no throw". */
const CHECKS: Record<string, (m: SipMessage) => void> = {
  wsinv(m) {
    const r = m as SipRequest;
    assert.equal(r.method, 'INVITE');
    assert.equal(r.uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
    const ruri = parseUri(r.uri);
    assert.equal(ruri.user, 'vivekg');
    assert.equal(ruri.host, 'chair-dnrc.example.com');
    assert.deepEqual([...ruri.params], [['unknownparam', null]]);
    const e = essentials(r);
    // "TO :" folded onto the next line, addr-spec form, LWS around "=".
    const to = parseNameAddr(r.headers.get('To')!);
    assert.equal(to.uriText, 'sip:vivekg@chair-dnrc.example.com');
    assert.equal(to.params.get('tag'), '1918181833n');
    assert.equal(e.toTag, '1918181833n');
    // The display name is the quoted-string "J Rosenberg \\\"": backslash then quote once unescaped.
    const from = parseNameAddr(r.headers.get('From')!);
    assert.equal(from.displayName, 'J Rosenberg \\"');
    assert.equal(from.uriText, 'sip:jdrosen@example.com');
    assert.equal(e.fromTag, '98asjd8');
    assert.equal(r.headers.get('Max-Forwards'), '0068');
    assert.equal(parseMaxForwards(r.headers.get('Max-Forwards')!), 68);
    assert.equal(e.callId, 'wsinv.ndaksdj@192.0.2.1');
    assert.deepEqual(e.cseq, { seq: 9, method: 'INVITE' });
    // Via: "SIP  /   2.0" CRLF " /UDP" CRLF "    192.0.2.2;branch=390skdjuw", then v: with two values over 4 lines.
    assert.equal(e.vias.length, 3);
    assert.deepEqual(
      e.vias.map((v) => [v.protocol, v.transport, v.host, v.port, v.params.get('branch')]),
      [
        ['SIP/2.0', 'UDP', '192.0.2.2', undefined, '390skdjuw'],
        ['SIP/2.0', 'TCP', 'spindle.example.com', undefined, 'z9hG4bK9ikj8'],
        ['SIP/2.0', 'UDP', '192.168.255.111', undefined, 'z9hG4bK30239'],
      ],
    );
    assert.equal(r.headers.get('Subject'), ''); // "s :" is the compact Subject, empty
    assert.equal(r.headers.get('NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(r.headers.get('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    const route = parseNameAddr(r.headers.values('Route')[0]!);
    assert.deepEqual([...route.uri.params], [['lr', null], ['unknownwith', 'value'], ['unknown-no-value', null]]);
    const contacts = r.headers.values('Contact');
    assert.equal(contacts.length, 1);
    const contact = parseNameAddr(contacts[0]!);
    assert.equal(contact.displayName, 'Quoted string ""');
    assert.deepEqual([...contact.params], [['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
    assert.equal(r.headers.get('Content-Length'), '150');
    assert.equal(r.headers.get('Content-Type'), 'application/sdp');
    assert.equal(r.body.length, 150);
    assert.ok(r.body.toString('latin1').startsWith('v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n'));
    assert.ok(r.body.toString('latin1').endsWith('a=rtpmap:31 LPC\r\n'));
    // Names come out long and canonical whatever their case or compact form.
    assert.deepEqual(
      r.headers.all().map((h) => h.name),
      ['To', 'From', 'Max-Forwards', 'Call-ID', 'Content-Length', 'CSeq', 'Via', 'Subject', 'NewFangledHeader',
        'UnknownHeaderWithUnusualValue', 'Content-Type', 'Route', 'Via', 'Contact'],
    );
  },
  intmeth(m) {
    const r = m as SipRequest;
    const method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert.equal(r.method, method);
    assert.equal(r.uri, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
    const ruri = parseUri(r.uri);
    assert.equal(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(ruri.host, 'example.com');
    assert.equal(ruri.params.size, 0);
    assert.equal(ruri.headers, undefined);
    const e = essentials(r);
    assert.deepEqual(e.cseq, { seq: 139122385, method });
    assert.equal(e.vias[0]!.transport, 'TCP');
    assert.equal(e.vias[0]!.params.get('branch'), "z9hG4bK-.!%66*_+`'~");
    // Quoted-pairs of BEL, NUL and DEL.
    const to = parseNameAddr(r.headers.get('To')!);
    assert.equal(to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    // Display name of tokens; a parameter whose value is UTF-8, kept octet for octet.
    const from = parseNameAddr(r.headers.get('From')!);
    assert.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
    const fromParam = from.params.get("fromparam''~+*_!.-%")!;
    assert.equal(utf8(fromParam), 'работающий');
    assert.deepEqual(Buffer.from(fromParam, 'latin1'), Buffer.from('d180d0b0d0b1d0bed182d0b0d18ed189d0b8d0b9', 'hex'));
    assert.equal(e.fromTag, "_token~1'+`*%!-.");
    assert.equal(e.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.equal(parseMaxForwards(r.headers.get('Max-Forwards')!), 255);
    // No space after the colon; the value is a UTF-8 BOM then 大停電.
    assert.deepEqual(Buffer.from(r.headers.get("extensionHeader-!.%*+_`'~")!, 'latin1'), Buffer.from('\ufeff大停電', 'utf8'));
    assert.equal(r.body.length, 0);
  },
  esc01(m) {
    const r = m as SipRequest;
    const ruri = parseUri(r.uri);
    assert.equal(ruri.user, 'sips%3Auser%40example.com');
    assert.equal(unescapeUser(ruri.user!), 'sips:user@example.com');
    assert.equal(ruri.host, 'example.net');
    const e = essentials(r);
    assert.equal(e.callId, 'esc01.239409asdfakjkn23onasd0-3234'); // compact i:
    assert.equal(r.headers.get('Content-Type'), 'application/sdp'); // compact C: (upper case)
    assert.ok(uriEquals(parseNameAddr(e.to).uri, parseUri('sip:user@example.com')));
    assert.equal(unescapeUser(parseNameAddr(e.from).uri.user!), 'I have spaces');
    const contact = parseNameAddr(r.headers.values('Contact')[0]!).uri;
    assert.equal(unescapeUser(contact.user!), 'caller');
    // ";%6C%72;n%61me=v%61lue%25%34%31" is ";lr;name=value%41": decoded once, "%41" is not "A".
    assert.deepEqual([...contact.params], [['lr', null], ['name', 'value%41']]);
    assert.ok(uriEquals(contact, parseUri('sip:caller@host5.example.net;lr;name=value%2541')));
    assert.ok(!uriEquals(contact, parseUri('sip:caller@host5.example.net;lr;name=valueA')));
    assert.equal(r.body.length, 150);
  },
  escnull(m) {
    const r = m as SipRequest;
    assert.equal(r.method, 'REGISTER');
    const e = essentials(r);
    assert.equal(unescapeUser(parseNameAddr(e.to).uri.user!), 'null-\x00-null');
    assert.equal(e.fromTag, '839923423');
    const contacts = r.headers.values('Contact').map((c) => parseNameAddr(c).uri);
    assert.deepEqual(contacts.map((c) => unescapeUser(c.user!)), ['\x00', '\x00\x00']);
    assert.ok(!uriEquals(contacts[0]!, contacts[1]!));
    assert.equal(r.headers.get('Content-Length'), '0'); // "L:0"
  },
  esc02(m) {
    const r = m as SipRequest;
    assert.equal(r.method, 'RE%47IST%45R'); // not REGISTER: % is no escape in a method
    assert.notEqual(r.method, 'REGISTER');
    const e = essentials(r);
    assert.equal(e.cseq.method, 'RE%47IST%45R');
    assert.equal(parseNameAddr(e.to).displayName, '%Z%45');
    assert.equal(e.vias[0]!.params.get('branch'), 'z9hG4bK209%fzsnel234');
    // C%6Fntact is an unknown header, not a third Contact.
    assert.deepEqual(r.headers.values('Contact'), ['<sip:alias1@host1.example.com>', '<sip:alias3@host3.example.com>']);
    assert.equal(r.headers.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
  },
  lwsdisp(m) {
    const e = essentials(m);
    const from = parseNameAddr(e.from);
    assert.equal(from.displayName, 'caller');
    assert.equal(from.uriText, 'sip:caller@example.com');
    assert.equal(e.fromTag, '323');
  },
  longreq(m) {
    const r = m as SipRequest;
    const e = essentials(r);
    const to = parseNameAddr(e.to);
    assert.equal(to.displayName, `I have a user name of ${'extreme'.repeat(10)} proportion`);
    assert.equal(to.uri.port, 6000);
    assert.equal(to.uri.params.get('unknownparam1'), `very${'long'.repeat(20)}value`);
    assert.equal(to.uri.params.get(`longparam${'name'.repeat(25)}`), 'shortvalue');
    assert.equal(to.uri.params.get(`very${'long'.repeat(25)}parameternamewithnovalue`), null);
    const from = parseNameAddr(e.from); // compact F:
    assert.equal(from.uri.user, 'amazinglylongcallername'.repeat(5));
    assert.equal(e.fromTag, `12${'982'.repeat(50)}424`);
    assert.equal(from.params.get(`unknownheaderparam${'name'.repeat(20)}`), `unknowheaderparam${'value'.repeat(15)}`);
    assert.equal(from.params.get(`unknownvaluelessparam${'nameparam'.repeat(9)}name`), null);
    assert.equal(e.callId, `longreq.one${'really'.repeat(20)}longcallid`);
    const longName = `Unknown-${'Long'.repeat(20)}-Name`;
    assert.ok(r.headers.get(longName)!.startsWith(`unknown-${'long'.repeat(20)}-value;`));
    // 34 Via values, written with every case and spacing of "Via" and "v".
    assert.equal(e.vias.length, 34);
    assert.deepEqual(e.vias.slice(0, 33).map((v) => v.host), Array.from({ length: 33 }, (_, i) => `sip${33 - i}.example.com`));
    const last = e.vias[33]!;
    assert.equal(last.host, 'host.example.com');
    assert.equal(last.params.get('received'), '192.0.2.5');
    assert.equal(last.params.get('branch'), `very${'long'.repeat(50)}branchvalue`);
    assert.equal(r.headers.get('Content-Length'), '150'); // compact l:
    assert.equal(r.body.length, 150);
  },
  dblreq(m) {
    const r = m as SipRequest;
    assert.equal(r.method, 'REGISTER');
    assert.equal(r.body.length, 0); // the INVITE after it is noise (RFC 3261 §18.3)
    const e = essentials(r);
    assert.equal(e.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412'); // compact I:
    assert.equal(r.headers.lines('Call-ID').length, 1);
    assert.equal(r.headers.get('Content-Type'), undefined);
    assert.ok(!r.headers.all().some((h) => h.value.includes('joe@example.com')));
  },
  semiuri(m) {
    const r = m as SipRequest;
    const ruri = parseUri(r.uri);
    assert.equal(ruri.user, 'user;par=u%40example.net');
    assert.equal(ruri.host, 'example.com');
    assert.equal(ruri.params.size, 0);
    assert.deepEqual(r.headers.values('Accept'), [
      'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
    ]);
    essentials(r);
  },
  transports(m) {
    const e = essentials(m);
    assert.deepEqual(e.vias.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
    assert.deepEqual(e.vias.map((v) => v.host), ['t1', 't2', 't3', 't4', 't5'].map((t) => `${t}.example.com`));
    assert.equal(e.callId, 'transports.kijh4akdnaqjkwendsasfdj');
  },
  mpart01(m) {
    const r = m as SipRequest;
    assert.equal(r.method, 'MESSAGE');
    const e = essentials(r);
    assert.equal(e.vias[0]!.port, 5070);
    assert.equal(e.vias[0]!.params.get('rport'), null);
    assert.ok(e.vias[0]!.params.has('rport'));
    assert.equal(r.headers.get('Content-Type'), 'multipart/mixed;boundary=7a9cbec02ceef655');
    assert.equal(r.body.length, 553);
    const file = load('mpart01');
    assert.deepEqual(r.body, file.subarray(file.length - 553)); // binary part included, octet for octet
    assert.ok(r.body.toString('latin1').endsWith('--7a9cbec02ceef655--\r\n'));
  },
  unreason(m) {
    const r = m as SipResponse;
    assert.equal(r.status, 200);
    assert.equal(utf8(r.reason), '= 2**3 * 5**2 но сто девяносто девять - простое');
    assert.equal(essentials(r).toTag, '2229');
    assert.equal(r.body.length, 154);
  },
  noreason(m) {
    const r = m as SipResponse;
    assert.equal(r.status, 100);
    assert.equal(r.reason, '');
    assert.equal(essentials(r).toTag, '902jndnke3');
  },
  bcast(m) {
    const r = m as SipResponse;
    assert.equal(r.status, 200);
    const e = essentials(r);
    assert.deepEqual(e.vias.map((v) => v.host), ['192.0.2.198', '255.255.255.255']);
    assert.equal(r.body.length, 154);
  },
  cparam01(m) {
    // addr-spec: ";unknownparam" belongs to the Contact header, not to the URI.
    const c = parseNameAddr(m.headers.values('Contact')[0]!);
    assert.equal(c.uri.user, '+19725552222');
    assert.equal(c.uri.params.size, 0);
    assert.deepEqual([...c.params], [['unknownparam', null]]);
  },
  cparam02(m) {
    // name-addr: inside <> it is a URI parameter.
    const c = parseNameAddr(m.headers.values('Contact')[0]!);
    assert.deepEqual([...c.uri.params], [['unknownparam', null]]);
    assert.equal(c.params.size, 0);
  },
  regescrt(m) {
    const c = parseNameAddr(m.headers.values('Contact')[0]!); // compact M:
    assert.equal(c.uri.headers, 'Route=%3Csip:sip.example.com%3E');
    assert.equal(c.uri.host, 'example.com');
  },
  inv2543(m) {
    const r = m as SipRequest;
    const e = essentials(r);
    assert.equal(e.vias[0]!.host, 'iftgw.example.com');
    assert.equal(e.vias[0]!.params.has('branch'), false); // no branch at all
    assert.equal(e.fromTag, undefined); // no From tag
    assert.equal(r.headers.has('Max-Forwards'), false);
    assert.equal(r.headers.has('Content-Length'), false);
    const file = load('inv2543');
    assert.deepEqual(r.body, file.subarray(file.indexOf('\r\n\r\n') + 4)); // the rest of the datagram
    assert.ok(r.body.toString('latin1').startsWith('v=0\r\n'));
    // addr-spec To: ";user=phone" is a To parameter here.
    const to = parseNameAddr(e.to);
    assert.equal(to.params.get('user'), 'phone');
    assert.equal(to.uri.params.size, 0);
    // name-addr From: inside <> it is the URI's.
    assert.equal(parseNameAddr(e.from).uri.params.get('user'), 'phone');
    assert.equal(parseNameAddr(r.headers.get('Record-Route')!).uri.params.get('maddr'), 'ss1.example.com');
  },
  // --- decide: valid syntax; the check a server makes.
  baddate(m) {
    const date = m.headers.get('Date')!;
    assert.equal(date, 'Fri, 01 Jan 2010 16:00:00 EST');
    assert.throws(() => parseSipDate(date), HeaderError);
    assert.equal(parseSipDate('Fri, 01 Jan 2010 16:00:00 GMT').toISOString(), '2010-01-01T16:00:00.000Z');
  },
  regbadct(m) {
    const contact = m.headers.get('Contact')!;
    assert.equal(contact, 'sip:user@example.com?Route=%3Csip:sip.example.com%3E');
    assert.throws(() => parseNameAddr(contact), (err: unknown) => err instanceof HeaderError && /must be in <>/.test(err.message));
    assert.equal(parseNameAddr(`<${contact}>`).uri.headers, 'Route=%3Csip:sip.example.com%3E'); // the same URI, enclosed
  },
  badvers(m) {
    const r = m as SipRequest;
    assert.equal(r.version, 'SIP/7.0');
    assert.equal(essentials(r).vias[0]!.protocol, 'SIP/7.0');
  },
  badbranch(m) {
    assert.equal(essentials(m).vias[0]!.params.get('branch'), 'z9hG4bK');
  },
  unkscm(m) {
    const r = m as SipRequest;
    assert.equal(r.uri, 'nobodyKnowsThisScheme:totallyopaquecontent');
    assert.throws(() => parseUri(r.uri), (err: unknown) => err instanceof UnsupportedSchemeError && err.scheme === 'nobodyknowsthisscheme');
  },
  novelsc(m) {
    const r = m as SipRequest;
    assert.equal(r.uri, 'soap.beep://192.0.2.103:3002');
    assert.throws(() => parseUri(r.uri), (err: unknown) => err instanceof UnsupportedSchemeError && err.scheme === 'soap.beep');
  },
  unksm2(m) {
    const e = essentials(m); // a parser must accept it
    assert.equal(e.fromTag, '3234233');
    const to = parseAddress(e.to);
    assert.equal(to.scheme, 'isbn');
    assert.equal(to.uri, undefined);
    assert.equal(parseAddress(e.from).scheme, 'http');
    assert.equal(parseAddress(m.headers.get('Contact')!).uriText, 'name:John_Smith');
    // What a registrar uses refuses them: the AOR must be a SIP URI.
    assert.throws(() => parseNameAddr(e.to), HeaderError);
    assert.throws(() => parseNameAddr(m.headers.get('Contact')!), HeaderError);
  },
  bext01(m) {
    assert.deepEqual(m.headers.values('Require'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
    assert.deepEqual(m.headers.values('Proxy-Require'), ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    assert.equal(essentials(m).vias[0]!.transport, 'TLS');
  },
  invut(m) {
    assert.equal(m.headers.get('Content-Type'), 'application/unknownformat');
    assert.equal(m.body.toString('latin1'), '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n');
  },
  regaut01(m) {
    const auth = m.headers.get('Authorization')!;
    assert.equal(auth.split(' ')[0], 'NoOneKnowsThisScheme');
    assert.equal(auth, 'NoOneKnowsThisScheme opaque-data=here');
    assert.equal(m.headers.get('Content-Length'), '0'); // "Content-Length:0"
  },
  zeromf(m) {
    assert.equal(parseMaxForwards(m.headers.get('Max-Forwards')!), 0);
  },
  sdp01(m) {
    assert.deepEqual(m.headers.values('Accept'), ['text/nobodyKnowsThis']);
    assert.equal(m.headers.get('Content-Type'), 'application/sdp');
    assert.equal(m.body.length, 150);
  },
};

describe('RFC 4475 torture messages', () => {
  it('the table covers the 49 messages of section 3, one fixture each', () => {
    assert.equal(TORTURE.length, 49);
    assert.equal(new Set(TORTURE.map((t) => t.file)).size, 49);
    assert.equal(new Set(TORTURE.map((t) => t.section)).size, 49);
    const files = readdirSync(DIR).filter((f) => f.endsWith('.dat')).map((f) => f.slice(0, -4)).sort();
    assert.deepEqual(files, [...TORTURE.map((t) => t.file), 'test'].sort());
    const counts = { accept: 0, refuse: 0, decide: 0 };
    for (const t of TORTURE) counts[t.outcome.kind]++;
    assert.deepEqual(counts, { accept: 18, refuse: 19, decide: 12 });
    for (const t of TORTURE) if (t.outcome.kind !== 'refuse') assert.ok(CHECKS[t.file], `no value checks for ${t.file}`);
  });

  it('the fixtures are the exact bytes: CRLF line ends, sizes of the archive', () => {
    const wsinv = load('wsinv');
    assert.equal(wsinv.length, 1001);
    assert.equal(wsinv.toString('latin1').split('\r\n').length, 38);
    assert.ok(!/[^\r]\n/.test(wsinv.toString('latin1')));
    assert.equal(load('mpart01').length, 1290);
    assert.equal(load('intmeth').length, 641);
    assert.ok(load('intmeth').includes(Buffer.from('\\\x00', 'latin1'))); // a quoted NUL
  });

  for (const t of TORTURE) {
    const { outcome } = t;
    const label = `${t.section} ${t.file}.dat (${t.title}): ${outcome.kind === 'refuse' ? `${outcome.answer === 400 ? '400' : 'dropped'} (${outcome.at})` : outcome.kind === 'decide' ? `valid syntax, server answers ${outcome.status}: ${outcome.check}` : 'valid'}`;
    it(label, () => {
      const buf = load(t.file);
      if (outcome.kind === 'refuse') {
        const { at, err } = refusal(buf);
        assert.equal(at, outcome.at);
        assert.match(err.message, outcome.error);
        const reply = replyHeaders(err);
        if (outcome.answer === 'drop') assert.equal(reply, undefined);
        else {
          assert.ok(reply, 'a 400 can be sent');
          assert.equal(reply.lines('Via').length >= 1, true);
          assert.deepEqual(reply.lines('Via'), err.partial!.headers.lines('Via'));
          for (const name of ['From', 'To', 'Call-ID', 'CSeq']) assert.equal(reply.get(name), err.partial!.headers.get(name));
        }
        return;
      }
      const m = parseMessage(buf);
      essentials(m);
      CHECKS[t.file]!(m);
    });
  }

  it('3.1.2.15 baddn: with the closing blank line, the unquoted "Bell, Alexander" is refused (400)', () => {
    const stored = refusal(load('baddn'));
    assert.ok(replyHeaders(stored.err)); // headers are readable: 400, not silence
    assert.equal(replyHeaders(stored.err)!.get('Call-ID'), 'baddn.31415@c.example.com');
    const complete = refusal(Buffer.concat([load('baddn'), Buffer.from('\r\n')]));
    assert.equal(complete.at, 'essentials');
    assert.match(complete.err.message, /bad display name "Bell, Alexander"/);
    assert.ok(replyHeaders(complete.err));
    assert.throws(() => parseNameAddr('Watson, Thomas <sip:t.watson@example.org>'), HeaderError);
  });

  it('3.1.2.18 mismatch02: the refused request keeps its start line, so a server can answer 501', () => {
    const { err } = refusal(load('mismatch02'));
    assert.equal(err.partial!.startLine, 'NEWMETHOD sip:user@example.com SIP/2.0');
  });

  it('3.1.2.4 scalar02 / 3.1.2.5 scalarlg: each overlarge scalar is refused by its own parser', () => {
    const m = parseMessage(load('scalar02'));
    assert.throws(() => parseCSeq(m.headers.get('CSeq')!), HeaderError);
    assert.throws(() => parseMaxForwards(m.headers.get('Max-Forwards')!), /above 255/);
    assert.equal(parseNameAddr(m.headers.get('Contact')!).params.get('expires'), '280297596632815'); // folded ";expires"
    const lg = parseMessage(load('scalarlg'));
    assert.equal(lg.kind, 'response');
    assert.throws(() => parseCSeq(lg.headers.get('CSeq')!), HeaderError);
  });

  it('3.1.2.2 clerr over a stream: also refused (the transport waits or closes)', () => {
    assert.throws(() => parseMessage(load('clerr'), { stream: true }), SipParseError);
  });

  it('the archive\'s extra test.dat (not in section 3): dropped, nothing to answer to', () => {
    const { at, err } = refusal(load('test'));
    assert.equal(at, 'parse');
    assert.match(err.message, /not a header line: "Foobar roobar"/);
    assert.equal(replyHeaders(err), undefined); // no Via
  });

  describe('round trip', () => {
    const parseable = [...TORTURE.map((t) => t.file), 'baddn-complete'].filter((f) => {
      try {
        parseMessage(f === 'baddn-complete' ? Buffer.concat([load('baddn'), Buffer.from('\r\n')]) : load(f));
        return true;
      } catch {
        return false;
      }
    });
    /** serialize(parse(x)) === x. */
    const EXACT = ['baddate', 'badinv01', 'bcast', 'bext01', 'escruri', 'invut', 'mpart01', 'noreason', 'novelsc', 'quotbal', 'scalarlg', 'sdp01', 'unkscm', 'unreason', 'zeromf'];
    /** Only the Content-Length line changes ("l: 0", "L:0", "Content-Length:0" -> "Content-Length: 0"). */
    const LENGTH_ONLY = ['badaspec', 'badbranch', 'cparam01', 'cparam02', 'esc02', 'escnull', 'insuf', 'lwsdisp', 'mismatch01', 'mismatch02', 'regaut01', 'regbadct', 'unksm2'];

    it('every message that parses is accounted for', () => {
      assert.equal(parseable.length, 41);
      const other = parseable.filter((f) => !EXACT.includes(f) && !LENGTH_ONLY.includes(f)).sort();
      // Folding, compact or odd-case names, LWS around ":", no Content-Length, trailing octets:
      assert.deepEqual(other, ['baddn-complete', 'badvers', 'dblreq', 'esc01', 'intmeth', 'inv2543', 'longreq', 'multi01', 'regescrt', 'scalar02', 'semiuri', 'transports', 'wsinv']);
    });

    for (const f of parseable) {
      it(`${f}: parse(serialize(parse(x))) has the same start line, headers and body`, () => {
        const input = f === 'baddn-complete' ? Buffer.concat([load('baddn'), Buffer.from('\r\n')]) : load(f);
        const first = parseMessage(input);
        const out = serializeMessage(first);
        const second = parseMessage(out);
        assert.equal(second.kind, first.kind);
        if (first.kind === 'request') {
          assert.equal((second as SipRequest).method, first.method);
          assert.equal((second as SipRequest).uri, first.uri);
        } else {
          assert.equal((second as SipResponse).status, first.status);
          assert.equal((second as SipResponse).reason, first.reason);
        }
        assert.equal(second.version, first.version);
        const noLength = (m: SipMessage) => m.headers.all().filter((h) => h.name !== 'Content-Length').map((h) => [h.name, h.value]);
        assert.deepEqual(noLength(second), noLength(first));
        assert.equal(second.headers.get('Content-Length'), String(first.body.length));
        assert.deepEqual(second.body, first.body);
        assert.deepEqual(serializeMessage(second), out); // a fixed point after one pass
        if (EXACT.includes(f)) assert.deepEqual(out, input);
        else if (LENGTH_ONLY.includes(f)) {
          const expected = input.toString('latin1').replace(/\r\n(?:l|content-length)[ \t]*:[ \t]*(\d+)\r\n/i, '\r\nContent-Length: $1\r\n');
          assert.notDeepEqual(out, input);
          assert.equal(out.toString('latin1'), expected);
        } else assert.notDeepEqual(out, input);
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

const REGISTER = [
  'REGISTER sip:registrar.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: "Jan" <sip:111@example.com>',
  'From: "Jan" <sip:111@example.com>;tag=456248',
  'Call-ID: 843817637684230@998sdasdh09',
  'CSeq: 1826 REGISTER',
  'Contact: <sip:111@192.0.2.10:5060>;expires=3600',
  'Content-Length: 0',
];

/** Our REGISTER with header lines replaced (name -> line, or null to remove) or added. */
function register(changes: Record<string, string | null> = {}, body = '', start = REGISTER[0]!): Buffer {
  const lines = [start];
  const done = new Set<string>();
  for (const line of REGISTER.slice(1)) {
    const name = line.slice(0, line.indexOf(':'));
    if (name in changes) {
      done.add(name);
      if (changes[name] !== null) lines.push(changes[name]!);
    } else lines.push(line);
  }
  for (const [name, line] of Object.entries(changes)) if (!done.has(name) && line !== null) lines.push(line);
  return msg(lines, body);
}

/** Everything a server would call on what it received; only the codec's own errors may come out. */
function exercise(buf: Buffer): void {
  let m: SipMessage;
  try {
    m = parseMessage(buf);
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    replyHeaders(err);
    return;
  }
  const again = parseMessage(serializeMessage(m));
  assert.deepEqual(again.body, m.body);
  const tryAll = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!isCodecError(err)) throw err;
    }
  };
  tryAll(() => essentials(m));
  if (m.kind === 'request') {
    tryAll(() => parseUri(m.uri));
    tryAll(() => serializeMessage(responseTo(m, 400)));
  }
  for (const { name, value } of m.headers.all()) {
    tryAll(() => m.headers.values(name));
    if (name === 'Via') tryAll(() => listValues(value).forEach(parseVia));
    if (['Contact', 'Route', 'Record-Route'].includes(name)) tryAll(() => listValues(value).forEach((v) => formatNameAddr(parseNameAddr(v))));
    if (name === 'From' || name === 'To') {
      tryAll(() => parseNameAddr(value));
      tryAll(() => parseAddress(value));
    }
    if (name === 'CSeq') tryAll(() => parseCSeq(value));
    if (name === 'Max-Forwards') tryAll(() => parseMaxForwards(value));
    if (name === 'Date') tryAll(() => parseSipDate(value));
  }
}

/** Deterministic pseudo-random numbers (mulberry32). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('malformed messages of our own', () => {
  it('the end of the headers is the first LF followed by CRLF or LF, from any start: 20,000 random byte strings of CR, LF and x', () => {
    // The definition, byte by byte, against the searches headerEnd makes.
    const reference = (buf: Buffer, from: number) => {
      for (let i = from; i < buf.length - 1; i++) {
        if (buf[i] !== 0x0a) continue;
        if (buf[i + 1] === 0x0a) return { end: i, bodyStart: i + 2 };
        if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { end: i, bodyStart: i + 3 };
      }
      return undefined;
    };
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    let found = 0;
    for (let n = 0; n < 20_000; n++) {
      const buf = Buffer.from(Array.from({ length: Math.floor(random() * 12) }, () => [0x0d, 0x0a, 0x78][Math.floor(random() * 3)]!));
      const from = Math.floor(random() * (buf.length + 1));
      const want = reference(buf, from);
      if (want) found++;
      assert.deepEqual(headerEnd(buf, from), want, `${JSON.stringify(buf.toString('latin1'))} from ${from}`);
    }
    assert.ok(found > 2000, `${found} with an end`);
  });

  it('our REGISTER is valid and round-trips byte for byte', () => {
    const buf = register();
    const m = request(buf);
    const e = essentials(m);
    assert.equal(e.fromTag, '456248');
    assert.equal(e.toTag, undefined);
    assert.deepEqual(serializeMessage(m), buf);
  });

  it('truncated at every position: SipParseError only; answerable once the Via line is whole', () => {
    const buf = register();
    const viaLineEnd = buf.indexOf('\r\n', buf.indexOf('Via:')) + 2;
    let answerable = 0;
    for (let n = 0; n < buf.length; n++) {
      const cut = buf.subarray(0, n);
      let err: unknown;
      try {
        parseMessage(cut);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SipParseError, `prefix of ${n} bytes: ${String(err)}`);
      const reply = replyHeaders(err);
      const atLineEnd = n >= 2 && cut[n - 1] === 0x0a;
      // A reply only from whole lines, once the top Via is among them.
      assert.equal(reply !== undefined, atLineEnd && n >= viaLineEnd, `prefix of ${n} bytes`);
      if (reply) answerable++;
    }
    assert.equal(answerable, 8); // after the Via line and after each of the 7 lines that follow it
    assert.ok(parseMessage(buf));
  });

  it('a truncated body: 400, since the headers are whole', () => {
    const full = msg([...REGISTER.slice(0, -1), 'Content-Type: text/plain', 'Content-Length: 11'], 'hello world');
    for (let cut = 1; cut <= 11; cut++) {
      const { err } = refusal(full.subarray(0, full.length - cut));
      assert.match(err.message, new RegExp(`Content-Length 11 but only ${11 - cut} bytes follow`));
      assert.ok(replyHeaders(err));
    }
  });

  const CASES: Array<{ name: string; buf: Buffer; answer: 400 | 'drop'; error: RegExp }> = [
    { name: 'an empty datagram', buf: Buffer.alloc(0), answer: 'drop', error: /empty message/ },
    { name: 'only CRLFs (keep-alives)', buf: Buffer.from('\r\n\r\n\r\n\r\n'), answer: 'drop', error: /empty message/ },
    { name: 'Content-Length larger than the data', buf: register({ 'Content-Length': 'Content-Length: 40' }, 'short'), answer: 400, error: /Content-Length 40 but only 5 bytes/ },
    { name: 'negative Content-Length', buf: register({ 'Content-Length': 'Content-Length: -1' }), answer: 400, error: /bad Content-Length "-1"/ },
    { name: 'huge Content-Length', buf: register({ 'Content-Length': 'Content-Length: 99999999999999999999' }), answer: 400, error: /bad Content-Length/ },
    { name: 'Content-Length above the body limit', buf: register({ 'Content-Length': `Content-Length: ${LIMITS.bodyBytes + 1}` }), answer: 400, error: /body longer than/ },
    { name: 'non-numeric Content-Length ("five", RFC 4475 §3.1.2.3)', buf: register({ 'Content-Length': 'Content-Length: five' }), answer: 400, error: /bad Content-Length "five"/ },
    { name: 'Content-Length "5, 5"', buf: register({ 'Content-Length': 'Content-Length: 5, 5' }, '12345'), answer: 400, error: /bad Content-Length/ },
    { name: 'Content-Length twice, even equal', buf: register({ 'Content-Length': 'Content-Length: 0', X: 'l: 0' }), answer: 400, error: /2 Content-Length headers/ },
    { name: 'a header line without colon', buf: register({ X: 'This line has no colon' }), answer: 400, error: /not a header line/ },
    { name: 'a header name with a space', buf: register({ X: 'Bad Name: value' }), answer: 400, error: /bad header name "Bad Name"/ },
    { name: 'a line starting with ":"', buf: register({ X: ': no name' }), answer: 400, error: /not a header line/ },
    { name: 'a continuation line right after the start line', buf: msg([REGISTER[0]!, ' folded start', ...REGISTER.slice(1)]), answer: 400, error: /continuation line before any header/ },
    { name: 'a NUL in the Request-URI', buf: register({}, '', 'REGISTER sip:regi\x00strar.example.com SIP/2.0'), answer: 400, error: /control character in the start line/ },
    { name: 'a NUL in the reason phrase', buf: msg(['SIP/2.0 200 O\x00K', ...REGISTER.slice(1)]), answer: 'drop', error: /control character/ },
    { name: 'a request line of 2 parts', buf: register({}, '', 'REGISTER sip:registrar.example.com'), answer: 400, error: /bad request line/ },
    { name: 'a request line of 4 parts', buf: register({}, '', 'REGISTER sip:registrar.example.com SIP/2.0 extra'), answer: 400, error: /bad request line/ },
    { name: 'a Request-URI without scheme', buf: register({}, '', 'REGISTER registrar.example.com SIP/2.0'), answer: 400, error: /bad Request-URI/ },
    { name: 'a method with a non-token character', buf: register({}, '', 'REG<ISTER sip:registrar.example.com SIP/2.0'), answer: 400, error: /bad method/ },
    { name: 'a version that is not SIP/n.n', buf: register({}, '', 'REGISTER sip:registrar.example.com HTTP/1.1'), answer: 400, error: /bad SIP version/ },
    { name: 'status code 99', buf: msg(['SIP/2.0 99 Too Small', ...REGISTER.slice(1)]), answer: 'drop', error: /bad status line/ },
    { name: 'status code 700', buf: msg(['SIP/2.0 700 Too Big', ...REGISTER.slice(1)]), answer: 'drop', error: /status code 700 out of range/ },
    { name: 'status code 2000', buf: msg(['SIP/2.0 2000 Four Digits', ...REGISTER.slice(1)]), answer: 'drop', error: /bad status line/ },
    { name: 'status line without code', buf: msg(['SIP/2.0 OK', ...REGISTER.slice(1)]), answer: 'drop', error: /bad status line/ },
    { name: '100 kB of headers', buf: register({ X: `X-Big: ${'a'.repeat(100 * 1024)}` }), answer: 'drop', error: /headers longer than 16384 bytes/ },
    { name: `${LIMITS.headerLines + 1} header lines`, buf: msg([...REGISTER.slice(0, -1), ...Array.from({ length: LIMITS.headerLines }, (_, i) => `X-H${i}: ${i}`), 'Content-Length: 0']), answer: 'drop', error: /more than 200 header lines/ },
    { name: 'a body over the limit without Content-Length', buf: register({ 'Content-Length': null }, 'x'.repeat(LIMITS.bodyBytes + 1)), answer: 400, error: /body longer than/ },
    { name: 'a Via with a bad host', buf: register({ Via: 'Via: SIP/2.0/UDP exa_mple.com;branch=z9hG4bKx' }), answer: 'drop', error: /bad Via sent-by: bad host "exa_mple.com"/ },
    { name: 'a Via without sent-by', buf: register({ Via: 'Via: SIP/2.0/UDP ;branch=z9hG4bKx' }), answer: 'drop', error: /bad Via/ },
    { name: 'a Via with a port above 65535', buf: register({ Via: 'Via: SIP/2.0/UDP 192.0.2.1:70000;branch=z9hG4bKx' }), answer: 'drop', error: /bad port/ },
    { name: 'a Via with an unterminated quote (its sent-by is readable)', buf: register({ Via: 'Via: SIP/2.0/UDP 192.0.2.1;branch="z9hG4bKx' }), answer: 400, error: /unterminated quoted string/ },
    { name: 'a Via with a space inside the host', buf: register({ Via: 'Via: SIP/2.0/UDP 192.0 .2.1;branch=z9hG4bKx' }), answer: 'drop', error: /bad Via sent-by/ },
    { name: 'a second Via that is bad (the top one is fine)', buf: register({ Via: 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa, SIP/2.0/UDP bad_host' }), answer: 400, error: /bad host/ },
    { name: 'no Via at all', buf: register({ Via: null }), answer: 'drop', error: /missing Via/ },
    { name: 'a response without Via', buf: msg(['SIP/2.0 200 OK', ...REGISTER.slice(2)]), answer: 'drop', error: /missing Via/ },
    { name: 'CSeq 2**31', buf: register({ CSeq: `CSeq: ${2 ** 31} REGISTER` }), answer: 400, error: /above 2\*\*31 - 1/ },
    { name: 'CSeq without method', buf: register({ CSeq: 'CSeq: 1826' }), answer: 400, error: /bad CSeq/ },
    { name: 'two To headers', buf: register({ X: 'To: <sip:222@example.com>' }), answer: 400, error: /To given more than once/ },
    { name: 'a From tag after an unterminated quote', buf: register({ From: 'From: "Jan <sip:111@example.com>;tag=1' }), answer: 400, error: /display name needs <uri>/ },
    { name: 'From "*"', buf: register({ From: 'From: *' }), answer: 400, error: /"\*" is not an address/ },
    { name: 'a Request-URI with a bad host', buf: register({}, '', 'REGISTER sip:registrar..example.com SIP/2.0'), answer: 400, error: /bad host/ },
    { name: 'a Request-URI with an unbracketed IPv6 address (RFC 5118 §4.2)', buf: register({}, '', 'REGISTER sip:2001:db8::10 SIP/2.0'), answer: 400, error: /bad (host|port)/ },
  ];

  for (const c of CASES) {
    it(`${c.name}: ${c.answer === 400 ? '400' : 'dropped'}`, () => {
      const { err } = refusal(c.buf);
      assert.match(err.message, c.error);
      assert.equal(replyHeaders(err) !== undefined, c.answer === 400);
    });
  }

  it('there are at least 25 malformed cases', () => {
    assert.ok(CASES.length >= 25, String(CASES.length));
  });

  it('a message with no closing blank line over a stream is not answered from a partial', () => {
    const buf = Buffer.from(`${REGISTER.join('\r\n')}\r\n`);
    assert.ok(replyHeaders(refusal(buf).err)); // datagram: the lines are whole
    let err: unknown;
    try {
      parseMessage(buf, { stream: true });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof SipParseError);
    assert.equal(replyHeaders(err), undefined);
  });

  it('no Content-Length on a stream: refused; on a datagram the body is the rest', () => {
    const buf = register({ 'Content-Length': null }, 'abc');
    assert.throws(() => parseMessage(buf, { stream: true }), /no Content-Length on a stream/);
    assert.equal(parseMessage(buf).body.toString(), 'abc');
  });

  it('SIP/3.0: parses with the version exposed (the server answers 505)', () => {
    const m = request(register({}, '', 'REGISTER sip:registrar.example.com SIP/3.0'));
    assert.equal(m.version, 'SIP/3.0');
    essentials(m);
    assert.equal(request(register({}, '', 'REGISTER sip:registrar.example.com sip/2.0')).version, 'SIP/2.0');
  });

  it('a Via without branch parses (RFC 2543 peers)', () => {
    const e = essentials(request(register({ Via: 'Via: SIP/2.0/UDP 192.0.2.10' })));
    assert.equal(e.vias[0]!.host, '192.0.2.10');
    assert.equal(e.vias[0]!.params.size, 0);
  });

  it('leading CRLFs and LF-only line ends are accepted', () => {
    const crlf = register();
    assert.equal(request(Buffer.concat([Buffer.from('\r\n\r\n'), crlf])).method, 'REGISTER');
    const lf = Buffer.from(crlf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    assert.equal(essentials(request(lf)).callId, '843817637684230@998sdasdh09');
  });

  it('Contact "*" and a Contact list', () => {
    const star = request(register({ Contact: 'Contact: *', X: 'Expires: 0' }));
    assert.deepEqual(star.headers.values('Contact'), ['*']);
    const s = parseNameAddr('*');
    assert.equal(s.star, true);
    assert.equal(s.params.size, 0);
    const list = request(register({ Contact: 'Contact: <sip:a@b>, <sip:c@d>;expires=5' }));
    const values = list.headers.values('Contact');
    assert.equal(values.length, 2);
    assert.deepEqual(values.map((v) => parseNameAddr(v).uri.host), ['b', 'd']);
    assert.equal(parseNameAddr(values[1]!).params.get('expires'), '5');
    assert.equal(parseNameAddr(values[0]!).params.has('expires'), false);
  });

  it('one value per line or several in one line: the same values()', () => {
    const split = request(register({ X: 'Route: <sip:p1.example.com;lr>', Y: 'Route: <sip:p2.example.com;lr>', Z: 'Route: "Proxy, three" <sip:p3.example.com;lr>' }));
    const joined = request(register({ X: 'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>,"Proxy, three" <sip:p3.example.com;lr>' }));
    assert.deepEqual(split.headers.values('Route'), joined.headers.values('Route'));
    assert.equal(joined.headers.values('Route').length, 3);
    assert.equal(split.headers.lines('Route').length, 3);
    assert.equal(joined.headers.lines('Route').length, 1);
    // Not a list header: a comma stays inside the one value.
    assert.deepEqual(request(register({ X: 'Subject: one, two' })).headers.values('Subject'), ['one, two']);
  });

  it('quoted strings with escaped quotes and commas inside are not split', () => {
    const value = '"Smith, \\"Bob\\", Jr." <sip:bob@b.example.com>;tag=1, <sip:carol@c.example.com>';
    assert.deepEqual(splitOutside(value, ','), ['"Smith, \\"Bob\\", Jr." <sip:bob@b.example.com>;tag=1', ' <sip:carol@c.example.com>']);
    const [bob] = listValues(value);
    assert.equal(parseNameAddr(bob!).displayName, 'Smith, "Bob", Jr.');
    assert.deepEqual(splitOutside('<sip:a@b;x=1,2>;p="a;b";q', ';'), ['<sip:a@b;x=1,2>', 'p="a;b"', 'q']);
    assert.throws(() => splitOutside('"unterminated, value', ','), HeaderError);
    assert.throws(() => request(register({ X: 'Route: "a, <sip:p1.example.com>' })).headers.values('Route'), HeaderError);
  });

  it('IPv6 references in the Request-URI, Via and Contact', () => {
    const m = request(register(
      { Via: 'Via: SIP/2.0/UDP [2001:db8::10]:5070;branch=z9hG4bKv6;received=[2001:db8::9:255]', Contact: 'Contact: "Caller" <sip:caller@[2001:db8::1]:5070;transport=tcp>' },
      '',
      'REGISTER sip:[2001:db8::10]:5070 SIP/2.0',
    ));
    const e = essentials(m);
    assert.equal(e.vias[0]!.host, '[2001:db8::10]');
    assert.equal(e.vias[0]!.port, 5070);
    assert.equal(e.vias[0]!.params.get('received'), '[2001:db8::9:255]');
    const ruri = parseUri(m.uri);
    assert.deepEqual([ruri.host, ruri.port], ['[2001:db8::10]', 5070]);
    const contact = parseNameAddr(m.headers.get('Contact')!).uri;
    assert.deepEqual([contact.host, contact.port, contact.params.get('transport')], ['[2001:db8::1]', 5070, 'tcp']);
    assert.deepEqual(serializeMessage(m), register(
      { Via: 'Via: SIP/2.0/UDP [2001:db8::10]:5070;branch=z9hG4bKv6;received=[2001:db8::9:255]', Contact: 'Contact: "Caller" <sip:caller@[2001:db8::1]:5070;transport=tcp>' },
      '',
      'REGISTER sip:[2001:db8::10]:5070 SIP/2.0',
    ));
    assert.throws(() => parseVia('SIP/2.0/UDP [2001:db8::10:5070'), HeaderError);
  });

  it('URI parameters and headers: sip:alice@atlanta.com;transport=tcp?subject=project', () => {
    const m = request(register({}, '', 'INVITE sip:alice@atlanta.com;transport=tcp?subject=project SIP/2.0'));
    const uri = parseUri(m.uri);
    assert.deepEqual([uri.user, uri.host, uri.params.get('transport'), uri.headers], ['alice', 'atlanta.com', 'tcp', 'subject=project']);
    // A Request-URI may not carry headers (RFC 3261 §19.1.1): essentials refuses it.
    assert.throws(() => essentials(m), /headers in the Request-URI|CSeq method/);
    const r = request(register({ Contact: 'Contact: <sip:alice@atlanta.com;transport=tcp?subject=project>' }));
    assert.equal(parseNameAddr(r.headers.get('Contact')!).uri.headers, 'subject=project');
  });

  it('tel: URIs in the Request-URI and To', () => {
    const m = request(register({ To: 'To: <tel:+1-201-555-0123>' }, '', 'REGISTER tel:+1-201-555-0123;phone-context=example.com SIP/2.0'));
    const e = essentials(m);
    assert.equal(parseNameAddr(e.to).uri.user, '+1-201-555-0123');
    const ruri = parseUri(m.uri);
    assert.equal(ruri.scheme, 'tel');
    assert.equal(ruri.params.get('phone-context'), 'example.com');
  });

  it('random damage to every torture message never throws anything but the codec\'s errors', () => {
    const random = prng(4475);
    const files = readdirSync(DIR).filter((f) => f.endsWith('.dat'));
    const junk = ['\r\n', '\r\n ', '"', '\\', '<', '>', ';', ',', ':', '=', '%', '%0', '\x00', '[', ']', '@', '?', ' ', '\t', '\xff', 'SIP/2.0 '];
    let refused = 0;
    let runs = 0;
    for (const f of files) {
      const original = readFileSync(`${DIR}${f}`).toString('latin1');
      for (let i = 0; i < 150; i++) {
        let s = original;
        for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
          const at = Math.floor(random() * s.length);
          const op = random();
          if (op < 0.4) s = s.slice(0, at) + junk[Math.floor(random() * junk.length)] + s.slice(at);
          else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(random() * 8));
          else if (op < 0.9) s = s.slice(0, at) + String.fromCharCode(Math.floor(random() * 256)) + s.slice(at + 1);
          else s = s.slice(0, at) + s.slice(at, at + 20) + s.slice(at);
        }
        const buf = Buffer.from(s, 'latin1');
        exercise(buf);
        runs++;
        try {
          essentials(parseMessage(buf));
        } catch {
          refused++;
        }
      }
    }
    assert.equal(runs, files.length * 150);
    assert.ok(refused > runs / 4 && refused < runs, `${refused} of ${runs} refused`); // the damage did bite, not always
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('non-ASCII', () => {
  it('a MESSAGE with a UTF-8 body round-trips byte for byte', () => {
    const text = 'Příliš žluťoučký kůň úpěl ďábelské ódy';
    const bodyBytes = Buffer.from(text, 'utf8');
    const buf = Buffer.concat([
      Buffer.from([
        'MESSAGE sip:111@example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKm1',
        'Max-Forwards: 70',
        'To: <sip:111@example.com>',
        'From: <sip:222@example.com>;tag=a1',
        'Call-ID: m1@192.0.2.10',
        'CSeq: 1 MESSAGE',
        'Content-Type: text/plain;charset=UTF-8',
        `Content-Length: ${bodyBytes.length}`,
        '',
        '',
      ].join('\r\n')),
      bodyBytes,
    ]);
    const m = request(buf);
    assert.equal(m.body.toString('utf8'), text);
    assert.equal(m.body.length, 53);
    assert.deepEqual(serializeMessage(m), buf);
  });

  it('a body of every octet 0x00-0xFF round-trips byte for byte', () => {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const buf = Buffer.concat([register({ 'Content-Length': 'Content-Type: application/octet-stream', X: 'Content-Length: 512' }), body]);
    const m = request(buf);
    assert.deepEqual(m.body, body);
    assert.deepEqual(serializeMessage(m), buf);
    // CRLFCRLF inside the body does not end anything.
    const tricky = Buffer.from('\r\n\r\nSIP/2.0 200 OK\r\n\r\n');
    const t = request(Buffer.concat([register({ 'Content-Length': `Content-Length: ${tricky.length}` }), tricky]));
    assert.deepEqual(t.body, tricky);
  });

  it('a UTF-8 display name survives parse and serialize byte for byte', () => {
    const from = octets('From: "Jan Dvořák" <sip:111@example.com>;tag=456248');
    const buf = register({ From: from, To: octets('To: Šárka <sip:222@example.com>') });
    // Šárka unquoted is not an RFC 3261 token, but phones send such names: accepted, kept byte for byte.
    assert.equal(utf8(parseNameAddr(essentials(request(buf)).to).displayName!), 'Šárka');
    assert.throws(() => essentials(request(register({ To: 'To: Jan "x <sip:222@example.com>' }))), /display name|quoted|must be in <>/);
    const ok = register({ From: from });
    const m = request(ok);
    const addr = parseNameAddr(essentials(m).from);
    assert.equal(utf8(addr.displayName!), 'Jan Dvořák');
    assert.deepEqual(serializeMessage(m), ok);
    assert.equal(formatNameAddr(addr), octets('"Jan Dvořák" <sip:111@example.com>;tag=456248'));
  });

  it('UTF-8 whose last octet is 0xA0 (à, Š, Ġ) is not trimmed away as a Latin-1 NBSP', () => {
    // "à" is C3 A0, "Š" is C5 A0: String#trim() would eat the A0 of a value ending with them.
    for (const subject of ['voilà', 'Já jsem Š', 'Ġ']) {
      const buf = register({ X: octets(`Subject: ${subject}`) });
      const m = request(buf);
      assert.equal(utf8(m.headers.get('Subject')!), subject);
      assert.deepEqual(serializeMessage(m), buf);
      const folded = request(register({ X: octets(`Subject: first line\r\n\t${subject}`) }));
      assert.equal(utf8(folded.headers.get('Subject')!), `first line ${subject}`);
    }
    assert.equal(utf8(parseNameAddr(octets('"Ondřej à" <sip:a@b.example.com>')).displayName!), 'Ondřej à');
    assert.equal(utf8(parseParams(octets(';x="à"')).get('x')!), 'à');
  });

  it('a UTF-8 reason phrase is kept', () => {
    const m = response(msg([octets('SIP/2.0 486 Obsazeno – zkuste později'), ...REGISTER.slice(1)]));
    assert.equal(m.status, 486);
    assert.equal(utf8(m.reason), 'Obsazeno – zkuste později');
    assert.deepEqual(serializeMessage(m), msg([octets('SIP/2.0 486 Obsazeno – zkuste později'), ...REGISTER.slice(1)]));
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('header values', () => {
  it('parseNameAddr: name-addr forms', () => {
    const a = parseNameAddr('"Alice Liddell" <sip:alice@atlanta.com;transport=tcp>;tag=1928301774');
    assert.equal(a.displayName, 'Alice Liddell');
    assert.equal(a.uriText, 'sip:alice@atlanta.com;transport=tcp');
    assert.equal(a.uri.params.get('transport'), 'tcp'); // inside <>: the URI's
    assert.deepEqual([...a.params], [['tag', '1928301774']]);
    const b = parseNameAddr('Alice   Liddell <sip:alice@atlanta.com>');
    assert.equal(b.displayName, 'Alice Liddell');
    assert.equal(parseNameAddr('<sip:alice@atlanta.com>').displayName, undefined);
    assert.equal(parseNameAddr('"" <sip:alice@atlanta.com>').displayName, '');
    assert.equal(parseNameAddr('"Bob \\"the\\" Builder" <sip:bob@b.example.com>').displayName, 'Bob "the" Builder');
    assert.equal(parseNameAddr('"<sip:fake@x>" <sip:real@y.example.com>').uri.user, 'real');
  });

  it('parseNameAddr: addr-spec form, where the parameters after the URI are the header\'s', () => {
    const a = parseNameAddr('sip:alice@atlanta.com;transport=tcp;tag=1928301774');
    assert.equal(a.uriText, 'sip:alice@atlanta.com');
    assert.equal(a.uri.params.size, 0);
    assert.deepEqual([...a.params], [['transport', 'tcp'], ['tag', '1928301774']]);
    assert.equal(parseNameAddr('  sip:alice@atlanta.com  ').uriText, 'sip:alice@atlanta.com');
    assert.equal(parseNameAddr('tel:+12125551212;tag=9').params.get('tag'), '9');
  });

  it('parseNameAddr: what the grammar refuses', () => {
    for (const bad of [
      '<sip:alice@atlanta.com', // no ">"
      '"Alice <sip:alice@atlanta.com>', // unterminated quote
      '"Alice" sip:alice@atlanta.com', // display name without <>
      'Bell, Alexander <sip:a.g.bell@example.com>', // RFC 4475 §3.1.2.15
      '"Watson, Thomas" < sip:t.watson@example.org >', // RFC 4475 §3.1.2.14
      'sip:user@example.com?Route=%3Csip:sip.example.com%3E', // RFC 4475 §3.1.2.13
      'sip:alice@atlanta.com, sip:bob@biloxi.com', // a list is not one address
      '<sip:alice@atlanta.com> junk',
      '<sip:alice@atlanta.com>;;tag=1', // RFC 4475 §3.1.2.1
      '<sip:alice@atlanta.com>;tag=1;',
      '<sip:alice@atlanta.com>;ta g=1',
      '<>',
      '<http://www.example.com>', // another scheme: parseAddress takes it
      '',
    ]) {
      assert.throws(() => parseNameAddr(bad), HeaderError, bad);
    }
    assert.equal(parseAddress('<http://www.example.com>;tag=3234233').scheme, 'http');
    assert.throws(() => parseAddress('<not a uri>'), HeaderError);
    assert.throws(() => parseAddress('<sip:bad host>'), HeaderError);
  });

  it('parseVia: the usual `SIP/2.0/UDP ` start reads as the general form does', () => {
    // The usual start is read without the pattern; spaces around the slashes take the general way: same result.
    for (const rest of ['10.0.0.5:5062;branch=z9hG4bK-1;rport', 'h.example.com;branch=z9hG4bK-2', '[2001:db8::1]:5060;received=10.0.0.1', 'a.b : 5070 ;branch=x', '  10.0.0.5;rport=5']) {
      for (const transport of ['UDP', 'TCP', 'TLS']) {
        const usual = parseVia(`SIP/2.0/${transport} ${rest}`);
        assert.deepEqual(usual, parseVia(`SIP / 2.0 / ${transport} ${rest}`), rest);
        assert.equal(usual.protocol, 'SIP/2.0');
        assert.equal(usual.transport, transport);
      }
    }
    assert.equal(parseVia('sip/2.0/udp 10.0.0.5').transport, 'UDP');
    assert.throws(() => parseVia('SIP/2.0/UDP 10.0.0.5 6;branch=x'), /sent-by/);
    assert.throws(() => parseVia('SIP/2.0/UDP '), HeaderError);
  });

  it('parseVia: received and rport', () => {
    const v = parseVia('SIP/2.0/UDP 192.0.2.1:5060;received=198.51.100.7;rport=40123;branch=z9hG4bK776asdhds');
    assert.deepEqual([v.protocol, v.transport, v.host, v.port], ['SIP/2.0', 'UDP', '192.0.2.1', 5060]);
    assert.deepEqual([...v.params], [['received', '198.51.100.7'], ['rport', '40123'], ['branch', 'z9hG4bK776asdhds']]);
    const bare = parseVia('SIP/2.0/TCP client.atlanta.example.com;rport;branch=z9hG4bK74bf9');
    assert.equal(bare.params.get('rport'), null);
    assert.ok(bare.params.has('rport'));
    assert.equal(bare.port, undefined);
    const lower = parseVia('sip/2.0/tls Proxy.Example.COM : 5061 ; branch = z9hG4bKa');
    assert.deepEqual([lower.protocol, lower.transport, lower.host, lower.port, lower.params.get('branch')], ['SIP/2.0', 'TLS', 'proxy.example.com', 5061, 'z9hG4bKa']);
    for (const bad of ['SIP/2.0 192.0.2.1', 'SIP/2.0/UDP', 'SIP/2.0/UDP 192.0.2.1:port', 'SIP/2.0/UDP 192.0.2.256', 'SIP/2.0/UDP 192.0.2.1;;branch=x', 'SIP/2.0/UDP a b']) {
      assert.throws(() => parseVia(bad), HeaderError, bad);
    }
  });

  it('parseCSeq: the number is below 2**31', () => {
    assert.deepEqual(parseCSeq('0 INVITE'), { seq: 0, method: 'INVITE' });
    assert.deepEqual(parseCSeq(`${2 ** 31 - 1} ACK`), { seq: 2 ** 31 - 1, method: 'ACK' });
    assert.deepEqual(parseCSeq('  0009 \t INVITE  '), { seq: 9, method: 'INVITE' });
    for (const bad of [`${2 ** 31} INVITE`, `${2 ** 32} INVITE`, '36893488147419103232 REGISTER', '-1 INVITE', '1', 'INVITE', '1 INV ITE', '1.5 INVITE', '']) {
      assert.throws(() => parseCSeq(bad), HeaderError, bad);
    }
  });

  it('parseMaxForwards and parseSipDate', () => {
    assert.equal(parseMaxForwards('70'), 70);
    assert.equal(parseMaxForwards('0068'), 68);
    assert.equal(parseMaxForwards('255'), 255);
    for (const bad of ['256', '300', '-1', 'seventy', '', '7 0']) assert.throws(() => parseMaxForwards(bad), HeaderError, bad);
    assert.equal(parseSipDate('Sat, 13 Nov 2010 23:29:00 GMT').getTime(), Date.UTC(2010, 10, 13, 23, 29, 0));
    for (const bad of ['Sat, 13 Nov 2010 23:29:00 UTC', 'Fri, 13 Nov 2010 23:29:00 GMT', 'Sat, 31 Nov 2010 23:29:00 GMT', 'Sat, 13 Nov 2010 24:00:00 GMT', '13 Nov 2010']) {
      assert.throws(() => parseSipDate(bad), HeaderError, bad);
    }
  });

  it('readHead reads plain header lines as the general reader does, folded and broken ones included', () => {
    const rng = new Rng(4242);
    const next = (n: number): number => rng.int(n);
    const lines = ['Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-1', 'v:SIP/2.0/UDP h', 'From : <sip:1@h>;tag=1', 'To:\t<sip:1@h> ', 'Call-ID: a@b', 'CSeq: 1 REGISTER',
      'X-Empty:', 'Subject: a: b', 'User-Agent: Well SIP-T26P \xe9\r', 'i:x'];
    const odd = [' folded', '\tfolded', '', 'no colon', ':no name', 'bad name: x', 'Na\x00me: x', 'X:\r', ' : x'];
    const outcome = (f: () => { startLine: string; headers: Headers; errors: string[] }): string => {
      try {
        const r = f();
        return JSON.stringify([r.startLine, r.headers.all(), r.errors]);
      } catch (err) {
        return `${(err as Error).constructor.name}: ${(err as Error).message}`;
      }
    };
    let clean = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = next(8);
      const parts = ['REGISTER sip:h SIP/2.0'];
      for (let k = 0; k < n; k++) parts.push(next(6) === 0 ? odd[next(odd.length)]! : lines[next(lines.length)]!);
      let head = parts.join(next(5) === 0 ? '\n' : '\r\n');
      if (next(20) === 0) head += '\n';
      const general = outcome(() => readHeadGeneral(head));
      assert.equal(outcome(() => readHead(head)), general, JSON.stringify(head));
      if (general.endsWith(',[]]')) clean++;
    }
    assert.ok(clean > 5_000, `only ${clean} heads without errors: the comparison would say little`);
    const many = ['OPTIONS sip:h SIP/2.0', ...Array.from({ length: LIMITS.headerLines + 1 }, (_, k) => `X-${k}: ${k}`)].join('\r\n');
    assert.throws(() => readHead(many), /more than 200 header lines/);
  });

  it('parseParams reads the usual form as the general reader does, accepted or refused, and shares one map for none', () => {
    const rng = new Rng(99);
    const next = (n: number): number => rng.int(n);
    const pieces = [';', ';', ';', 'tag', 'branch', 'z9hG4bK-77', 'rport', 'RPort', 'expires', '=', '=', '3600', 'q', '0.5', ' ', '\t', '"', '"a;b"',
      ',', '<', '>', '\\', '\xe9', '\x00', 'lr', '%41', 'a=b=c', '~', '@'];
    const outcome = (f: () => ReadonlyMap<string, string | null>): string => {
      try {
        return JSON.stringify([...f()]);
      } catch (err) {
        return `${(err as Error).constructor.name}: ${(err as Error).message}`;
      }
    };
    let accepted = 0;
    for (let i = 0; i < 30_000; i++) {
      // Parameters as phones write them, with now and then an odd piece in or instead of one of their parts.
      let s = '';
      const odd = (usual: string): string => (next(8) === 0 ? pieces[next(pieces.length)]! : usual);
      const n = 1 + next(4);
      for (let k = 0; k < n; k++) {
        s += odd(';') + odd(['tag', 'branch', 'rport', 'RPort', 'expires', 'q', 'lr', 'x~y'][next(8)]!);
        if (next(3) > 0) s += odd('=') + odd(['1234', 'z9hG4bK-77', '3600', '0.5', '', 'a=b', 'sip:x@y', '\\'][next(8)]!);
      }
      if (next(10) === 0) s += odd(';');
      const general = outcome(() => parseParamsGeneral(s));
      assert.equal(outcome(() => parseParams(s)), general, JSON.stringify(s));
      if (general.startsWith('[')) accepted++;
    }
    assert.ok(accepted > 3_000, `only ${accepted} accepted: the comparison would say little`);
    assert.equal(parseParams(''), NO_PARAMS);
    assert.equal(parseUri('sip:111@10.0.0.1').params, NO_PARAMS);
    assert.throws(() => (NO_PARAMS as Map<string, string | null>).set('x', 'y'), TypeError);
    assert.equal(NO_PARAMS.size, 0);
  });

  it('parseParams and unquote', () => {
    assert.deepEqual([...parseParams(';a=1;B;c="x;y, z";d=')], [['a', '1'], ['b', null], ['c', 'x;y, z'], ['d', '']]);
    assert.deepEqual([...parseParams(' ; a = 1 ')], [['a', '1']]);
    assert.equal(parseParams(';a=1;a=2').get('a'), '1'); // the first one counts
    for (const bad of [';;a', ';a;', 'x;a', ';a b=1', ';a=b c', ';a="x']) assert.throws(() => parseParams(bad), HeaderError, bad);
    assert.equal(unquote('"a\\"b\\\\c"'), 'a"b\\c');
    assert.equal(unquote('  token  '), 'token');
    for (const bad of ['"abc', '"a"b"', '"a" b', '"a\\']) assert.throws(() => unquote(bad), HeaderError, bad);
  });

  it('canonicalName: compact forms and case', () => {
    assert.deepEqual(['i', 'M', 'l', 'C', 'v', 'S', 'k', 'call-id', 'CSEQ', 'www-authenticate', 'X-Custom'].map(canonicalName),
      ['Call-ID', 'Contact', 'Content-Length', 'Content-Type', 'Via', 'Subject', 'Supported', 'Call-ID', 'CSeq', 'WWW-Authenticate', 'X-Custom']);
  });

  it('Headers: get, lines, values, set, prepend, remove, clone', () => {
    const h = new Headers().add('v', 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2').add('Via', 'SIP/2.0/UDP c;branch=z9hG4bK3');
    assert.equal(h.lines('VIA').length, 2);
    assert.equal(h.values('via').length, 3);
    h.prepend('Via', 'SIP/2.0/UDP p;branch=z9hG4bK0');
    assert.match(h.get('Via')!, / p;/);
    const copy = h.clone();
    h.set('Via', 'SIP/2.0/UDP only;branch=z9hG4bK9');
    assert.equal(h.values('Via').length, 1);
    assert.equal(copy.values('Via').length, 4);
    h.remove('v');
    assert.equal(h.has('Via'), false);
  });

  it('responseTo: Via, From, Call-ID, CSeq copied; To tagged above 100; Timestamp echoed by 100', () => {
    const req = request(register({ X: 'Timestamp: 54' }));
    const trying = responseTo(req, 100);
    assert.equal(trying.reason, 'Trying');
    assert.equal(trying.headers.get('To'), '"Jan" <sip:111@example.com>');
    assert.equal(trying.headers.get('Timestamp'), '54');
    const ok = responseTo(req, 200, undefined, { toTag: 'srv1' });
    assert.equal(ok.reason, 'OK');
    assert.equal(ok.headers.get('To'), '"Jan" <sip:111@example.com>;tag=srv1');
    assert.equal(ok.headers.has('Timestamp'), false);
    assert.deepEqual(ok.headers.all().map((x) => x.name), ['Via', 'From', 'To', 'Call-ID', 'CSeq']);
    const parsed = response(serializeMessage(ok));
    assert.equal(essentials(parsed).toTag, 'srv1');
    const tagged = request(register({ To: 'To: <sip:111@example.com>;tag=old' }));
    assert.equal(responseTo(tagged, 486, 'Busy', { toTag: 'new' }).headers.get('To'), '<sip:111@example.com>;tag=old');
  });
});
