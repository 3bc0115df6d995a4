import { DependencyGraph, IndexOutcome } from '../graph/dependency-graph.js';
import { corruptDataError, createError, type PkgIndexError } from '../errors.js';
import { errorText } from './log-writer.js';
import { Verb } from '../protocol/command.js';
import type { StorageFs } from './fs/storage-fs.js';
import { encodeFileHeader, HEADER_BYTES, Magic, type FileHeader } from './format/file-header.js';
import type { ScanResult } from './format/frame.js';
import { DEFAULT_READ_BUFFER_BYTES, openDataFile, scanFileFrames } from './format/frame-reader.js';
import { decodeRecordIn } from './format/record.js';
import type { NameCache } from '../protocol/name-cache.js';
import { RecordBuffer } from './format/record-buffer.js';
import { snapshotPath, TEMP_SUFFIX } from './data-dir-files.js';
import { dirname } from 'node:path';

/**
 * A snapshot: the file header, one INDEX record per package with dependencies before their
 * dependents (so loading is plain `index()` calls), then an END record with the counts. It is
 * written to a temporary file, synced, renamed into place and the directory synced, so it is
 * either absent or whole: any damage in it is corruption.
 */
const CHUNK_BYTES = 1024 * 1024;

function corrupt(path: string, offset: number, what: string): PkgIndexError<'E_STORAGE_CORRUPT'> {
  return corruptDataError(path, offset, what, 'snapshot');
}

/**
 * Loads snapshot `path` into the empty `graph`. Returns its header: the sequence number it
 * covers. `names`: decode names through this cache (see decodeRecord).
 */
export async function readSnapshot(
  fs: StorageFs,
  path: string,
  graph: DependencyGraph,
  readBufferBytes = DEFAULT_READ_BUFFER_BYTES,
  names?: NameCache,
): Promise<FileHeader> {
  const { file, size, header } = await openDataFile(fs, path, Magic.SNAPSHOT);
  let end: { packages: number; edges: number } | null = null;
  let scan: ScanResult;
  try {
    if (header === null) throw corrupt(path, 0, 'incomplete file header');
    scan = await scanFileFrames(file, size, HEADER_BYTES, readBufferBytes, (bytes, from, to, offset) => {
      const record = decodeRecordIn(bytes, from, to, names);
      if (end !== null) throw corrupt(path, offset, 'record after the END record');
      if (record?.verb === 'END') end = record;
      else if (record?.verb !== Verb.INDEX || graph.index(record.name, record.deps) !== IndexOutcome.ADDED)
        throw corrupt(path, offset, 'invalid snapshot record');
    });
  } finally {
    await file.close();
  }
  if (scan.bad !== null) throw corrupt(path, scan.bad.offset, scan.bad.reason);
  const counts = end as { packages: number; edges: number } | null;
  if (counts === null) throw corrupt(path, scan.end, 'missing END record');
  if (counts.packages !== graph.size || counts.edges !== graph.edgeCount)
    throw corrupt(path, scan.end, 'package or edge count differs from the END record');
  return header;
}

/**
 * Writes the state `entries` (dependencies first) as snapshot `seq` in `dir`, atomically.
 * Returns its size in bytes.
 */
export async function writeSnapshot(
  fs: StorageFs,
  dir: string,
  seq: number,
  entries: Iterable<readonly [string, readonly string[]]>,
): Promise<number> {
  const path = snapshotPath(dir, seq);
  const temp = path + TEMP_SUFFIX;
  // A temporary file left by a crash, or by a compaction that failed before its rename, is the
  // store's own: it is replaced, so no leftover blocks compaction. Anything else there that
  // cannot be unlinked (a directory, a file this user may not remove) is not the store's to
  // delete: the compaction fails and says what to remove (an O_EXCL create would only say
  // EEXIST).
  await fs.unlink(temp).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === 'ENOENT') return;
    throw createError(
      'E_STORAGE_IO',
      `${temp} is in the way of the snapshot a compaction writes and cannot be removed (${errorText(err)}); the store did not make it as it is: move it away or delete it, and compaction is retried at the next rotation`,
      { cause: err },
    );
  });
  const file = await fs.open(temp, 'create');
  let open = true;
  let at = 0;
  try {
    const header = encodeFileHeader(Magic.SNAPSHOT, seq);
    await file.write(header, at);
    at += header.length;
    const records = new RecordBuffer();
    let packages = 0;
    let edges = 0;
    for (const [name, deps] of entries) {
      records.appendIndex(name, deps);
      packages++;
      edges += deps.length;
      if (records.bytes >= CHUNK_BYTES) at += await flush(records);
    }
    records.appendEnd(packages, edges);
    at += await flush(records);
    await file.datasync();
    open = false;
    await file.close();
    await fs.rename(temp, path);
  } catch (err) {
    if (open) await file.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw err;
  }
  await fs.syncDir(dirname(path));
  return at;

  async function flush(records: RecordBuffer): Promise<number> {
    const bytes = records.seal(0);
    await file.write(bytes, at);
    records.reset();
    return bytes.length;
  }
}
