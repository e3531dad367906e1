/** Printing for the CLI: aligned tables for people, JSON for scripts. */
export function table(rows: ReadonlyArray<ReadonlyArray<string>>, header: ReadonlyArray<string>): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
