import { join } from 'node:path';
import { corruptDataError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { encodeFileHeader, HEADER_BYTES, Magic } from './format/file-header.js';
import { FRAME_HEADER_BYTES, putU32, sealFrame } from './format/frame.js';
import { openDataFile, scanFileFrames } from './format/frame-reader.js';
import { CONTROL_FILE, TEMP_SUFFIX } from './data-dir-files.js';

/**
 * The control record (format version 2): what the store knows is durable in its data dir, so
 * that a log shorter than that is found as damage instead of being read as a shorter history
 * (issue 11, defect 4; PostgreSQL's pg_control plays this part). It is small and rewritten
 * whole, atomically (temporary file, fdatasync, rename, directory fsync), at open, at each
 * rotation, after each compaction and at a clean stop; see docs/adr/0008-storage-guarantees.md
 * for why not at every sync.
 *
 * On disk: the file header (magic PKIC, version, generation), then one frame whose payload is
 *   snapshotSeq:u32 currentSeq:u32 currentBytes:u32 clean:u8 count:u32 (seq:u32 bytes:u32)*
 */
export interface ControlRecord {
  /** The newest snapshot; 0 without one. */
  readonly snapshotSeq: number;
  /** Sealed segments after the snapshot, ascending, with the bytes each was sealed with. */
  readonly sealed: readonly { readonly seq: number; readonly bytes: number }[];
  /** The segment being written (the newest one), and how many of its bytes are known durable. */
  readonly currentSeq: number;
  readonly currentBytes: number;
  /** Written by a clean stop: `currentBytes` is then the whole segment. */
  readonly clean: boolean;
}

export const controlPath = (dir: string): string => join(dir, CONTROL_FILE);

export function encodeControl(record: ControlRecord, generation: number): Buffer {
  const payloadBytes = 4 + 4 + 4 + 1 + 4 + 8 * record.sealed.length;
  const buf = Buffer.alloc(HEADER_BYTES + FRAME_HEADER_BYTES + payloadBytes);
  encodeFileHeader(Magic.CONTROL, generation >>> 0).copy(buf, 0);
  let at = HEADER_BYTES + FRAME_HEADER_BYTES;
  putU32(buf, at, record.snapshotSeq);
  putU32(buf, at + 4, record.currentSeq);
  putU32(buf, at + 8, record.currentBytes);
  buf[at + 12] = record.clean ? 1 : 0;
  putU32(buf, at + 13, record.sealed.length);
  at += 17;
  for (const { seq, bytes } of record.sealed) {
    putU32(buf, at, seq);
    putU32(buf, at + 4, bytes);
    at += 8;
  }
  sealFrame(buf, HEADER_BYTES, payloadBytes, 0);
  return buf;
}

/** Reads the control record of `dir`; null when there is none (a new dir, or format version 1). */
export async function readControl(fs: StorageFs, dir: string): Promise<ControlRecord | null> {
  const path = controlPath(dir);
  let opened;
  try {
    opened = await openDataFile(fs, path, Magic.CONTROL);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null;
    throw err;
  }
  const { file, size, header } = opened;
  const found: { record: ControlRecord | null } = { record: null };
  try {
    // Written to a temporary file and renamed: it is whole or absent, so any damage is damage.
    if (header === null) throw damaged(path, 0, 'incomplete file header');
    const scan = await scanFileFrames(file, size, HEADER_BYTES, size, (bytes, from, to, offset) => {
      if (found.record !== null) throw damaged(path, offset, 'more than one record');
      found.record = decode(bytes.subarray(from, to));
      if (found.record === null) throw damaged(path, offset, 'undecodable control record');
    });
    if (scan.bad !== null) throw damaged(path, scan.bad.offset, scan.bad.reason);
  } finally {
    await file.close();
  }
  if (found.record === null) throw damaged(path, HEADER_BYTES, 'no control record');
  return found.record;
}

function decode(p: Buffer): ControlRecord | null {
  if (p.length < 17) return null;
  const count = p.readUInt32LE(13);
  if (p.length !== 17 + 8 * count || p[12]! > 1) return null;
  const sealed: { seq: number; bytes: number }[] = [];
  for (let i = 0; i < count; i++)
    sealed.push({ seq: p.readUInt32LE(17 + 8 * i), bytes: p.readUInt32LE(21 + 8 * i) });
  return {
    snapshotSeq: p.readUInt32LE(0),
    currentSeq: p.readUInt32LE(4),
    currentBytes: p.readUInt32LE(8),
    clean: p[12] === 1,
    sealed,
  };
}

/** Replaces the control record of `dir` atomically and durably. */
export async function writeControl(
  fs: StorageFs,
  dir: string,
  record: ControlRecord,
  generation: number,
): Promise<void> {
  const path = controlPath(dir);
  const temp = path + TEMP_SUFFIX;
  await fs.unlink(temp).catch(() => undefined);
  const file = await fs.open(temp, 'create');
  try {
    await file.write(encodeControl(record, generation), 0);
    await file.datasync();
  } catch (err) {
    await file.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw err;
  }
  await file.close();
  await fs.rename(temp, path);
  await fs.syncDir(dir);
}

function damaged(path: string, offset: number, what: string): ReturnType<typeof corruptDataError> {
  return corruptDataError(path, offset, what, 'control file');
}
