/**
 * What both Mediatrix dialects share: DSCP to the TOS byte the units take, display names in ASCII, the
 * re-check period in the units' (count, unit) form, the FXS/FXO port plan. Pure.
 */
import type { ResolvedLine, ResolvedSettings } from '../../provisioning/settings.js';
import type { MediatrixModel } from './models.js';
import { transliterate } from '../../provisioning/text.js';

/** The whole TOS byte for a DSCP (0-63): LQos.DefaultDiffServ, qosVoiceDiffServ... take this, not the DSCP. */
export function tos(dscp: number): number {
  if (!Number.isInteger(dscp) || dscp < 0 || dscp > 63) throw new RangeError(`DSCP must be 0-63, not ${dscp}`);
  return dscp << 2;
}

/**
 * A display name the units show and send in From: printable ASCII only. Accents are dropped (`Novák` ->
 * `Novak`), a few letters are spelled out, anything else left is removed; an empty result gives `fallback`.
 */
export function asciiName(name: string, fallback: string): string {
  const out = transliterate(name, 0x7e, '').replace(/[\x00-\x1f]/g, '').replace(/\s+/g, ' ').trim();
  return out || fallback;
}

export type PeriodUnit = 'minutes' | 'hours' | 'days';

/**
 * `minutes` as the (count, unit) pair a unit takes, count at most `max` (DGW 60, v5 48): the largest unit that
 * says it exactly, else the nearest value in the smallest unit that can hold it. 0 means no periodic fetch.
 */
export function recheckPeriod(minutes: number, max: number): { count: number; unit: PeriodUnit } | undefined {
  if (!(minutes > 0)) return undefined;
  const units: Array<[PeriodUnit, number]> = [['days', 1440], ['hours', 60], ['minutes', 1]];
  for (const [unit, size] of units) if (minutes % size === 0 && minutes / size <= max) return { count: minutes / size, unit };
  for (const [unit, size] of [...units].reverse()) {
    const count = Math.round(minutes / size);
    if (count <= max) return { count: Math.max(1, count), unit };
  }
  return { count: max, unit: 'days' };
}

export interface PortPlan {
  /** FXS ports 1..accounts, each with its line when one is assigned. */
  fxs: Array<{ port: number; line: ResolvedLine | undefined }>;
  /** FXO ports 1..fxo. */
  fxo: number[];
}

export function portPlan(model: MediatrixModel, settings: ResolvedSettings): PortPlan {
  return {
    fxs: Array.from({ length: model.accounts }, (_, i) => ({ port: i + 1, line: settings.lines.find((l) => l.index === i + 1) })),
    fxo: Array.from({ length: model.fxo ?? 0 }, (_, i) => i + 1),
  };
}

/** `host:port` the way the units write a server (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The user part Outpost's survival routing expects for calls arriving on an FXO line. */
export const PSTN_USER = 'pstn';
