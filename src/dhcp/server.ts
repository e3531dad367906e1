/**
 * The DHCPv4 server: a thin owner of the socket. Packets are decoded by codec.ts, addresses chosen by
 * leases.ts, options by policy.ts; this file only sequences them, persists before acknowledging, and sends each
 * reply where RFC 2131 section 4.1 says.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../app/log.js';
import type { SiteSettings } from '../config/schema.js';
import { cidrContains, netmask, parseCidr, type Cidr } from '../net/cidr.js';
import { parseMac, type Mac } from '../net/mac.js';
import type { Store } from '../store/index.js';
import type { Lease } from '../store/leases.js';
import type { ProvisioningLocation, VendorPlugin } from '../vendors/types.js';
import {
  BOOTREPLY,
  BOOTREQUEST,
  BROADCAST_FLAG,
  MessageType,
  Option,
  chaddrMac,
  clientKey,
  decode,
  encode,
  readIpList,
  type DhcpMessage,
} from './codec.js';
import { LeaseBook } from './leases.js';
import { recognise, replyOptions, userClasses, type Recognition } from './policy.js';

export const SERVER_PORT = 67;
const RECEIVE_BUFFER = 4 * 1024 * 1024;
const SEND_BUFFER = 1024 * 1024;
export const CLIENT_PORT = 68;

export interface DhcpCounters {
  received: number;
  malformed: number;
  ignored: number;
  offers: number;
  acks: number;
  naks: number;
  declines: number;
  releases: number;
  informs: number;
  exhausted: number;
}

export interface KnownDevice {
  recognition?: Recognition | undefined;
  address?: string | undefined;
  /** The device's own voice VLAN (`device set MAC network.voiceVlan N`), told in option 132 instead of the site's. */
  voiceVlan?: number | undefined;
}

export interface DhcpServerOptions {
  site: SiteSettings;
  /** The address this server answers from (option 54) on the served subnet. */
  serverId: string;
  where: ProvisioningLocation;
  vendors: readonly VendorPlugin[];
  store: Store;
  log: Logger;
  /** Port to listen on (67; tests use another). Replies go to `clientPort` (68) or a relay's `port`. */
  port?: number;
  clientPort?: number;
  /** Address to bind; 0.0.0.0 to receive broadcasts. */
  bindAddress?: string;
  /**
   * Only these options (besides the message type, server id and lease terms) are sent: the untagged segment of a
   * VLAN hand-off tells phones the voice VLAN and nothing else, so they provision inside the VLAN.
   */
  onlyOptions?: readonly number[];
  /**
   * Writes the ARP entry that lets a reply be unicast to a client without an address (RFC 2131 4.1); without
   * it (or when it fails: it needs CAP_NET_ADMIN) such replies are broadcast, which every client accepts.
   */
  setArp?: (ip: string, mac: Buffer) => void;
  /** Where replies for a relay go (its server port, 67); tests point it elsewhere. */
  relayPort?: number;
  /** Sends a reply; by default through the server's socket. Tests capture replies here. */
  transmit?: (packet: Buffer, port: number, host: string) => void;
  /** Restricts the socket to one interface (SO_BINDTODEVICE); called once it is bound. */
  bindToDevice?: (socket: Socket, ifname: string) => void;
  now?: () => number;
  /**
   * The inventory: a device the technician added is answered under phonesOnly even when it does not say what
   * it is, is told what its model's vendor is told, and gets its reserved address.
   */
  known?: () => Promise<ReadonlyMap<string, KnownDevice>>;
  /** A device seen in DHCP that the inventory does not know. */
  onUnknownDevice?: (mac: Mac, recognised: Recognition, address: string) => void;
}

export class DhcpServer {
  readonly counters: DhcpCounters = { received: 0, malformed: 0, ignored: 0, offers: 0, acks: 0, naks: 0, declines: 0, releases: 0, informs: 0, exhausted: 0 };
  private socket: Socket | undefined;
  private book!: LeaseBook;
  private readonly subnet: Cidr;
  private readonly mask: string;
  private readonly now: () => number;
  private lastInventory: ReadonlyMap<string, KnownDevice> | undefined;
  private arpFailed = false;

