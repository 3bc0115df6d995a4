import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../graph/dependency-graph.js';
import { Verb, type IndexCommand } from '../protocol/command.js';
import { corruptDataError, type PkgIndexError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { InflightFs, type IoObserver } from './fs/inflight-fs.js';
import { HEADER_BYTES, Magic } from './format/file-header.js';
import type { ScanResult } from './format/frame.js';
import { DEFAULT_READ_BUFFER_BYTES, openDataFile, scanFileFrames } from './format/frame-reader.js';
import { decodeRecordIn, recordNameIn, recordTypeIn, RecordType } from './format/record.js';
import { NameCache } from '../protocol/name-cache.js';
import { segmentPath, snapshotPath } from './data-dir-files.js';
import { grown, NameSlots } from './name-slots.js';
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
  /** The thread the fold ran on, when it ran on one of its own (compaction-worker.ts). */
  readonly thread?: CompactionThreadState;
}

/** The priority of a compaction thread: its nice value, and why it is not the one asked for. */
export interface CompactionThreadState {
  readonly nice: number;
  /** Set in the thread's first answer only, so that the store says it once per thread. */
  readonly priorityError?: string;
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
 *
 * Only the end state is folded: each package's last record in the segments (see `foldLast`).
 * A log is mostly churn (the same packages indexed, re-indexed and removed over and over), and
 * replaying every record into the graph was a third of a compaction's CPU. So only the last
 * records are decoded whole, in two passes over the segments: the first checks every record
 * and tells its name apart by its bytes alone (NameSlots), to find each package's last
 * record; the second skips to those and decodes their dependencies. Decoding every record's
 * dependencies, to keep only the last, was most of what remained (docs/performance.md,
 * recommendation 8).
 */
export async function foldSnapshot(fs: StorageFs, job: CompactionJob): Promise<CompactionResult> {
  const graph = new DependencyGraph();
  const names = new NameCache();
  if (job.snapshotSeq > 0)
    await readSnapshot(fs, snapshotPath(job.dir, job.snapshotSeq), graph, DEFAULT_READ_BUFFER_BYTES, names);
  const failed = foldLast(graph, await lastRecords(fs, job, names));
  if (failed !== null) {
    const found = await lastRecordOf(fs, job, failed.name);
    throw damaged(found.path, found.offset, `record whose end state does not apply (${failed.why})`);
  }
  return { snapshotBytes: await writeSnapshot(fs, job.dir, job.toSeq, graph.topological()) };
}

/** A package whose last record removed it (in `lastRecordNumbers`). */
const REMOVED = -1;

/**
 * Each package's last record in the job's segments: its dependencies, or null when it removed
 * the package; in the order the log first changed them (`foldLast` takes that order).
 */
async function lastRecords(
  fs: StorageFs,
  job: CompactionJob,
  names: NameCache,
): Promise<Map<string, readonly string[] | null>> {
  const { lastAt, records } = await lastRecordNumbers(fs, job);
  const wanted = new Uint8Array((records + 7) >>> 3);
  for (const at of lastAt.values()) if (at !== REMOVED) wanted[at >>> 3]! |= 1 << (at & 7);
  const decoded = await decodeWanted(fs, job, names, wanted);
  const last = new Map<string, readonly string[] | null>();
  for (const [name, at] of lastAt) {
    const record = at === REMOVED ? null : decoded.get(at);
    if (record !== null && record?.name !== name)
      throw damaged(
        segmentPath(job.dir, job.fromSeq),
        HEADER_BYTES,
        'segments changed while they were folded',
      );
    last.set(name, record === null ? null : record.deps);
  }
  return last;
}

/**
 * The first pass: every record checked (CRC and lengths), its name only numbered by its bytes
 * (NameSlots; a string is made once per package, not per record). For each package, the
 * number of its last record among the job's records (REMOVED when that record removed it),
 * in the order the log first changed them. `records`: how many there are.
 */
async function lastRecordNumbers(
  fs: StorageFs,
  job: CompactionJob,
): Promise<{ lastAt: Map<string, number>; records: number }> {
  const slots = new NameSlots();
  let last = new Int32Array(1024);
  let records = 0;
  await scanSegments(fs, job, (bytes, from, to, path, offset) => {
    const type = recordTypeIn(bytes, from, to);
    if (type !== RecordType.INDEX && type !== RecordType.REMOVE)
      throw damaged(path, offset, 'undecodable record');
    // A well-formed INDEX or REMOVE payload: type, name length, name.
    const slot = slots.slotOf(bytes, from + 2, from + 2 + bytes[from + 1]!);
    if (slot === last.length) last = grown(last);
    last[slot] = type === RecordType.INDEX ? records : REMOVED;
    records++;
  });
  const lastAt = new Map<string, number>();
  for (let slot = 0; slot < slots.size; slot++) lastAt.set(slots.name(slot), last[slot]!);
  return { lastAt, records };
}

/**
 * The second pass: the INDEX records whose numbers are set in the bitmap `wanted`, decoded
 * whole (their CRC checked again), by number; the others skipped by their lengths. `wanted` is
 * asked about every record in order, and a record it accepts is visited next, so `current` is
 * the number of the one visited.
 */
async function decodeWanted(
  fs: StorageFs,
  job: CompactionJob,
  names: NameCache,
  wanted: Uint8Array,
): Promise<Map<number, IndexCommand>> {
  const decoded = new Map<number, IndexCommand>();
  let current = -1;
  await scanSegments(
    fs,
    job,
    (bytes, from, to, path, offset) => {
      const record = decodeRecordIn(bytes, from, to, names);
      if (record?.verb !== Verb.INDEX) throw damaged(path, offset, 'record changed while it was folded');
      decoded.set(current, record);
    },
    () => {
      current++;
      return (wanted[current >>> 3]! & (1 << (current & 7))) !== 0;
    },
  );
  return decoded;
}

/**
 * Calls `visit` with each record's payload (`bytes[from, to)`, valid during the call) of the
 * job's segments, in log order, with its file and offset. With `wanted`, asked once per record
 * in the same order before it is visited, only the records it accepts are checked and visited
 * (see scanFileFrames).
 */
async function scanSegments(
  fs: StorageFs,
  job: CompactionJob,
  visit: (bytes: Buffer, from: number, to: number, path: string, offset: number) => void,
  wanted?: () => boolean,
): Promise<void> {
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
          visit(bytes, from, to, path, offset);
        },
        wanted,
      );
    } finally {
      await file.close();
    }
    if (scan.bad !== null) throw damaged(path, scan.bad.offset, scan.bad.reason);
  }
}

