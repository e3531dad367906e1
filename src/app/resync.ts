/**
 * `outpost device resync MAC` and `POST /api/v1/devices/<mac>/resync`: NOTIFY check-sync to the device through
 * the running SIP service, or (from the CLI, another process) through a short-lived SIP socket of its own on
 * the advertised address, so a phone that accepts check-sync only from Outpost's address takes it.
 */
import { silentLogger } from './log.js';
import type { Outpost } from './outpost.js';
import { UserError } from './errors.js';
import { formatMac } from '../net/mac.js';
import { checkSyncTarget, describeCheckSync, sendCheckSync, type CheckSyncResult } from '../sip/checksync.js';
import { TransactionLayer, DEFAULT_TIMERS } from '../sip/transaction.js';
import { SipTransport } from '../sip/transport.js';

export interface ResyncVia {
  layer: TransactionLayer;
  self(): { host: string; port: number };
}

export async function resyncDevice(outpost: Outpost, macText: string, via?: ResyncVia, options: { bind?: string; timers?: typeof DEFAULT_TIMERS; deadlineMs?: number } = {}): Promise<{ mac: string; result: CheckSyncResult; text: string }> {
  const device = await outpost.getDevice(macText);
  const now = Date.now();
  const bindings = (await outpost.store.bindings.list()).filter((b) => b.mac === device.mac && b.expiresAt > now);
  const lease = (await outpost.store.leases.list()).find((l) => l.mac === device.mac && l.state === 'bound' && l.expiresAt > now);
  const target = checkSyncTarget(bindings, lease?.address ?? device.ip);
  if (!target) throw new UserError(`${formatMac(device.mac)} has no registration, lease or known address to send the NOTIFY to; has it booted?`);
  let result: CheckSyncResult;
  if (via) result = await sendCheckSync(via.layer, via.self(), target, options.deadlineMs);
  else {
    const host = options.bind ?? '0.0.0.0';
    let layer: TransactionLayer | undefined;
    const transport = new SipTransport({ host, port: 0, log: silentLogger, tcp: false, onMessage: (msg, remote) => layer?.receive(msg, remote) });
    layer = new TransactionLayer(transport, { onRequest: (tx) => tx.respond(tx.reply(405)) }, options.timers ?? DEFAULT_TIMERS);
    await transport.start();
    try {
      const site = await outpost.site();
      result = await sendCheckSync(layer, { host: site.advertise || (host === '0.0.0.0' ? '127.0.0.1' : host), port: transport.port }, target, options.deadlineMs);
    } finally {
      layer.clear();
      await transport.stop();
    }
  }
  const text = describeCheckSync(result);
  await outpost.store.events.add({ type: 'device.resync', mac: device.mac, level: result.answered && result.status < 300 ? 'info' : 'warn', message: `resync ${formatMac(device.mac)}: ${text}`, data: { answered: result.answered, status: result.answered ? result.status : undefined, target: target.uri } });
  return { mac: device.mac, result, text };
}
