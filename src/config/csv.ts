/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF, a BOM from spreadsheet exports. Pure. */
export interface CsvRow {
  /** 1-based line number in the file where the row starts (the header is row 1, as a spreadsheet counts). */
  row: number;
  fields: string[];
}

/** The delimiter is taken from the header: a comma, or a semicolon as Czech and German spreadsheets export. */
export function parseCsv(text: string): CsvRow[] | { error: string } {
  const header = text.slice(0, text.search(/\r?\n|$/));
  const delimiter = header.includes(';') && !header.includes(',') ? ';' : ',';
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let line = 1;
  let rowStart = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === '')) rows.push({ row: rowStart, fields });
    fields = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field === '') inQuotes = true;
    else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowStart = line;
    } else field += c;
  }
  if (inQuotes) return { error: `row ${rowStart}: a quoted field is not closed` };
  if (field !== '' || fields.length) endRow();
  return rows;
}
