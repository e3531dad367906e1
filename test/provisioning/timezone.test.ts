import { strict as assert } from 'node:assert';
import { yealinkDstTime, yealinkTimeZone, zoneRule } from '../../src/provisioning/timezone.js';

const YEAR = 2026;

describe('provisioning/timezone', () => {
  it('Europe/Prague: last Sunday of March 02:00 CET to last Sunday of October 03:00 CEST', () => {
    const rule = zoneRule('Europe/Prague', YEAR);
    assert.deepEqual(rule, {
      zone: 'Europe/Prague',
      standardOffsetMinutes: 60,
      standardAbbreviation: 'CET',
      dst: {
        saveMinutes: 60,
        abbreviation: 'CEST',
        start: { month: 3, week: 5, weekday: 0, minutes: 120 },
        end: { month: 10, week: 5, weekday: 0, minutes: 180 },
      },
      posix: 'CET-1CEST,M3.5.0,M10.5.0/3',
    });
    assert.equal(yealinkTimeZone(rule), '+1');
    assert.ok(rule.dst);
    assert.equal(yealinkDstTime(rule.dst.start), '3/5/7/2');
    assert.equal(yealinkDstTime(rule.dst.end), '10/5/7/3');
  });

  it('Europe/London: GMT/BST changing at 01:00 UTC', () => {
    const rule = zoneRule('Europe/London', YEAR);
    assert.equal(rule.posix, 'GMT0BST,M3.5.0/1,M10.5.0');
    assert.equal(rule.standardOffsetMinutes, 0);
    assert.equal(rule.standardAbbreviation, 'GMT');
    assert.equal(rule.dst?.abbreviation, 'BST');
    assert.equal(yealinkTimeZone(rule), '0');
  });

  it('America/New_York: second Sunday of March / first Sunday of November (not "last")', () => {
    const rule = zoneRule('America/New_York', YEAR);
    assert.equal(rule.posix, 'EST5EDT,M3.2.0,M11.1.0');
    assert.equal(rule.standardOffsetMinutes, -300);
    assert.equal(rule.standardAbbreviation, 'EST');
    assert.equal(rule.dst?.abbreviation, 'EDT');
    assert.deepEqual(rule.dst?.start, { month: 3, week: 2, weekday: 0, minutes: 120 });
    assert.deepEqual(rule.dst?.end, { month: 11, week: 1, weekday: 0, minutes: 120 });
    assert.equal(yealinkTimeZone(rule), '-5');
    assert.ok(rule.dst);
    assert.equal(yealinkDstTime(rule.dst.start), '3/2/7/2');
    assert.equal(yealinkDstTime(rule.dst.end), '11/1/7/2');
  });

  it('Australia/Sydney: southern hemisphere, DST starts in October and ends in April', () => {
    const rule = zoneRule('Australia/Sydney', YEAR);
    assert.equal(rule.posix, 'AEST-10AEDT,M10.1.0,M4.1.0/3');
    assert.equal(rule.standardOffsetMinutes, 600);
    assert.deepEqual(rule.dst?.start, { month: 10, week: 1, weekday: 0, minutes: 120 });
    assert.deepEqual(rule.dst?.end, { month: 4, week: 1, weekday: 0, minutes: 180 });
    assert.equal(yealinkTimeZone(rule), '+10');
  });

  it('Asia/Kolkata: half-hour offset, no DST', () => {
    const rule = zoneRule('Asia/Kolkata', YEAR);
    assert.deepEqual(rule, {
      zone: 'Asia/Kolkata',
      standardOffsetMinutes: 330,
      standardAbbreviation: 'IST',
      posix: 'IST-5:30',
    });
    assert.equal(rule.dst, undefined);
    assert.equal(yealinkTimeZone(rule), '+5:30');
  });

  it('Asia/Tokyo and UTC: no DST', () => {
    const tokyo = zoneRule('Asia/Tokyo', YEAR);
    assert.equal(tokyo.posix, 'JST-9');
    assert.equal(tokyo.dst, undefined);
    assert.equal(yealinkTimeZone(tokyo), '+9');
    const utc = zoneRule('UTC', YEAR);
    assert.equal(utc.posix, 'UTC0');
    assert.equal(utc.standardOffsetMinutes, 0);
    assert.equal(utc.dst, undefined);
    assert.equal(yealinkTimeZone(utc), '0');
  });

  it('synthesises <+hh[mm]> abbreviations when there is no letter one', () => {
    assert.equal(zoneRule('America/Sao_Paulo', YEAR).posix, '<-03>3');
    assert.equal(zoneRule('Asia/Kathmandu', YEAR).posix, '<+0545>-5:45');
    assert.equal(yealinkTimeZone(zoneRule('Asia/Kathmandu', YEAR)), '+5:45');
  });

  it('writes tzdb-style rules when the change is tied to a neighbouring day', () => {
    // Chile: Saturday 24:00; Greenland: 01:00 UTC Sunday = 23:00 Saturday; Israel: Friday before last Sunday.
    assert.equal(zoneRule('America/Santiago', YEAR).posix, '<-04>4<-03>,M9.1.6/24,M4.1.6/24');
    assert.equal(zoneRule('America/Nuuk', YEAR).posix, '<-02>2<-01>,M3.5.0/-1,M10.5.0/0');
    const israel = zoneRule('Asia/Jerusalem', YEAR);
    assert.match(israel.posix, /,M3\.4\.4\/26,M10\.5\.0$/);
    // The transition itself stays within the day and is right for the requested year (Fri 27 Mar 2026).
    assert.deepEqual(israel.dst?.start, { month: 3, week: 5, weekday: 5, minutes: 120 });
  });

  it('defaults to the current year', () => {
    const rule = zoneRule('Europe/Prague');
    assert.equal(rule.zone, 'Europe/Prague');
    assert.equal(rule.posix, 'CET-1CEST,M3.5.0,M10.5.0/3');
    assert.equal(zoneRule('America/New_York').posix, 'EST5EDT,M3.2.0,M11.1.0');
  });

  it('throws for an unknown zone, naming it', () => {
    assert.throws(() => zoneRule('Mars/Olympus_Mons', YEAR), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /Mars\/Olympus_Mons/);
      return true;
    });
  });
});
