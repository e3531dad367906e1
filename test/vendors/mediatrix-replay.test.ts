/**
 * A Mediatrix's boot, replayed against a real server (HTTP and TFTP on 127.0.0.1, free ports): DHCP gives
 * the unit where its file is (DGW: options 66/67 as URLs with the unit's `%mac%` macro; v5: option 43
 * sub-option 201, a TFTP server); the unit substitutes its MAC (12 uppercase hex digits) and fetches exactly
 * those names, with no User-Agent. Unknown, it is recorded as discovered and served nothing; given a model
 * and lines, the same requests get its file with its credentials, and it becomes `provisioned`.
 */
import { strict as assert } from 'node:assert';
import { Socket } from 'node:net';
import type { Mac } from '../../src/net/mac.js';
import type { ProvisioningLocation } from '../../src/vendors/types.js';
import { createMediatrixPlugin } from '../../src/vendors/mediatrix/index.js';
import { UNVERIFIED } from '../../src/vendors/mediatrix/unverified.js';
import { parseDgwScript } from '../support/mediatrix-script.js';
import { parseV5Xml } from '../support/mediatrix-xml.js';
import { closeAllSockets, tftpGet } from '../tftp/client.js';
import { startServer, type Harness } from '../tftp/harness.js';

const DGW_MAC = '0090f8aabb01';
const V5_MAC = '0090f8aabb02';
const PASSWORD_111 = 'replay-s3cret';
const PASSWORD_112 = 'replay-"quoted"';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A GET as a small embedded HTTP client sends it: request line, Host, nothing else (no User-Agent). */
function unitGet(url: string): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to GET ${url}`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('close', (hadError) => {
      if (hadError) return;
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`not HTTP: ${raw.toString('latin1')}`));
      const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]), headers, body: raw.subarray(split + 4) });
    });
    socket.connect(Number(u.port), u.hostname, () => socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`));
  });
}

/** What the unit does with its macro. */
const expand = (template: string, mac: string) => template.replace('%mac%', mac.toUpperCase());

