import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError, type SerializedError } from '../errors.js';
import { NodeFs } from './fs/node-fs.js';
import { InflightFs } from './fs/inflight-fs.js';
import {
  foldSnapshot,
  type CompactionJob,
  type CompactionResult,
  type CompactionThreadState,
} from './compaction.js';

/** What the compaction thread answers a job with. */
export type WorkerReply = { ok: CompactionResult } | { error: SerializedError };

/**
 * What the compaction thread reports of its file operations while it works, so that the store's
 * watchdog sees one that hangs (ADR 0015): `begin` as one starts, `end` when it returns.
 */
export type WorkerIo =
  { io: 'begin'; id: number; op: string; path: string } | { io: 'end'; id: number; failed: boolean };

/** What the store sends: the job. */
export type WorkerRequest = { job: CompactionJob };

/**
 * The thread's workerData: a shared flag the store sets (Atomics) to abandon the compaction.
 * Read before each file operation, so one that starts after it was set is refused, whatever
 * this thread's event loop has processed (a message could arrive after the operation
 * that hung has returned and the next one has started).
 */
export interface WorkerData {
  readonly abandoned: Int32Array;
  /**
   * Nice value the thread takes as it starts (0: none). Only sent on Linux, where
   * setpriority(PRIO_PROCESS, 0) changes the calling thread alone.
   */
  readonly nice: number;
}

/**
 * Takes the nice value `nice` for this thread (0: leaves it). Folding the log is background
 * work: at a high nice value it runs on CPU the serving threads leave idle, instead of taking a
 * core's share from them (docs/benchmarks.md, stop 46). Lowering one's own priority needs no
 * privilege; a seccomp profile may still refuse the call, which is reported, not fatal.
 */
export function takeNice(nice: number): CompactionThreadState {
  try {
    if (nice !== 0) setPriority(nice);
    return { nice: getPriority() };
  } catch (err) {
    return { nice: getPriority(), priorityError: err instanceof Error ? err.message : String(err) };
  }
}

export const ABANDONED_MESSAGE =
  'the store abandoned this compaction (an operation of it passed --storage-timeout-ms, or the store is closing)';

// The entry point of a compaction worker thread (see compaction-worker.ts): a reply per job; the
// next job comes only once the last one is answered.
const port = parentPort;
if (port !== null) {
  const { abandoned, nice } = workerData as WorkerData;
  // The first answer carries why the priority could not be taken, later ones only the value.
  let state = takeNice(nice);
  let nextId = 1;
  const fs = new InflightFs(
    new NodeFs(),
    {
      begin: (op, path) => {
        const id = nextId++;
        port.postMessage({ io: 'begin', id, op, path } satisfies WorkerIo);
        return id;
      },
      end: (id, failed) => {
        port.postMessage({ io: 'end', id, failed } satisfies WorkerIo);
      },
    },
    () => (Atomics.load(abandoned, 0) === 1 ? ABANDONED_MESSAGE : null),
  );
  port.on('message', (request: WorkerRequest) => {
    foldSnapshot(fs, request.job).then(
      (ok) => {
        port.postMessage({ ok: { ...ok, thread: state } } satisfies WorkerReply);
        state = { nice: state.nice };
      },
      (err: unknown) => {
        port.postMessage({ error: serializeError(err) } satisfies WorkerReply);
      },
    );
  });
}
