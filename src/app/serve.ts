/**
 * `outpost serve`: builds the services from the site and the store, starts them, and stops them cleanly on
 * SIGTERM/SIGINT. An invalid site file or a port that cannot be bound stops it before anything answers.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { UserError } from './errors.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { Outpost, type OutpostOptions } from './outpost.js';
import { statusReport, type ServiceState } from './status.js';
import { createHttpHandler, listen } from '../http/server.js';
import { TransferSlots } from '../provisioning/admission.js';
import { TftpService } from '../tftp/server.js';
import { DhcpServer, probeOtherServers } from '../dhcp/server.js';
import { startDhcp } from './dhcp.js';
import { SipService } from '../sip/service.js';
import { UpstreamMonitor } from '../survival/monitor.js';
import { CallProxy } from '../survival/proxy.js';
import { startMdns, type RunningMdns } from './mdns.js';

export interface ServeOptions extends OutpostOptions {
  bind: string;
  advertise?: string | undefined;
  httpPort: number;
  tftpPort: number;
  sipPort: number;
  dhcpPort: number;
  tftp: boolean;
  sip: boolean;
  dhcp: boolean | undefined;
  mdns: boolean;
  /** Where the `ready` lines go. */
  out: (line: string) => void;
}

export interface RunningOutpost {
  outpost: Outpost;
  http: Server;
  httpPort: number;
  /** The bound TFTP port, when TFTP runs. */
  tftpPort: number | undefined;
  /** The SIP service, when it runs. */
  sip: SipService | undefined;
  sipPort: number | undefined;
  stop(): Promise<void>;
}

