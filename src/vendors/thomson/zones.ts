/**
 * Thomson's time-zone list: `NtpZoneNum` is an index into these 64 entries, in this order (the list the phones
 * show in their menu; the order and the cities are those of wazo's Technicolor plugin). Each entry names an
 * IANA zone that stands for it, for its UTC offset and daylight-saving rule, and the cities its label names.
 */
import { zoneRule, type ZoneRule } from '../../provisioning/timezone.js';

export const THOMSON_ZONES: ReadonlyArray<readonly [zone: string, cities: string]> = [
  ['Pacific/Kwajalein', 'Eniwetok, Kwajalein'],
  ['Pacific/Midway', 'Midway Island, Samoa'],
  ['US/Hawaii', 'Hawaii, Honolulu'],
  ['US/Alaska', 'Alaska, Anchorage'],
  ['US/Pacific', 'Pacific Time, Los Angeles, Vancouver, Tijuana'],
  ['US/Arizona', 'Arizona, Phoenix'],
  ['US/Mountain', 'Mountain Time, Denver, Edmonton'],
  ['US/Central', 'Central Time, Chicago, Winnipeg'],
  ['America/Tegucigalpa', 'Mexico City, Tegucigalpa'],
  ['Canada/Saskatchewan', 'Central America, Saskatchewan, Regina'],
  ['America/Bogota', 'Bogota, Lima, Quito'],
  ['US/Eastern', 'Eastern Time, New York, Toronto'],
  ['US/East-Indiana', 'Indiana (East), Indianapolis'],
  ['Canada/Atlantic', 'Atlantic Time, Halifax'],
  ['America/La_Paz', 'Caracas, La Paz'],
  ['Canada/Newfoundland', 'Newfoundland, St Johns'],
  ['America/Sao_Paulo', 'Brasilia, Sao Paulo'],
  ['America/Argentina/Buenos_Aires', 'Buenos Aires, Georgetown'],
  ['Atlantic/South_Georgia', 'Mid-Atlantic, South Georgia'],
  ['Atlantic/Azores', 'Azores, Cape Verde'],
  ['Africa/Casablanca', 'Casablanca, Monrovia'],
  ['Europe/London', 'Greenwich Mean Time, Dublin, Edinburgh, Lisbon, London'],
  ['Europe/Paris', 'Amsterdam, Copenhagen, Madrid, Paris, Vilnius'],
  ['Europe/Belgrade', 'Central Europe, Belgrade, Sarajevo, Skopje, Sofia, Zagreb'],
  ['Europe/Bratislava', 'Bratislava, Budapest, Ljubljana, Prague, Warsaw'],
  ['Europe/Brussels', 'Brussels, Berlin, Bern, Rome, Stockholm, Vienna'],
  ['Europe/Athens', 'Athens, Istanbul, Minsk'],
  ['Europe/Bucharest', 'Bucharest'],
  ['Africa/Cairo', 'Cairo'],
  ['Africa/Harare', 'Harare, Pretoria, Johannesburg'],
  ['Europe/Helsinki', 'Helsinki, Riga, Tallinn'],
  ['Israel', 'Israel, Jerusalem'],
  ['Asia/Baghdad', 'Baghdad, Kuwait, Riyadh'],
  ['Europe/Moscow', 'Moscow, St. Petersburg, Volgograd'],
  ['Africa/Nairobi', 'Nairobi'],
  ['Asia/Tehran', 'Tehran'],
  ['Asia/Muscat', 'Abu Dhabi, Muscat, Dubai'],
  ['Asia/Baku', 'Baku, Tbilisi'],
  ['Asia/Kabul', 'Kabul'],
  ['Asia/Yekaterinburg', 'Ekaterinburg, Yekaterinburg'],
  ['Asia/Karachi', 'Islamabad, Karachi, Tashkent'],
  ['Asia/Calcutta', 'Bombay, Calcutta, Kolkata, Madras, New Delhi'],
  ['Asia/Kathmandu', 'Kathmandu'],
  ['Asia/Almaty', 'Almaty, Dhaka'],
  ['Asia/Colombo', 'Colombo'],
  ['Asia/Rangoon', 'Rangoon, Yangon'],
  ['Asia/Bangkok', 'Bangkok, Hanoi, Jakarta'],
  ['Asia/Hong_Kong', 'Beijing, Chongqing, Hong Kong, Urumqi, Shanghai'],
  ['Australia/Perth', 'Perth'],
  ['Asia/Urumqi', 'Taipei, Kuala Lumpur, Singapore'],
  ['Asia/Tokyo', 'Osaka, Sapporo, Tokyo'],
  ['Asia/Seoul', 'Seoul'],
  ['Asia/Yakutsk', 'Yakutsk'],
  ['Australia/Adelaide', 'Adelaide'],
  ['Australia/Darwin', 'Darwin'],
  ['Australia/Brisbane', 'Brisbane'],
  ['Australia/Canberra', 'Canberra, Melbourne, Sydney'],
  ['Pacific/Guam', 'Guam, Port Moresby'],
  ['Australia/Hobart', 'Hobart'],
  ['Asia/Vladivostok', 'Vladivostok'],
  ['Asia/Magadan', 'Magadan, Solomon Is., New Caledonia'],
  ['Pacific/Auckland', 'Auckland, Wellington'],
  ['Pacific/Fiji', 'Fiji, Kamchatka, Marshall Is.'],
  ['Pacific/Tongatapu', "Nuku'alofa, Tongatapu"],
];

/** The phones' factory value (wazo's default too), used when no entry has the zone's offset. */
export const DEFAULT_ZONE_NUMBER = 23;

/** Offset and daylight-saving rule: two zones with the same key keep the same clock all year. */
function clockKey(rule: ZoneRule): string {
  const t = (x: { month: number; week: number; weekday: number; minutes: number }) => `${x.month}.${x.week}.${x.weekday}/${x.minutes}`;
  return `${rule.standardOffsetMinutes}|${rule.dst ? `${t(rule.dst.start)},${t(rule.dst.end)},${rule.dst.saveMinutes}` : ''}`;
}

const memo = new Map<string, number>();

/**
 * The `NtpZoneNum` for an IANA zone: the entry whose label names the zone's city and keeps the same clock
 * (Europe/Prague -> 24 "Bratislava, Budapest, Ljubljana, Prague, Warsaw"); else the first entry that keeps the
 * same clock; else the first with the same standard offset; else the factory default.
 */
export function thomsonZoneNumber(zone: string, year?: number): number {
  const key = `${zone}|${year ?? ''}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const site = zoneRule(zone, year);
  const want = clockKey(site);
  const city = (zone.split('/').pop() ?? zone).replace(/_/g, ' ').toLowerCase();
  const named = (i: number) => THOMSON_ZONES[i]![1].toLowerCase().split(/,\s*/).includes(city) || THOMSON_ZONES[i]![0] === zone;
  const ruleOf = (i: number) => zoneRule(THOMSON_ZONES[i]![0], year);
  let found = THOMSON_ZONES.findIndex((_, i) => named(i) && clockKey(ruleOf(i)) === want);
  if (found < 0) found = THOMSON_ZONES.findIndex((_, i) => clockKey(ruleOf(i)) === want);
  if (found < 0) found = THOMSON_ZONES.findIndex((_, i) => ruleOf(i).standardOffsetMinutes === site.standardOffsetMinutes);
  const result = found < 0 ? DEFAULT_ZONE_NUMBER : found;
  memo.set(key, result);
  return result;
}
