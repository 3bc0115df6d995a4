import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
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
  /** A heap snapshot written but still being sent (heapSnapshotFile until its release). */
  #held: string | null = null;

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
   * Writes a heap snapshot (.heapsnapshot JSON) to a new file in `dir` with v8.writeHeapSnapshot
   * and returns its path, with the profiler held as busy until `release` is called: the file is
   * still being sent after this returns, and another snapshot meanwhile would double the memory
   * and disk it takes. The caller owns the file. Synchronous: the process stops serving while
   * V8 walks the heap (seconds for a large index). Written to a file rather than collected from
   * the inspector as strings, so that the snapshot's text never sits in the JS heap (measured on
   * 125 MB of heap: 1.28 GB peak RSS against 1.48 GB; V8 keeps much of the peak afterwards).
   * `onStarted` is called as it begins; E_PROFILER_BUSY if another profile or snapshot runs.
   */
  heapSnapshotFile(
    dir: string,
    options: { onStarted?: () => void } = {},
  ): { path: string; release: () => void } {
    this.checkFree();
    options.onStarted?.();
    let path: string;
    try {
      path = writeHeapSnapshot(join(dir, `pkgindex-${process.pid}-${Date.now()}.heapsnapshot`));
    } catch (err) {
      throw createError('E_PROFILER', `taking a heap snapshot failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#held = 'heap snapshot';
    let released = false;
    return {
      path,
      release: () => {
        if (released) return;
        released = true;
        this.#held = null;
      },
    };
  }

  /** Throws E_PROFILER_BUSY while a profile or snapshot is being taken or sent. */
  checkFree(): void {
    const running = this.#running ?? this.#held;
    if (running !== null)
      throw createError('E_PROFILER_BUSY', `a ${running} is already being taken; retry when it has finished`);
  }

  async #exclusive<T>(what: string, run: (session: Session) => Promise<T>): Promise<T> {
    this.checkFree();
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
