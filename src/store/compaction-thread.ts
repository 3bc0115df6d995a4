import { parentPort } from 'node:worker_threads';
import { serializeError, type SerializedError } from '../errors.js';
import { NodeFs } from './fs/node-fs.js';
import { InflightFs } from './fs/inflight-fs.js';
import { foldSnapshot, type CompactionJob, type CompactionResult } from './compaction.js';

/** What the compaction thread answers its one job with. */
export type WorkerReply = { ok: CompactionResult } | { error: SerializedError };

/**
 * What the compaction thread reports of its file operations while it works, so that the store's
 * watchdog sees one that hangs (ADR 0015): `begin` as one starts, `end` when it returns.
 */
export type WorkerIo =
  { io: 'begin'; id: number; op: string; path: string } | { io: 'end'; id: number; failed: boolean };

/** What the store sends: the job, then possibly `abort` (no further file operation starts). */
export type WorkerRequest = { job: CompactionJob } | { abort: string };

// The entry point of a compaction worker thread (see compaction-worker.ts): one job, one reply.
const port = parentPort;
if (port !== null) {
  const abort = new AbortController();
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
    abort.signal,
  );
  port.on('message', (request: WorkerRequest) => {
    if ('abort' in request) {
      abort.abort(request.abort);
      return;
    }
    foldSnapshot(fs, request.job).then(
      (ok) => {
        port.postMessage({ ok } satisfies WorkerReply);
      },
      (err: unknown) => {
        port.postMessage({ error: serializeError(err) } satisfies WorkerReply);
      },
    );
  });
}
