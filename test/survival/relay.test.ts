/**
 * Outpost is not an open relay: an initial INVITE that names Outpost in a Route header (preloaded outbound
 * proxy, or an attacker) is authenticated like any other call, not forwarded as if it were in a dialog.
 */
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { serve, type RunningOutpost } from '../../src/app/serve.js';
import { parseMessage } from '../../src/sip/message.js';

describe('no open relay', function () {
  this.timeout(20_000);
  let dir: string;
  let running: RunningOutpost;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-relay-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'site.json'), JSON.stringify({ lines: [{ ext: '111', name: 'Jan', user: '420234567111', password: 'pw111secret' }] }));
    running = await serve({
      dataDir: join(dir, 'data'), firmwareDir: join(dir, 'fw'), configFile: join(dir, 'site.json'), log: silentLogger,
      bind: '127.0.0.1', advertise: '127.0.0.1', httpPort: 0, tftpPort: 0, sipPort: 0, dhcpPort: 0,
      tftp: false, sip: true, dhcp: false, mdns: false, out: () => {},
    });
  });
  after(async () => {
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an INVITE with Route: <Outpost;lr> and no credentials gets 407; nothing is forwarded to the victim', async () => {
    const victim = createSocket('udp4');
    let forwarded = 0;
    victim.on('message', () => forwarded++);
    await new Promise<void>((r) => victim.bind(0, '127.0.0.1', () => r()));
    const caller = createSocket('udp4');
    const answers: number[] = [];
    caller.on('message', (buf) => {
      const m = parseMessage(buf);
      if (m.kind === 'response') answers.push(m.status);
    });
    await new Promise<void>((r) => caller.bind(0, '127.0.0.1', () => r()));
    const invite = [
      `INVITE sip:attacker@127.0.0.1:${victim.address().port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.address().port};branch=z9hG4bKrelay1;rport`,
      `Route: <sip:127.0.0.1:${running.sipPort};lr>`,
      'From: <sip:x@evil.example>;tag=1', 'To: <sip:attacker@127.0.0.1>', 'Call-ID: relay-1', 'CSeq: 1 INVITE', 'Max-Forwards: 70', 'Content-Length: 0', '', '',
    ].join('\r\n');
    caller.send(Buffer.from(invite), running.sipPort!, '127.0.0.1');
    const end = Date.now() + 3000;
    while (!answers.some((s) => s >= 200) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(answers.includes(407), `answers: ${answers.join(',')}`);
    assert.equal(forwarded, 0, 'nothing reached the victim');
    caller.close();
    victim.close();
  });
});
