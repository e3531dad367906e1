/**
 * MAC addresses as technicians type them and devices send them. Stored and compared in one canonical form:
 * twelve lowercase hex digits, no separators (the form Yealink puts in its file names).
 */
export type Mac = string & { readonly __mac: unique symbol };

const NOTATIONS: readonly RegExp[] = [
  /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i,
  /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i,
  /^([0-9a-f]{12})$/i,
];

/** Parses every common notation; returns undefined for anything that is not a MAC. */
export function parseMac(text: string): Mac | undefined {
  const trimmed = text.trim();
  for (const notation of NOTATIONS) {
    const m = notation.exec(trimmed);
    if (!m) continue;
    // Mixed separators (00:15-65...) are a typo, not a notation.
    if (notation === NOTATIONS[0]) {
      const separators = trimmed.replace(/[0-9a-f]/gi, '');
      if (new Set(separators).size !== 1) return undefined;
    }
    return m.slice(1).join('').toLowerCase() as Mac;
  }
  return undefined;
}

export function isMac(text: string): boolean {
  return parseMac(text) !== undefined;
}

/** `00:15:65:aa:bb:01`, for display. */
export function formatMac(mac: Mac, separator = ':'): string {
  return mac.match(/../g)!.join(separator);
}

/** The vendor prefix (OUI), six hex digits. */
export function macPrefix(mac: Mac): string {
  return mac.slice(0, 6);
}

export const MAC_HINT = 'use 12 hex digits in any common notation, e.g. 00:15:65:AA:BB:01, 00-15-65-aa-bb-01, 001565aabb01 or 0015.65aa.bb01';
