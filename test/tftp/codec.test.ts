import { strict as assert } from 'node:assert';
import { parseRequest, requestedTimeout, toNetascii } from '../../src/tftp/codec.js';
import { namespaceName } from '../../src/tftp/server.js';

function rrq(...fields: string[]): Buffer {
  return Buffer.concat([Buffer.from([0, 1]), ...fields.map((f) => Buffer.from(`${f}\0`, 'latin1'))]);
}

describe('TFTP codec', () => {
  it('reads the file, the mode and the options as sent', () => {
    const r = parseRequest(rrq('y000000000005.cfg', 'NetASCII', 'blksize', '1428', 'TSIZE', '0', 'timeout', '2'));
    assert.equal(r?.opcode, 1);
    assert.equal(r?.file, 'y000000000005.cfg');
    assert.equal(r?.mode, 'netascii');
    assert.deepEqual([...r!.options], [['blksize', '1428'], ['tsize', '0'], ['timeout', '2']]);
  });

  it('refuses what is not a well-formed request', () => {
    assert.equal(parseRequest(Buffer.from([0, 3, 0, 1, 65])), undefined, 'a DATA packet');
    assert.equal(parseRequest(Buffer.from([0, 1, 65, 66])), undefined, 'no NUL');
    assert.equal(parseRequest(Buffer.concat([rrq('a', 'octet'), Buffer.from('blksize\0')])), undefined, 'an option without a value');
    assert.equal(parseRequest(Buffer.from([0, 1])), undefined);
  });

  it('converts to netascii so the client gets the original back', () => {
    assert.deepEqual(toNetascii(Buffer.from('a\nb\rc\r\nd')), Buffer.from('a\r\nb\r\0c\r\0\r\nd', 'latin1'));
    const plain = Buffer.from('no newline');
    assert.equal(toNetascii(plain), plain, 'nothing to convert: the same buffer');
  });

  it('takes a timeout of 1 to 255 seconds only', () => {
    assert.equal(requestedTimeout(new Map([['timeout', '2']])), 2);
    for (const bad of ['0', '256', '1.5', '-1', 'x', '']) assert.equal(requestedTimeout(new Map([['timeout', bad]])), undefined, bad);
    assert.equal(requestedTimeout(new Map()), undefined);
  });

  it('maps a leading slash to the namespace root', () => {
    assert.equal(namespaceName('/y000000000005.cfg'), 'y000000000005.cfg');
    assert.equal(namespaceName('y000000000005.cfg'), 'y000000000005.cfg');
    assert.equal(namespaceName('/etc/passwd'), 'etc/passwd', 'still a path: refused by the catalogue');
  });
});
