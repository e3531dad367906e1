/**
 * `device resync`: a NOTIFY with `Event: check-sync` to a device, which makes it fetch its files again without
 * a reboot (Yealink, Thomson `sw_notify_autoprovision`, Mediatrix `CheckSync=TransferScript`). Sent to the
 * device's registered contact, else to its DHCP lease or last known address on port 5060; the device's answer
 * is reported as it is.
 */
import type { Binding } from '../store/bindings.js';
import type { SipRequest } from './message.js';
import { ownRequest, type TransactionLayer } from './transaction.js';
import { parseSource, type Remote } from './transport.js';
import { parseUri } from './uri.js';

export interface CheckSyncTarget {
  uri: string;
  dest: Remote;
  /** How the target was found: `registration`, `lease`, `address`. */
  via: string;
}

export type CheckSyncResult = { answered: true; status: number; reason: string; target: CheckSyncTarget } | { answered: false; target: CheckSyncTarget };

/** Where to send the NOTIFY: the newest registration of the device, else its address. */
export function checkSyncTarget(bindings: readonly Binding[], address: string | undefined): CheckSyncTarget | undefined {
  const newest = [...bindings].sort((a, b) => b.updatedAt - a.updatedAt)[0];
  if (newest) {
    const uri = parseUri(newest.contact);
    const dest: Remote = parseSource(newest.source) ?? { transport: 'udp', address: uri.host.replace(/^\[|\]$/g, ''), port: uri.port ?? 5060 };
    return { uri: newest.contact, dest, via: 'registration' };
  }
  if (address) return { uri: `sip:${address}:5060`, dest: { transport: 'udp', address, port: 5060 }, via: 'address' };
  return undefined;
}

export function checkSyncRequest(target: CheckSyncTarget, self: { host: string; port: number }): SipRequest {
  // reboot=false: fetch the files, do not restart (Yealink reboots on a bare check-sync when so configured).
  return ownRequest('NOTIFY', { uri: target.uri, self, transport: target.dest.transport, userAgent: 'Outpost', extra: [['Event', 'check-sync;reboot=false'], ['Subscription-State', 'terminated']] });
}

/** Sends the NOTIFY; a device that has not answered within `deadlineMs` (8 s) is reported as not answering. */
export function sendCheckSync(layer: TransactionLayer, self: { host: string; port: number }, target: CheckSyncTarget, deadlineMs = 8000): Promise<CheckSyncResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: CheckSyncResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ answered: false, target }), deadlineMs);
    layer.request(checkSyncRequest(target, self), target.dest, {
      onProvisional: () => undefined,
      onFinal: (res) => finish({ answered: true, status: res.status, reason: res.reason, target }),
      onTimeout: () => finish({ answered: false, target }),
    });
  });
}

/** What a technician reads. */
export function describeCheckSync(r: CheckSyncResult): string {
  const where = `${r.target.uri} (${r.target.via}, ${r.target.dest.transport} ${r.target.dest.address}:${r.target.dest.port})`;
  if (!r.answered) return `no answer from ${where}: the device is off, unreachable, or ignores NOTIFY from this address`;
  if (r.status >= 200 && r.status < 300) return `${where} answered ${r.status} ${r.reason}: it fetches its files now`;
  if (r.status === 401 || r.status === 407) return `${where} answered ${r.status}: it wants authentication for NOTIFY; allow check-sync from Outpost in its settings`;
  return `${where} answered ${r.status} ${r.reason}`;
}
