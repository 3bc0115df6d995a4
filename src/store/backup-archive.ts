import { join } from 'node:path';
import { createError, type PkgIndexError } from '../errors.js';
import { crc32 } from './format/crc32.js';
import type { StorageFile, StorageFs } from './fs/storage-fs.js';
import { CONTROL_FILE } from './data-dir-files.js';

/**
 * The backup archive: the data files of one consistent cut of a data dir, each with its
 * checksum, so a restore can tell a whole backup from a damaged or truncated one.
 *
 *   "PKGIBAK1"
 *   per file: u16 name length, name (latin1), f64 byte length, the bytes, u32 CRC-32 of them
 *   end:      u16 0, u32 number of files, u32 CRC-32 of the file CRCs (big-endian each)
 *
 * The last file is the control record of the cut (CONTROL, format version 2): the snapshot,
 * the sealed segments and the current segment with the exact bytes backed up, marked clean, so
 * that a restored dir is checked against it at its first start and by `pkgindex fsck` exactly
 * as the original was. Archives made before it have no CONTROL; restore then writes one.
 *
 * Only data file names are accepted on restore (no paths), so an archive cannot write outside
 * the target directory.
 */
const MAGIC = Buffer.from('PKGIBAK1', 'latin1');
const CHUNK = 1024 * 1024;
const DATA_FILE = /^(segment-\d{10}\.log|snapshot-\d{10}\.snap|CONTROL)$/;

export interface ArchiveFile {
  readonly name: string;
  readonly path: string;
  /** Bytes to take from the start of the file: the cut. */
  readonly length: number;
  /** The file's bytes, when they are made for the archive rather than read (the control record). */
  readonly data?: Buffer;
  /**
   * The file, opened by the caller when it cut the files: read through it, and left open. Else
   * it is opened by `path` when its turn comes.
   */
  readonly file?: StorageFile;
}

/** Streams `files` (each cut at its length) as an archive. */
export async function* writeArchive(fs: StorageFs, files: readonly ArchiveFile[]): AsyncGenerator<Buffer> {
  yield MAGIC;
  const crcs = Buffer.alloc(4 * files.length);
  for (const [i, file] of files.entries()) {
    const name = Buffer.from(file.name, 'latin1');
    const head = Buffer.alloc(2 + name.length + 8);
    head.writeUInt16BE(name.length, 0);
    name.copy(head, 2);
    head.writeDoubleBE(file.length, 2 + name.length);
    yield head;
    let crc: number;
    if (file.data !== undefined) {
      crc = crc32(file.data);
      yield file.data;
    } else {
      crc = yield* readCut(fs, file);
    }
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc >>> 0, 0);
    crcs.writeUInt32BE(crc >>> 0, 4 * i);
    yield tail;
  }
  const end = Buffer.alloc(10);
  end.writeUInt16BE(0, 0);
  end.writeUInt32BE(files.length, 2);
  end.writeUInt32BE(crc32(crcs) >>> 0, 6);
  yield end;
}

/** Streams the first `file.length` bytes of a data file; returns their CRC-32. */
async function* readCut(fs: StorageFs, file: ArchiveFile): AsyncGenerator<Buffer, number> {
  const handle = file.file ?? (await fs.open(file.path, 'read'));
  let crc = 0;
  try {
    for (let at = 0; at < file.length;) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, file.length - at));
      const n = await handle.read(chunk, at, chunk.length);
      if (n === 0)
        throw createError(
          'E_STORAGE_IO',
          `${file.path} ended at byte ${at} while backing up ${file.length}; the data dir changed under the backup`,
        );
      const bytes = chunk.subarray(0, n);
      crc = crc32(bytes, crc);
      at += n;
      yield bytes;
    }
  } finally {
    if (file.file === undefined) await handle.close();
  }
  return crc;
}

/** Reads exactly the bytes asked for from a stream of chunks. */
class ChunkReader {
  readonly #source: AsyncIterator<Uint8Array>;
  #buffered: Buffer = Buffer.alloc(0);
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (at least 1), or null at the end of the stream. */
  async some(max: number): Promise<Buffer | null> {
    if (this.#buffered.length === 0) {
      const next = await this.#source.next();
      if (next.done === true) return null;
      this.#buffered = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
    const n = Math.min(max, this.#buffered.length);
    const out = this.#buffered.subarray(0, n);
    this.#buffered = this.#buffered.subarray(n);
    this.offset += n;
    return out;
  }

  async exactly(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const part = await this.some(n - have);
      if (part === null) throw damaged(this.offset, `the archive ends in the middle of ${what}`);
      parts.push(part);
      have += part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

export interface Restored {
  readonly files: number;
  readonly bytes: number;
  /** Whether the archive held a control record (archives made before it did not). */
  readonly control: boolean;
}

/**
 * Writes the files of an archive into `dir` (which the caller has made empty of data files),
 * verifying each checksum and the archive's end, syncing each file and the directory.
 */
export async function restoreArchive(
  source: AsyncIterable<Uint8Array>,
  fs: StorageFs,
  dir: string,
): Promise<Restored> {
  const reader = new ChunkReader(source);
  const magic = await reader.exactly(MAGIC.length, 'its header');
  if (!magic.equals(MAGIC)) throw damaged(0, 'not a pkgindex backup (no PKGIBAK1 header)');
  const crcs: number[] = [];
  let bytes = 0;
  let control = false;
  for (;;) {
    const nameLength = (await reader.exactly(2, 'a file header')).readUInt16BE(0);
    if (nameLength === 0) break;
    const name = (await reader.exactly(nameLength, 'a file name')).toString('latin1');
    if (!DATA_FILE.test(name)) throw damaged(reader.offset, `unexpected file name "${name}"`);
    const length = (await reader.exactly(8, 'a file header')).readDoubleBE(0);
    if (!Number.isSafeInteger(length) || length < 0) throw damaged(reader.offset, `bad length of ${name}`);
    const file = await fs.open(join(dir, name), 'create');
    let crc = 0;
    try {
      for (let at = 0; at < length;) {
        const part = await reader.some(length - at);
        if (part === null) throw damaged(reader.offset, `the archive ends in the middle of ${name}`);
        crc = crc32(part, crc);
        await file.write(part, at);
        at += part.length;
      }
      const want = (await reader.exactly(4, `the checksum of ${name}`)).readUInt32BE(0);
      if (want !== crc >>> 0) throw damaged(reader.offset, `checksum mismatch in ${name}`);
      await file.datasync();
    } finally {
      await file.close();
    }
    crcs.push(crc >>> 0);
    if (name === CONTROL_FILE) control = true;
    else bytes += length;
  }
  const end = await reader.exactly(8, 'its end');
  const all = Buffer.alloc(4 * crcs.length);
  crcs.forEach((crc, i) => all.writeUInt32BE(crc, 4 * i));
  if (end.readUInt32BE(0) !== crcs.length || end.readUInt32BE(4) !== crc32(all) >>> 0)
    throw damaged(reader.offset, 'its end record does not match its files');
  if ((await reader.some(1)) !== null) throw damaged(reader.offset, 'bytes after its end');
  await fs.syncDir(dir);
  return { files: crcs.length - (control ? 1 : 0), bytes, control };
}

function damaged(offset: number, what: string): PkgIndexError<'E_BACKUP_DAMAGED'> {
  return createError(
    'E_BACKUP_DAMAGED',
    `the backup is damaged at byte ${offset}: ${what}; take a new backup (pkgindex backup --to FILE)`,
  );
}
