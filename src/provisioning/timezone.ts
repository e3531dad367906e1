/**
 * Daylight-saving rules derived from an IANA zone name via the built-in Intl API (full ICU),
 * so phones can be given their zone without a hand-kept table. Pure: no I/O.
 *
 * The year's transitions are found by sampling the zone's UTC offset once a day and
 * binary-searching the exact minute of each change; they are then expressed as POSIX
 * "Mm.w.d/time" rules (and Yealink's "by week" equivalent).
 */

export interface DstTransition {
  month: number; // 1-12
  week: number; // 1-4 = nth occurrence of weekday in month, 5 = last occurrence
  weekday: number; // 0 = Sunday ... 6 = Saturday (POSIX numbering)
  /** Local wall-clock minutes after midnight, in the time in force BEFORE the change. */
  minutes: number;
}

export interface ZoneRule {
  zone: string;
  /** Minutes EAST of UTC in standard time. */
  standardOffsetMinutes: number;
  standardAbbreviation: string;
  dst?: {
    saveMinutes: number;
    abbreviation: string;
    start: DstTransition;
    end: DstTransition;
  };
  posix: string;
}

const MINUTE = 60_000;
const DAY_MINUTES = 24 * 60;

/**
 * Locales whose 'short' zone names are tried in order: CLDR has most abbreviations only in the
 * zone's own locale (AEST in en-AU, IST in en-IN, BST in en-GB, JST only in ja-JP). Other
 * languages are avoided on purpose: de-DE says MEZ, not CET.
 */
const ABBREVIATION_LOCALES = [
  'en-US', 'en-GB', 'en-AU', 'en-CA', 'en-IE', 'en-IN',
  'en-NZ', 'en-ZA', 'en-HK', 'en-ID', 'en-GU', 'ja-JP',
];

interface Change {
  at: number; // epoch minutes of the first minute with the new offset
  before: number;
  after: number;
}

function formatter(zone: string, locale: string, timeZoneName: 'longOffset' | 'short'): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName });
  } catch (err) {
    throw new Error(`Unknown time zone "${zone}": ${(err as Error).message}`);
  }
}

function zoneNamePart(fmt: Intl.DateTimeFormat, epochMinutes: number): string {
  return fmt.formatToParts(epochMinutes * MINUTE).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** UTC offset (minutes east) from a 'longOffset' name: 'GMT+05:30', 'GMT-03:00' or plain 'GMT'. */
function offsetAt(fmt: Intl.DateTimeFormat, epochMinutes: number): number {
  const name = zoneNamePart(fmt, epochMinutes);
  const m = /^GMT(?:([+-])(\d{2}):(\d{2}))?/.exec(name);
  if (!m) throw new Error(`Unexpected offset name "${name}"`);
  const minutes = Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return m[1] === '-' ? -minutes : minutes;
}

/** All offset changes within the UTC year (at most one per day is detected, which real zones satisfy). */
function changesIn(fmt: Intl.DateTimeFormat, year: number): Change[] {
  const start = Date.UTC(year, 0, 1) / MINUTE;
  const end = Date.UTC(year + 1, 0, 1) / MINUTE;
  const changes: Change[] = [];
  let prev = offsetAt(fmt, start);
  for (let t = start; t < end; t += DAY_MINUTES) {
    const next = Math.min(t + DAY_MINUTES, end);
    const after = offsetAt(fmt, next);
    if (after === prev) continue;
    // Invariant: offset(lo) === prev, offset(hi) !== prev.
    let lo = t;
    let hi = next;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetAt(fmt, mid) === prev) lo = mid;
      else hi = mid;
    }
    changes.push({ at: hi, before: prev, after: offsetAt(fmt, hi) });
    prev = after;
  }
  return changes;
}

