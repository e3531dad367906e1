/** `outpost device add|list|show|remove|import|models` and `outpost config render`. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../app/errors.js';
import { formatMac } from '../net/mac.js';
import { publicDevice } from '../http/api.js';
import { portOption, print, withOutpost, type GlobalOptions } from './context.js';
import { json, table } from './output.js';

/** Rendering outside `serve` uses the same address logic, so `config render` shows what a phone would get. */
async function catalogueFor(outpost: import('../app/outpost.js').Outpost, server: ServerFlags = {}) {
  const { advertiseAddress } = await import('../app/serve.js');
  const site = await outpost.site();
  return outpost.catalogue({
    host: advertiseAddress(server.advertise, site.advertise, server.bind ?? '0.0.0.0'),
    httpPort: server.httpPort ?? 8080,
    tftpPort: server.tftpPort ?? 69,
    sipPort: server.sipPort ?? 5060,
  });
}

/** The `serve` flags that change what a device is told (addresses and ports), so `config render` can match a serve run with them. */
interface ServerFlags {
  bind?: string;
  advertise?: string;
  httpPort?: number;
  tftpPort?: number;
  sipPort?: number;
}

const portFlag = (name: string) => portOption(name, 1);

export function registerDeviceCommands(program: Command): void {
  const device = program.command('device').description('devices: phones and gateways');

  device
    .command('add')
    .description('add a device (or change its model and lines); lines fill accounts 1..n in order')
    .requiredOption('--mac <mac>', 'MAC in any common notation, e.g. 00:15:65:12:34:56')
    .requiredOption('--model <model>', 'model as on the label, e.g. SIP-T22P (outpost device models lists them)')
    .option('--line <ext>', 'a line to put on the next account (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--location <text>', 'where it is, e.g. "reception"')
    .option('--address <ip>', 'the address DHCP reserves for it ("" to remove the reservation)')
    .action(async (opts: { mac: string; model: string; line: string[]; location?: string; address?: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const { mac, result } = await outpost.putDevice({ mac: opts.mac, model: opts.model, lines: opts.line, location: opts.location, address: opts.address });
        print(`device ${formatMac(mac)} ${result}`);
      });
    });

  device
    .command('list')
    .description('list devices with their state: discovered, assigned, provisioned, registered')
    .option('--json', 'as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const devices = await outpost.store.devices.list();
        const catalogue = await catalogueFor(outpost);
        if (opts.json) return print(json(devices.map((d) => publicDevice(d, catalogue.filesFor(d)))));
        if (!devices.length) return print('no devices yet: plug a phone in (it appears as discovered) or outpost device add --mac ... --model ...');
        print(
          table(
            devices.map((d) => [formatMac(d.mac), `${d.vendor ?? ''} ${d.model ?? '?'}`.trim(), d.firmware ?? '', d.ip ?? '', d.lines.join(','), d.state, d.lastSeen ?? '']),
            ['MAC', 'MODEL', 'FIRMWARE', 'IP', 'LINES', 'STATE', 'LAST SEEN'],
          ),
        );
      });
    });

  device
    .command('show')
    .description('one device: what it is, its lines and the files it is served')
    .argument('<mac>', 'MAC in any common notation')
    .option('--json', 'as JSON')
    .action(async (mac: string, opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const d = await outpost.getDevice(mac);
        const files = (await catalogueFor(outpost)).filesFor(d);
        if (opts.json) return print(json(publicDevice(d, files)));
        const lines = await outpost.store.lines.getMany(d.lines);
        const rows: Array<[string, string]> = [
          ['mac', formatMac(d.mac)],
          ['model', `${d.vendor ?? ''} ${d.model ?? 'unknown'}`.trim()],
          ['state', d.state],
          ['firmware', d.firmware ?? ''],
          ['ip', d.ip ?? ''],
          ['user agent', d.userAgent ?? ''],
          ['location', d.location ?? ''],
          ['reserved', d.address ?? ''],
          ['first seen', d.firstSeen ?? ''],
          ['last seen', d.lastSeen ?? ''],
          ['provisioned', d.provisionedAt ?? ''],
          ...lines.map((l, i): [string, string] => [`account ${i + 1}`, `${l.ext} ${l.name} (user ${l.user}${l.number ? `, number ${l.number}` : ''})`]),
          ...Object.entries(d.overrides).map(([k, v]): [string, string] => [`setting ${k}`, `${JSON.stringify(v)} (this device only)`]),
          ['files', files.join(' ')],
        ];
        print(rows.filter(([, v]) => v !== '').map(([k, v]) => `${k.padEnd(12)} ${v}`).join('\n'));
      });
    });

  device
    .command('set')
    .description('give one device its own value of a site setting, e.g. outpost device set 00:15:65:aa:bb:01 network.voiceVlan 30')
    .argument('<mac>', 'MAC in any common notation')
    .argument('<key>', 'dotted key as in the site file (outpost site show lists them)')
    .argument('<value>', 'the value for this device (lists: 10.20.0.1,10.20.0.2)')
    .action(async (mac: string, key: string, value: string, _opts: unknown, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const set = await outpost.setDeviceSetting(mac, key, value);
        print(`${formatMac(set.mac)}: ${key} = ${JSON.stringify(set.value)} (the device gets it at its next provisioning)`);
      });
    });

  device
    .command('unset')
    .description('drop a device\'s own value of a setting: it follows the site again')
    .argument('<mac>', 'MAC in any common notation')
    .argument('<key>', 'dotted key')
    .action(async (mac: string, key: string, _opts: unknown, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const done = await outpost.unsetDeviceSetting(mac, key);
        print(`${formatMac(done)}: ${key} follows the site again`);
      });
    });

  device
    .command('resync')
    .description('send the device a SIP NOTIFY check-sync: it fetches its files again, without a reboot')
    .argument('<mac>', 'MAC in any common notation')
    .option('--bind <address>', 'send from this address of the box (a phone may accept check-sync only from Outpost\'s)')
    .action(async (mac: string, opts: { bind?: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const { resyncDevice } = await import('../app/resync.js');
        const done = await resyncDevice(outpost, mac, undefined, { bind: opts.bind });
        print(done.text);
        if (!done.result.answered || done.result.status >= 300) process.exitCode = 1;
      });
    });

  device
    .command('remove')
    .description('remove a device')
    .argument('<mac>', 'MAC in any common notation')
    .action(async (mac: string, _opts: unknown, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        await outpost.removeDevice(mac);
        print(`device ${formatMac(outpost.parseMacOrThrow(mac))} removed`);
      });
    });

  device
    .command('import')
    .description('import devices and lines from CSV: mac,model,ext,number,name,user,password,forward')
    .argument('<file>', 'CSV file')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const results = await outpost.importCsv(text);
        for (const r of results) (r.ok ? process.stdout : process.stderr).write(`row ${r.row}: ${r.ok ? 'ok' : 'error'}: ${r.message}\n`);
        const failed = results.filter((r) => !r.ok).length;
        print(`${results.length - failed} rows imported, ${failed} rejected`);
        if (failed) process.exitCode = 1;
      });
    });

  device
    .command('models')
    .description('the models Outpost provisions')
    .option('--json', 'as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const all = outpost.models.all();
        if (opts.json) return print(json(all.map(({ model }) => model)));
        print(table(all.map(({ model, vendor }) => [vendor.name, model.id, String(model.accounts), (model.aliases ?? []).join(', ')]), ['VENDOR', 'MODEL', 'ACCOUNTS', 'ALSO WRITTEN']));
      });
    });

  program
    .command('config')
    .description('device configuration files')
    .command('render')
    .description('print exactly the bytes the device gets for FILE')
    .argument('<mac>', 'MAC in any common notation')
    .argument('<file>', 'file name, e.g. 001565123456.cfg (outpost device show MAC lists them)')
    .option('--bind <addr>', 'as serve --bind (default 0.0.0.0)')
    .option('--advertise <addr>', 'as serve --advertise')
    .option('--http-port <n>', 'as serve --http-port (default 8080)', portFlag('http-port'))
    .option('--tftp-port <n>', 'as serve --tftp-port (default 69)', portFlag('tftp-port'))
    .option('--sip-port <n>', 'as serve --sip-port (default 5060)', portFlag('sip-port'))
    .action(async (mac: string, file: string, opts: ServerFlags, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const result = await (await catalogueFor(outpost, opts)).renderFor(file, outpost.parseMacOrThrow(mac));
        if (result.status !== 200) throw new UserError(`cannot render ${file}: ${result.reason}`);
        process.stdout.write(result.body);
      });
    });
}