  constructor(private readonly options: DhcpServerOptions) {
    const subnet = parseCidr(options.site.dhcp.subnet);
    if (typeof subnet === 'string') throw new Error(`dhcp.subnet: ${subnet}`);
    this.subnet = subnet;
    this.mask = netmask(subnet);
    this.now = options.now ?? Date.now;
  }

  get leases(): LeaseBook {
    return this.book;
  }

  get serverId(): string {
    return this.options.serverId;
  }

  /** Binds another socket (the probe's) to the served interface, as the server's own is. */
  readonly bindSocket = (socket: Socket): void => {
    if (this.options.site.dhcp.interface && this.options.bindToDevice) this.options.bindToDevice(socket, this.options.site.dhcp.interface);
  };

  async start(): Promise<{ address: string; port: number }> {
    const { site, store } = this.options;
    const stored = await store.leases.list();
    const inSubnet = stored.filter((l) => this.inSubnet(l.address));
    this.book = new LeaseBook({ first: site.dhcp.range[0]!, last: site.dhcp.range[1]!, reservations: new Map() }, inSubnet, this.now);
    // Port 67 is shared only between sockets each bound to its own interface (the voice segment and the untagged
    // one); without an interface binder a second server must fail to bind rather than answer alongside.
    const socket = createSocket({ type: 'udp4', reuseAddr: Boolean(site.dhcp.interface && this.options.bindToDevice) });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      this.handle(msg, rinfo).catch((err: Error) => this.options.log.error({ err: err.message }, 'DHCP request failed'));
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.options.port ?? SERVER_PORT, this.options.bindAddress ?? '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.options.log.error({ err: err.message }, 'DHCP socket error'));
    socket.setBroadcast(true);
    // A boot storm arrives faster than a commit (fsync) takes: let the kernel hold the burst rather than drop it.
    // Capped by net.core.rmem_max/wmem_max.
    try {
      socket.setRecvBufferSize(RECEIVE_BUFFER);
      socket.setSendBufferSize(SEND_BUFFER);
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'cannot enlarge the DHCP socket buffers');
    }
    if (site.dhcp.interface && this.options.bindToDevice) this.options.bindToDevice(socket, site.dhcp.interface);
    const { address, port } = socket.address();
    this.options.log.info({ address, port, interface: site.dhcp.interface, leases: inSubnet.length }, 'DHCP server listening');
    return { address, port };
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private inSubnet(address: string): boolean {
    return cidrContains(this.subnet, address);
  }

  /** One request in, at most one reply out. Never throws for what a client sent. */
  async handle(packet: Buffer, rinfo: RemoteInfo): Promise<void> {
    this.counters.received++;
    const msg = decode(packet);
    if (msg instanceof Error) {
      this.counters.malformed++;
      this.options.log.debug({ from: rinfo.address, err: msg.message }, 'malformed DHCP packet dropped');
      return;
    }
    const type = msg.options.get(Option.MESSAGE_TYPE)?.[0];
    if (msg.op !== BOOTREQUEST || type === undefined || msg.hlen === 0) {
      this.counters.ignored++;
      return;
    }
    const relayed = msg.giaddr !== '0.0.0.0';
    if (relayed && !this.inSubnet(msg.giaddr)) {
      this.counters.ignored++; // a relay for a subnet this server does not serve
      return;
    }
    const mac = chaddrMac(msg);
    const vendorClass = msg.options.get(Option.VENDOR_CLASS)?.toString('latin1');
    const inventory = await this.options.known?.();
    if (inventory && inventory !== this.lastInventory) {
      this.lastInventory = inventory;
      const reservations = new Map<string, string>();
      for (const [m, d] of inventory) if (d.address) reservations.set(`mac:${m}`, d.address);
      this.book.setReservations(reservations);
    }
    const known = mac ? inventory?.get(mac) : undefined;
    const recognised = recognise({ mac, vendorClass, userClasses: userClasses(msg.options.get(Option.USER_CLASS)) }, this.options.vendors) ?? known?.recognition;
    if (this.options.site.dhcp.phonesOnly && !recognised && !known) {
      this.counters.ignored++;
      return;
    }
    const client = clientKey(msg);
    switch (type) {
      case MessageType.DISCOVER:
        return this.discover(msg, client, mac, recognised);
      case MessageType.REQUEST:
        return this.request(msg, client, mac, recognised, vendorClass);
      case MessageType.DECLINE:
        return this.decline(msg, client);
      case MessageType.RELEASE:
        return this.release(msg, client);
      case MessageType.INFORM:
        return this.inform(msg, mac, recognised);
      default:
        this.counters.ignored++;
    }
  }

