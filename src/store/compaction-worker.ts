import { Worker } from 'node:worker_threads';
import { createError, deserializeError, isStorageError } from '../errors.js';
import type { Compactor } from './compaction.js';
import type { WorkerReply } from './compaction-thread.js';

/**
 * Runs each compaction in a fresh worker thread, so loading and folding a large snapshot
 * never blocks the event loop that serves clients. A worker per job costs a few ms, against
 * compactions minutes apart; it also hands the memory of the folded graph back at the end.
 * It rejects with a storage error (E_STORAGE_*) whose cause chain is the one raised in the thread.
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
          const err = deserializeError(reply.error);
          reject(isStorageError(err) ? err : createError('E_STORAGE_IO', err.message, { cause: err }));
        }
        void worker.terminate();
      });
      worker.once('error', (err) => {
        settled = true;
        reject(createError('E_STORAGE_IO', `compaction worker failed: ${err.message}`, { cause: err }));
      });
      worker.once('exit', (code) => {
        if (!settled)
          reject(
            createError('E_STORAGE_IO', `compaction worker exited with code ${code} before it answered`),
          );
      });
      worker.postMessage(job);
    });
}
