import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { DependencyGraph } from '../graph/dependency-graph.js';
import { corruptDataError, createError, type PkgIndexError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { HEADER_BYTES, Magic } from './format/file-header.js';
import {
  DEFAULT_READ_BUFFER_BYTES,
  nonZeroEnd,
  openDataFile,
  scanFileFrames,
} from './format/frame-reader.js';
import { decodeRecordIn } from './format/record.js';
import { NameCache } from '../protocol/name-cache.js';
import type { ScanResult } from './format/frame.js';
import { applyCommand } from './apply-command.js';
import { CONTROL_FILE, listDataDir, segmentPath, snapshotPath, type DirListing } from './data-dir-files.js';
import { readControl, type ControlRecord } from './control-file.js';
import { readSnapshot } from './snapshot-file.js';
import { waysOut, type CreateIndex } from './new-index.js';
import { refuseInterruptedRestore } from './replace-index.js';

export interface RecoverOptions {
  /**
   * Cut a torn tail off the last segment, drop a half-created last segment and delete files
   * a finished compaction made obsolete. False reads the dir without changing it.
   */
  readonly repair: boolean;
  /** Bytes read at a time from each file (default 1 MiB): recovery never holds a whole file. */
  readonly readBufferBytes?: number;
  /**
   * Recover what there is even when it is less than the control record says was durable: the
   * losses are returned in `dataLoss` instead of thrown as E_STORAGE_DATA_LOSS (--accept-data-loss).
   */
  readonly acceptDataLoss?: boolean;
  /**
   * Whether the dir, which exists, may be recovered as a new, empty index when it holds no
   * index (no control record, no data file) and no trace of one: only with `empty`; `missing`
   * (the default) and `never` refuse it with E_STORAGE_NO_INDEX (see new-index.ts).
   */
  readonly createIndex?: CreateIndex;
  /**
   * Signs that an index was kept in the dir, found by the caller before it took the dir (a
   * LOCK file a dead owner left). With no data file and no control record, any of them, or a
   * temporary file of the store, makes the dir an emptied index (E_STORAGE_DATA_LOSS) rather
   * than a new one.
   */
  readonly traces?: readonly string[];
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
  /** The control record found; null in a new dir or one written by format version 1. */
  readonly control: ControlRecord | null;
  /** Format versions of the data files read, ascending. */
  readonly versions: readonly number[];
  /** What the control record says was durable and is not there (only with acceptDataLoss). */
  readonly dataLoss: readonly string[];
}

function corrupt(path: string, offset: number, what: string): PkgIndexError<'E_STORAGE_CORRUPT'> {
  return corruptDataError(path, offset, what, 'segment');
}

/**
 * Rebuilds the index from a data dir: the newest snapshot, then every later log segment in
 * order, re-applied through the same graph rules as live commands. Only the end of the last
 * segment may be damaged (a write that a crash interrupted); damage anywhere else is refused.
 * The files are then checked against the control record: a log shorter than what the store
 * knew was durable is data loss, refused before anything is repaired. A dir whose index a
 * restore was replacing when it stopped is refused first (replace-index.ts).
 */
export async function recover(fs: StorageFs, dir: string, options: RecoverOptions): Promise<Recovered> {
  const started = performance.now();
  const readBuffer = options.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES;
  // Before any file is read: a half-replaced index could look like a damaged or a whole one.
  await refuseInterruptedRestore(fs, dir);
  const listing = await listDataDir(fs, dir);
  const control = await readControl(fs, dir);
  const versions = new Set<number>();
  const graph = new DependencyGraph();
  // Names repeat across records (dependencies, and the log's churn): one string each.
  const names = new NameCache();
  const snapshotSeq = listing.snapshots.at(-1) ?? 0;
  if (snapshotSeq > 0) {
    const path = snapshotPath(dir, snapshotSeq);
    const header = await readSnapshot(fs, path, graph, readBuffer, names);
    if (header.seq !== snapshotSeq) throw corruptDataError(path, 8, 'wrong sequence number', 'snapshot');
    versions.add(header.version);
  }
  const live = listing.segments.filter((seq) => seq > snapshotSeq);
  const segments: { seq: number; bytes: number }[] = [];
  /** Repairs, made only once the files are known to hold everything the control record says. */
  const repairs: (() => Promise<void>)[] = [];
  let records = 0;
  let truncatedBytes = 0;
  /** Set by the repairs (closures): whether the directory needs a sync. */
  const dirChanges = { unlinked: false };
  for (let i = 0; i < live.length; i++) {
    const seq = live[i]!;
    const path = segmentPath(dir, seq);
    if (seq !== snapshotSeq + 1 + i)
      throw corrupt(path, 0, `segment ${snapshotSeq + 1 + i} is missing before this file`);
    const last = i === live.length - 1;
    const { file, size, header } = await openDataFile(fs, path, Magic.SEGMENT);
    let scan: ScanResult;
    try {
      if (header === null) {
        if (!last) throw corrupt(path, 0, 'incomplete file header');
        // A crash while the segment was being created: it never held a record.
        truncatedBytes += size;
        repairs.push(async () => {
          await fs.unlink(path);
          dirChanges.unlinked = true;
        });
        break;
      }
      if (header.seq !== seq) throw corrupt(path, 8, `sequence number ${header.seq} in a file named ${seq}`);
      versions.add(header.version);
      scan = await scanFileFrames(file, size, HEADER_BYTES, readBuffer, (bytes, from, to, offset) => {
        const command = decodeRecordIn(bytes, from, to, names);
        if (command === null || command.verb === 'END') throw corrupt(path, offset, 'undecodable record');
        if (!applyCommand(graph, command).changed) throw corrupt(path, offset, 'record that does not apply');
        records++;
      });
      // The zeros a durable writer keeps ahead of its records (log-writer.ts) end the log
      // cleanly: the torn tail, if any, is what lies before them (up to its last byte that is
      // not zero). All of it is cut.
      if (scan.bad !== null && last && !scan.bad.corrupt)
        truncatedBytes += (await nonZeroEnd(file, scan.end, size, readBuffer)) - scan.end;
    } finally {
      await file.close();
    }
    if (scan.bad !== null) {
      if (!last || scan.bad.corrupt) throw corrupt(path, scan.bad.offset, scan.bad.reason);
      const end = scan.end;
      repairs.push(() => truncateDurably(fs, path, end));
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
  const dataLoss =
    control === null
      ? noIndex(dir, listing, options.createIndex ?? 'missing', options.traces ?? [])
      : missingDurableData(dir, control, snapshotSeq, segments);
  if (dataLoss.length > 0 && options.acceptDataLoss !== true)
    throw createError(
      'E_STORAGE_DATA_LOSS',
      `${dataLoss.join('; ')}; acknowledged data is gone. Restore the data dir from a backup, or start with --accept-data-loss to serve what is left (pkgindex fsck --data-dir ${dir} shows it)`,
    );
  if (options.repair) {
    for (const repair of repairs) await repair();
    const obsolete = [
      ...listing.segments.filter((seq) => seq <= snapshotSeq).map((seq) => segmentPath(dir, seq)),
      ...listing.snapshots.filter((seq) => seq < snapshotSeq).map((seq) => snapshotPath(dir, seq)),
      ...listing.temporary.map((name) => join(dir, name)),
    ];
    for (const path of obsolete) await fs.unlink(path);
    if (dirChanges.unlinked || obsolete.length > 0) await fs.syncDir(dir);
  }
  // After an accepted loss the numbers of lost segments are used again: the log has no gap.
  const nextSeq = Math.max(segments.at(-1)?.seq ?? 0, snapshotSeq) + 1;
  return {
    graph,
    snapshotSeq,
    segments,
    records,
    truncatedBytes,
    nextSeq,
    durationMs: performance.now() - started,
    control,
    versions: [...versions].sort((a, b) => a - b),
    dataLoss,
  };
}

/**
 * Without a control record: a format-1 dir, one whose files were deleted, or one that never
 * held an index. A dir with no data file is an emptied index when anything in it says an index
 * was kept there (a temporary file of the store, a LOCK file its owner left): data loss. With
 * no trace either, it may be a new volume as well as an emptied or unmounted one: a new index
 * only with --create-index=empty, else refused (E_STORAGE_NO_INDEX) with both ways out.
 */
function noIndex(
  dir: string,
  listing: DirListing,
  createIndex: CreateIndex,
  traces: readonly string[],
): string[] {
  if (listing.segments.length > 0 || listing.snapshots.length > 0) return [];
  const found = [
    ...listing.temporary.map((name) => `${join(dir, name)} (a temporary file of the store)`),
    ...traces,
  ];
  if (found.length > 0)
    return [
      `${dir} holds no index (no ${CONTROL_FILE} file, no snapshot, no log segment), but ${found.join(' and ')} show${found.length === 1 ? 's' : ''} that one was kept there: its files were deleted`,
    ];
  if (createIndex === 'empty') return [];
  throw createError(
    'E_STORAGE_NO_INDEX',
    `data dir ${dir} exists but holds no index (no ${CONTROL_FILE} file, no snapshot, no log segment), and --create-index=${createIndex} creates a new one ${createIndex === 'never' ? 'nowhere' : 'only in a dir that does not exist'}; ${waysOut(dir)}`,
  );
}

/** What the control record says is durable and the files do not hold. */
function missingDurableData(
  dir: string,
  control: ControlRecord,
  snapshotSeq: number,
  segments: readonly { readonly seq: number; readonly bytes: number }[],
): string[] {
  const lost: string[] = [];
  if (segments.length === 0 && snapshotSeq === 0 && (control.currentSeq > 0 || control.snapshotSeq > 0))
    lost.push(
      `${dir} holds a control record but no snapshot and no log segment: the index's files were deleted`,
    );
  if (snapshotSeq < control.snapshotSeq)
    lost.push(
      `${snapshotPath(dir, control.snapshotSeq)} is missing (the control record says segments up to ${control.snapshotSeq} were folded into it)`,
    );
  const found = new Map(segments.map(({ seq, bytes }) => [seq, bytes]));
  const expected = [
    ...control.sealed,
    {
      seq: control.currentSeq,
      bytes: control.clean ? control.currentBytes : Math.min(control.currentBytes, HEADER_BYTES),
    },
  ];
  // Segments the snapshot found covers need not exist any more (a compaction deletes them).
  const covered = Math.max(snapshotSeq, control.snapshotSeq);
  for (const { seq, bytes } of expected) {
    if (seq <= covered || seq === 0) continue;
    const has = found.get(seq);
    const path = segmentPath(dir, seq);
    if (has === undefined)
      lost.push(`${path} is missing (the control record says ${bytes} bytes of it were durable)`);
    else if (has < bytes)
      lost.push(
        `${path} holds ${has} bytes of whole records, but the control record says ${bytes} were durable`,
      );
  }
  return lost;
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
