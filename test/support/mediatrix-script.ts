/**
 * A strict reader of the DGW configuration-script grammar Outpost emits, so a template typo fails a test:
 *   Service.Param="value"                         a scalar
 *   Service.Table[Key=key].Column="value"         a table cell
 *   Service.Command                               a command
 * and empty lines between sections. Values are double-quoted; inside, only `\"` and `\\` are escapes and no raw
 * `"`, `\` or control character may appear. Anything else throws with its line number, and so does a cell or
 * scalar set twice or template syntax left behind.
 */
const NAME = '[A-Z][A-Za-z0-9]*';
const KEY_VALUE = '[A-Za-z0-9_./-]+';
const VALUE = '"((?:[^"\\\\\\x00-\\x1f\\x7f]|\\\\["\\\\])*)"';
const SCALAR = new RegExp(`^(${NAME})\\.(${NAME})=${VALUE}$`);
const CELL = new RegExp(`^(${NAME})\\.(${NAME})\\[(${NAME})=(${KEY_VALUE})\\]\\.(${NAME})=${VALUE}$`);
const COMMAND = new RegExp(`^(${NAME})\\.(${NAME})$`);

export interface DgwScript {
  /** Every assignment by its left-hand side: `Conf.ScriptsLocation`, `SipEp.UserAgent[EpId=Port01].Username`. */
  values: Map<string, string>;
  /** Commands in order. */
  commands: string[];
  /** The lines in order, as written (for order checks). */
  order: string[];
  /** The rows of one table (`SipEp.UserAgent`), by key value: column -> value. */
  rows(table: string): Map<string, Map<string, string>>;
}

const unescape = (v: string) => v.replace(/\\(["\\])/g, '$1');

export function parseDgwScript(text: string): DgwScript {
  if (!text.endsWith('\n')) throw new Error('the script does not end with a newline');
  const values = new Map<string, string>();
  const cells = new Map<string, Map<string, Map<string, string>>>();
  const commands: string[] = [];
  const order: string[] = [];
  text.slice(0, -1).split('\n').forEach((line, i) => {
    const at = `line ${i + 1}`;
    if (line === '') return;
    if (/\{\{|\}\}|\{%|%\}|\{#|#\}/.test(line)) throw new Error(`${at}: template syntax left in ${JSON.stringify(line)}`);
    let m = CELL.exec(line);
    if (m) {
      const [, service, table, key, keyValue, column, raw] = m;
      const lhs = `${service}.${table}[${key}=${keyValue}].${column}`;
      if (values.has(lhs)) throw new Error(`${at}: ${lhs} is set twice`);
      values.set(lhs, unescape(raw!));
      const t = `${service}.${table}`;
      const rows = cells.get(t) ?? new Map<string, Map<string, string>>();
      cells.set(t, rows);
      const row = rows.get(keyValue!) ?? new Map<string, string>();
      rows.set(keyValue!, row);
      row.set(column!, unescape(raw!));
      order.push(lhs);
      return;
    }
    m = SCALAR.exec(line);
    if (m) {
      const lhs = `${m[1]}.${m[2]}`;
      if (values.has(lhs)) throw new Error(`${at}: ${lhs} is set twice`);
      values.set(lhs, unescape(m[3]!));
      order.push(lhs);
      return;
    }
    if (COMMAND.test(line)) {
      commands.push(line);
      order.push(line);
      return;
    }
    throw new Error(`${at} is not a scalar, a table cell or a command: ${JSON.stringify(line)}`);
  });
  return { values, commands, order, rows: (table) => cells.get(table) ?? new Map() };
}