/** The address phones are told to use: the flag, the site, the bound address, else the first LAN address. */
export function advertiseAddress(flag: string | undefined, site: string, bind: string): string {
  if (flag) return flag;
  if (site) return site;
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** The admin password: env, then the site, else one generated at first start and kept in `<data>/admin-password`. */
export function adminPassword(dataDir: string, sitePassword: string, log: Logger): string {
  if (process.env.OUTPOST_ADMIN_PASSWORD) return process.env.OUTPOST_ADMIN_PASSWORD;
  if (sitePassword) return sitePassword;
  const file = join(dataDir, 'admin-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const generated = randomBytes(12).toString('base64url');
  writeFileSync(file, `${generated}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  log.warn({ file }, 'no admin password set: generated one; read it from this file or set admin.password');
  return generated;
}

/** A port that cannot be bound, said so that a technician knows what to do. */
function portError(service: string, flag: string, port: number, bind: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new UserError(`${service} port ${port} on ${bind} is already in use; stop the other program or choose ${flag}`);
  if (code === 'EACCES') return new UserError(`${service} port ${port} needs root or CAP_NET_BIND_SERVICE; choose ${flag} above 1023 or grant the capability`);
  return new UserError(`cannot listen on ${service} port ${port} of ${bind}: ${(err as Error).message}`);
}

export async function serve(options: ServeOptions): Promise<RunningOutpost> {
  const { log } = options;
  const outpost = await Outpost.open(options);
  const startedAt = new Date().toISOString();
  outpost.inventory.watch();
  try {
    const site = await outpost.site();
    const host = advertiseAddress(options.advertise, site.advertise, options.bind);
    // Shared with the catalogue, which reads it at each render: the ports are set to the bound ones below.
    const address = { host, httpPort: options.httpPort, tftpPort: options.tftpPort, sipPort: options.sipPort };
    const catalogue = outpost.catalogue(address);
    const firmwareSlots = new TransferSlots(() => outpost.inventory.latest()?.site.firmware.maxConcurrent ?? site.firmware.maxConcurrent);
    const metrics = new Metrics({
      devicesByState: () => outpost.store.devices.count(),
      blockedClients: () => catalogue.guard.blockedClients(),
      firmwareInFlight: () => firmwareSlots.inFlight,
    });
    metrics.watchDatabase(outpost.store.db);
    const services: Record<string, ServiceState> = {};
    let sip: SipService | undefined;
    let monitor: UpstreamMonitor | undefined;
    let proxy: CallProxy | undefined;
    const handler = createHttpHandler({
      outpost,
      catalogue,
      metrics,
      log,
      adminPassword: () => adminPasswordNow(),
      status: () => statusReport(outpost, services, startedAt, sip && { registrations: () => sip!.book.size() }, monitor),
      registrations: () => sip?.registrations() ?? [],
      resyncVia: () => sip && { layer: sip.layer, self: () => sip!.self() },
      firmwareSlots,
      healthy: () => Object.values(services).every((s) => s.state === 'up' || s.reason !== 'failed'),
    });
    let cachedPassword = adminPassword(outpost.options.dataDir, site.admin.password, log);
    const adminPasswordNow = () => cachedPassword;
    // `site set admin.password` through the API applies at once.
    outpost.store.events.onEvent((e) => {
      if (e.type === 'site.changed' && e.message.startsWith('admin.password')) {
        void outpost.site().then((s) => (cachedPassword = adminPassword(outpost.options.dataDir, s.admin.password, log)));
      }
    });

    let http: Server;
    try {
      http = await listen(handler, options.httpPort, options.bind);
    } catch (err) {
      throw portError('HTTP', '--http-port', options.httpPort, options.bind, err);
    }
    const httpPort = (http.address() as { port: number }).port;
    address.httpPort = httpPort;
    services.http = { state: 'up', address: `${options.bind}:${httpPort}` };
    options.out(`ready http http://${host}:${httpPort}/ (bound to ${options.bind}:${httpPort})`);
    let tftp: TftpService | undefined;
    if (options.tftp) {
      tftp = new TftpService({ address: options.bind, port: options.tftpPort, catalogue, firmware: outpost.firmware, slots: firmwareSlots, metrics, log });
      try {
        const bound = await tftp.start();
        address.tftpPort = bound.port;
        services.tftp = { state: 'up', address: `${bound.address}:${bound.port}` };
        options.out(`ready tftp tftp://${host}:${bound.port}/ (bound to ${bound.address}:${bound.port})`);
      } catch (err) {
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        throw portError('TFTP', '--tftp-port', options.tftpPort, options.bind, err);
      }
    } else services.tftp = { state: 'off', reason: 'disabled' };
    let dhcpServers: DhcpServer[] = [];
    if (options.dhcp ?? site.dhcp.enabled) {
      try {
        dhcpServers = await startDhcp({ outpost, site, catalogue, where: { host, httpPort, tftpPort: address.tftpPort, httpUrl: `http://${host}:${httpPort}/prov/` }, port: options.dhcpPort, log });
      } catch (err) {
        await tftp?.stop();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        if (err instanceof UserError) throw err;
        throw portError('DHCP', '--dhcp-port', options.dhcpPort, '0.0.0.0', err);
      }
      const server = dhcpServers[0]!;
      catalogue.useLeases(server.lookup());
      services.dhcp = { state: 'up', address: `${site.dhcp.interface}:${options.dhcpPort}` };
      options.out(`ready dhcp on ${site.dhcp.interface} port ${options.dhcpPort}, ${site.dhcp.subnet} range ${site.dhcp.range.join('-')}`);
      const u = site.dhcp.untagged;
      if (dhcpServers[1]) options.out(`ready dhcp hand-off on ${u.interface} port ${options.dhcpPort}, ${u.subnet} range ${u.range.join('-')}: phones are told VLAN ${site.network.voiceVlan}`);
      void probeOtherServers({ ourId: server.serverId, serverPort: options.dhcpPort, clientPort: options.dhcpPort + 1, bindToDevice: server.bindSocket }).then(
        async (others) => {
          if (!others.length) return;
          const message = `ANOTHER DHCP SERVER answers on ${site.dhcp.interface}: ${others.join(', ')}. Phones may get their address from it and never find Outpost; switch one of them off, or keep the router's and use outpost dhcp snippet.`;
          options.out(`warning: ${message}`);
          await outpost.store.events.add({ type: 'dhcp.rogue', level: 'error', message, data: { servers: others } }).catch(() => undefined);
        },
        (err: Error) => log.warn({ err: err.message }, 'could not probe for other DHCP servers'),
      );
    } else services.dhcp = { state: 'off', reason: 'disabled' };
    if (options.sip) {
      sip = new SipService({ host: options.bind, advertise: host, port: options.sipPort, store: outpost.store, inventory: outpost.inventory, vendors: outpost.vendors, log });
      metrics.watchSip(sip);
      try {
        const bound = await sip.start();
        address.sipPort = bound.port;
        services.sip = { state: 'up', address: `${options.bind}:${bound.port}` };
        options.out(`ready sip sip:${host}:${bound.port} udp+tcp (bound to ${options.bind}:${bound.port})`);
        const running = sip;
        const currentSite = () => outpost.inventory.latest()?.site;
        monitor = new UpstreamMonitor({ layer: running.layer, self: () => running.self(), site: currentSite, store: outpost.store, log });
        running.mode = () => monitor!.mode();
        proxy = new CallProxy({
          layer: running.layer,
          transport: running.transport,
          self: () => running.self(),
          site: currentSite,
          lines: () => running.allLines(),
          contacts: (user) => running.contactsOf(user),
          mode: () => monitor!.mode(),
          authenticate: (tx, reply) => running.authenticate(tx, 'proxy', reply),
          store: outpost.store,
          log,
        });
        running.useCalls(proxy);
        await outpost.store.calls.closeOpen(Date.now());
        monitor.start();
        metrics.watchSurvival(monitor, proxy);
        if (site.upstream.proxy) options.out(`ready upstream monitor: OPTIONS to ${site.upstream.proxy} every ${site.upstream.interval} s`);
      } catch (err) {
        for (const d of dhcpServers) await d.stop();
        await tftp?.stop();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        throw portError('SIP', '--sip-port', options.sipPort, options.bind, err);
      }
    } else services.sip = { state: 'off', reason: 'disabled' };
    // Never fails serve: a problem is `off mdns: <reason>` and services.mdns says why.
    let mdns: RunningMdns | undefined;
    if (options.mdns) mdns = await startMdns({ bind: options.bind, advertise: host, httpPort, siteName: () => outpost.inventory.latest()?.site.site.name ?? site.site.name, services, out: options.out, log });
    else services.mdns = { state: 'off', reason: 'disabled' };
    await outpost.store.events.add({ type: 'service.started', message: `Outpost started; provisioning at http://${host}:${httpPort}/prov/` });

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        await mdns?.stop(); // goodbyes first, while the page still answers
        monitor?.stop();
        await sip?.stop();
        for (const d of dhcpServers) await d.stop();
        await tftp?.stop();
        http.closeIdleConnections();
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        const forced = setTimeout(() => http.closeAllConnections(), 2000);
        await closed;
        clearTimeout(forced);
        await outpost.store.events.add({ type: 'service.stopped', message: 'Outpost stopped' }).catch(() => undefined);
        await outpost.close();
      })());
    return { outpost, http, httpPort, tftpPort: tftp ? address.tftpPort : undefined, sip, sipPort: sip ? address.sipPort : undefined, stop };
  } catch (err) {
    await outpost.close();
    throw err;
  }
}
