/**
 * `outpost serve` end to end, through the REAL binary: the ready line, provisioning over HTTP compared byte for
 * byte with `config render`, `status`, a port already in use, SIGTERM, and durability across a kill -9.
 */
import { strict as assert } from 'node:assert';
import { ServeProcess, describeRun, ensureBuilt, freePort, outpost, outpostJson, removeDir, sleep, tempDir, type RunResult } from './helpers.js';

const MAC = '001565aabb01';
const UA = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01';
const PW = 'Pw111-n0tInOutput';

function expectExit(r: RunResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}\n${describeRun(r)}`);
}

interface Status {
  services: Record<string, { state: string; address?: string; reason?: string }>;
  lines: number;
}

async function seed(data: string): Promise<void> {
  expectExit(
    await outpost(data, ['line', 'add', '--ext', '111', '--number', '234567111', '--name', 'Jan Novák', '--user', '420234567111', '--password', PW]),
    0,
    'line add',
  );
  expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
}

function serveArgs(port: number): string[] {
  return ['--bind', '127.0.0.1', '--http-port', String(port), '--no-tftp', '--no-sip', '--no-mdns'];
}

async function get(port: number, path: string, userAgent = UA): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'User-Agent': userAgent }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

describe('cli: serve end to end', function () {
  this.timeout(60_000);
  let data: string;
  let port: number;
  let serve: ServeProcess | undefined;
  const others: ServeProcess[] = [];

  before(async function () {
    this.timeout(200_000);
    ensureBuilt();
    data = tempDir();
    await seed(data);
    port = await freePort();
    serve = ServeProcess.start(data, serveArgs(port));
  });
  after(async () => {
    for (const s of [serve, ...others]) await s?.kill();
    removeDir(data);
  });

  it('prints a ready http line with the address and port', async () => {
    const line = await serve!.waitForReady(15_000);
    assert.match(line, new RegExp(`^ready http http://127\\.0\\.0\\.1:${port}/`));
  });

  it('GET /prov/<mac>.cfg with a Yealink User-Agent gives exactly the bytes config render prints', async () => {
    await serve!.waitForReady(15_000);
    const served = await get(port, `/prov/${MAC}.cfg`);
    assert.equal(served.status, 200, served.body.toString('utf8'));
    assert.ok(served.body.toString('utf8').includes(`account.1.password = ${PW}`));
    // The same server address as this serve: bound to 127.0.0.1 on `port`.
    const rendered = await outpost(data, ['config', 'render', MAC, `${MAC}.cfg`, '--bind', '127.0.0.1', '--http-port', String(port)]);
    expectExit(rendered, 0, 'config render');
    assert.ok(
      served.body.equals(rendered.stdoutBytes),
      `served and rendered bytes differ\n--- served ---\n${served.body.toString('utf8')}\n--- rendered ---\n${rendered.stdout}`,
    );
  });

  it('the common file is identical to config render too, and the device is now provisioned', async () => {
    await serve!.waitForReady(15_000);
    const served = await get(port, '/prov/y000000000005.cfg');
    assert.equal(served.status, 200);
    const rendered = await outpost(data, ['config', 'render', MAC, 'y000000000005.cfg', '--bind', '127.0.0.1', '--http-port', String(port)]);
    expectExit(rendered, 0, 'config render common');
    assert.ok(served.body.equals(rendered.stdoutBytes), 'served and rendered common files differ');
    assert.ok(!served.body.toString('utf8').includes(PW));
    const devices = await outpostJson<Array<{ mac: string; state: string }>>(data, ['device', 'list', '--json']);
    assert.equal(devices.find((d) => d.mac === MAC)?.state, 'provisioned');
  });

  it('a change made by the CLI beside the running serve reaches the phones within a second', async () => {
    await serve!.waitForReady(15_000);
    expectExit(await outpost(data, ['line', 'add', '--ext', '222', '--name', 'Druhá', '--user', '420234567222', '--password', 'second-pw']), 0, 'line add');
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111', '--line', '222']), 0, 'device add');
    const changedAt = Date.now();
    let body = '';
    while (Date.now() - changedAt < 5_000) {
      body = (await get(port, `/prov/${MAC}.cfg`)).body.toString('utf8');
      if (body.includes('account.2.password = second-pw')) break;
      await sleep(50);
    }
    const delay = Date.now() - changedAt;
    assert.ok(body.includes('account.2.password = second-pw'), `the second line never reached the file:\n${body}`);
    assert.ok(delay < 1_000, `took ${delay} ms`);
    // Back to one line, so the tests below see the device as seeded.
    expectExit(await outpost(data, ['device', 'add', '--mac', MAC, '--model', 'SIP-T22P', '--line', '111']), 0, 'device add');
    expectExit(await outpost(data, ['line', 'remove', '222']), 0, 'line remove');
  });

  it('status --json --http-port <port> reports http up', async () => {
    await serve!.waitForReady(15_000);
    const r = await outpost(data, ['status', '--json', '--http-port', String(port)]);
    expectExit(r, 0, 'status --json');
    const status = JSON.parse(r.stdout) as Status;
    assert.equal(status.services.http?.state, 'up');
    assert.equal(status.lines, 1);
  });

  it('a second serve on the same port: exit 1 with a message naming the port, no ready line', async () => {
    await serve!.waitForReady(15_000);
    const second = ServeProcess.start(data, serveArgs(port));
    others.push(second);
    const exit = await second.waitForExit(20_000);
    assert.ok(exit, `the second serve kept running:\n${second.stdout}\n${second.stderr}`);
    assert.equal(exit.code, 1, `exit ${exit.code}\n${second.stderr}`);
    assert.ok(second.stderr.includes(String(port)), `the message does not name port ${port}:\n${second.stderr}`);
    assert.doesNotMatch(second.stdout, /ready http/);
    // The first one still answers.
    assert.equal((await get(port, `/prov/${MAC}.cfg`)).status, 200);
  });

  it('SIGTERM: exits with code 0 within 5 s, and then nothing answers', async () => {
    await serve!.waitForReady(15_000);
    const started = Date.now();
    serve!.child.kill('SIGTERM');
    const exit = await serve!.waitForExit(5_000);
    const took = Date.now() - started;
    assert.ok(exit, `serve still running ${took} ms after SIGTERM`);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM:\n${serve!.stderr}`);
    assert.ok(took < 5_000, `took ${took} ms`);
    const status = await outpostJson<Status>(data, ['status', '--json', '--http-port', String(port)]);
    assert.notEqual(status.services.http?.state, 'up');
  });
});

describe('cli: SIGTERM while serve is still starting', function () {
  this.timeout(60_000);
  let data: string;
  let serve: ServeProcess | undefined;
  after(async () => {
    await serve?.kill();
    removeDir(data);
  });

  it('a SIGTERM sent the moment the first ready line appears (services still starting) still ends in a clean exit 0', async function () {
    this.timeout(60_000);
    ensureBuilt();
    data = tempDir();
    await seed(data);
    const port = await freePort();
    // SIP and TFTP on high ports so several services start after the first ready line.
    serve = ServeProcess.start(data, ['--bind', '127.0.0.1', '--http-port', String(port), '--tftp-port', String(await freePort()), '--sip-port', String(await freePort()), '--no-mdns']);
    await serve.waitForReady(15_000);
    serve.child.kill('SIGTERM');
    const exit = await serve.waitForExit(8_000);
    assert.ok(exit, 'serve still running 8 s after SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after an early SIGTERM:\n${serve.stderr}`);
  });
});