/** Local wall-clock reading (as UTC fields of a Date) of epoch minute `at` in a zone at `offset`. */
function wall(at: number, offset: number): Date {
  return new Date((at + offset) * MINUTE);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The rule's day in `year` as epoch minutes of its local midnight (wall clock read as UTC). */
function ruleDay(year: number, t: DstTransition): number {
  const firstWeekday = new Date(Date.UTC(year, t.month - 1, 1)).getUTCDay();
  let day = 1 + ((t.weekday - firstWeekday + 7) % 7) + 7 * (t.week - 1);
  while (day > daysInMonth(year, t.month)) day -= 7; // week 5 = last
  return Date.UTC(year, t.month - 1, day) / MINUTE;
}

/**
 * Encodings of one observed change: the plain local date first (a date in the month's last
 * 7 days read as "last", so EU "last Sunday" holds every year; else nth), then the same day
 * with the other week reading, then the day before / after with the time shifted by +/-24h,
 * as tzdb itself writes e.g. Chile (M9.1.6/24), Israel (M3.4.4/26) or Greenland (M3.5.0/-1).
 */
function candidates(change: Change): DstTransition[] {
  const out: DstTransition[] = [];
  for (const shift of [0, -1, 1]) {
    const local = wall(change.at + shift * DAY_MINUTES, change.before);
    const day = local.getUTCDate();
    const nth = Math.ceil(day / 7);
    const last = day > daysInMonth(local.getUTCFullYear(), local.getUTCMonth() + 1) - 7;
    for (const week of last ? [5, nth] : [nth]) {
      out.push({
        month: local.getUTCMonth() + 1,
        week,
        weekday: local.getUTCDay(),
        minutes: local.getUTCHours() * 60 + local.getUTCMinutes() - shift * DAY_MINUTES,
      });
    }
  }
  return out;
}

/** Does the rule reproduce the same change in each of the following years (i.e. as a standing rule)? */
function holdsAfter(fmt: Intl.DateTimeFormat, change: Change, t: DstTransition, year: number): boolean {
  for (let y = year + 1; y <= year + 12; y++) {
    const at = ruleDay(y, t) + t.minutes - change.before;
    if (offsetAt(fmt, at - 1) !== change.before || offsetAt(fmt, at) !== change.after) return false;
  }
  return true;
}

/**
 * [transition for this year (time within the day), rule for the POSIX string]. The POSIX rule is the
 * first candidate that also holds for the next 12 years; when none does (the rules change, or
 * follow e.g. Ramadan) this year's reading is used for both.
 */
function transitionOf(fmt: Intl.DateTimeFormat, change: Change, year: number): [DstTransition, DstTransition] {
  const [first, ...others] = candidates(change);
  if (!first) throw new Error('unreachable: no candidate rule');
  const rule = [first, ...others].find((t) => holdsAfter(fmt, change, t, year)) ?? first;
  return [rule.minutes >= 0 && rule.minutes < DAY_MINUTES ? rule : first, rule];
}

/** '+01', '-03', '+0530' (the tzdb style for zones without a letter abbreviation), wrapped in <> for POSIX. */
function numericAbbreviation(offset: number): string {
  const abs = Math.abs(offset);
  const mm = abs % 60;
  const hhmm = String(Math.floor(abs / 60)).padStart(2, '0') + (mm ? String(mm).padStart(2, '0') : '');
  return `<${offset < 0 ? '-' : '+'}${hhmm}>`;
}

/**
 * Letter abbreviations from CLDR's short names, all taken from one locale when possible so the
 * standard/daylight pair matches (AEST/AEDT); 'GMT+1' style names fall back to '<+01>'.
 */
function abbreviations(zone: string, samples: { at: number; offset: number }[]): string[] {
  const usable = (name: string, offset: number): boolean =>
    /^[A-Za-z]{3,6}$/.test(name) && ((name !== 'GMT' && name !== 'UTC') || offset === 0);
  const byLocale = ABBREVIATION_LOCALES.map((locale) => {
    const fmt = formatter(zone, locale, 'short');
    return samples.map((s) => zoneNamePart(fmt, s.at));
  });
  const whole = byLocale.find((names) => names.every((n, i) => usable(n, samples[i]?.offset ?? NaN)));
  return samples.map(
    (s, i) =>
      whole?.[i] ??
      byLocale.map((names) => names[i] ?? '').find((n) => usable(n, s.offset)) ??
      numericAbbreviation(s.offset),
  );
}

/** Minutes as [-]h[:mm], for POSIX offsets (which count west-positive) and transition times. */
function hoursMinutes(minutes: number): string {
  const abs = Math.abs(minutes);
  const mm = abs % 60;
  return `${minutes < 0 ? '-' : ''}${Math.floor(abs / 60)}${mm ? `:${String(mm).padStart(2, '0')}` : ''}`;
}

function posixRule(t: DstTransition): string {
  return `M${t.month}.${t.week}.${t.weekday}${t.minutes === 120 ? '' : `/${hoursMinutes(t.minutes)}`}`;
}

/**
 * The zone's standard offset and DST rule as in force in `year` (default: current UTC year).
 * A year with exactly two changes that return to the starting offset is DST (the larger offset
 * being daylight time, so Europe/Dublin's "negative DST" comes out as GMT0IST); any other
 * pattern (none, or a permanent offset change) yields no DST and the offset in force at year end.
 */
const memo = new Map<string, ZoneRule>();

/** The rule of `zone` in `year`. Computing one takes milliseconds, so each (zone, year) is computed once. */
export function zoneRule(zone: string, year: number = new Date().getUTCFullYear()): ZoneRule {
  const key = `${zone}|${year}`;
  let rule = memo.get(key);
  if (!rule) {
    rule = computeZoneRule(zone, year);
    memo.set(key, rule);
  }
  return rule;
}

function computeZoneRule(zone: string, year: number): ZoneRule {
  if (!Number.isInteger(year)) throw new Error(`Invalid year ${year}`);
  const fmt = formatter(zone, 'en-US', 'longOffset');
  const changes = changesIn(fmt, year);
  const [first, second] = changes;

  if (changes.length === 2 && first && second && first.before === second.after) {
    const std = Math.min(first.before, first.after);
    const daylight = Math.max(first.before, first.after);
    const [startChange, endChange] = first.after === daylight ? [first, second] : [second, first];
    const [stdAbbr = '', dstAbbr = ''] = abbreviations(zone, [
      { at: endChange.at, offset: std },
      { at: startChange.at, offset: daylight },
    ]);
    const [start, startRule] = transitionOf(fmt, startChange, year);
    const [end, endRule] = transitionOf(fmt, endChange, year);
    const saveMinutes = daylight - std;
    // The daylight offset may be omitted only when it is the POSIX default of one hour ahead.
    const dstOffset = saveMinutes === 60 ? '' : hoursMinutes(-daylight);
    return {
      zone,
      standardOffsetMinutes: std,
      standardAbbreviation: stdAbbr,
      dst: { saveMinutes, abbreviation: dstAbbr, start, end },
      posix: `${stdAbbr}${hoursMinutes(-std)}${dstAbbr}${dstOffset},${posixRule(startRule)},${posixRule(endRule)}`,
    };
  }

  const yearEnd = Date.UTC(year + 1, 0, 1) / MINUTE - 1;
  const std = offsetAt(fmt, yearEnd);
  const [abbr = ''] = abbreviations(zone, [{ at: yearEnd, offset: std }]);
  return { zone, standardOffsetMinutes: std, standardAbbreviation: abbr, posix: `${abbr}${hoursMinutes(-std)}` };
}

/** Yealink local_time.time_zone: '+1', '-5', '+5:30', '0' (zero has no sign). */
export function yealinkTimeZone(rule: ZoneRule): string {
  const offset = rule.standardOffsetMinutes;
  if (offset === 0) return '0';
  return `${offset > 0 ? '+' : '-'}${hoursMinutes(Math.abs(offset))}`;
}

/** Yealink "by week" DST time: month/week/weekday/hour, weekday 1=Monday ... 7=Sunday, week 5 = last. */
export function yealinkDstTime(t: DstTransition): string {
  return `${t.month}/${t.week}/${t.weekday === 0 ? 7 : t.weekday}/${Math.floor(t.minutes / 60)}`;
}
