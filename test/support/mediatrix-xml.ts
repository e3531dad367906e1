/**
 * A strict well-formedness check and reader of the v5 XML configuration file, written independently of the
 * code under test. xmlbuilder2's own reader is lenient (`create('<a><b></a>')` does not throw), so this one
 * checks what a template or builder mistake would break: the declaration, names, quoted attributes without
 * `<` or stray `&`, no attribute twice, tags that close in order, one root, nothing after it but comments.
 * It then gives the root's child elements with their attributes, and `value(name, instance?)`.
 */
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*/;
const ENTITY = /^&(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;

export interface V5Element {
  name: string;
  attrs: Record<string, string>;
}

export interface V5Document {
  root: string;
  elements: V5Element[];
  /** The Value of the element `name` (with that Instance when given); throws when absent or ambiguous. */
  value(name: string, instance?: string): string;
  has(name: string, instance?: string): boolean;
}

function decode(raw: string): string {
  return raw.replace(/&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : e === 'apos' ? "'" : String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );
}

export function parseV5Xml(xml: string, instanceAttribute = 'Instance'): V5Document {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`not well-formed XML at offset ${i}: ${what} (${JSON.stringify(xml.slice(i, i + 40))})`);
  };
  const skipSpace = () => {
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
  };
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (!xml.startsWith('<!--', i)) return;
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) fail('unterminated comment');
      if (xml.slice(i + 4, end).includes('--')) fail('"--" inside a comment');
      i = end + 3;
    }
  };
  const name = (): string => {
    const m = NAME.exec(xml.slice(i));
    if (!m) return fail('a name was expected');
    i += m[0].length;
    return m[0];
  };
  const text = (until: string): string => {
    const start = i;
    while (i < xml.length && !until.includes(xml[i]!)) {
      if (xml[i] === '&' && !ENTITY.test(xml.slice(i))) fail('a bare & or an unknown entity');
      if (xml[i] === '<') fail('a < in text or an attribute value');
      i++;
    }
    return xml.slice(start, i);
  };

  if (!/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.test(xml)) fail('the declaration <?xml version="1.0" encoding="UTF-8"?> must come first');
  i = xml.indexOf('\n') + 1;
  skipMisc();
  const stack: string[] = [];
  const elements: V5Element[] = [];
  let root = '';
  do {
    if (xml.startsWith('<!--', i)) {
      skipMisc();
      continue;
    }
    if (xml.startsWith('</', i)) {
      i += 2;
      const closing = name();
      skipSpace();
      if (xml[i] !== '>') fail('> expected');
      i++;
      if (stack.pop() !== closing) fail(`</${closing}> closes another element`);
    } else if (xml[i] === '<') {
      i++;
      const tag = name();
      const attrs: Record<string, string> = {};
      for (;;) {
        const before = i;
        skipSpace();
        if (xml.startsWith('/>', i) || xml[i] === '>') break;
        if (i === before) fail('space expected before an attribute');
        const attr = name();
        if (xml[i] !== '=') fail('= expected');
        i++;
        const quote = xml[i];
        if (quote !== '"' && quote !== "'") fail('a quoted attribute value was expected');
        i++;
        const raw = text(quote!);
        if (xml[i] !== quote) fail('unterminated attribute value');
        i++;
        if (attr in attrs) fail(`attribute ${attr} twice`);
        attrs[attr] = decode(raw);
      }
      if (stack.length === 0) {
        if (root) fail('a second root element');
        root = tag;
      } else if (stack.length === 1) {
        elements.push({ name: tag, attrs });
      }
      if (xml.startsWith('/>', i)) i += 2;
      else {
        i++;
        stack.push(tag);
      }
    } else {
      const content = text('<');
      if (stack.length === 0 && content.trim()) fail('text outside the root element');
      if (i >= xml.length) break;
    }
  } while (stack.length > 0 && i < xml.length);
  if (stack.length) fail(`unclosed <${stack.join('>, <')}>`);
  skipMisc();
  if (i !== xml.length) fail('content after the root element');

  const find = (n: string, instance?: string) => elements.filter((e) => e.name === n && (instance === undefined || e.attrs[instanceAttribute] === instance));
  return {
    root,
    elements,
    has: (n, instance) => find(n, instance).length > 0,
    value(n, instance) {
      const found = find(n, instance);
      if (found.length !== 1) throw new Error(`${n}${instance ? `[${instance}]` : ''}: ${found.length} elements`);
      const v = found[0]!.attrs.Value;
      if (v === undefined) throw new Error(`${n} has no Value`);
      return v;
    },
  };
}
