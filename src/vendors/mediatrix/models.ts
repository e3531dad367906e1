/**
 * Mediatrix (Media5) analog gateways, one row per model. `accounts` are the FXS ports (one line each), `fxo`
 * the FXO ports (the branch's analog PSTN lines). `generation` picks the configuration dialect: `dgw` (DGW
 * firmware: configuration scripts) or `v5` (SIP v5.0 firmware: Unit Manager Network XML).
 *
 * Sources: MX-PRODUCTS-MIB (v5 product ids mediatrix4102, 4104, 4108, 4116, 4124), the "Mediatrix 4102 /
 * 4102S SIP Version, Product Version 5.0" and "Mediatrix 4100 Series 4108/4116/4124 (FXS)" reference manuals
 * (port counts are in the names: 41xx = xx FXS), the DGW Software Configuration Guide (the 4102S and the C7
 * series run DGW), device-formats.md §3. The C711's FXO port is unverified (unverified.ts).
 */
import type { ModelSpec } from '../types.js';
import { UNVERIFIED } from './unverified.js';

export interface MediatrixModel extends ModelSpec {
  readonly generation: 'dgw' | 'v5';
}

function m(id: string, generation: 'dgw' | 'v5', fxs: number, fxo = 0, aliases: string[] = []): MediatrixModel {
  return { id, vendor: 'Mediatrix', kind: 'gateway', accounts: fxs, ...(fxo ? { fxo } : {}), generation, ...(aliases.length ? { aliases } : {}) };
}

export const MEDIATRIX_MODELS: readonly MediatrixModel[] = [
  // DGW firmware.
  m('4102S', 'dgw', 2),
  m('4104', 'dgw', 4),
  m('4108', 'dgw', 8),
  m('4116', 'dgw', 16),
  m('4124', 'dgw', 24),
  m('C711', 'dgw', UNVERIFIED.models.C711.fxs, UNVERIFIED.models.C711.fxo),
  // SIP v5.0 firmware: the original 4102 (2 FXS). `4102` is this model, not an alias of the 4102S.
  m('4102', 'v5', 2),
];

export const MEDIATRIX_OUIS: readonly string[] = ['0090f8'];
