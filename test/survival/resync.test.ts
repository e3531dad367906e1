/**
 * `device resync`: NOTIFY check-sync to a device's registered contact, over the API (through the running SIP
 * service) and from the CLI (its own socket), with a fake phone (a UDP socket) that answers as a phone would.
 */
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { serve, type RunningOutpost } from '../../src/app/serve.js';
import { resyncDevice } from '../../src/app/resync.js';
import { parseMessage, serializeMessage, responseTo, type SipRequest } from '../../src/sip/message.js';
import type { Mac } from '../../src/net/mac.js';

const MAC = '001565aabb01' as Mac;

describe('device resync (NOTIFY check-sync)', function () {
  this.timeout(30_000);
  let dir: string;
  let running: RunningOutpost;
  let phone: Socket;
  let answer: number | undefined = 200;
  const received: SipRequest[] = [];
  const api = async (method: string, path: string) => {
    const res = await fetch(`http://127.0.0.1:${running.httpPort}/api/v1${path}`, { method, headers: { authorization: `Basic ${Buffer.from('admin:resync-admin-pw').toString('base64')}` } });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-resync-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'site.json'), JSON.stringify({
      admin: { password: 'resync-admin-pw' },
      lines: [{ ext: '111', name: 'Jan', user: '420234567111', password: 'pw111secret' }],
      devices: [{ mac: '00:15:65:aa:bb:01', model: 'SIP-T22P', lines: ['111'] }, { mac: '00:15:65:aa:bb:02', model: 'SIP-T22P' }],
    }));
    phone = createSocket('udp4');
    phone.on('message', (buf, rinfo) => {
      const msg = parseMessage(buf);
      if (msg.kind !== 'request') return;
      received.push(msg);
      if (answer !== undefined) phone.send(serializeMessage(responseTo(msg, answer, undefined, { toTag: 'ph' })), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => phone.bind(0, '127.0.0.1', () => r()));
    running = await serve({
      dataDir: join(dir, 'data'), firmwareDir: join(dir, 'fw'), configFile: join(dir, 'site.json'), log: silentLogger,
      bind: '127.0.0.1', advertise: '127.0.0.1', httpPort: 0, tftpPort: 0, sipPort: 0, dhcpPort: 0,
      tftp: false, sip: true, dhcp: false, mdns: false, out: () => {},
    });
    // What the registrar stores when the phone registers: its contact, where it came from, its device.
    const port = phone.address().port;
    const now = Date.now();
    await running.outpost.store.bindings.apply([{ aor: '420234567111', contact: `sip:420234567111@127.0.0.1:${port}`, callId: 'x', cseq: 1, expiresAt: now + 600_000, source: `udp:127.0.0.1:${port}`, mac: MAC, updatedAt: now }], []);
  });
  after(async () => {
    phone?.close();
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the API sends NOTIFY Event: check-sync to the registered contact and reports the 200', async () => {
    const r = await api('POST', '/devices/00-15-65-AA-BB-01/resync');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual([r.json.answered, r.json.status], [true, 200]);
    assert.match(String(r.json.message), /fetches its files now/);
    const notify = received.at(-1)!;
    assert.equal(notify.method, 'NOTIFY');
    assert.equal(notify.headers.get('Event'), 'check-sync;reboot=false');
    assert.equal(notify.uri, `sip:420234567111@127.0.0.1:${phone.address().port}`);
    const events = await running.outpost.store.events.list({ type: 'device.resync' });
    assert.ok(events.some((e) => e.mac === MAC && /answered 200/.test(e.message)));
  });

  it('a phone that wants authentication for NOTIFY is reported as such; one that does not answer as not answering', async () => {
    answer = 401;
    const asked = await resyncDevice(running.outpost, MAC, { layer: running.sip!.layer, self: () => running.sip!.self() });
    assert.match(asked.text, /wants authentication/);
    answer = undefined;
    const started = Date.now();
    const silent = await resyncDevice(running.outpost, MAC, { layer: running.sip!.layer, self: () => running.sip!.self() }, { deadlineMs: 1500 });
    assert.equal(silent.result.answered, false);
    assert.match(silent.text, /no answer/);
    assert.ok(Date.now() - started < 5000, 'reported without waiting for Timer F');
    answer = 200;
  });

  it('from the CLI code path (its own socket), the phone answers too', async () => {
    const done = await resyncDevice(running.outpost, MAC, undefined, { bind: '127.0.0.1' });
    assert.deepEqual([done.result.answered, done.result.answered && done.result.status], [true, 200]);
  });

  it('a device with no registration, lease or address: a clear 400', async () => {
    const r = await api('POST', '/devices/001565aabb02/resync');
    assert.equal(r.status, 400);
    assert.match(String(r.json.error), /no registration, lease or known address/);
    assert.equal((await api('POST', '/devices/001565aabb99/resync')).status, 404);
  });
});
