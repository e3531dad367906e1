/**
 * What the wrapped `tftp` package does not tell us about a request, read from the packet itself: the transfer
 * mode and the options as sent. Pure.
 */
export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export interface TftpRequest {
  opcode: number;
  file: string;
  mode: string;
  options: Map<string, string>;
}

/** The NUL-terminated strings after the opcode (RRQ, WRQ, OACK); undefined when the last one is not terminated. */
export function nulFields(packet: Buffer): string[] | undefined {
  const fields: string[] = [];
  let start = 2;
  for (let i = 2; i < packet.length; i++) {
    if (packet[i] === 0) {
      fields.push(packet.toString('latin1', start, i));
      start = i + 1;
    }
  }
  return start === packet.length ? fields : undefined;
}

/** Parses an RRQ/WRQ; undefined for anything else or anything malformed. */
export function parseRequest(packet: Buffer): TftpRequest | undefined {
  if (packet.length < 4) return undefined;
  const opcode = packet.readUInt16BE(0);
  if (opcode !== OPCODE.RRQ && opcode !== OPCODE.WRQ) return undefined;
  const fields = nulFields(packet);
  if (!fields || fields.length < 2 || fields.length % 2 !== 0) return undefined;
  const options = new Map<string, string>();
  for (let i = 2; i < fields.length; i += 2) options.set(fields[i]!.toLowerCase(), fields[i + 1]!);
  return { opcode, file: fields[0]!, mode: fields[1]!.toLowerCase(), options };
}

/**
 * RFC 1350 / RFC 764 netascii: every LF (the local newline) becomes CR LF and every CR becomes CR NUL, so the
 * client's reverse conversion gives back exactly the original bytes (as tftpd-hpa does).
 */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0x0a || data[i] === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else out[o++] = c;
  }
  return out;
}

/** RFC 2349 timeout: whole seconds 1 to 255, or undefined when absent or invalid (then it is not acknowledged). */
export function requestedTimeout(options: Map<string, string>): number | undefined {
  const raw = options.get('timeout');
  if (raw === undefined || !/^\d{1,3}$/.test(raw)) return undefined;
  const seconds = Number(raw);
  return seconds >= 1 && seconds <= 255 ? seconds : undefined;
}