  private serverIdOf(msg: DhcpMessage): string | undefined {
    return readIpList(msg.options.get(Option.SERVER_ID))[0];
  }

  private requestedAddress(msg: DhcpMessage): string | undefined {
    return readIpList(msg.options.get(Option.REQUESTED_IP))[0];
  }

  private async discover(msg: DhcpMessage, client: string, mac: string | undefined, recognised: Recognition | undefined): Promise<void> {
    const address = this.book.offer(client, mac, this.requestedAddress(msg));
    if (!address) {
      this.counters.exhausted++;
      this.options.log.warn({ mac }, 'DHCP pool exhausted: no address to offer');
      return;
    }
    this.counters.offers++;
    this.noteDevice(mac, recognised, address);
    this.reply(msg, MessageType.OFFER, address, recognised);
  }

  private async request(msg: DhcpMessage, client: string, mac: string | undefined, recognised: Recognition | undefined, vendorClass: string | undefined): Promise<void> {
    const serverId = this.serverIdOf(msg);
    const requested = this.requestedAddress(msg);
    let address: string | undefined;
    if (serverId !== undefined) {
      // SELECTING: the client chose a server; if not this one, our offer is void and we stay silent.
      if (serverId !== this.options.serverId) return;
      address = requested;
    } else if (requested !== undefined) {
      address = requested; // INIT-REBOOT
    } else if (msg.ciaddr !== '0.0.0.0') {
      address = msg.ciaddr; // RENEWING (unicast) or REBINDING (broadcast)
    }
    if (!address) {
      this.counters.ignored++;
      return;
    }
    const check = this.inSubnet(address) ? this.book.check(client, mac, address) : { ok: false as const, reason: `${address} is not on subnet ${this.subnet.text}` };
    if (!check.ok) {
      this.counters.naks++;
      this.options.log.info({ mac, address, reason: check.reason }, 'DHCPNAK');
      this.reply(msg, MessageType.NAK, '0.0.0.0', undefined, check.reason);
      return;
    }
    const hostname = msg.options.get(Option.HOSTNAME)?.toString('latin1');
    const lease = this.book.commit(client, address, this.options.site.dhcp.leaseTime, { mac, hostname, vendorClass });
    // Durable before the client is told.
    await this.options.store.leases.save(lease);
    this.counters.acks++;
    this.noteDevice(mac, recognised, address);
    this.reply(msg, MessageType.ACK, address, recognised);
  }

  private async decline(msg: DhcpMessage, client: string): Promise<void> {
    const address = this.requestedAddress(msg);
    const serverId = this.serverIdOf(msg);
    if (!address || (serverId !== undefined && serverId !== this.options.serverId)) return;
    const lease = this.book.decline(client, address);
    if (!lease) return;
    this.counters.declines++;
    await this.options.store.leases.save(lease);
    this.options.log.warn({ address, client }, 'DHCPDECLINE: address in use by another host; quarantined');
  }

  private async release(msg: DhcpMessage, client: string): Promise<void> {
    const lease = this.book.release(client, msg.ciaddr);
    if (!lease) return;
    this.counters.releases++;
    await this.options.store.leases.save(lease);
  }

