/**
 * The technician's web page in a real browser against a real server: `serve()` in-process on 127.0.0.1 (free
 * ports, a site file with the admin password and line 111), headless Chromium through playwright-core.
 *
 * The walk a technician makes: log in (a wrong password first), watch a phone appear by itself, give it line
 * 111, check the phone's next file carries the account, import a CSV with one bad row, print the handover
 * sheet, log out. Every page is saved as a screenshot in test-artifacts/web/ to be looked at.
 *
 * Needs `npm run build` (it builds dist/web) and Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
 */
import { strict as assert } from 'node:assert';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createLogger } from '../../src/app/log.js';
import type { RunningOutpost } from '../../src/app/serve.js';
import { serveHttpOnly } from '../support/serve.js';
import type { Mac } from '../../src/net/mac.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WEB_INDEX = join(ROOT, 'dist', 'web', 'index.html');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ADMIN_PASSWORD = 'web-correct-horse';
const PW_111 = 'Web-Secret-111';
const PW_131 = 'Web-Csv-Secret-131';
const UA_BB01 = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01';
/** Bounded waits: the live stream polls every second and sightings are written every second. */
const WAIT = 10_000;

const mac = (s: string) => s as Mac;

function setting(text: string, key: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && m[1] === key) return m[2];
  }
  return undefined;
}

