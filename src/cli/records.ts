/** `outpost events|calls|leases|handover`: what the page's Events, Calls, Leases and Handover show, from the store. */
import type { Command } from 'commander';
import { handoverSheet, handoverText } from '../app/handover.js';
import { currentLeases, publicCall } from '../http/api.js';
import { formatMac } from '../net/mac.js';
import { UserError } from '../app/errors.js';
import { print, withOutpost, type GlobalOptions } from './context.js';
import { json, table } from './output.js';

function count(name: string, fallback: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > 10_000) throw new UserError(`--${name} must be a whole number 1..10000, not "${value}" (default ${fallback})`);
    return n;
  };
}

export function registerRecordCommands(program: Command): void {
  program
    .command('events')
    .description('the event log, newest first')
    .option('--type <type>', 'only this type, e.g. device.discovered, sip.auth_failed, call.ended')
    .option('--mac <mac>', 'only this device')
    .option('--limit <n>', 'at most this many (default 50)', count('limit', 50), 50)
    .option('--json', 'as JSON (as GET /api/v1/events)')
    .action(async (opts: { type?: string; mac?: string; limit: number; json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const events = await outpost.store.events.list({ type: opts.type, mac: opts.mac ? outpost.parseMacOrThrow(opts.mac) : undefined, limit: opts.limit });
        if (opts.json) return print(json(events));
        if (!events.length) return print('no events match');
        print(table(events.map((e) => [e.at, e.level, e.type, e.mac ? formatMac(e.mac as Parameters<typeof formatMac>[0]) : '', e.message]), ['AT', 'LEVEL', 'TYPE', 'DEVICE', 'WHAT']));
      });
    });

  program
    .command('calls')
    .description('the calls Outpost routed itself in survival mode, newest first')
    .option('--limit <n>', 'at most this many (default 200)', count('limit', 200), 200)
    .option('--json', 'as JSON (as GET /api/v1/calls)')
    .action(async (opts: { limit: number; json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const calls = await outpost.store.calls.list({ limit: opts.limit });
        if (opts.json) return print(json(calls.map(publicCall)));
        if (!calls.length) return print('no call was routed by Outpost yet (calls go through the Centrex in normal mode)');
        const seconds = (a?: number, b?: number) => (a && b ? `${Math.round((b - a) / 1000)} s` : '');
        print(table(calls.map((c) => [new Date(c.startedAt).toISOString(), c.caller, c.callee, c.route, c.result, seconds(c.answeredAt, c.endedAt)]), ['STARTED', 'FROM', 'TO', 'ROUTE', 'RESULT', 'TALK']));
      });
    });

  program
    .command('leases')
    .description('the DHCP leases Outpost has given that are still valid')
    .option('--json', 'as JSON (as GET /api/v1/leases)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const leases = await currentLeases(outpost);
        if (opts.json) return print(json(leases));
        if (!leases.length) return print('no valid lease (is dhcp.enabled set, and does serve run?)');
        print(table(leases.map((l) => [String(l.address), String(l.mac ?? ''), String(l.hostname ?? ''), String(l.expiresAt)]), ['ADDRESS', 'MAC', 'HOSTNAME', 'EXPIRES']));
      });
    });

  program
    .command('handover')
    .description('the handover sheet: network settings and every device with its lines (no passwords)')
    .option('--json', 'as JSON (as GET /api/v1/handover)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const sheet = await handoverSheet(outpost);
        print(opts.json ? json(sheet) : handoverText(sheet, table));
      });
    });
}
