import { DependencyGraph } from '../graph/dependency-graph.js';
import { corruptDataError, type PkgIndexError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { InflightFs, type IoObserver } from './fs/inflight-fs.js';
import { HEADER_BYTES, Magic } from './format/file-header.js';
import type { ScanResult } from './format/frame.js';
import { DEFAULT_READ_BUFFER_BYTES, openDataFile, scanFileFrames } from './format/frame-reader.js';
import { decodeRecordIn } from './format/record.js';
import { applyCommand } from './apply-command.js';
import { NameCache } from '../protocol/name-cache.js';
import { segmentPath, snapshotPath } from './data-dir-files.js';
import { readSnapshot, writeSnapshot } from './snapshot-file.js';

/** Fold snapshot `snapshotSeq` (0: none) and sealed segments `fromSeq..toSeq` into snapshot `toSeq`. */
export interface CompactionJob {
  readonly dir: string;
  readonly snapshotSeq: number;
  readonly fromSeq: number;
  readonly toSeq: number;
}

export interface CompactionResult {
  readonly snapshotBytes: number;
}

/**
 * What the store gives each compaction so that its I/O is under the storage deadline like the
 * writer's (ADR 0015): every file operation is reported to `io` while in flight (the store's
 * watchdog looks at it), and once `signal` is aborted (an operation passed the deadline, or
 * the store is closing) no further operation starts: the compaction fails at its next one.
 */
export interface CompactionContext {
  readonly io: IoObserver;
  readonly signal: AbortSignal;
}

/**
 * Runs a compaction job somewhere: in a worker thread in production, inline in tests
 * (test/support/). Without a context its I/O is not tracked (tests of the fold alone).
 */
export type Compactor = (job: CompactionJob, context?: CompactionContext) => Promise<CompactionResult>;

/** `fs` with the compaction's I/O tracked and abortable, as `context` asks. */
export function compactionFs(fs: StorageFs, context: CompactionContext | undefined): StorageFs {
  if (context === undefined) return fs;
  const { signal } = context;
  return new InflightFs(fs, context.io, () => (signal.aborted ? String(signal.reason) : null));
}

/**
 * Builds the new snapshot purely from files, so the thread serving clients never serialises
 * the whole graph. Sealed segments were synced whole before the next one was created, so any
 * damage in them is corruption.
 */
export async function foldSnapshot(fs: StorageFs, job: CompactionJob): Promise<CompactionResult> {
  const graph = new DependencyGraph();
  const names = new NameCache();
  if (job.snapshotSeq > 0)
    await readSnapshot(fs, snapshotPath(job.dir, job.snapshotSeq), graph, DEFAULT_READ_BUFFER_BYTES, names);
  for (let seq = job.fromSeq; seq <= job.toSeq; seq++) {
    const path = segmentPath(job.dir, seq);
    const { file, size, header } = await openDataFile(fs, path, Magic.SEGMENT);
    let scan: ScanResult;
    try {
      if (header === null) throw damaged(path, 0, 'incomplete file header');
      scan = await scanFileFrames(
        file,
        size,
        HEADER_BYTES,
        DEFAULT_READ_BUFFER_BYTES,
        (bytes, from, to, offset) => {
          const command = decodeRecordIn(bytes, from, to, names);
          if (command === null || command.verb === 'END') throw damaged(path, offset, 'undecodable record');
          if (!applyCommand(graph, command).changed)
            throw damaged(path, offset, 'record that does not apply');
        },
      );
    } finally {
      await file.close();
    }
    if (scan.bad !== null) throw damaged(path, scan.bad.offset, scan.bad.reason);
  }
  return { snapshotBytes: await writeSnapshot(fs, job.dir, job.toSeq, graph.topological()) };
}

function damaged(path: string, offset: number, what: string): PkgIndexError<'E_STORAGE_CORRUPT'> {
  return corruptDataError(path, offset, what, 'sealed segment');
}
