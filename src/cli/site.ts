/** `outpost site show|set` and `outpost status`. */
import type { Command } from 'commander';
import { maskSite } from '../http/api.js';
import { keysNamedBy } from '../app/site.js';
import { explainSiteKey } from '../config/explain.js';
import { statusReport } from '../app/status.js';
import { getPath, settableKeys } from '../provisioning/settings.js';
import { print, withOutpost, type GlobalOptions } from './context.js';
import { json, table } from './output.js';
import { formatMac, type Mac } from '../net/mac.js';

export function registerSiteCommands(program: Command): void {
  const site = program.command('site').description('the site: network, QoS, time, upstream, dial plan, fax, DHCP');

  site
    .command('show')
    .description('every setting with its value and where it comes from (default, set, file)')
    .option('--json', 'as JSON')
    .option('--explain', 'with one sentence on what each setting does (as the web page shows)')
    .action(async (opts: { json?: boolean; explain?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const effective = maskSite(await outpost.site());
        if (opts.json) return print(json(effective));
        const stored = await outpost.store.settings.all();
        const fromFile = keysNamedBy(outpost.siteFile);
        const rows = [...settableKeys().keys()].map((key) => [
          key,
          JSON.stringify(getPath(effective, key)),
          fromFile.has(key) ? 'file' : stored.has(key) ? 'set' : 'default',
        ]);
        if (opts.explain) return print(rows.map(([key, value, from]) => `${key} = ${value} (${from})\n    ${explainSiteKey(key!)}`).join('\n'));
        print(table(rows, ['KEY', 'VALUE', 'FROM']));
      });
    });

  site
    .command('set')
    .description('change a setting, e.g. outpost site set network.voiceVlan 20 (lists: 10.20.0.1,10.20.0.2)')
    .argument('<key>', 'dotted key as in the site file')
    .argument('<value>', 'the new value')
    .action(async (key: string, value: string, _opts: unknown, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        await outpost.setSite(key, value);
        print(`${key} set`);
      });
    });

  program
    .command('status')
    .description('services, upstream, mode, registrations and the inventory')
    .option('--json', 'as JSON')
    .option('--http-port <port>', 'where a running serve answers', '8080')
    .action(async (opts: { json?: boolean; httpPort: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const running = await probe(Number(opts.httpPort));
        const report = await statusReport(outpost, {
          http: running ? { state: 'up', address: `127.0.0.1:${opts.httpPort}` } : { state: 'off', reason: `nothing answers on 127.0.0.1:${opts.httpPort}` },
        });
        const now = Date.now();
        const byUser = new Map((await outpost.store.lines.list()).map((l) => [l.user, l]));
        const registered = (await outpost.store.bindings.list())
          .filter((b) => b.expiresAt > now)
          .map((b) => ({ line: byUser.get(b.aor)?.ext ?? '', user: b.aor, contact: b.contact, expiresIn: Math.round((b.expiresAt - now) / 1000), source: b.source, device: b.mac ? formatMac(b.mac as Mac) : '' }));
        if (opts.json) return print(json({ ...report, registered }));
        print(
          [
            `site          ${report.site}`,
            `serve         ${running ? `running (http on port ${opts.httpPort})` : 'not running'}`,
            `upstream      ${report.upstream}${report.upstreamRtt !== undefined ? ` (${report.upstreamRtt} ms)` : ''}`,
            `mode          ${report.mode}${report.modeSince ? ` since ${report.modeSince}` : ''}${report.modeReason ? `: ${report.modeReason}` : ''}`,
            `registrations ${report.registrations}`,
            `lines         ${report.lines}`,
            `devices       ${Object.entries(report.devices).map(([s, n]) => `${n} ${s}`).join(', ')}`,
          ].join('\n'),
        );
        if (report.modeChanges.length) {
          print('');
          print(table(report.modeChanges.map((c) => [c.at, c.mode, c.reason]), ['CHANGED', 'MODE', 'WHY']));
        }
        if (registered.length) {
          print('');
          print(table(registered.map((r) => [r.line, r.user, r.contact, `${r.expiresIn}s`, r.source, r.device]), ['LINE', 'USER', 'CONTACT', 'EXPIRES', 'FROM', 'DEVICE']));
        }
      });
    });
}

async function probe(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200 || res.status === 503;
  } catch {
    return false;
  }
}