describe('web page (real server, headless Chromium)', function () {
  this.timeout(60_000);

  let running: RunningOutpost | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let base = '';
  let dir = '';
  let logFd: number | undefined;
  let savedEnvPassword: string | undefined;
  /** Console errors and uncaught exceptions of every page: a CSP violation or a script error lands here. */
  const problems: string[] = [];

  async function phoneFetch(file: string, userAgent: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${base}/prov/${file}`, { headers: { 'user-agent': userAgent } });
    return { status: res.status, text: await res.text() };
  }

  async function shot(name: string, p: Page = page): Promise<void> {
    await p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  async function go(hash: string, heading: RegExp, p: Page = page): Promise<void> {
    await p.evaluate((h) => {
      location.hash = h;
    }, hash);
    await p.locator('main h1').filter({ hasText: heading }).first().waitFor({ state: 'visible', timeout: WAIT });
  }

  function watch(p: Page): void {
    p.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    p.on('console', (msg) => {
      // A 401 answer (the wrong password, the check after logout) is logged by Chromium as a failed resource.
      if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of (400|401|404|504)/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
  }

  before(async function () {
    if (!existsSync(WEB_INDEX)) {
      throw new Error(`${WEB_INDEX} does not exist: run "npm run build" first (it compiles the web page into dist/web)`);
    }
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium or set CHROMIUM_PATH`);
    mkdirSync(ARTIFACTS, { recursive: true });

    savedEnvPassword = process.env.OUTPOST_ADMIN_PASSWORD;
    delete process.env.OUTPOST_ADMIN_PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'outpost-web-e2e-'));
    const dataDir = join(dir, 'data');
    const firmwareDir = join(dir, 'firmware');
    mkdirSync(dataDir);
    mkdirSync(firmwareDir);
    const configFile = join(dir, 'site.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        site: { name: 'Brno', domain: 'centrex.example.net', timezone: 'Europe/Prague', ntp: ['10.20.0.1'] },
        network: { voiceVlan: 20, voicePriority: 5 },
        upstream: { proxy: 'sip.centrex.example.net:5060' },
        gateway: { host: '10.20.0.5', port: 5060 },
        admin: { password: ADMIN_PASSWORD },
        lines: [{ ext: '111', number: '234567111', name: 'Jan Novák', user: '420234567111', password: PW_111 }],
      }),
    );
    logFd = openSync(join(dir, 'outpost.log'), 'a');
    running = await serveHttpOnly({
      dataDir,
      firmwareDir,
      configFile,
      log: createLogger('info', logFd),
    });
    base = `http://127.0.0.1:${running.httpPort}`;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true, timeout: 30_000 });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    context.setDefaultTimeout(WAIT);
    page = await context.newPage();
    watch(page);
  });

  after(async function () {
    this.timeout(30_000);
    try {
      await context?.close().catch(() => {});
      await browser?.close().catch(() => {});
    } finally {
      try {
        await running?.stop();
      } finally {
        if (logFd !== undefined) closeSync(logFd);
        if (dir) rmSync(dir, { recursive: true, force: true });
        if (savedEnvPassword === undefined) delete process.env.OUTPOST_ADMIN_PASSWORD;
        else process.env.OUTPOST_ADMIN_PASSWORD = savedEnvPassword;
      }
    }
  });

  it('serves the page with its CSP; a wrong password is refused on the form, the right one opens the dashboard', async function () {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await res.text(), /<script type="module" src="\/assets\/js\/main.js"><\/script>/);

    await page.goto(`${base}/`);
    const password = page.getByLabel('Admin password');
    await password.waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false, 'no navigation before logging in');
    await password.fill('wrong-horse');
    await page.getByRole('button', { name: 'Log in' }).click();
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.innerText(), /wrong password/i);
    await shot('login');

    await password.fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('main h1', { hasText: 'Dashboard' }).waitFor();
    assert.equal(await page.locator('#nav').isVisible(), true);
    // Keyboard: the first Tab reaches the skip link, which moves the focus to the content and leaves the route alone.
    await page.reload();
    await page.locator('main h1', { hasText: 'Dashboard' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    assert.equal(await page.evaluate(() => location.hash), '');
    assert.equal(await page.locator('main h1', { hasText: 'Dashboard' }).count(), 1);
    assert.equal(await page.locator('#logout').isVisible(), true);
    await page.locator('#live-state', { hasText: 'Live' }).waitFor();
    assert.equal(await page.locator('#site-name').innerText(), 'Brno');
  });

  it('a phone that asks for its file appears in the devices table by itself, without a reload', async function () {
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.locator('main h1', { hasText: 'Devices' }).waitFor();
    await page.locator('#live-state', { hasText: 'Live' }).waitFor();
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    assert.equal(await page.locator('tr[data-mac="001565aabb01"]').count(), 0);

    const common = await phoneFetch('y000000000005.cfg', UA_BB01);
    assert.equal(common.status, 200, common.text);

    const row = page.locator('tr[data-mac="001565aabb01"]');
    await row.waitFor({ state: 'visible', timeout: WAIT });
    assert.match(await row.innerText(), /00:15:65:aa:bb:01/);
    assert.match(await row.innerText(), /T22P/);
    assert.match(await row.innerText(), /7\.73\.0\.50/);
    assert.match(await row.locator('td[data-label="State"]').innerText(), /discovered/);
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page was not reloaded');
  });

  it('the technician assigns line 111 in the form; the phone\'s next file carries that account', async function () {
    const row = page.locator('tr[data-mac="001565aabb01"]');
    await row.getByRole('button', { name: 'Assign lines' }).click();
    const form = page.locator('#assign-001565aabb01');
    await form.waitFor();
    assert.equal(await form.getByLabel('Model').inputValue(), 'T22P', 'the model the phone told is chosen');
    assert.equal(await form.locator('select[data-account]').count(), 3, 'a T22P has three accounts');
    await form.getByLabel('Account 1').selectOption('111');
    await form.getByLabel('Location (optional)').fill('Reception');
    await shot('devices-assign');
    await form.getByRole('button', { name: 'Assign' }).click();
    await row.locator('td[data-label="State"]', { hasText: 'assigned' }).waitFor();
    assert.match(await row.locator('td[data-label="Lines"]').innerText(), /111/);
    assert.equal(await page.locator('#assign-001565aabb01').count(), 0, 'the form closed');
    assert.deepEqual((await running!.outpost.store.devices.get(mac('001565aabb01')))?.lines, ['111']);

    const file = await phoneFetch('001565aabb01.cfg', UA_BB01);
    assert.equal(file.status, 200, file.text);
    const user = setting(file.text, 'account.1.user_name');
    const auth = setting(file.text, 'account.1.auth_name');
    assert.ok(user === '420234567111' || user === '111' || auth === '420234567111', `account 1 is line 111: user_name=${user} auth_name=${auth}`);
    assert.equal(setting(file.text, 'account.1.password'), PW_111);

    // Fetching it made the phone provisioned: the table says so by itself.
    await row.locator('td[data-label="State"]', { hasText: 'provisioned' }).waitFor({ timeout: WAIT });
    await shot('devices');
  });

  it('the device page lists its files, previews them masked and with passwords on request', async function () {
    await page.locator('tr[data-mac="001565aabb01"] a.mac').click();
    await page.locator('main h1', { hasText: 'Device 00:15:65:aa:bb:01' }).waitFor();
    await page.getByRole('button', { name: '001565aabb01.cfg' }).click();
    const preview = page.locator('#file-preview');
    await preview.waitFor();
    await page.waitForFunction(() => (document.getElementById('file-preview')?.textContent ?? '').includes('account.1'));
    let text = await preview.innerText();
    assert.ok(text.includes('********'), 'the password is masked');
    assert.ok(!text.includes(PW_111), 'the masked preview does not hold the password');
    assert.match(text, /420234567111/);

    await page.getByLabel('Show passwords in the preview').check();
    await page.waitForFunction((pw) => (document.getElementById('file-preview')?.textContent ?? '').includes(pw), PW_111);
    await page.getByLabel('Show passwords in the preview').uncheck();
    await page.waitForFunction((pw) => !(document.getElementById('file-preview')?.textContent ?? '').includes(pw), PW_111);
    text = await preview.innerText();
    assert.ok(!text.includes(PW_111));

    // A setting of its own: a bad value shows the API's message, a good one is listed.
    await page.getByLabel('Setting', { exact: true }).fill('network.voiceVlan');
    await page.getByLabel('Value', { exact: true }).fill('5000');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.locator('form.inline-form .error', { hasText: '4094' }).waitFor();
    await page.getByLabel('Value', { exact: true }).fill('30');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.locator('td', { hasText: 'network.voiceVlan' }).waitFor();
    assert.deepEqual((await running!.outpost.store.devices.get(mac('001565aabb01')))?.overrides, { 'network.voiceVlan': 30 });
    await shot('device');
    await page.getByRole('button', { name: /Remove network.voiceVlan/ }).click();
    await page.getByText('None: this device follows the site.').waitFor();
  });

  it('lines: the API\'s message appears next to the field; a good line is added to the table', async function () {
    await go('#/lines', /^Lines$/);
    await page.locator('tr[data-ext="111"]').waitFor();
    // Adding an extension that exists would replace that line (POST is an upsert): the form says so instead.
    await page.getByLabel('Extension').fill('111');
    await page.getByLabel('Name', { exact: true }).fill('Test');
    await page.getByLabel('SIP user').fill('420234567199');
    await page.getByLabel('SIP password').fill('Web-Secret-199');
    await page.getByRole('button', { name: 'Add line' }).click();
    const extError = page.locator('#line-ext-error');
    await extError.waitFor({ state: 'visible' });
    assert.match(await extError.innerText(), /already the line of Jan Novák/);
    assert.equal((await running!.outpost.store.lines.get('111'))?.name, 'Jan Novák', 'line 111 is untouched');

    await page.getByLabel('Extension').fill('1');
    await page.getByRole('button', { name: 'Add line' }).click();
    await extError.filter({ hasText: /2 to 8 digits/ }).waitFor();
    assert.match(await extError.innerText(), /2 to 8 digits/);
    assert.equal(await page.getByLabel('Extension').getAttribute('aria-invalid'), 'true');
    await shot('lines-error');

    await page.getByLabel('Extension').fill('222');
    await page.getByLabel('National number').fill('234567222');
    await page.getByLabel('SIP password').fill('Web-Secret-222');
    await page.getByRole('button', { name: 'Add line' }).click();
    await page.locator('tr[data-ext="222"]').waitFor();
    assert.equal(await extError.isVisible(), false);
    assert.ok(await running!.outpost.store.lines.get('222'));
    await shot('lines');
  });

  it('import: the upload drives the progress bar, one bad row is reported, the good rows are imported', async function () {
    await go('#/import', /Import/);
    const csv = [
      'mac,model,ext,number,name,user,password,forward',
      `00:15:65:aa:bb:10,SIP-T22P,131,234567131,Petr Svoboda,420234567131,${PW_131},`,
      '00:15:65:aa:bb:zz,SIP-T22P,,,,,,',
      '0015.65aa.bb12,T26P,,,,,,',
      '',
    ].join('\n');
    await page.setInputFiles('#import-file', { name: 'phones.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Upload and import' }).click();
    await page.locator('#import-summary').waitFor();
    assert.match(await page.locator('#import-summary').innerText(), /2 rows imported, 1 with an error/);
    assert.equal(await page.locator('#import-table tr.row-error').count(), 1);
    assert.equal(await page.locator('#import-table tr.row-ok').count(), 2);
    assert.match(await page.locator('#import-table tr.row-error').innerText(), /3[\s\S]*not a MAC address/);
    assert.equal(await page.locator('#import-progress').evaluate((p) => (p as HTMLProgressElement).value), 100);
    await shot('import');
    assert.deepEqual((await running!.outpost.store.devices.get(mac('001565aabb10')))?.lines, ['131']);
    assert.ok(await running!.outpost.store.devices.get(mac('001565aabb12')));

    await go('#/devices', /^Devices$/);
    await page.locator('tr[data-mac="001565aabb10"]').waitFor();
    await page.locator('tr[data-mac="001565aabb12"]').waitFor();
    // The state filter and the sort buttons.
    const assigned = (await running!.outpost.store.devices.list()).filter((d) => d.state === 'assigned').length;
    await page.getByLabel('State').selectOption('assigned');
    await page.waitForFunction((n) => document.querySelectorAll('#devices-table tbody tr[data-mac]').length === n, assigned);
    assert.match(await page.locator('#dev-count').innerText(), new RegExp(`^${assigned} of 3 devices`));
    await page.getByLabel('State').selectOption('');
    await page.getByRole('button', { name: /^MAC/ }).click();
    assert.equal(await page.locator('th', { has: page.getByRole('button', { name: /^MAC/ }) }).getAttribute('aria-sort'), 'ascending');
    const macs = await page.locator('#devices-table tbody tr[data-mac]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-mac')));
    assert.deepEqual(macs, ['001565aabb01', '001565aabb10', '001565aabb12']);
    await page.getByLabel('Find').fill('bb:12');
    await page.waitForFunction(() => document.querySelectorAll('#devices-table tbody tr[data-mac]').length === 1);
    await page.getByLabel('Find').fill('');
  });

  it('site: fields by section with their explanation; a bad value shows the API\'s message, a good one is saved', async function () {
    await go('#/site', /^Site$/);
    const dscp = page.locator('.setting[data-key="qos.sipDscp"]');
    await dscp.waitFor();
    assert.ok((await dscp.locator('.setting-explanation').innerText()).length > 10, 'the field is explained');
    await dscp.getByRole('button', { name: 'Edit qos.sipDscp' }).click();
    await dscp.locator('input').fill('99');
    await dscp.getByRole('button', { name: 'Save' }).click();
    await dscp.locator('.field-error', { hasText: '63' }).waitFor();
    await shot('site-error');
    await dscp.locator('input').fill('24');
    await dscp.getByRole('button', { name: 'Save' }).click();
    await dscp.locator('.value', { hasText: '24' }).waitFor();
    assert.equal((await running!.outpost.site()).qos.sipDscp, 24);
    await shot('site');
  });

  it('events, calls, leases and doctor pages render', async function () {
    await go('#/events', /^Events$/);
    await page.locator('table.events tbody tr').first().waitFor();
    await page.getByLabel('Type').fill('device.discovered');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForFunction(() => [...document.querySelectorAll('table.events tbody tr td[data-label="Type"]')].every((td) => td.textContent === 'device.discovered'));
    await page.getByRole('button', { name: 'Clear' }).click();
    await shot('events');

    // A survival-mode call record, as the proxy writes it.
    const started = Date.now() - 95_000;
    const call = await running!.outpost.store.calls.start({ callId: 'web-e2e-call-1', caller: '111', callee: '0602123456', route: 'pstn 602123456', at: started });
    await call.written;
    await running!.outpost.store.calls.update(call.id, { answeredAt: started + 5_000, endedAt: started + 80_000, result: 'completed' });
    await go('#/calls', /Calls/);
    const callRow = page.locator('table.calls tbody tr').first();
    await callRow.waitFor();
    assert.match(await callRow.innerText(), /111[\s\S]*0602123456[\s\S]*pstn 602123456[\s\S]*completed[\s\S]*1:15/);
    // Filtered by result and by number, without asking the server again.
    await page.getByLabel('Result').selectOption('busy');
    await page.getByText('No call matches.').waitFor();
    await page.getByLabel('Result').selectOption('answered');
    await callRow.waitFor();
    await page.getByLabel('Number').fill('0602');
    assert.equal(await page.locator('table.calls tbody tr').count(), 1);
    await page.getByLabel('Number').fill('999');
    await page.getByText('No call matches.').waitFor();
    await page.getByLabel('Number').fill('');
    await callRow.waitFor();
    await shot('calls');

    const now = Date.now();
    await running!.outpost.store.leases.save({ address: '10.20.0.150', client: 'hw:1:001565aabb01', mac: '001565aabb01', state: 'bound', expiresAt: now + 3_600_000, updatedAt: now, hostname: 'SIP-T22P' });
    await go('#/leases', /leases/i);
    await page.getByText('10.20.0.150').waitFor();
    await shot('leases');

    await go('#/doctor', /Doctor/);
    await page.locator('#doctor-summary .badge, #doctor-summary .error').first().waitFor({ timeout: 20_000 });
    const doctor = await fetch(`${base}/api/v1/doctor`, { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } });
    if (doctor.status === 200) {
      assert.ok((await page.locator('.check-item').count()) > 0, 'the checks are listed');
      assert.equal(await page.locator('#doctor-summary .error').count(), 0);
    }
    await shot('doctor');

    await go('#/', /Dashboard/);
    await page.locator('.n[data-state="provisioned"]').waitFor();
    await page.waitForFunction(() => Number(document.querySelector('.n[data-state="assigned"]')?.textContent) >= 2);
    await shot('dashboard');
  });

  it('the handover sheet lists the site, its network and every device with its extension; print hides the navigation', async function () {
    await go('#/handover', /Handover sheet/);
    await page.locator('#handover-devices').waitFor();
    assert.equal(await page.locator('#sheet-site').innerText(), 'Brno');
    const sheet = await page.locator('#handover').innerText();
    assert.match(sheet, /Voice VLAN\s+20/);
    assert.match(sheet, /Europe\/Prague/);
    assert.match(sheet, /10\.20\.0\.1/);
    assert.match(sheet, /sip\.centrex\.example\.net:5060/);
    assert.match(sheet, /10\.20\.0\.5/);
    assert.match(sheet, new RegExp(`Provisioning URL\\s+${base.replace(/\./g, '\\.')}/prov/`));
    const row = page.locator('#handover-devices tr[data-mac="001565aabb01"]');
    const text = await row.innerText();
    assert.match(text, /00:15:65:aa:bb:01/);
    assert.match(text, /T22P/);
    assert.match(text, /Reception/);
    assert.match(text, /111/);
    assert.match(text, /234567111/);
    assert.equal(await page.getByRole('button', { name: 'Print' }).isVisible(), true);
    await shot('handover');

    // Print at the width of an A4 page (96 dpi).
    await page.setViewportSize({ width: 794, height: 1123 });
    await page.emulateMedia({ media: 'print' });
    try {
      assert.equal(await page.locator('#nav').isVisible(), false, 'print hides the navigation');
      assert.equal(await page.locator('.topbar').isVisible(), false, 'print hides the header');
      assert.equal(await page.locator('#print').isVisible(), false, 'print hides the buttons');
      assert.equal(await row.isVisible(), true);
      const colours = await page.evaluate(() => {
        const body = getComputedStyle(document.body);
        const cell = getComputedStyle(document.querySelector('#handover-devices td')!);
        return { bg: body.backgroundColor, ink: body.color, cell: cell.color };
      });
      assert.equal(colours.bg, 'rgb(255, 255, 255)');
      assert.equal(colours.ink, 'rgb(0, 0, 0)');
      assert.equal(colours.cell, 'rgb(0, 0, 0)');
      await shot('handover-print');
      await page.pdf({ path: join(ARTIFACTS, 'handover.pdf'), format: 'A4', printBackground: true });
    } finally {
      await page.emulateMedia({ media: null });
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('on a phone-sized screen (390x844) the devices page fits the width and the menu opens', async function () {
    const phone = await context!.newPage();
    watch(phone);
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${base}/#/devices`);
      await phone.locator('main h1', { hasText: 'Devices' }).waitFor();
      await phone.locator('tr[data-mac="001565aabb01"]').waitFor();
      const widths = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
      assert.ok(widths.page <= widths.view, `no sideways scrolling: ${widths.page} > ${widths.view}`);
      assert.equal(await phone.locator('#nav').isVisible(), false, 'the menu is folded');
      await shot('devices-phone', phone);
      await phone.getByRole('button', { name: 'Menu' }).click();
      await phone.locator('#nav').waitFor({ state: 'visible' });
      await shot('menu-phone', phone);
      await phone.getByRole('link', { name: 'Handover' }).click();
      await phone.locator('#handover-devices').waitFor();
      assert.equal(await phone.locator('#nav').isVisible(), false, 'following a link folds the menu');
      const sheet = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
      assert.ok(sheet.page <= sheet.view, `the handover sheet fits too: ${sheet.page} > ${sheet.view}`);
      await shot('handover-phone', phone);
      // Every other page fits the phone's width too (tables scroll inside their box or become cards).
      for (const [hash, heading] of [['#/', /Dashboard/], ['#/lines', /Lines/], ['#/site', /Site/], ['#/import', /Import/], ['#/events', /Events/], ['#/calls', /Calls/], ['#/leases', /leases/i], ['#/doctor', /Doctor/], ['#/devices/001565aabb01', /Device 00:15/]] as const) {
        await go(hash, heading, phone);
        await phone.waitForLoadState('networkidle').catch(() => {});
        const fit = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
        assert.ok(fit.page <= fit.view, `${hash} fits the phone: ${fit.page} > ${fit.view}`);
      }
      await shot('device-phone', phone);
    } finally {
      await phone.close();
    }
  });

  it('log out returns to the login form and the API answers 401 after', async function () {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Admin password').waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    const status = await page.evaluate(async () => (await fetch('/api/v1/status', { headers: { 'X-Requested-With': 'outpost-web' } })).status);
    assert.equal(status, 401);
    await page.reload();
    await page.getByLabel('Admin password').waitFor();
    await shot('logged-out');
  });

  it('no page logged a script error or a Content-Security-Policy violation', function () {
    assert.deepEqual(problems, []);
  });
});