/** Where the last record of `name` is (only looked for once the fold has failed on it). */
async function lastRecordOf(
  fs: StorageFs,
  job: CompactionJob,
  name: string,
): Promise<{ path: string; offset: number }> {
  let found = { path: segmentPath(job.dir, job.toSeq), offset: HEADER_BYTES };
  await scanSegments(fs, job, (bytes, from, to, path, offset) => {
    const type = recordTypeIn(bytes, from, to);
    if ((type === RecordType.INDEX || type === RecordType.REMOVE) && recordNameIn(bytes, from) === name)
      found = { path, offset };
  });
  return found;
}

/** Why the end state of a package could not be applied. */
export interface FoldFailure {
  readonly name: string;
  readonly why: string;
}

/**
 * Gives `graph` (the old snapshot's state) the end state `last` (each package's last record:
 * its dependencies, or null for removed), the state a replay of every record would reach,
 * through the graph's own checks. Null when it applied; else the package it failed on: the
 * records could not all have applied in their order (a replay would have failed on one too).
 *
 * In three steps, so that no step meets a state between two that never existed:
 * 1. every package of `last` the graph holds loses its dependencies: the old edges that remain
 *    are those of packages the records did not touch, which the end state keeps;
 * 2. the removed ones go: nothing but packages of step 1 (now without edges) could still hold
 *    them, unless the end state is inconsistent;
 * 3. the others are indexed with their last dependencies, dependencies that the records also
 *    index first (depth-first, with an explicit stack: a segment can hold a chain of a million).
 *    A cycle through packages of step 3 is found by that walk; one through the others by the
 *    graph, along edges that all belong to the end state.
 */
export function foldLast(
  graph: DependencyGraph,
  last: ReadonlyMap<string, readonly string[] | null>,
): FoldFailure | null {
  for (const name of last.keys()) if (graph.has(name)) graph.index(name, []);
  for (const [name, deps] of last) {
    if (deps !== null || !graph.has(name)) continue;
    const outcome = graph.remove(name);
    if (outcome !== RemoveOutcome.REMOVED) return { name, why: `remove: ${outcome}` };
  }
  const done = new Set<string>();
  const path = new Set<string>();
  const stack: { name: string; deps: readonly string[]; at: number }[] = [];
  for (const [root, rootDeps] of last) {
    if (rootDeps === null || done.has(root)) continue;
    stack.push({ name: root, deps: rootDeps, at: 0 });
    path.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.at < top.deps.length) {
        const dep = top.deps[top.at++]!;
        const depDeps = last.get(dep);
        if (depDeps == null || done.has(dep)) continue;
        if (path.has(dep)) return { name: top.name, why: `index: ${IndexOutcome.CYCLE}` };
        stack.push({ name: dep, deps: depDeps, at: 0 });
        path.add(dep);
        continue;
      }
      stack.pop();
      path.delete(top.name);
      done.add(top.name);
      const outcome = graph.index(top.name, top.deps);
      if (outcome === IndexOutcome.MISSING_DEPENDENCY || outcome === IndexOutcome.CYCLE)
        return { name: top.name, why: `index: ${outcome}` };
    }
  }
  return null;
}

function damaged(path: string, offset: number, what: string): PkgIndexError<'E_STORAGE_CORRUPT'> {
  return corruptDataError(path, offset, what, 'sealed segment');
}
