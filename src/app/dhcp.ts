/** Starting Outpost's DHCP server from the site: its address on the subnet, its interface, its inventory hook. */
import { networkInterfaces } from 'node:os';
import { UserError } from './errors.js';
import type { Logger } from './log.js';
import type { Outpost } from './outpost.js';
import type { SiteSettings } from '../config/schema.js';
import { cidrContains, parseCidr } from '../net/cidr.js';
import type { ProvisioningCatalogue } from '../provisioning/catalogue.js';
import type { ProvisioningLocation } from '../vendors/types.js';
import { loadBindToDevice, loadSetArp, type BindToDevice } from '../dhcp/device.js';

function arpOn(ifname: string): ((ip: string, mac: Buffer) => void) | undefined {
  const setArp = loadSetArp();
  return setArp ? (ip, mac) => setArp(ifname, ip, mac) : undefined;
}
import { DhcpServer, type KnownDevice } from '../dhcp/server.js';
import type { Snapshot } from '../provisioning/inventory.js';

/** This box's address on the DHCP subnet: the advertised one if it is there, else the interface's. */
export function serverAddressOn(site: SiteSettings, advertised: string): string {
  const subnet = parseCidr(site.dhcp.subnet);
  if (typeof subnet === 'string') throw new UserError(`dhcp.subnet: ${subnet}`);
  if (cidrContains(subnet, advertised)) return advertised;
  for (const a of networkInterfaces()[site.dhcp.interface] ?? []) if (a.family === 'IPv4' && cidrContains(subnet, a.address)) return a.address;
  throw new UserError(
    `no address of this box is on dhcp.subnet ${site.dhcp.subnet} (interface ${site.dhcp.interface}); give ${site.dhcp.interface} an address in it, or set advertise to one`,
  );
}

const knownMemo = new WeakMap<object, Map<string, KnownDevice>>();
const handoffMemo = new WeakMap<object, Map<string, KnownDevice>>();

/** The same, for the hand-off segment: no reservations there (they are addresses of the voice subnet). */
function handoffDevices(snapshot: Snapshot, outpost: Outpost): Map<string, KnownDevice> {
  let known = handoffMemo.get(snapshot.devices);
  if (!known) {
    known = new Map([...knownDevices(snapshot, outpost)].map(([mac, d]) => [mac, { ...d, address: undefined }]));
    handoffMemo.set(snapshot.devices, known);
  }
  return known;
}

/** The inventory as the DHCP server sees it, built once per inventory snapshot. */
function knownDevices(snapshot: Snapshot, outpost: Outpost): Map<string, KnownDevice> {
  let known = knownMemo.get(snapshot.devices);
  if (!known) {
    known = new Map();
    for (const [mac, device] of snapshot.devices) {
      const found = device.model ? outpost.models.find(device.model) : undefined;
      const vlan = device.overrides['network.voiceVlan'];
      known.set(mac, {
        address: device.address,
        recognition: found ? { vendor: found.vendor, model: found.model.id, by: 'inventory' } : undefined,
        voiceVlan: typeof vlan === 'number' ? vlan : undefined,
      });
    }
    knownMemo.set(snapshot.devices, known);
  }
  return known;
}

/** Starts the DHCP server of the voice segment and, when `dhcp.untagged` names an interface, the hand-off one. */
export async function startDhcp(opts: { outpost: Outpost; site: SiteSettings; catalogue: ProvisioningCatalogue; where: ProvisioningLocation; port: number; log: Logger }): Promise<DhcpServer[]> {
  const { site, outpost, catalogue, log } = opts;
  const missing = (['interface', 'subnet', 'router'] as const).filter((k) => !site.dhcp[k]);
  if (missing.length || site.dhcp.range.length !== 2) {
    throw new UserError(`DHCP needs ${[...missing.map((k) => `dhcp.${k}`), ...(site.dhcp.range.length !== 2 ? ['dhcp.range'] : [])].join(', ')} in the site`);
  }
  if (!networkInterfaces()[site.dhcp.interface]) throw new UserError(`dhcp.interface ${site.dhcp.interface} does not exist on this box (ip link shows the interfaces)`);
  const binder = loadBindToDevice();
  if (typeof binder !== 'function') throw new UserError(`cannot restrict DHCP to ${site.dhcp.interface}: ${binder.unavailable}`);
  const serverId = serverAddressOn(site, opts.where.host);
  const server = new DhcpServer({
    site,
    serverId,
    where: { ...opts.where, host: serverId, httpUrl: `http://${serverId}:${opts.where.httpPort}/prov/` },
    vendors: outpost.vendors,
    store: outpost.store,
    log,
    port: opts.port,
    clientPort: opts.port + 1,
    bindToDevice: binder,
    setArp: arpOn(site.dhcp.interface),
    known: async () => knownDevices(await outpost.inventory.current(), outpost),
    onUnknownDevice: (mac, recognised, address) => {
      void catalogue
        .noteDevice(mac, { ip: address, vendor: recognised.vendor.name.split(' ')[0], model: recognised.model }, recognised.vendor, 'dhcp')
        .catch((err: Error) => log.error({ err: err.message }, 'cannot record a device seen in DHCP'));
    },
  });
  await server.start();
  const untagged = site.dhcp.untagged;
  if (!untagged.interface) return [server];
  try {
    return [server, await startUntagged(site, opts, binder)];
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * The VLAN hand-off: on the untagged segment a phone gets a short lease and option 132 and nothing else, then
 * tags its traffic and asks again inside the voice VLAN, where the main server provisions it.
 */
async function startUntagged(site: SiteSettings, opts: { outpost: Outpost; where: ProvisioningLocation; port: number; log: Logger }, binder: BindToDevice): Promise<DhcpServer> {
  const u = site.dhcp.untagged;
  if (!site.network.voiceVlan) throw new UserError('dhcp.untagged hands phones over to the voice VLAN: set network.voiceVlan too');
  if (!u.subnet || u.range.length !== 2) throw new UserError('dhcp.untagged needs subnet and range as well as interface');
  if (!networkInterfaces()[u.interface]) throw new UserError(`dhcp.untagged.interface ${u.interface} does not exist on this box (ip link shows the interfaces)`);
  const handoff: SiteSettings = { ...site, dhcp: { ...site.dhcp, interface: u.interface, subnet: u.subnet, range: u.range, router: '', dns: [], leaseTime: u.leaseTime, phonesOnly: true } };
  const serverId = serverAddressOn(handoff, opts.where.host);
  const server = new DhcpServer({
    site: handoff,
    serverId,
    where: opts.where,
    vendors: opts.outpost.vendors,
    store: opts.outpost.store,
    log: opts.log,
    port: opts.port,
    clientPort: opts.port + 1,
    bindToDevice: binder,
    setArp: arpOn(u.interface),
    // Known devices pass the phones-only filter and may have a VLAN of their own.
    known: async () => handoffDevices(await opts.outpost.inventory.current(), opts.outpost),
    onlyOptions: [1, 132],
  });
  await server.start();
  return server;
}
