import { Session } from 'node:inspector/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createError, isPkgIndexError } from '../errors.js';

/** A V8 CPU profile as Chrome DevTools reads it from a .cpuprofile file. */
export interface CpuProfile {
  readonly nodes: readonly unknown[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/**
 * On-call profiling of this process through the inspector protocol, in-process (no
 * --inspect port is opened). One profile or snapshot at a time: both are expensive, and two
 * CPU profiles cannot overlap in one V8 isolate anyway.
 */
export class Profiler {
  #running: string | null = null;

  /** True while a profile or snapshot is being taken. */
  get busy(): boolean {
    return this.#running !== null;
  }

  /**
   * Samples the CPU for `seconds` (ending early if `signal` aborts) and returns the profile;
   * `onStarted` is called once sampling has begun. Throws E_PROFILER_BUSY if another profile
   * or snapshot is running (and `onStarted` is not called).
   */
  async cpuProfile(
    seconds: number,
    options: { signal?: AbortSignal; onStarted?: () => void } = {},
  ): Promise<CpuProfile> {
    const { signal } = options;
    return this.#exclusive('CPU profile', async (session) => {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      options.onStarted?.();
      // An abort (admin server closing) ends the profile early; disconnecting the session
      // in #exclusive stops the profiler if anything here throws.
      await sleep(seconds * 1000, undefined, { signal }).catch((err: unknown) => {
        if (!(signal?.aborted ?? false)) throw err;
      });
      const { profile } = await session.post('Profiler.stop');
      return profile;
    });
  }

  /**
   * Takes a heap snapshot and returns it as the chunks of its JSON text (.heapsnapshot). The
   * process stops serving while V8 walks the heap: seconds for a large index. `onStarted` is
   * called as it begins (not when another profile or snapshot is running: E_PROFILER_BUSY).
   */
  async heapSnapshot(options: { onStarted?: () => void } = {}): Promise<string[]> {
    return this.#exclusive('heap snapshot', async (session) => {
      options.onStarted?.();
      const chunks: string[] = [];
      session.on('HeapProfiler.addHeapSnapshotChunk', (m) => {
        chunks.push(m.params.chunk);
      });
      await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      return chunks;
    });
  }

  async #exclusive<T>(what: string, run: (session: Session) => Promise<T>): Promise<T> {
    if (this.#running !== null)
      throw createError(
        'E_PROFILER_BUSY',
        `a ${this.#running} is already being taken; retry when it has finished`,
      );
    this.#running = what;
    const session = new Session();
    try {
      session.connect();
      return await run(session);
    } catch (err) {
      if (isPkgIndexError(err, 'E_PROFILER_BUSY', 'E_PROFILER')) throw err;
      throw createError('E_PROFILER', `taking a ${what} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      session.disconnect();
      this.#running = null;
    }
  }
}
