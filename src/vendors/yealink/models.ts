/**
 * Yealink models and their rebrands. One row per model: adding a model (or a rebrand such as the Well YV3, once
 * its User-Agent is known) is one row here. `code` is the XX of the common file `y0000000000XX.cfg`; it is NOT
 * derived from the firmware for the T2x generation (T22P runs 7.x firmware but its code is 05).
 * `generation` picks the parameter dialect: `v7x` (T2xP, VP530: unprefixed keys) or `v8x` (T4x/T5x from
 * firmware 8x on: network, auto-provision and security keys under `static.`).
 */
import type { ModelSpec } from '../types.js';

export interface YealinkModel extends ModelSpec {
  readonly code: string;
  readonly generation: 'v7x' | 'v8x';
}

function m(id: string, code: string, accounts: number, firmwarePrefix: string, generation: 'v7x' | 'v8x', aliases: string[] = [], vendor = 'Yealink'): YealinkModel {
  return { id, vendor, code, accounts, firmwarePrefix, generation, aliases: [`SIP-${id}`, ...aliases], kind: 'phone' };
}

export const YEALINK_MODELS: readonly YealinkModel[] = [
  // Legacy T2xP generation (firmware V6x/V7x): the branch phones this appliance was built for.
  m('T28P', '00', 6, '2.', 'v7x'),
  m('T26P', '04', 3, '6.', 'v7x'),
  m('T22P', '05', 3, '7.', 'v7x'),
  m('T20P', '07', 2, '9.', 'v7x'),
  m('T12P', '08', 1, '5.', 'v7x'),
  m('T18P', '09', 1, '18.', 'v7x', ['T18']),
  m('VP530', '23', 4, '23.', 'v7x', ['VP530P', 'VP-530']),
  // Well YV3: unidentified (see README, "Adding a model"). When a capture shows its User-Agent, add e.g.
  // m('YV3', '23', 4, '23.', 'v7x', [], 'Well'),
  // T4x/T5x generation: the model code equals the firmware major version.
  m('T19P', '31', 1, '31.', 'v8x'),
  m('T21P', '34', 2, '34.', 'v8x'),
  m('T23G', '44', 3, '44.', 'v8x', ['T23P']),
  m('T27P', '45', 6, '45.', 'v8x'),
  m('T29G', '46', 16, '46.', 'v8x'),
  m('T32G', '32', 3, '32.', 'v8x'),
  m('T38G', '38', 6, '38.', 'v8x'),
  m('T40P', '54', 3, '54.', 'v8x'),
  m('T41P', '36', 6, '36.', 'v8x'),
  m('T42G', '29', 12, '29.', 'v8x'),
  m('T46G', '28', 16, '28.', 'v8x'),
  m('T48G', '35', 16, '35.', 'v8x'),
  m('T49G', '51', 16, '51.', 'v8x', ['VP-T49G']),
  m('T48S', '65', 16, '66.', 'v8x'),
  m('T46S', '66', 16, '66.', 'v8x'),
  m('T42S', '67', 12, '66.', 'v8x'),
  m('T41S', '68', 6, '66.', 'v8x'),
  m('T27G', '69', 6, '69.', 'v8x'),
  m('T54S', '70', 16, '70.', 'v8x'),
  m('T52S', '74', 12, '70.', 'v8x'),
  m('T53W', '95', 12, '95.', 'v8x', ['T53']),
  m('T54W', '96', 16, '96.', 'v8x'),
  m('T57W', '97', 16, '97.', 'v8x'),
  m('T58V', '58', 16, '58.', 'v8x', ['T58A', 'T56A', 'T58']),
];

/** Yealink OUIs (wazo's DHCP classes). Rebrands may use others: identification never requires one of these. */
export const YEALINK_OUIS: readonly string[] = [
  '001565', 'e434d7', '805ec0', '805e0c', '249ad8', '44dbd2', '644f56', 'ec1da9', '3497d7', 'b061a9', 'c4fc22', 'f01653',
];
