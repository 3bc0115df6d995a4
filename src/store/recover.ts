import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { DependencyGraph } from '../graph/dependency-graph.js';
import { corruptDataError, type PkgIndexError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { HEADER_BYTES, Magic, readFileHeader } from './format/file-header.js';
import { scanFrames } from './format/frame.js';
import { decodeRecord } from './format/record.js';
import { applyCommand } from './apply-command.js';
import { listDataDir, segmentPath, snapshotPath } from './data-dir-files.js';
import { readSnapshot } from './snapshot-file.js';

export interface RecoverOptions {
  /**
   * Cut a torn tail off the last segment, drop a half-created last segment and delete files
   * a finished compaction made obsolete. False reads the dir without changing it.
   */
  readonly repair: boolean;
}

export interface Recovered {
  readonly graph: DependencyGraph;
  /** Segments up to this one are folded into the snapshot; 0 without one. */
  readonly snapshotSeq: number;
  /** Segments after the snapshot, ascending, with their sizes after repair. */
  readonly segments: readonly { readonly seq: number; readonly bytes: number }[];
  /** Log records replayed on top of the snapshot. */
  readonly records: number;
  /** Bytes of torn tail found (and, with repair, cut off). */
  readonly truncatedBytes: number;
  /** The sequence number for the next segment. */
  readonly nextSeq: number;
  readonly durationMs: number;
}

function corrupt(path: string, offset: number, what: string): PkgIndexError<'E_STORAGE_CORRUPT'> {
  return corruptDataError(path, offset, what, 'segment');
}

/**
 * Rebuilds the index from a data dir: the newest snapshot, then every later log segment in
 * order, re-applied through the same graph rules as live commands. Only the end of the last
 * segment may be damaged (a write that a crash interrupted); damage anywhere else is refused.
 */
export async function recover(fs: StorageFs, dir: string, options: RecoverOptions): Promise<Recovered> {
  const started = performance.now();
  const listing = await listDataDir(fs, dir);
  const graph = new DependencyGraph();
  const snapshotSeq = listing.snapshots.at(-1) ?? 0;
  if (snapshotSeq > 0) {
    const path = snapshotPath(dir, snapshotSeq);
    if ((await readSnapshot(fs, path, graph)) !== snapshotSeq)
      throw corruptDataError(path, 8, 'wrong sequence number', 'snapshot');
  }
  const live = listing.segments.filter((seq) => seq > snapshotSeq);
  const segments: { seq: number; bytes: number }[] = [];
  let records = 0;
  let truncatedBytes = 0;
  let changedDir = false;
  for (let i = 0; i < live.length; i++) {
    const seq = live[i]!;
    const path = segmentPath(dir, seq);
    if (seq !== snapshotSeq + 1 + i)
      throw corrupt(path, 0, `segment ${snapshotSeq + 1 + i} is missing before this file`);
    const last = i === live.length - 1;
    const buf = await fs.readFile(path);
    const header = readFileHeader(buf, Magic.SEGMENT, path);
    if (header === null) {
      if (!last) throw corrupt(path, 0, 'incomplete file header');
      // A crash while the segment was being created: it never held a record.
      truncatedBytes += buf.length;
      if (options.repair) {
        await fs.unlink(path);
        changedDir = true;
      }
      break;
    }
    if (header.seq !== seq) throw corrupt(path, 8, `sequence number ${header.seq} in a file named ${seq}`);
    const scan = scanFrames(buf, HEADER_BYTES, (payload, offset) => {
      const command = decodeRecord(payload);
      if (command === null || command.verb === 'END') throw corrupt(path, offset, 'undecodable record');
      if (!applyCommand(graph, command).changed) throw corrupt(path, offset, 'record that does not apply');
      records++;
    });
    if (scan.bad !== null) {
      if (!last || scan.bad.corrupt) throw corrupt(path, scan.bad.offset, scan.bad.reason);
      truncatedBytes += buf.length - scan.end;
      if (options.repair) await truncateDurably(fs, path, scan.end);
    }
    segments.push({ seq, bytes: scan.end });
  }
  const problems = graph.verify();
  if (problems.length > 0)
    throw corruptDataError(
      dir,
      null,
      `the recovered index is inconsistent (${problems.slice(0, 3).join('; ')})`,
      'data dir',
    );
  if (options.repair) {
    const obsolete = [
      ...listing.segments.filter((seq) => seq <= snapshotSeq).map((seq) => segmentPath(dir, seq)),
      ...listing.snapshots.filter((seq) => seq < snapshotSeq).map((seq) => snapshotPath(dir, seq)),
      ...listing.temporary.map((name) => join(dir, name)),
    ];
    for (const path of obsolete) await fs.unlink(path);
    if (changedDir || obsolete.length > 0) await fs.syncDir(dir);
  }
  const nextSeq = Math.max(segments.at(-1)?.seq ?? 0, snapshotSeq) + 1;
  return {
    graph,
    snapshotSeq,
    segments,
    records,
    truncatedBytes,
    nextSeq,
    durationMs: performance.now() - started,
  };
}

async function truncateDurably(fs: StorageFs, path: string, length: number): Promise<void> {
  const file = await fs.open(path, 'write');
  try {
    await file.truncate(length);
    await file.datasync();
  } finally {
    await file.close();
  }
}
