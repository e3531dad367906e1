/**
 * Text for devices whose files take a narrow character set: Thomson phones read ISO-8859-1, Mediatrix units
 * printable ASCII. One rule for both: keep what the set has, drop the accents it lacks (ř -> r), spell out
 * the letters no decomposition reaches (ł -> l, ß -> ss), replace anything else.
 */

/** Letters no Unicode decomposition reaches. */
const SPELLED: Readonly<Record<string, string>> = {
  ł: 'l', Ł: 'L', đ: 'd', Đ: 'D', ß: 'ss', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE', ø: 'o', Ø: 'O', þ: 'th', Þ: 'Th', ı: 'i',
};

/**
 * `text` with every character above `max` (0x7e for ASCII, 0xff for Latin-1) transliterated, or replaced by
 * `replacement` when it has no Latin spelling.
 */
export function transliterate(text: string, max: 0x7e | 0xff, replacement = '?'): string {
  let out = '';
  for (const ch of text) {
    if (ch.codePointAt(0)! <= max) {
      out += ch;
      continue;
    }
    const spelled = max === 0x7e ? SPELLED[ch] : undefined;
    if (spelled) {
      out += spelled;
      continue;
    }
    const plain = ch.normalize('NFKD').replace(/\p{M}/gu, '');
    if (plain !== ch && [...plain].every((c) => c.codePointAt(0)! <= max)) out += plain;
    else out += SPELLED[ch] ?? replacement;
  }
  return out;
}
