/**
 * `serve()` in this process with only HTTP, on 127.0.0.1 and a free port (the API, provisioning and page tests):
 * no TFTP, SIP, DHCP or mDNS. The caller gives the data, the site file and the logger.
 */
import { serve, type RunningOutpost, type ServeOptions } from '../../src/app/serve.js';

export function serveHttpOnly(options: Pick<ServeOptions, 'dataDir' | 'firmwareDir' | 'configFile' | 'log'>): Promise<RunningOutpost> {
  return serve({
    ...options,
    bind: '127.0.0.1',
    advertise: '127.0.0.1',
    httpPort: 0,
    tftpPort: 0,
    sipPort: 0,
    dhcpPort: 0,
    tftp: false,
    sip: false,
    dhcp: false,
    mdns: false,
    out: () => {},
  });
}
