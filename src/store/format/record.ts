import { Verb, type IndexCommand, type RemoveCommand } from '../../protocol/command.js';
import { putU32 } from './frame.js';
import type { NameCache } from '../../protocol/name-cache.js';

/**
 * Record payloads, the same in log segments and snapshots. Names are ASCII (the protocol
 * validates them as bytes, at most 255), so they are stored as latin1 with a one-byte length.
 *
 *   INDEX   0x01 nameLen:u8 name depCount:u32 (depLen:u8 dep)*
 *   REMOVE  0x02 nameLen:u8 name
 *   END     0x03 packages:u32 edges:u32      (last record of a snapshot: proves it is whole)
 */
export const RecordType = { INDEX: 1, REMOVE: 2, END: 3 } as const;

export interface EndRecord {
  readonly verb: 'END';
  readonly packages: number;
  readonly edges: number;
}

export type LogRecord = IndexCommand | RemoveCommand | EndRecord;

/** Bytes needed to encode an INDEX payload. */
export function indexPayloadBytes(name: string, deps: readonly string[]): number {
  let n = 1 + 1 + name.length + 4 + deps.length;
  for (let i = 0; i < deps.length; i++) n += deps[i]!.length;
  return n;
}

export function writeIndexPayload(buf: Buffer, at: number, name: string, deps: readonly string[]): number {
  buf[at++] = RecordType.INDEX;
  at = writeName(buf, at, name);
  putU32(buf, at, deps.length);
  at += 4;
  for (let i = 0; i < deps.length; i++) at = writeName(buf, at, deps[i]!);
  return at;
}

export function removePayloadBytes(name: string): number {
  return 2 + name.length;
}

export function writeRemovePayload(buf: Buffer, at: number, name: string): number {
  buf[at++] = RecordType.REMOVE;
  return writeName(buf, at, name);
}

export const END_PAYLOAD_BYTES = 9;

export function writeEndPayload(buf: Buffer, at: number, packages: number, edges: number): number {
  buf[at] = RecordType.END;
  putU32(buf, at + 1, packages);
  putU32(buf, at + 5, edges);
  return at + 9;
}

/** Names longer than this are copied by Buffer#write; shorter ones (nearly all) by a loop. */
const LOOP_NAME_CHARS = 48;

/**
 * One length byte, then the name as latin1. The caller reserved the bytes (the name is ASCII,
 * one byte a character). For short names a charCodeAt loop is about three times faster than
 * Buffer#write, whose call into C++ costs more than copying ten bytes.
 */
function writeName(buf: Buffer, at: number, name: string): number {
  const n = name.length;
  buf[at++] = n;
  if (n > LOOP_NAME_CHARS) return at + buf.write(name, at, 'latin1');
  for (let i = 0; i < n; i++) buf[at + i] = name.charCodeAt(i);
  return at + n;
}

/**
 * Decodes one payload, checking every length against the payload's bounds, so no length read
 * from the file is ever trusted for an allocation. Returns null when malformed. With `names`,
 * a name decoded before is the same string again (see NameCache): a log replay meets the
 * same names over and over, and a fresh string each time is a call into C++ and garbage.
 */
export function decodeRecord(p: Buffer, names?: NameCache): LogRecord | null {
  return decodeRecordIn(p, 0, p.length, names);
}

/**
 * `decodeRecord` of the payload `b[start, end)`, read in place: a replay decodes hundreds of
 * thousands of payloads from one read buffer, and a Buffer view of each cost a twelfth of a
 * compaction. Nothing outside `[start, end)` is read.
 */
export function decodeRecordIn(b: Buffer, start: number, end: number, names?: NameCache): LogRecord | null {
  if (end - start < 2) return null;
  const type = b[start];
  if (type === RecordType.END) {
    if (end - start !== END_PAYLOAD_BYTES) return null;
    return { verb: 'END', packages: b.readUInt32LE(start + 1), edges: b.readUInt32LE(start + 5) };
  }
  const nameEnd = start + 2 + b[start + 1]!;
  if (end < nameEnd || nameEnd === start + 2) return null;
  const name = nameIn(b, start + 2, nameEnd, names);
  if (type === RecordType.REMOVE) return end === nameEnd ? { verb: Verb.REMOVE, name } : null;
  if (type !== RecordType.INDEX || end < nameEnd + 4) return null;
  const count = b.readUInt32LE(nameEnd);
  // Each dependency takes at least two bytes: a count beyond that is damage, not a size.
  if (count > (end - nameEnd - 4) / 2) return null;
  const deps: string[] = [];
  let at = nameEnd + 4;
  for (let i = 0; i < count; i++) {
    const len = at < end ? b[at]! : 0;
    if (len === 0 || at + 1 + len > end) return null;
    deps.push(nameIn(b, at + 1, at + 1 + len, names));
    at += 1 + len;
  }
  return at === end ? { verb: Verb.INDEX, name, deps } : null;
}

/**
 * The type of the payload `b[start, end)` (RecordType) when it is well formed, else 0: every
 * length checked against the payload's bounds, as decodeRecordIn checks them, but no name
 * decoded. A compaction checks every record so, and decodes only the last of each package
 * (see compaction.ts). decodeRecordIn keeps its own checks: validating first and decoding
 * after cost a replay 8 % more per record. A test holds the two to the same answers.
 */
export function recordTypeIn(b: Buffer, start: number, end: number): number {
  if (end - start < 2) return 0;
  const type = b[start]!;
  if (type === RecordType.END) return end - start === END_PAYLOAD_BYTES ? type : 0;
  const nameEnd = start + 2 + b[start + 1]!;
  if (end < nameEnd || nameEnd === start + 2) return 0;
  if (type === RecordType.REMOVE) return end === nameEnd ? type : 0;
  if (type !== RecordType.INDEX || end < nameEnd + 4) return 0;
  const count = b.readUInt32LE(nameEnd);
  // Each dependency takes at least two bytes: a count beyond that is damage, not a size.
  if (count > (end - nameEnd - 4) / 2) return 0;
  let at = nameEnd + 4;
  for (let i = 0; i < count; i++) {
    const len = at < end ? b[at]! : 0;
    if (len === 0 || at + 1 + len > end) return 0;
    at += 1 + len;
  }
  return at === end ? type : 0;
}

/**
 * The name of the well-formed INDEX or REMOVE payload at `b[start]` (see recordTypeIn), as a
 * new string: for the rare lookups (a compaction's first pass numbers names by their bytes,
 * NameSlots, and makes no string per record).
 */
export function recordNameIn(b: Buffer, start: number): string {
  return nameIn(b, start + 2, start + 2 + b[start + 1]!, undefined);
}

/** The name in `b[start, end)`, through `names` when given. */
function nameIn(b: Buffer, start: number, end: number, names: NameCache | undefined): string {
  return names === undefined ? b.toString('latin1', start, end) : names.decode(b, start, end);
}