  private inform(msg: DhcpMessage, mac: string | undefined, recognised: Recognition | undefined): void {
    this.counters.informs++;
    // A phone with a static address is a DHCP contact too: it goes into the inventory at that address.
    if (msg.ciaddr !== '0.0.0.0') this.noteDevice(mac, recognised, msg.ciaddr);
    this.reply(msg, MessageType.ACK, '0.0.0.0', recognised, undefined, true);
  }

  private noteDevice(mac: string | undefined, recognised: Recognition | undefined, address: string): void {
    const parsed = mac ? parseMac(mac) : undefined;
    if (parsed && recognised) this.options.onUnknownDevice?.(parsed, recognised, address);
  }

  private reply(msg: DhcpMessage, type: number, yiaddr: string, recognised: Recognition | undefined, nakMessage?: string, inform = false): void {
    const socket = this.socket;
    if (!socket) return;
    const site = this.options.site;
    const mac = chaddrMac(msg);
    const ownVlan = mac === undefined ? undefined : this.lastInventory?.get(mac)?.voiceVlan;
    const ctx = {
      site: ownVlan === undefined ? site : { ...site, network: { ...site.network, voiceVlan: ownVlan } },
      serverId: this.options.serverId,
      subnetMask: this.mask,
      where: this.options.where,
      leaseSeconds: site.dhcp.leaseTime,
    };
    const options =
      type === MessageType.NAK
        ? new Map<number, Buffer>([
            [Option.MESSAGE_TYPE, Buffer.from([MessageType.NAK])],
            [Option.SERVER_ID, Buffer.from(this.options.serverId.split('.').map(Number))],
            ...(nakMessage ? ([[Option.MESSAGE, Buffer.from(nakMessage, 'latin1')]] as Array<[number, Buffer]>) : []),
          ])
        : replyOptions(ctx, recognised, msg.options.get(Option.PARAMETER_LIST), inform ? MessageType.ACK : type);
    if (inform) for (const code of [Option.LEASE_TIME, Option.RENEWAL_TIME, Option.REBINDING_TIME]) options.delete(code);
    const only = this.options.onlyOptions;
    if (only) {
      const keep = new Set<number>([Option.MESSAGE_TYPE, Option.SERVER_ID, Option.MESSAGE, Option.LEASE_TIME, Option.RENEWAL_TIME, Option.REBINDING_TIME, ...only]);
      for (const code of [...options.keys()]) if (!keep.has(code)) options.delete(code);
    }
    const relayInfo = msg.options.get(Option.RELAY_AGENT);
    if (relayInfo) options.set(Option.RELAY_AGENT, relayInfo); // RFC 3046: echoed, last
    const reply: DhcpMessage = {
      op: BOOTREPLY,
      htype: msg.htype,
      hlen: msg.hlen,
      hops: 0,
      xid: msg.xid,
      secs: 0,
      flags: type === MessageType.NAK && msg.giaddr !== '0.0.0.0' ? msg.flags | BROADCAST_FLAG : msg.flags,
      ciaddr: inform || type === MessageType.ACK ? msg.ciaddr : '0.0.0.0',
      yiaddr,
      siaddr: type === MessageType.NAK ? '0.0.0.0' : this.options.serverId,
      giaddr: msg.giaddr,
      chaddr: msg.chaddr,
      sname: '',
      file: '',
      options,
    };
    const maxOption = msg.options.get(Option.MAX_MESSAGE_SIZE);
    const maxSize = maxOption && maxOption.length === 2 ? maxOption.readUInt16BE(0) - 28 : undefined;
    const { packet, dropped } = encode(reply, { maxSize });
    if (dropped.length) this.options.log.warn({ mac: chaddrMac(msg), dropped }, 'DHCP reply too large for the client: options left out');
    const [host, port] = this.destination(msg, type, inform, yiaddr);
    if (this.options.transmit) this.options.transmit(packet, port, host);
    else socket.send(packet, port, host);
  }

