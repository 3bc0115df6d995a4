import { Worker } from 'node:worker_threads';
import { createError, deserializeError, isStorageError } from '../errors.js';
import { repinAfter } from '../runtime/young-generation.js';
import type { Compactor } from './compaction.js';
import type { WorkerData, WorkerIo, WorkerReply, WorkerRequest } from './compaction-thread.js';

/**
 * Runs each compaction in a fresh worker thread, so loading and folding a large snapshot
 * never blocks the event loop that serves clients. A worker per job costs a few ms, against
 * compactions minutes apart; it also hands the memory of the folded graph back at the end.
 * It rejects with a storage error (E_STORAGE_*) whose cause chain is the one raised in the thread.
 *
 * The thread reports each file operation as it starts and ends; they are passed on to the
 * store's `context.io`, where the watchdog sees one that hangs. When `context.signal` is
 * aborted, a flag shared with the thread says to start no further operation: it fails at its
 * next one (once the one that hangs returns) and answers; the promise settles then, not
 * before, so that a new compaction does not start while a thread is still blocked in the file
 * system.
 */
export function workerCompactor(): Compactor {
  return (job, context) =>
    new Promise((resolve, reject) => {
      const abandoned = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(new URL('./compaction-thread.js', import.meta.url), {
        workerData: { abandoned } satisfies WorkerData,
      });
      repinAfter(worker);
      let settled = false;
      /** The thread's operation ids → the store's. */
      const inflight = new Map<number, number>();
      const onAbort = (): void => {
        Atomics.store(abandoned, 0, 1);
      };
      const finish = (): void => {
        settled = true;
        context?.signal.removeEventListener('abort', onAbort);
        for (const id of inflight.values()) context?.io.end(id, true);
        inflight.clear();
      };
      worker.on('message', (message: WorkerReply | WorkerIo) => {
        if ('io' in message) {
          if (context === undefined) return;
          if (message.io === 'begin') inflight.set(message.id, context.io.begin(message.op, message.path));
          else {
            const id = inflight.get(message.id);
            inflight.delete(message.id);
            if (id !== undefined) context.io.end(id, message.failed);
          }
          return;
        }
        finish();
        if ('ok' in message) resolve(message.ok);
        else {
          const err = deserializeError(message.error);
          reject(isStorageError(err) ? err : createError('E_STORAGE_IO', err.message, { cause: err }));
        }
        void worker.terminate();
      });
      worker.once('error', (err) => {
        finish();
        reject(createError('E_STORAGE_IO', `compaction worker failed: ${err.message}`, { cause: err }));
      });
      worker.once('exit', (code) => {
        if (!settled) {
          finish();
          reject(
            createError('E_STORAGE_IO', `compaction worker exited with code ${code} before it answered`),
          );
        }
      });
      if (context?.signal.aborted === true) onAbort();
      else context?.signal.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ job } satisfies WorkerRequest);
    });
}
