/**
 * What DHCP tells a Mediatrix about its configuration (device-formats.md §3.1). Pure.
 *  - DGW: option 66 as a URL ending in `/` and 67 as the URL of its own script; `%mac%` is the unit's macro
 *    (Conf.ScriptsDhcpOptionsFormat AutoDetect reads both as URLs; MX-CONF-MIB).
 *  - v5: option 43 with Media5 sub-option 201, the configuration-file server. The unit then fetches its
 *    specific file, `%mac%.cfg` by default, over TFTP (configFileTransferProtocol default; MX-CONFIG-FILE-
 *    FETCHING-MIB), so the server is Outpost's address and TFTP port.
 */
import { isIPv4 } from 'node:net';
import type { ProvisioningLocation } from '../types.js';
import type { MediatrixModel } from './models.js';
import { UNVERIFIED } from './unverified.js';

export const SUBOPTION_CONFIG_FILE_SERVER = 201;

/**
 * A Media5 address sub-option value: 4 bytes (IPv4), 6 bytes (IPv4 and port), or more than 6 bytes (a host
 * name, `:port` appended, padded with spaces to 7 bytes so it cannot be read as an address).
 */
export function media5Address(host: string, port: number): Buffer {
  if (isIPv4(host)) {
    const b = Buffer.alloc(6);
    host.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), i));
    if (UNVERIFIED.v5.portByteOrder === 'big-endian') b.writeUInt16BE(port, 4);
    else b.writeUInt16LE(port, 4);
    return b;
  }
  return Buffer.from(`${host}:${port}`.padEnd(7, ' '), 'ascii');
}

/** Option 43 content: sub-options as code, length, value. */
export function vendorSuboptions(entries: Array<[number, Buffer]>): Buffer {
  return Buffer.concat(entries.map(([code, value]) => {
    if (value.length > 255) throw new RangeError(`sub-option ${code} is longer than 255 bytes`);
    return Buffer.concat([Buffer.from([code, value.length]), value]);
  }));
}

export function mediatrixProvisioningOptions(where: ProvisioningLocation, model: MediatrixModel | undefined): Array<[number, Buffer]> {
  if (model?.generation === 'v5') {
    return [[43, vendorSuboptions([[SUBOPTION_CONFIG_FILE_SERVER, media5Address(where.host, where.tftpPort)]])]];
  }
  return [
    [66, Buffer.from(where.httpUrl, 'ascii')],
    [67, Buffer.from(`${where.httpUrl}%mac%.cfg`, 'ascii')],
  ];
}