  /** RFC 2131 §4.1: a relay gets it on the server port; a client with an address by unicast; else broadcast. */
  private destination(msg: DhcpMessage, type: number, inform: boolean, yiaddrOf: string): [string, number] {
    const clientPort = this.options.clientPort ?? CLIENT_PORT;
    if (msg.giaddr !== '0.0.0.0') return [msg.giaddr, this.options.relayPort ?? SERVER_PORT];
    if (type === MessageType.NAK) return ['255.255.255.255', clientPort];
    if (msg.ciaddr !== '0.0.0.0' && (inform || type === MessageType.ACK)) return [msg.ciaddr, clientPort];
    // A client that did not ask for broadcast gets its OFFER/ACK unicast to yiaddr at its hardware address:
    // the kernel cannot ARP for an address the client does not have yet, so the entry is written first.
    if (!(msg.flags & BROADCAST_FLAG) && yiaddrOf !== '0.0.0.0' && this.options.setArp && msg.htype === 1 && msg.hlen === 6 && !this.arpFailed) {
      try {
        this.options.setArp(yiaddrOf, msg.chaddr.subarray(0, 6));
        return [yiaddrOf, clientPort];
      } catch (err) {
        this.arpFailed = true;
        this.options.log.warn({ err: (err as Error).message }, 'cannot write ARP entries (needs CAP_NET_ADMIN): replies to clients without an address are broadcast');
      }
    }
    return ['255.255.255.255', clientPort];
  }

  /** For TFTP identification: the MAC that holds `ip`, and where a MAC's lease is. */
  lookup(): { macAt(ip: string): Mac | undefined; addressOf(mac: Mac): string | undefined } {
    return {
      macAt: (ip) => {
        const mac = this.book?.leaseAt(ip)?.mac;
        return mac ? parseMac(mac) : undefined;
      },
      addressOf: (mac) => this.book?.active().find((l: Lease) => l.mac === mac)?.address,
    };
  }
}

/**
 * Servers that check an address before offering it answer late: busybox udhcpd ARP-pings it for 2 s, dnsmasq
 * pings it for up to 3 s, ISC dhcpd for 1 s. A shorter listening window misses exactly those.
 */
export const MIN_PROBE_WAIT_MS = 5000;

/**
 * Asks the segment once whether another DHCP server answers: a DISCOVER with a random MAC from port 68, and
 * every OFFER not from `ourId` within `waitMs` (at least MIN_PROBE_WAIT_MS) is reported.
 */
export async function probeOtherServers(opts: { ourId: string; waitMs?: number; serverPort?: number; clientPort?: number; bindToDevice?: (s: Socket) => void }): Promise<string[]> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const xid = randomBytes(4).readUInt32BE(0);
  const found = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.clientPort ?? CLIENT_PORT, '0.0.0.0', () => resolve());
    });
    socket.setBroadcast(true);
    opts.bindToDevice?.(socket);
    socket.on('message', (packet) => {
      const m = decode(packet);
      if (m instanceof Error || m.xid !== xid || m.op !== BOOTREPLY) return;
      const id = readIpList(m.options.get(Option.SERVER_ID))[0];
      if (id && id !== opts.ourId) found.add(id);
    });
    const chaddr = Buffer.concat([Buffer.from([0x02]), randomBytes(5)]);
    const discover: DhcpMessage = {
      op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid, secs: 0, flags: BROADCAST_FLAG,
      ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
      options: new Map([[Option.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])], [Option.PARAMETER_LIST, Buffer.from([1, 3, 6])]]),
    };
    socket.send(encode(discover).packet, opts.serverPort ?? SERVER_PORT, '255.255.255.255');
    await new Promise((r) => setTimeout(r, Math.max(opts.waitMs ?? MIN_PROBE_WAIT_MS, MIN_PROBE_WAIT_MS)));
  } finally {
    socket.close();
  }
  return [...found];
}

