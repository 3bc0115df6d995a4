/**
 * Entry of a load-generator worker thread: runs one LoadShard. The protocol with the main
 * thread is three messages: the worker posts `connected` once its connections are open, the
 * main thread posts `go` when every worker is ready, and the worker posts its result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createError, serializeError, type SerializedError } from '../errors.js';
import { LoadShard, type ShardOptions } from './load-shard.js';

export interface WorkerInput {
  readonly shard: ShardOptions;
  readonly durationMs: number | null;
  readonly limitMs: number;
}

export type WorkerMessage =
  | { readonly type: 'connected' }
  | { readonly type: 'failed'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly result: Awaited<ReturnType<LoadShard['run']>> };

const port = parentPort;
if (port === null)
  throw createError('E_INTERNAL', 'load-worker.js runs only as a worker thread of pkgindex bench');
const input = workerData as WorkerInput;
// Structured cloning hands the script's shared bytes over as a plain Uint8Array: view them as a Buffer again.
const { bytes } = input.shard.script;
const script = { ...input.shard.script, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length) };
const shard = new LoadShard({ ...input.shard, script });
const post = (m: WorkerMessage): void => {
  port.postMessage(m);
};

shard.connect().then(
  () => {
    port.once('message', () => {
      shard.run(input.durationMs, input.limitMs).then(
        (result) => {
          post({ type: 'result', result });
        },
        (err: unknown) => {
          post({ type: 'failed', error: serializeError(err) });
        },
      );
    });
    post({ type: 'connected' });
  },
  (err: unknown) => {
    shard.close();
    post({ type: 'failed', error: serializeError(err) });
  },
);
