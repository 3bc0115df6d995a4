import { crc32Advance, crc32Begin, crc32End } from './crc32.js';

/**
 * A record on disk is a frame: a 12-byte header, then the payload.
 *
 *   length:u32   payload bytes (never 0)
 *   crc:u32      CRC-32 of length, base and payload
 *   base:u32     offset in the segment up to which the log was synced when this frame was
 *                written. A damaged frame followed by a valid frame whose base lies beyond the
 *                damage is proof that the damage was once synced: corruption, not a torn tail.
 *
 * All little-endian. Snapshots use base 0: they are renamed into place whole, so any damage
 * in them is corruption.
 */
export const FRAME_HEADER_BYTES = 12;

/** Longest payload accepted; a larger length is damage. INDEX lines are far below this. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** Fills the length/crc/base of the frame at `at` whose payload is already in place. */
export function sealFrame(buf: Buffer, at: number, payloadBytes: number, base: number): void {
  putU32(buf, at, payloadBytes);
  putU32(buf, at + 8, base);
  frameCrc(buf, at, payloadBytes);
  putU32(buf, at + 4, crc32End());
}

/**
 * Writes a little-endian u32 by bytes: the frame's offsets are in bounds by construction, and
 * this is cheaper than writeUInt32LE's checks once per field of every record.
 */
export function putU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value;
  buf[at + 1] = value >>> 8;
  buf[at + 2] = value >>> 16;
  buf[at + 3] = value >>> 24;
}

/**
 * CRC-32 of length, then base and payload, left in crc32's register (`crc32End`): computed in
 * place, without subarray views, and without a 32-bit number crossing a call (see crc32.ts).
 */
function frameCrc(buf: Buffer, at: number, payloadBytes: number): void {
  crc32Begin();
  crc32Advance(buf, at, at + 4);
  crc32Advance(buf, at + 8, at + FRAME_HEADER_BYTES + payloadBytes);
}

/** Payload length of a valid frame at `at`, or why it is not one; the bytes end at `end`. */
export function checkFrame(buf: Buffer, at: number, end = buf.length): number | string {
  const length = frameLength(buf, at, end);
  if (typeof length === 'string') return length;
  frameCrc(buf, at, length);
  if (buf.readInt32LE(at + 4) !== crc32End()) return 'checksum mismatch';
  return length;
}

/**
 * `checkFrame` without the checksum: the payload length when the header fits and its length
 * is plausible and within `end`. For frames a scan skips, already checked once (compaction.ts).
 */
export function frameLength(buf: Buffer, at: number, end = buf.length): number | string {
  const room = end - at - FRAME_HEADER_BYTES;
  if (room < 0) return `short frame header (${end - at} bytes)`;
  const length = buf.readUInt32LE(at);
  if (length === 0) return 'zero frame length';
  if (length > MAX_PAYLOAD_BYTES) return `frame length ${length} exceeds the ${MAX_PAYLOAD_BYTES}-byte limit`;
  if (length > room) return `frame length ${length} runs past the end of the file`;
  return length;
}

export interface BadFrame {
  readonly offset: number;
  readonly reason: string;
  /** True when valid data that was synced after this point follows it: never a torn tail. */
  readonly corrupt: boolean;
}

export interface ScanResult {
  /** Offset just past the last valid frame before any damage. */
  readonly end: number;
  readonly bad: BadFrame | null;
}

/**
 * Visits the payload of every valid frame from `start` until the end or the first damaged
 * frame. Payloads are views into `buf`, valid while it is.
 */
export function scanFrames(
  buf: Buffer,
  start: number,
  visit: (payload: Buffer, offset: number) => void,
): ScanResult {
  let at = start;
  while (at < buf.length) {
    const length = checkFrame(buf, at);
    if (typeof length === 'string')
      return { end: at, bad: { offset: at, reason: length, corrupt: syncedDataFollows(buf, at) } };
    visit(buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length), at);
    at += FRAME_HEADER_BYTES + length;
  }
  return { end: at, bad: null };
}

/**
 * Looks past damage at `bad` for a valid frame written after `bad` had been synced. Frames of
 * the same unsynced write (base ≤ bad) may legitimately survive a power loss around a torn
 * page, so they do not count.
 */
function syncedDataFollows(buf: Buffer, bad: number): boolean {
  for (let at = bad + 1; at + FRAME_HEADER_BYTES <= buf.length; at++) {
    const length = checkFrame(buf, at);
    if (typeof length === 'number' && buf.readUInt32LE(at + 8) > bad) return true;
  }
  return false;
}
