/**
 * A strict reader of the Thomson INI files (the .inf and the configuration files), so a template typo fails a
 * test: only `[section]` headers of the known sections, `Key=Value` lines with no spaces around `=`, and blank
 * lines; every key inside a section, once; no section twice; bytes as ISO-8859-1 with LF line ends.
 */
const SECTIONS = new Set(['application', 'config', 'ipp', 'net', 'pstn', 'sip', 'snmp', 'sys', 'autoprovision', 'qos', 'ftp', 'ntp', 'pppoe', 'stun', 'upnp', 'customer']);

export type Ini = Map<string, Map<string, string>>;

export function parseThomsonIni(body: Buffer): Ini {
  const text = body.toString('latin1');
  if (text.includes('\r')) throw new Error('CR in the file: the phones expect LF line ends');
  const out: Ini = new Map();
  let section: Map<string, string> | undefined;
  let name = '';
  text.split('\n').forEach((line, i) => {
    const at = `line ${i + 1}`;
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) throw new Error(`${at}: control character`);
    if (line === '') return;
    const header = /^\[([a-z]+)\]$/.exec(line);
    if (header) {
      name = header[1]!;
      if (!SECTIONS.has(name)) throw new Error(`${at}: unknown section [${name}]`);
      if (out.has(name)) throw new Error(`${at}: section [${name}] twice`);
      section = new Map();
      out.set(name, section);
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!kv) throw new Error(`${at}: not "Key=Value": ${JSON.stringify(line)}`);
    if (!section) throw new Error(`${at}: ${kv[1]} before any [section]`);
    if (section.has(kv[1]!)) throw new Error(`${at}: ${kv[1]} twice in [${name}]`);
    if (/\{\{|\}\}|\{%|%\}|@@/.test(kv[2]!)) throw new Error(`${at}: template syntax left in the value`);
    if (/^\s|\s$/.test(kv[2]!)) throw new Error(`${at}: ${kv[1]} has a value with leading or trailing spaces`);
    section.set(kv[1]!, kv[2]!);
  });
  return out;
}

/** `sip.regpwd1` -> the value; throws when the section or key is missing. */
export function iniGet(ini: Ini, dotted: string): string {
  const [section, key] = dotted.split('.') as [string, string];
  const value = ini.get(section)?.get(key);
  if (value === undefined) throw new Error(`no ${key} in [${section}]`);
  return value;
}
