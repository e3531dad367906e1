/** `outpost dhcp snippet --format kea|isc|dnsmasq`. */
import { Option as CliOption, type Command } from 'commander';
import { dhcpSnippet, type SnippetFormat } from '../dhcp/snippet.js';
import { advertiseAddress } from '../app/serve.js';
import { print, withOutpost, type GlobalOptions } from './context.js';

export function registerDhcpCommands(program: Command): void {
  const dhcp = program.command('dhcp').description('DHCP for the voice network');
  dhcp
    .command('snippet')
    .description('the options this site needs, for a router that must keep serving DHCP itself')
    .addOption(new CliOption('--format <format>', 'kea, isc or dnsmasq').choices(['kea', 'isc', 'dnsmasq']).makeOptionMandatory())
    .option('--advertise <addr>', 'Outpost\'s address as the phones reach it (default: site advertise, else this box\'s LAN address)')
    .option('--http-port <n>', 'Outpost\'s HTTP port', '8080')
    .action(async (opts: { format: SnippetFormat; advertise?: string; httpPort: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const site = await outpost.site();
        const host = advertiseAddress(opts.advertise, site.advertise, '0.0.0.0');
        const httpPort = Number(opts.httpPort);
        print(dhcpSnippet(opts.format, site, outpost.vendors, { host, httpPort, tftpPort: 69, httpUrl: `http://${host}:${httpPort}/prov/` }));
      });
    });
}
