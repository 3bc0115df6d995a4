import { Worker } from 'node:worker_threads';
import { createError, deserializeError, isStorageError } from '../errors.js';
import { repinAfter } from '../runtime/young-generation.js';
import type { CompactionContext, CompactionJob, CompactionResult, Compactor } from './compaction.js';
import type { WorkerData, WorkerIo, WorkerReply, WorkerRequest } from './compaction-thread.js';

/** How long a compaction thread waits for its next job before it ends. */
export const DEFAULT_IDLE_MS = 30_000;

/**
 * A fold whose snapshot is larger than this leaves its thread to end at once: its garbage (the
 * folded graph, about ten times the snapshot's bytes) would stay on the thread's heap while it
 * waits, since an idle thread allocates nothing and so never collects.
 */
export const KEEP_BELOW_SNAPSHOT_BYTES = 16 * 1024 * 1024;

export interface WorkerCompactorOptions {
  /** How long a thread waits for the next job before it ends (DEFAULT_IDLE_MS; 0: it ends at once). */
  readonly idleMs?: number;
  /** A thread whose snapshot was larger ends at once (KEEP_BELOW_SNAPSHOT_BYTES). */
  readonly keepBelowSnapshotBytes?: number;
  /**
   * Nice value each thread takes as it starts (default 0: the process's priority). Linux only,
   * where a nice value belongs to a thread: elsewhere setpriority(2) would lower the whole
   * server, so it is not asked.
   */
  readonly nice?: number;
}

/** The product's compactor: a function the store calls, and the thread it keeps between jobs. */
export interface WorkerCompactor extends Compactor {
  /** Threads started so far: one for each job that found none waiting. */
  threadsStarted(): number;
  /** True while a thread waits for the next job. */
  waiting(): boolean;
  /** Ends the waiting thread, if any; a job in progress keeps its thread until it answers. */
  close(): Promise<void>;
}

/**
 * Runs each compaction in a worker thread, so loading and folding a large snapshot never
 * blocks the event loop that serves clients. It rejects with a storage error (E_STORAGE_*)
 * whose cause chain is the one raised in the thread.
 *
 * The thread is kept for the next job for `idleMs` after a job that succeeded: under sustained
 * writes compactions come seconds apart, and a fresh thread for each cost about 40 % more CPU
 * than the fold in a warm one (its start, and compiling the fold's code again: docs/benchmarks.md,
 * stop 43). A thread is not kept after a job that failed or was abandoned (a new one starts
 * with a clean state and a new abandon flag), nor after one whose snapshot passed
 * KEEP_BELOW_SNAPSHOT_BYTES. A waiting thread does not keep the process alive.
 *
 * The thread reports each file operation as it starts and ends; they are passed on to the
 * store's `context.io`, where the watchdog sees one that hangs. When `context.signal` is
 * aborted, a flag shared with the thread says to start no further operation: it fails at its
 * next one (once the one that hangs returns) and answers; the promise settles then, not
 * before, so that a new compaction does not start while a thread is still blocked in the file
 * system.
 */
export function workerCompactor(options: WorkerCompactorOptions = {}): WorkerCompactor {
  const threads = new CompactionThreads(
    options.idleMs ?? DEFAULT_IDLE_MS,
    options.keepBelowSnapshotBytes ?? KEEP_BELOW_SNAPSHOT_BYTES,
    process.platform === 'linux' ? (options.nice ?? 0) : 0,
  );
  const compactor = (job: CompactionJob, context?: CompactionContext): Promise<CompactionResult> =>
    threads.run(job, context);
  return Object.assign(compactor, {
    threadsStarted: () => threads.started,
    waiting: () => threads.waiting,
    close: () => threads.close(),
  });
}

/** A job in progress on a thread. */
interface Job {
  readonly context: CompactionContext | undefined;
  readonly resolve: (result: CompactionResult) => void;
  readonly reject: (err: Error) => void;
  /** The thread's operation ids → the store's. */
  readonly inflight: Map<number, number>;
  readonly onAbort: () => void;
}

/** One worker thread and the job it runs, if any. */
class CompactionThread {
  readonly worker: Worker;
  readonly abandoned = new Int32Array(new SharedArrayBuffer(4));
  job: Job | null = null;
  /** The thread failed or exited: never given another job. */
  gone = false;

