/**
 * The outpost command. Exit status: 0 done; 1 the request was wrong (stderr says what and how to fix);
 * 2 internal error.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { UserError } from '../app/errors.js';
import { SiteFileError } from '../app/site.js';
import { registerLineCommands } from './lines.js';
import { registerDeviceCommands } from './devices.js';
import { registerSiteCommands } from './site.js';
import { registerServeCommand } from './serve.js';
import { registerFirmwareCommands } from './firmware.js';
import { registerDhcpCommands } from './dhcp.js';
import { registerRecordCommands } from './records.js';
import { registerDoctorCommand } from './doctor.js';

function buildProgram(): Command {
  const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const program = new Command('outpost')
    .description('Branch-office appliance for hosted IP Centrex: provisioning, DHCP and a survival SIP registrar/proxy')
    .version(version, '-V', 'print the version of Outpost')
    .addOption(new Option('--data <dir>', 'folder with outpost.db (and outpost.json)').env('OUTPOST_DATA').default('./data'))
    .addOption(new Option('--firmware <dir>', 'firmware catalogue folder').env('OUTPOST_FIRMWARE').default('./firmware'))
    .addOption(new Option('--config <file>', 'site file (default: <data>/outpost.json when present)'))
    .showHelpAfterError('(outpost --help lists the commands)')
    .exitOverride();
  registerServeCommand(program);
  registerLineCommands(program);
  registerDeviceCommands(program);
  registerSiteCommands(program);
  registerFirmwareCommands(program);
  registerDhcpCommands(program);
  registerRecordCommands(program);
  for (const command of program.commands) command.exitOverride();
  registerDoctorCommand(program); // after the loop: doctor keeps its own exit override (usage errors exit 2, as 1 means a check failed)
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 1;
    }
    if (err instanceof UserError) {
      process.stderr.write(`outpost: ${err.full()}\n`);
      return 1;
    }
    if (err instanceof SiteFileError) {
      process.stderr.write(`outpost: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`outpost: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  }
}

const code = await main(process.argv);
// `serve` keeps running: it sets its own exit. A command may already have set a non-zero exitCode itself
// (`device import` with rejected rows): a 0 here must not overwrite it.
if (code !== 0) process.exitCode = code;