describe('Mediatrix boot replayed over HTTP and TFTP', function () {
  this.timeout(30_000);
  let h: Harness;
  let where: ProvisioningLocation;
  const plugin = createMediatrixPlugin();

  before(async function () {
    h = await startServer({
      site: {
        site: { name: 'Replay', domain: 'centrex.example.net', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
        upstream: { proxy: 'sip.centrex.example.net:5060' },
        network: { voiceVlan: 20, voicePriority: 5, dataVlan: 0, dataPriority: 0 },
        lines: [
          { ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: PASSWORD_111 },
          { ext: '113', number: '234567113', name: 'Fax', user: '420234567113', password: PASSWORD_112 },
        ],
      },
    });
    where = { host: h.host, httpPort: h.httpPort, tftpPort: h.tftpPort, httpUrl: `${h.base}/prov/` };
  });

  after(async function () {
    await h?.close();
    closeAllSockets();
  });

  const device = (mac: string) => h.running.outpost.store.devices.get(mac as Mac);

  it('DGW: the names DHCP gives (66, then 67) are fetched; an unknown unit is recorded and served nothing', async function () {
    const options = new Map(plugin.dhcp.provisioningOptions(where, undefined).map(([code, v]) => [code, v.toString('ascii')]));
    // Option 66 is a folder URL: the unit appends its (empty, factory) generic file name.
    const folder = await unitGet(options.get(66)!);
    assert.equal(folder.status, 404, 'a folder is no file');
    const script = await unitGet(expand(options.get(67)!, DGW_MAC));
    assert.equal(new URL(expand(options.get(67)!, DGW_MAC)).pathname, '/prov/0090F8AABB01.cfg');
    assert.equal(script.status, 404, 'no model known yet');
    assert.ok(!script.body.includes(PASSWORD_111));

    const found = await device(DGW_MAC);
    assert.ok(found, 'recorded');
    assert.equal(found.state, 'discovered');
    assert.equal(found.vendor, 'Mediatrix', 'by its MAC prefix: the name is one Yealink also claims');
    assert.equal(found.ip, '127.0.0.1');
    assert.deepEqual(found.lines, []);
  });

  it('DGW over TFTP: the unknown unit gets "file not found"', async function () {
    const g = await tftpGet({ port: h.tftpPort, file: '0090F8AABB01.cfg' });
    assert.equal(g.outcome, 'error');
    assert.equal(g.error?.code, 1);
  });

  it('DGW: once given a model and lines, the same requests get the script with the credentials; the unit is provisioned', async function () {
    await h.running.outpost.putDevice({ mac: '00:90:F8:AA:BB:01', model: '4102S', lines: ['111', '113'] });
    assert.equal((await device(DGW_MAC))?.state, 'assigned');

    const options = new Map(plugin.dhcp.provisioningOptions(where, '4102S').map(([code, v]) => [code, v.toString('ascii')]));
    const res = await unitGet(expand(options.get(67)!, DGW_MAC));
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/plain\b/);
    assert.equal(res.headers['content-length'], String(res.body.length));
    const s = parseDgwScript(res.body.toString('utf8'));
    assert.equal(s.values.get(`SipEp.UserAgent[EpId=${UNVERIFIED.dgw.fxsEndpoint(1)}].Username`), '420234567111');
    assert.equal(s.values.get('SipEp.Authentication[Index=1].Password'), PASSWORD_111);
    assert.equal(s.values.get('SipEp.Authentication[Index=2].Password'), PASSWORD_112);
    assert.match(s.values.get('SipEp.GwSpecificRegistration[GatewayName=outpost].ServerHost') ?? '', /^127\.0\.0\.1:\d+$/, 'Outpost as the fallback registrar');
    assert.equal(s.values.get('Conf.ScriptsTransferSrvHostname'), `127.0.0.1:${h.httpPort}`, 'comes back to the port really listened on');

    const after = await device(DGW_MAC);
    assert.equal(after?.state, 'provisioned');
    assert.ok(after?.provisionedAt);

    // The unit's later fetches use what the script set: server, location, specific name with %mac%.
    const again = await unitGet(`http://${s.values.get('Conf.ScriptsTransferSrvHostname')}/${s.values.get('Conf.ScriptsLocation')}/${expand(s.values.get('Conf.ScriptSpecificFileName')!, DGW_MAC)}`);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, res.body);

    const g = await tftpGet({ port: h.tftpPort, file: '0090F8AABB01.cfg' });
    assert.equal(g.outcome, 'complete');
    assert.deepEqual(g.data, res.body, 'the same bytes over TFTP');
  });

  it('v5: option 43/201 names the TFTP server; the unit fetches %mac%.cfg there, first unknown, then its XML', async function () {
    const [[code, value]] = plugin.dhcp.provisioningOptions(where, '4102') as [[number, Buffer]];
    assert.equal(code, 43);
    assert.deepEqual([value[0], value[1]], [201, 6]);
    const port = value.readUInt16BE(6);
    assert.equal([...value.subarray(2, 6)].join('.'), h.host);
    assert.equal(port, h.tftpPort);

    const unknown = await tftpGet({ port, file: expand('%mac%.cfg', V5_MAC) });
    assert.equal(unknown.outcome, 'error');
    assert.equal(unknown.error?.code, 1);
    assert.equal((await device(V5_MAC))?.state, 'discovered');

    await h.running.outpost.putDevice({ mac: V5_MAC, model: 'Mediatrix 4102', lines: ['111'] });
    const g = await tftpGet({ port, file: expand('%mac%.cfg', V5_MAC) });
    assert.equal(g.outcome, 'complete');
    const x = parseV5Xml(g.data.toString('utf8'), UNVERIFIED.v5.instanceAttribute);
    assert.equal(x.value('sipUAMainUsername', '1'), '420234567111');
    assert.equal(x.value('sipUAAuthPassword', '1.1'), PASSWORD_111);
    assert.equal(x.value('configFileFetchingStaticPort'), String(h.httpPort), 'later fetches over HTTP, to the real port');
    assert.equal((await device(V5_MAC))?.state, 'provisioned');

    // The next fetch, over HTTP as the XML says.
    const res = await unitGet(`http://${x.value('configFileFetchingStaticHost')}:${x.value('configFileFetchingStaticPort')}/${x.value('configFileFetchingFileLocation')}/${expand(x.value('configFileFetchingSpecificFileName'), V5_MAC)}`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/xml\b/);
    assert.deepEqual(res.body, g.data);
  });
});