  constructor(private readonly owner: CompactionThreads) {
    this.worker = new Worker(new URL('./compaction-thread.js', import.meta.url), {
      workerData: { abandoned: this.abandoned, nice: owner.nice } satisfies WorkerData,
    });
    repinAfter(this.worker);
    this.worker.on('message', (message: WorkerReply | WorkerIo) => {
      this.#message(message);
    });
    this.worker.on('error', (err) => {
      this.#end(createError('E_STORAGE_IO', `compaction worker failed: ${err.message}`, { cause: err }));
    });
    this.worker.on('exit', (code) => {
      this.#end(createError('E_STORAGE_IO', `compaction worker exited with code ${code} before it answered`));
    });
  }

  start(job: Job, request: WorkerRequest): void {
    this.job = job;
    this.worker.ref();
    const { context } = job;
    if (context?.signal.aborted === true) job.onAbort();
    else context?.signal.addEventListener('abort', job.onAbort, { once: true });
    this.worker.postMessage(request);
  }

  #message(message: WorkerReply | WorkerIo): void {
    const job = this.job;
    if (job === null) return;
    if ('io' in message) {
      const { context } = job;
      if (context === undefined) return;
      if (message.io === 'begin') job.inflight.set(message.id, context.io.begin(message.op, message.path));
      else {
        const id = job.inflight.get(message.id);
        job.inflight.delete(message.id);
        if (id !== undefined) context.io.end(id, message.failed);
      }
      return;
    }
    this.#finish(job);
    if ('ok' in message) {
      this.owner.done(this, job.context?.signal.aborted !== true && this.owner.keeps(message.ok));
      job.resolve(message.ok);
    } else {
      this.owner.done(this, false);
      const err = deserializeError(message.error);
      job.reject(isStorageError(err) ? err : createError('E_STORAGE_IO', err.message, { cause: err }));
    }
  }

  /** The thread failed or exited: its job, if any, fails with `err`. */
  #end(err: Error): void {
    if (this.gone) return;
    this.gone = true;
    const job = this.job;
    if (job !== null) this.#finish(job);
    this.owner.done(this, false);
    job?.reject(err);
  }

  #finish(job: Job): void {
    this.job = null;
    job.context?.signal.removeEventListener('abort', job.onAbort);
    for (const id of job.inflight.values()) job.context?.io.end(id, true);
    job.inflight.clear();
  }
}

/** The thread a compactor keeps between jobs (at most one: the store runs one job at a time). */
class CompactionThreads {
  started = 0;
  #waiting: CompactionThread | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    private readonly idleMs: number,
    private readonly keepBelowSnapshotBytes: number,
    /** The nice value each new thread takes (0: none asked). */
    readonly nice: number,
  ) {}

  /** Whether a thread that folded into `result` is worth keeping for the next job. */
  keeps(result: CompactionResult): boolean {
    return this.idleMs > 0 && result.snapshotBytes <= this.keepBelowSnapshotBytes;
  }

  get waiting(): boolean {
    return this.#waiting !== null;
  }

  run(job: CompactionJob, context: CompactionContext | undefined): Promise<CompactionResult> {
    return new Promise((resolve, reject) => {
      let thread = this.#waiting;
      this.#waiting = null;
      this.#clearTimer();
      if (thread === null || thread.gone) {
        thread = new CompactionThread(this);
        this.started++;
      }
      const { abandoned } = thread;
      thread.start(
        {
          context,
          resolve,
          reject,
          inflight: new Map(),
          onAbort: () => {
            Atomics.store(abandoned, 0, 1);
          },
        },
        { job },
      );
    });
  }

  /** `thread` answered (or failed): wait for the next job when `kept`, else end it. */
  done(thread: CompactionThread, kept: boolean): void {
    if (!kept || this.#closed || thread.gone) {
      if (this.#waiting === thread) {
        this.#waiting = null;
        this.#clearTimer();
      }
      thread.gone = true;
      void thread.worker.terminate();
      return;
    }
    thread.worker.unref();
    this.#waiting = thread;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#waiting === thread) this.done(thread, false);
    }, this.idleMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#clearTimer();
    const thread = this.#waiting;
    this.#waiting = null;
    if (thread !== null) {
      thread.gone = true;
      await thread.worker.terminate();
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
