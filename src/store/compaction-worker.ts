import { Worker } from 'node:worker_threads';
import { createError, type StorageErrorCode } from '../errors.js';
import type { Compactor } from './compaction.js';
import type { WorkerReply } from './compaction-thread.js';

/**
 * Runs each compaction in a fresh worker thread, so loading and folding a large snapshot
 * never blocks the event loop that serves clients. A worker per job costs a few ms, against
 * compactions minutes apart; it also hands the memory of the folded graph back at the end.
 */
export function workerCompactor(): Compactor {
  return (job) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./compaction-thread.js', import.meta.url));
      let settled = false;
      worker.once('message', (reply: WorkerReply) => {
        settled = true;
        if ('ok' in reply) resolve(reply.ok);
        else {
          const { code } = reply.error;
          reject(
            createError(
              code.startsWith('E_STORAGE_') ? (code as StorageErrorCode) : 'E_STORAGE_IO',
              reply.error.message,
            ),
          );
        }
        void worker.terminate();
      });
      worker.once('error', (err) => {
        settled = true;
        reject(err);
      });
      worker.once('exit', (code) => {
        if (!settled) reject(createError('E_STORAGE_IO', `compaction worker exited with code ${code}`));
      });
      worker.postMessage(job);
    });
}
