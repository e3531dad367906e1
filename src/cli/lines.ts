/** `outpost line add|list|remove`. */
import type { Command } from 'commander';
import { print, withOutpost, type GlobalOptions } from './context.js';
import { json, table } from './output.js';
import { publicLine } from '../http/api.js';

export function registerLineCommands(program: Command): void {
  const line = program.command('line').description('lines: the user accounts phones carry');

  line
    .command('add')
    .description('add a line, or update the line with this extension')
    .requiredOption('--ext <ext>', 'extension, e.g. 111')
    .option('--number <number>', 'national number, e.g. 234567111')
    .option('--name <name>', 'display name, e.g. "Jan Novák"', '')
    .requiredOption('--user <user>', 'Centrex SIP user, e.g. 420234567111')
    .requiredOption('--password <password>', 'Centrex SIP password')
    .option('--forward <number>', 'where calls go in survival mode when the line is unreachable, e.g. 0602123456')
    .option('--forward-on-busy', 'forward a busy line too (in survival mode)')
    .action(async (opts: { ext: string; number?: string; name: string; user: string; password: string; forward?: string; forwardOnBusy?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const result = await outpost.putLine(opts);
        print(`line ${opts.ext} ${result}`);
      });
    });

  line
    .command('list')
    .description('list the lines (passwords are never shown)')
    .option('--json', 'as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const lines = await outpost.store.lines.list();
        if (opts.json) return print(json(lines.map(publicLine)));
        if (!lines.length) return print('no lines yet: outpost line add --ext 111 --number 234567111 --name "Jan Novák" --user 420234567111 --password ...');
        print(table(lines.map((l) => [l.ext, l.number ?? '', l.name, l.user, l.forward ?? '']), ['EXT', 'NUMBER', 'NAME', 'USER', 'FORWARD']));
      });
    });

  line
    .command('remove')
    .description('remove a line that no device carries')
    .argument('<ext>', 'extension')
    .action(async (ext: string, _opts: unknown, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        await outpost.removeLine(ext);
        print(`line ${ext} removed`);
      });
    });
}
