/**
 * The doctor's report: one check per finding, each with what to do about it, grouped (the site, this box, the
 * network around it), summed up, and written for a technician's terminal or as JSON for scripts and the web
 * page. Pure: the probes live in box.ts and network.ts, the site's checks in site.ts.
 */

export type CheckGroup = 'site' | 'box' | 'network';
export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface Check {
  /** Stable, dotted: `site.ntp`, `box.port.sip`, `network.dhcp`. Scripts and the web page key on it. */
  id: string;
  group: CheckGroup;
  status: CheckStatus;
  title: string;
  /** What was found, with the values that matter. */
  detail: string;
  /** One sentence saying what to do; empty when there is nothing to do. */
  fix: string;
}

export interface DoctorReport {
  checks: Check[];
  summary: Record<CheckStatus, number>;
}

export const GROUP_ORDER: readonly CheckGroup[] = ['site', 'box', 'network'];

export function pass(group: CheckGroup, id: string, title: string, detail: string): Check {
  return { id, group, status: 'pass', title, detail, fix: '' };
}

export function warn(group: CheckGroup, id: string, title: string, detail: string, fix: string): Check {
  return { id, group, status: 'warn', title, detail, fix };
}

export function fail(group: CheckGroup, id: string, title: string, detail: string, fix: string): Check {
  return { id, group, status: 'fail', title, detail, fix };
}

/** The checks in group order (site, box, network); within a group in the order they were made. */
export function buildReport(checks: readonly Check[]): DoctorReport {
  const ordered = GROUP_ORDER.flatMap((g) => checks.filter((c) => c.group === g));
  const summary: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0 };
  for (const c of ordered) summary[c.status]++;
  return { checks: ordered, summary };
}

/** 1 when anything fails; warnings alone are 0. */
export function exitStatus(report: DoctorReport): number {
  return report.summary.fail > 0 ? 1 : 0;
}

const LABEL: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/**
 * `PASS  title: detail`, and for a warning or a failure an indented `fix: ...` line; a summary line last.
 * Control characters in values (an interface name, a server's reason phrase) are shown escaped, never sent to
 * the terminal.
 */
export function renderText(report: DoctorReport): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${LABEL[c.status]}  ${clean(c.title)}: ${clean(c.detail)}`);
    if (c.status !== 'pass' && c.fix) lines.push(`      fix: ${clean(c.fix)}`);
  }
  const { pass: p, warn: w, fail: f } = report.summary;
  lines.push('');
  lines.push(`${p} passed, ${w} warning${w === 1 ? '' : 's'}, ${f} failed`);
  return `${lines.join('\n')}\n`;
}

function clean(s: string): string {
  // eslint-disable-next-line no-control-regex -- exactly the characters to neutralise
  return s.replace(/[\u0000-\u001f\u007f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `a, b and c`. */
export function listing(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** `3 lines`, `1 line`. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
