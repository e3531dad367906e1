/**
 * `outpost doctor [--json] [--interface IF] [--timeout S]`: one line per check, `PASS|WARN|FAIL  title: detail`,
 * and under each warning or failure what to do. Exit status 1 when a check fails (warnings alone: 0), 2 for a
 * usage error: here 1 must mean "something is wrong with the site or the box", so a mistyped option cannot
 * pass for it.
 */
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createLogger, silentLogger } from '../app/log.js';
import { Outpost } from '../app/outpost.js';
import { SiteFileError } from '../app/site.js';
import { Store } from '../store/index.js';
import { DEFAULT_PORTS, DEFAULT_TIMEOUT_MS, doctorReport, type DoctorOptions } from '../doctor/doctor.js';
import { exitStatus, renderText } from '../doctor/report.js';
import { outpostOptions, type GlobalOptions } from './context.js';
import { json } from './output.js';

export const USAGE_EXIT = 2;

function seconds(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n >= 0.1 && n <= 60)) throw new InvalidArgumentError('give seconds from 0.1 to 60, e.g. --timeout 3');
  return n;
}

function interfaceName(v: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(v)) throw new InvalidArgumentError('give an interface name of 1 to 15 characters, e.g. eth1 (ip link lists them)');
  return v;
}

function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new InvalidArgumentError('give a port number 1-65535');
  return n;
}

interface DoctorFlags {
  json?: boolean;
  interface?: string;
  timeout: number;
  httpPort: number;
  tftpPort: number;
  sipPort: number;
  dhcpPort: number;
}

export function registerDoctorCommand(program: Command): void {
  const doctor = program
    .command('doctor')
    .description('check the site, this box and the network around it: one line per check, with the fix')
    .option('--json', 'as JSON: {"checks": [...], "summary": {...}}')
    .option('--interface <if>', 'the voice segment\'s interface to look for other DHCP servers on (default: dhcp.interface)', interfaceName)
    .option('--timeout <s>', 'seconds to wait for answers from the network', seconds, DEFAULT_TIMEOUT_MS / 1000)
    .option('--http-port <n>', 'serve\'s HTTP port, as given to serve', port, DEFAULT_PORTS.http)
    .option('--tftp-port <n>', 'serve\'s TFTP port', port, DEFAULT_PORTS.tftp)
    .option('--sip-port <n>', 'serve\'s SIP port', port, DEFAULT_PORTS.sip)
    .option('--dhcp-port <n>', 'serve\'s DHCP port', port, DEFAULT_PORTS.dhcp)
    .action(async (flags: DoctorFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const options: DoctorOptions = {
        dataDir: resolve(globals.data),
        timeoutMs: Math.round(flags.timeout * 1000),
        interface: flags.interface,
        ports: { http: flags.httpPort, tftp: flags.tftpPort, sip: flags.sipPort, dhcp: flags.dhcpPort },
      };
      const report = await withSource(globals, (source) => doctorReport(source, options));
      process.stdout.write(flags.json ? `${json(report)}\n` : renderText(report));
      process.exitCode = exitStatus(report);
    });
  // Usage errors exit 2 (commander has already said what is wrong); help and version stay 0.
  doctor.exitOverride((err: CommanderError) => {
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') throw err;
    process.exit(USAGE_EXIT);
  });
}

/** Opens Outpost; when it cannot be opened, the report says why instead of the command failing. */
async function withSource<T>(globals: GlobalOptions, fn: (source: Parameters<typeof doctorReport>[0]) => Promise<T>): Promise<T> {
  const opened = await Outpost.open({ ...outpostOptions(globals), log: process.env.OUTPOST_LOG_LEVEL ? createLogger(process.env.OUTPOST_LOG_LEVEL) : silentLogger }).then(
    (outpost) => ({ outpost }),
    (err: unknown) => ({ err }),
  );
  if ('outpost' in opened) {
    try {
      return await fn({ outpost: opened.outpost });
    } finally {
      await opened.outpost.close();
    }
  }
  // The site file is wrong: the database may still be fine, and is checked on its own.
  let database: Store | undefined;
  let databaseError: string | undefined;
  if (opened.err instanceof SiteFileError) {
    database = await Store.open(resolve(globals.data), silentLogger).catch((err: Error) => {
      databaseError = err.message;
      return undefined;
    });
  }
  try {
    return await fn({ openError: opened.err, database: database?.db, databaseError });
  } finally {
    await database?.close();
  }
}
