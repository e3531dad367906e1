/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per place (project file,
 * npm package, Node internals, GC), the sampled time spent idle left out of the percentages.
 *
 *   npx tsx scripts/bench/cpuprofile-summary.ts FILE.cpuprofile [TOP]
 *
 * Used by `http-provisioning.ts --cpu-prof DIR` on the Outpost server child.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  where: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  idleMs: number;
  functions: HotSpot[];
  places: HotSpot[];
  /** Inclusive (self + callees) time of the project's own functions (dist/, src/): where a request's time goes. */
  projectInclusive: HotSpot[];
}

/** `node_modules/<pkg>`, `node:<module>`, a project path relative to the project, or a V8 pseudo-frame. */
function place(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (nm) return `npm:${nm[1]}`;
  if (path.startsWith('node:')) return path.split('/').slice(0, 2).join('/');
  const project = /\/(dist|src|bin|scripts)\/(.*)$/.exec(path);
  return project ? `${project[1]}/${project[2]}` : path;
}

function shortLocation(url: string, line: number): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = /node_modules\/(.*)$/.exec(path);
  const project = /\/((?:dist|src|bin|scripts)\/.*)$/.exec(path);
  const shown = nm ? nm[1]! : project ? project[1]! : path;
  return `${shown}:${line + 1}`;
}

export function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to the sampled node (as Chrome DevTools does).
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const places = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const name = frame.functionName || '(anonymous)';
    const where = shortLocation(frame.url, frame.lineNumber);
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const p = place(frame.url, name);
    places.set(p, (places.get(p) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;

  // Inclusive time: each sample counts once for every distinct project function on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    const seen = new Set<string>();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame || !/\/(dist|src)\//.test(frame.url) || frame.url.includes('node_modules')) continue;
      const name = frame.functionName || '(anonymous)';
      const where = shortLocation(frame.url, frame.lineNumber);
      const key = `${name}@${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = inclusive.get(key) ?? { name, where, us: 0 };
      entry.us += delta;
      inclusive.set(key, entry);
    }
  }
  const pct = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, percent: pct(f.us) })),
    places: [...places.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([p, us]) => ({ name: p, where: '', selfMs: us / 1000, percent: pct(us) })),
    projectInclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, percent: pct(f.us) })),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const out: string[] = [];
  out.push(`profile: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy, ${(s.idleMs / 1000).toFixed(1)} s idle; percentages are of busy time`);
  out.push('top self time by function:');
  for (const [i, f] of s.functions.entries()) {
    out.push(`  ${String(i + 1).padStart(2)}. ${f.percent.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  }
  out.push('self time by place:');
  for (const p of s.places) out.push(`  ${p.percent.toFixed(1).padStart(5)}%  ${p.selfMs.toFixed(0).padStart(7)} ms  ${p.name}`);
  out.push('inclusive time (self + callees) of project functions:');
  for (const f of s.projectInclusive) out.push(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: npx tsx scripts/bench/cpuprofile-summary.ts FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatSummary(summariseProfile(file, top ? Number(top) : 15))}\n`);
}
