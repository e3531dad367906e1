/**
 * Is the Centrex there? A pure state machine fed with the outcome of each OPTIONS probe: `failures` timeouts or
 * 5xx answers in a row make it `down` (and the branch goes to survival mode); it is `up` again only after
 * `holdDown` seconds of good answers in a row, so a flapping link does not bounce the branch back and forth.
 * A timeout is never an answer. Any answer below 500 (even 404 or 405 to OPTIONS) shows the Centrex is alive.
 */

export type UpstreamStatus = 'unknown' | 'up' | 'down';
export type Mode = 'normal' | 'survival';

export interface Probe {
  /** `answer` with its status code, or `timeout` when no final answer came. */
  outcome: 'answer' | 'timeout';
  status?: number;
  /** Round trip, ms (answers only). */
  rtt?: number;
  at: number;
}

export interface UpstreamPolicy {
  failures: number;
  /** Seconds. */
  holdDown: number;
}

export interface ModeChange {
  mode: Mode;
  status: UpstreamStatus;
  at: number;
  reason: string;
}

export class UpstreamState {
  status: UpstreamStatus = 'unknown';
  mode: Mode = 'normal';
  /** When the mode last changed (or the monitor started). */
  since: number;
  reason = 'no probe yet';
  consecutiveFailures = 0;
  goodSince: number | undefined;
  lastRtt: number | undefined;
  lastProbeAt: number | undefined;

  constructor(now: number) {
    this.since = now;
  }

  /** Feeds one probe's outcome; returns the mode change it caused, if any. */
  observe(probe: Probe, policy: UpstreamPolicy): ModeChange | undefined {
    this.lastProbeAt = probe.at;
    const good = probe.outcome === 'answer' && probe.status !== undefined && probe.status < 500;
    if (!good) {
      this.consecutiveFailures++;
      this.goodSince = undefined;
      const what = probe.outcome === 'timeout' ? 'no answer' : `answered ${probe.status}`;
      if (this.status !== 'down' && this.consecutiveFailures >= policy.failures) {
        this.status = 'down';
        return this.change('survival', probe.at, `the Centrex failed ${this.consecutiveFailures} probes in a row (last: ${what})`);
      }
      return undefined;
    }
    this.consecutiveFailures = 0;
    this.lastRtt = probe.rtt;
    if (this.status !== 'down') {
      this.status = 'up';
      return undefined;
    }
    this.goodSince ??= probe.at;
    if (probe.at - this.goodSince >= policy.holdDown * 1000) {
      this.status = 'up';
      this.goodSince = undefined;
      return this.change('normal', probe.at, `the Centrex answered for ${policy.holdDown} s in a row`);
    }
    return undefined;
  }

  private change(mode: Mode, at: number, reason: string): ModeChange | undefined {
    this.reason = reason;
    if (mode === this.mode) return undefined;
    this.mode = mode;
    this.since = at;
    return { mode, status: this.status, at, reason };
  }
}