describe('cli: durability across kill -9 of serve', function () {
  this.timeout(60_000);
  let data: string;
  let serve: ServeProcess | undefined;

  before(async function () {
    this.timeout(200_000);
    ensureBuilt();
    data = tempDir();
    await seed(data);
  });
  after(async () => {
    await serve?.kill();
    removeDir(data);
  });

  it('a line added by a separate process while serve runs survives kill -9; the database opens without error', async () => {
    const port = await freePort();
    serve = ServeProcess.start(data, serveArgs(port));
    await serve.waitForReady(15_000);

    const add = await outpost(data, ['line', 'add', '--ext', '401', '--number', '234567401', '--name', 'Věra Průchová', '--user', '420234567401', '--password', 'pw-401-secret']);
    expectExit(add, 0, 'line add while serve runs');
    assert.match(add.stdout, /^line 401 added$/m);

    serve.child.kill('SIGKILL');
    const exit = await serve.waitForExit(5_000);
    assert.ok(exit, 'serve did not die on SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');

    const list = await outpost(data, ['line', 'list', '--json']);
    expectExit(list, 0, 'line list after kill -9');
    assert.equal(list.stderr, '', 'opening the database after kill -9 printed something');
    const lines = JSON.parse(list.stdout) as Array<{ ext: string; name: string }>;
    assert.deepEqual(lines.map((l) => l.ext).sort(), ['111', '401']);
    assert.equal(lines.find((l) => l.ext === '401')?.name, 'Věra Průchová');

    // And serve itself starts again on the same data.
    const again = ServeProcess.start(data, serveArgs(await freePort()));
    try {
      await again.waitForReady(15_000);
      const devices = await outpostJson<Array<{ mac: string; lines: string[] }>>(data, ['device', 'list', '--json']);
      assert.deepEqual(devices.map((d) => [d.mac, d.lines]), [[MAC, ['111']]]);
    } finally {
      again.child.kill('SIGTERM');
      const stopped = await again.waitForExit(5_000);
      if (!stopped) await again.kill();
      assert.equal(stopped?.code, 0);
    }
  });
});
