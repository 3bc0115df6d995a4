import { parentPort } from 'node:worker_threads';
import { serializeError, type SerializedError } from '../errors.js';
import { NodeFs } from './fs/node-fs.js';
import { foldSnapshot, type CompactionJob, type CompactionResult } from './compaction.js';

/** What the compaction thread answers its one job with. */
export type WorkerReply = { ok: CompactionResult } | { error: SerializedError };

// The entry point of a compaction worker thread (see compaction-worker.ts): one job, one reply.
const port = parentPort;
if (port !== null) {
  port.once('message', (job: CompactionJob) => {
    foldSnapshot(new NodeFs(), job).then(
      (ok) => {
        port.postMessage({ ok } satisfies WorkerReply);
      },
      (err: unknown) => {
        port.postMessage({ error: serializeError(err) } satisfies WorkerReply);
      },
    );
  });
}
