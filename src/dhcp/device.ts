/**
 * SO_BINDTODEVICE for the DHCP socket, through the small addon in native/ (built by `npm install`). Without it
 * a server bound to 0.0.0.0:67 would answer on every interface of the box.
 */
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The file descriptor of a bound dgram socket, from Node's internal state (the public `_handle` is deprecated). */
function fdOf(socket: Socket): number {
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    const state = (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[symbol];
    if (state && typeof state === 'object' && state.handle && typeof state.handle.fd === 'number') return state.handle.fd;
  }
  throw new Error('cannot find the socket\'s file descriptor');
}

export type BindToDevice = (socket: Socket, ifname: string) => void;
/** Adds a complete ARP entry `ip -> mac` on `ifname` (SIOCSARP), so a reply can be unicast before the client answers ARP. */
export type SetArp = (ifname: string, ip: string, mac: Buffer) => void;

interface Addon {
  bindToDevice(fd: number, ifname: string): void;
  setArp(ifname: string, ip: string, mac: Buffer): void;
}

function addon(): Addon {
  return require('../../build/Release/bindtodevice.node') as Addon;
}

/** The ARP writer, or undefined when the addon is not built. */
export function loadSetArp(): SetArp | undefined {
  try {
    const a = addon();
    return (ifname, ip, mac) => a.setArp(ifname, ip, mac);
  } catch {
    return undefined;
  }
}

/** The binder, or the reason it is not available (the addon was not built). */
export function loadBindToDevice(): BindToDevice | { unavailable: string } {
  try {
    const native = addon();
    return (socket, ifname) => {
      try {
        native.bindToDevice(fdOf(socket), ifname);
      } catch (err) {
        throw new Error(`cannot bind the DHCP socket to interface ${ifname}: ${(err as Error).message}`);
      }
    };
  } catch (err) {
    return { unavailable: `the bindtodevice addon is not built (${(err as Error).message.split('\n')[0]}); run npm install` };
  }
}
