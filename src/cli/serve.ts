/** `outpost serve`. */
import { Command, Option } from 'commander';
import { createLogger } from '../app/log.js';
import { serve, type RunningOutpost } from '../app/serve.js';
import { portOption as port, type GlobalOptions } from './context.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run every service; prints one ready line per service')
    .addOption(new Option('--bind <addr>', 'address to listen on').default('0.0.0.0'))
    .option('--advertise <addr>', 'address devices are told to use (default: site advertise, else the first LAN address)')
    .option('--http-port <n>', 'HTTP port', port('http-port'), 8080)
    .option('--tftp-port <n>', 'TFTP port', port('tftp-port'), 69)
    .option('--sip-port <n>', 'SIP port', port('sip-port'), 5060)
    .option('--dhcp-port <n>', 'DHCP port', port('dhcp-port'), 67)
    .option('--no-tftp', 'do not serve TFTP')
    .option('--no-sip', 'do not run the SIP registrar/proxy')
    .option('--dhcp', 'serve DHCP even when the site does not enable it')
    .option('--no-dhcp', 'do not serve DHCP even when the site enables it')
    .option('--no-mdns', 'do not advertise over mDNS')
    .action(async (opts: { bind: string; advertise?: string; httpPort: number; tftpPort: number; sipPort: number; dhcpPort: number; tftp: boolean; sip: boolean; dhcp?: boolean; mdns: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const log = createLogger();
      // The handlers go in before anything starts: a SIGTERM that arrives while services start (right after a
      // `ready` line) stops Outpost cleanly once it is up, instead of killing it half-way.
      let running: RunningOutpost | undefined;
      let signalled: string | undefined;
      const shutdown = (signal: string) => {
        if (signalled) return;
        signalled = signal;
        log.info({ signal }, 'stopping');
        const deadline = setTimeout(() => process.exit(0), 4500);
        deadline.unref();
        if (running) stopNow(running);
      };
      const stopNow = (r: RunningOutpost) =>
        r.stop().then(
          () => process.exit(0),
          (err: Error) => {
            log.error({ err: err.message }, 'error while stopping');
            process.exit(2);
          },
        );
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      running = await serve({
        dataDir: globals.data,
        firmwareDir: globals.firmware,
        configFile: globals.config,
        log,
        bind: opts.bind,
        advertise: opts.advertise,
        httpPort: opts.httpPort,
        tftpPort: opts.tftpPort,
        sipPort: opts.sipPort,
        dhcpPort: opts.dhcpPort,
        tftp: opts.tftp,
        sip: opts.sip,
        dhcp: opts.dhcp,
        mdns: opts.mdns,
        out: (line) => process.stdout.write(`${line}\n`),
      });
      if (signalled) stopNow(running);
    });
}
