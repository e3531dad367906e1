/**
 * perfdhcp (Kea's DHCP load generator) for scripts/bench/dhcp.ts: the command line of one run and a parser for
 * its final report.
 *
 * The report (perfdhcp 2.2, basic scenario, DHCPv4) looks like:
 *
 *   ***Rate statistics***
 *   Rate: 374.523 4-way exchanges/second, expected rate: 500
 *   ***Statistics for: DISCOVER-OFFER***
 *   sent packets: 1499
 *   received packets: 1499
 *   drops: 0
 *   drops ratio: 0 %
 *   orphans: 0
 *   rejected leases: 0
 *   non unique addresses: 0
 *   min delay: 0.043 ms
 *   avg delay: 1.128 ms
 *   max delay: 15.287 ms
 *   std deviation: 1.588 ms
 *   collected packets: 0
 *   ***Statistics for: REQUEST-ACK***
 *   ...
 *
 * perfdhcp's own "Rate" divides by the whole run including the exit wait (-W), so the benchmark computes the
 * achieved lease rate itself (ACKs received / sending period).
 */

export interface ExchangeStats {
  sent: number;
  received: number;
  drops: number;
  orphans: number;
  rejected: number;
  nonUnique: number;
  /** Milliseconds; NaN when perfdhcp printed none (nothing received). */
  minMs: number;
  avgMs: number;
  maxMs: number;
  stdMs: number;
}

export interface PerfdhcpReport {
  /** perfdhcp's own figure (exchanges over the whole run including the exit wait). */
  rate: number;
  expectedRate: number;
  malformed: number;
  discoverOffer: ExchangeStats;
  requestAck: ExchangeStats;
}

const EMPTY: ExchangeStats = { sent: 0, received: 0, drops: 0, orphans: 0, rejected: 0, nonUnique: 0, minMs: NaN, avgMs: NaN, maxMs: NaN, stdMs: NaN };

function num(block: string, label: string): number {
  const m = new RegExp(`^${label}:\\s*([-+0-9.eE]+)`, 'm').exec(block);
  return m ? Number(m[1]) : NaN;
}

function exchange(text: string, name: string): ExchangeStats | undefined {
  const start = text.indexOf(`***Statistics for: ${name}***`);
  if (start < 0) return undefined;
  const rest = text.slice(start + name.length + 20);
  const end = rest.indexOf('***');
  const block = end < 0 ? rest : rest.slice(0, end);
  const int = (label: string) => {
    const n = num(block, label);
    return Number.isFinite(n) ? n : 0;
  };
  return {
    sent: int('sent packets'),
    received: int('received packets'),
    drops: int('drops'),
    orphans: int('orphans'),
    rejected: int('rejected leases'),
    nonUnique: int('non unique addresses'),
    minMs: num(block, 'min delay'),
    avgMs: num(block, 'avg delay'),
    maxMs: num(block, 'max delay'),
    stdMs: num(block, 'std deviation'),
  };
}

/** The final report, or an Error saying what is missing. */
export function parsePerfdhcp(text: string): PerfdhcpReport | Error {
  const rate = /^Rate:\s*([0-9.eE+-]+)\s+4-way exchanges\/second,\s*expected rate:\s*([0-9.eE+-]+)/m.exec(text);
  const discoverOffer = exchange(text, 'DISCOVER-OFFER');
  if (!discoverOffer) return new Error('no "Statistics for: DISCOVER-OFFER" section in the perfdhcp output');
  // With no OFFER at all, perfdhcp sends no REQUEST and may leave the REQUEST-ACK section out.
  const requestAck = exchange(text, 'REQUEST-ACK') ?? { ...EMPTY };
  const malformed = /^Malformed packets:\s*(\d+)/m.exec(text);
  return {
    rate: rate ? Number(rate[1]) : NaN,
    expectedRate: rate ? Number(rate[2]) : NaN,
    malformed: malformed ? Number(malformed[1]) : 0,
    discoverOffer,
    requestAck,
  };
}

export interface PerfdhcpRun {
  /** The relay address: perfdhcp binds it and puts it in giaddr (relayed packets to the server's unicast address). */
  relay: string;
  server: string;
  rate: number;
  /** Seconds of sending (-p). */
  period: number;
  /** Distinct simulated clients (-R); large, so that nearly every exchange is a new client and a new lease. */
  clients: number;
  /** Seconds after which a request without an answer is a drop (-d). */
  dropTime: number;
  /** Seconds to wait for late answers once sending stops (-W, given in microseconds). */
  exitWait: number;
}

/**
 * `perfdhcp -4 -l RELAY -r RATE -R CLIENTS -p PERIOD -d DROP -W WAIT_US SERVER`: 4-way exchanges (DORA), relayed:
 * with -l an address and a unicast server, perfdhcp sets giaddr to that address, hops 1, and sends from port 67,
 * so the server answers by unicast to the relay's server port (RFC 2131 §4.1), as a real relay would get it.
 */
export function perfdhcpArgs(r: PerfdhcpRun): string[] {
  return [
    '-4',
    '-l', r.relay,
    '-r', String(r.rate),
    '-R', String(r.clients),
    '-p', String(r.period),
    '-d', String(r.dropTime),
    '-W', String(Math.round(r.exitWait * 1e6)),
    r.server,
  ];
}
