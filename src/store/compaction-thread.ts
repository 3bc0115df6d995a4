import { parentPort } from 'node:worker_threads';
import { NodeFs } from './fs/node-fs.js';
import { foldSnapshot, type CompactionJob, type CompactionResult } from './compaction.js';

/** What the compaction thread answers its one job with. */
export type WorkerReply = { ok: CompactionResult } | { error: { code: string; message: string } };

// The entry point of a compaction worker thread (see compaction-worker.ts): one job, one reply.
const port = parentPort;
if (port !== null) {
  port.once('message', (job: CompactionJob) => {
    foldSnapshot(new NodeFs(), job).then(
      (ok) => {
        port.postMessage({ ok } satisfies WorkerReply);
      },
      (err: unknown) => {
        const code = (err as { code?: unknown } | null)?.code;
        port.postMessage({
          error: {
            code: typeof code === 'string' ? code : 'E_STORAGE_IO',
            message: err instanceof Error ? err.message : String(err),
          },
        } satisfies WorkerReply);
      },
    );
  });
}
