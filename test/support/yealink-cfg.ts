/**
 * A strict reader of Yealink's `#!version:1.0.0.1` key = value format, so a template typo fails a test:
 * the version line first, then only comments, blank lines and `key = value` lines, each key once.
 */
export function parseYealinkCfg(text: string): Map<string, string> {
  const lines = text.split('\n');
  if (lines[0] !== '#!version:1.0.0.1') throw new Error(`line 1 must be "#!version:1.0.0.1", not ${JSON.stringify(lines[0])}`);
  const out = new Map<string, string>();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const m = /^([a-z0-9_]+(?:\.[a-z0-9_]+)+) = (.*)$/.exec(line);
    if (!m) throw new Error(`line ${i + 2} is not "key = value": ${JSON.stringify(line)}`);
    if (out.has(m[1]!)) throw new Error(`line ${i + 2}: ${m[1]} is set twice`);
    if (/\{\{|\}\}|\{%|%\}/.test(m[2]!)) throw new Error(`line ${i + 2}: template syntax left in the value`);
    out.set(m[1]!, m[2]!);
  });
  return out;
}
