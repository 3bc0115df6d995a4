import { corruptDataError, createError, type DamagedFileKind } from '../../errors.js';
import { crc32 } from './crc32.js';

/**
 * Every data file starts with a 16-byte header: magic (4 ASCII bytes), format version (u32),
 * sequence number (u32), CRC-32 of the first 12 bytes. The version lets a newer pkgindex read
 * (and, at the next compaction, rewrite) files of an older one, and lets an older pkgindex
 * refuse files it does not understand instead of misreading them.
 */
export const HEADER_BYTES = 16;

/** The format this build writes. Readers for older versions go in `readFileHeader`. */
export const FORMAT_VERSION = 2;

/**
 * What each format version is (docs/adr/0008-storage-guarantees.md, "Versioning"). Records and
 * frames are the same in both; version 2 adds the control record (control-file.ts), so a v2
 * data dir is refused by a v1 build, which would not keep it up to date. A v1 dir is read as it
 * is (no control record: nothing to check the log against) and gets one at its first open;
 * compaction rewrites its segments into a v2 snapshot.
 */
export const FORMAT_VERSIONS: Readonly<Record<number, { readonly control: boolean }>> = {
  1: { control: false },
  2: { control: true },
};

export const Magic = { SEGMENT: 'PKIL', SNAPSHOT: 'PKIS', CONTROL: 'PKIC' } as const;
export type Magic = (typeof Magic)[keyof typeof Magic];

export interface FileHeader {
  readonly version: number;
  readonly seq: number;
}

export function encodeFileHeader(magic: Magic, seq: number): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  buf.write(magic, 0, 'latin1');
  buf.writeUInt32LE(FORMAT_VERSION, 4);
  buf.writeUInt32LE(seq, 8);
  buf.writeUInt32LE(crc32(buf.subarray(0, 12)), 12);
  return buf;
}

/**
 * Reads the header of `file` (for messages). Returns null when the header is incomplete or
 * blank, which only a crash while creating the file can leave; throws when it is damaged or
 * of a version this build cannot read.
 */
export function readFileHeader(buf: Buffer, magic: Magic, file: string): FileHeader | null {
  if (buf.length < HEADER_BYTES || buf.subarray(0, HEADER_BYTES).every((b) => b === 0)) return null;
  if (buf.toString('latin1', 0, 4) !== magic || buf.readUInt32LE(12) !== crc32(buf.subarray(0, 12)))
    throw corruptDataError(file, 0, `damaged file header (expected a ${magic} header)`, kindOf(magic));
  const version = buf.readUInt32LE(4);
  if (version > FORMAT_VERSION)
    throw createError(
      'E_STORAGE_VERSION',
      `${file} has format version ${version}, but this pkgindex reads versions up to ${FORMAT_VERSION}; run a newer pkgindex on this data dir`,
    );
  if (!(version in FORMAT_VERSIONS))
    throw corruptDataError(file, 4, `invalid format version ${version}`, kindOf(magic));
  return { version, seq: buf.readUInt32LE(8) };
}

function kindOf(magic: Magic): DamagedFileKind {
  return magic === Magic.SNAPSHOT ? 'snapshot' : magic === Magic.CONTROL ? 'control file' : 'segment';
}
