/**
 * SNTP (RFC 4330) as far as the doctor needs it: one client request, the server's reply, and the clock offset.
 * Pure: bytes and milliseconds in, values out; the socket is in box.ts.
 */

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;
export const SNTP_PACKET = 48;

/** Milliseconds since 1970 -> the 64-bit NTP timestamp (seconds since 1900, 32.32 fixed point). */
export function toNtp(ms: number): Buffer {
  const b = Buffer.alloc(8);
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.round(((ms - seconds * 1000) / 1000) * 2 ** 32);
  b.writeUInt32BE((seconds + NTP_UNIX_OFFSET) >>> 0, 0);
  b.writeUInt32BE(Math.min(fraction, 2 ** 32 - 1) >>> 0, 4);
  return b;
}

/** The reverse of toNtp (era 0, which lasts until 2036: enough for a clock check). */
export function fromNtp(b: Buffer, offset = 0): number {
  const seconds = b.readUInt32BE(offset);
  const fraction = b.readUInt32BE(offset + 4);
  return (seconds - NTP_UNIX_OFFSET) * 1000 + (fraction / 2 ** 32) * 1000;
}

/**
 * A client request: LI 0, version 4, mode 3 (client); the transmit timestamp is `sentAt`, which the server
 * copies into its reply's originate field (that is how a reply is matched to its request).
 */
export function sntpRequest(sentAt: number): Buffer {
  const b = Buffer.alloc(SNTP_PACKET);
  b[0] = (0 << 6) | (4 << 3) | 3;
  toNtp(sentAt).copy(b, 40);
  return b;
}

export interface SntpReply {
  stratum: number;
  /** The server's clock when the request arrived and when the reply left, ms since 1970. */
  receive: number;
  transmit: number;
  /** Exactly the transmit timestamp of our request, as the server echoed it. */
  originate: Buffer;
}

/** A server's reply, or why it is not one (too short, not mode 4 or 5, a kiss-o'-death, an unsynchronised server). */
export function parseSntpReply(b: Buffer): SntpReply | Error {
  if (b.length < SNTP_PACKET) return new Error(`${b.length} bytes, not an NTP packet`);
  const li = b[0]! >> 6;
  const mode = b[0]! & 7;
  const stratum = b[1]!;
  if (mode !== 4 && mode !== 5) return new Error(`mode ${mode}, not a server's reply`);
  if (stratum === 0) return new Error(`kiss-o'-death ${b.toString('latin1', 12, 16).replace(/[^\x20-\x7e]/g, '?')}`);
  if (li === 3) return new Error('the server says its own clock is not synchronised');
  return { stratum, originate: Buffer.from(b.subarray(24, 32)), receive: fromNtp(b, 32), transmit: fromNtp(b, 40) };
}

/** RFC 4330 section 5: the local clock's offset from the server's (positive: ours is behind) and the round trip. */
export function clockOffset(sentAt: number, reply: SntpReply, arrivedAt: number): { offsetMs: number; delayMs: number } {
  return {
    offsetMs: (reply.receive - sentAt + (reply.transmit - arrivedAt)) / 2,
    delayMs: arrivedAt - sentAt - (reply.transmit - reply.receive),
  };
}
