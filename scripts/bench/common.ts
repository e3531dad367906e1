/** What the benchmarks share: child processes, CPU pinning, logging, percentiles. */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true when `child` has exited (now or within `ms`), false on the time-out. */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      res(true);
    });
  });
}

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The CPUs this process may run on, from `taskset -c -p` ("0-3,6"). */
export function allowedCpus(): number[] {
  const out = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' }).stdout ?? '';
  const list = /:\s*([\d,\s-]+)$/.exec(out.trim())?.[1] ?? '';
  const cpusList: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.trim().split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let c = a; c <= (b ?? a); c++) cpusList.push(c);
  }
  return cpusList;
}

/** The p-th percentile (nearest rank) of ascending values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The Node.js flags Outpost runs with as a service (scripts/outpost.service's ExecStart, between `node` and the
 * script), so a benchmark measures the server as it is deployed.
 */
export function serviceNodeFlags(): string[] {
  const unit = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'outpost.service'), 'utf8');
  const exec = /^ExecStart=\S*node((?:\s+--\S+)*)\s+\S*bin\/outpost\b/m.exec(unit);
  if (!exec) throw new Error('scripts/outpost.service: no ExecStart=.../node [flags] .../bin/outpost line');
  return exec[1]!.trim().split(/\s+/).filter(Boolean);
}
