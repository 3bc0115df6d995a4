import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

/**
 * Keeps V8's young generation (its new space) at the size it starts with, 1 MiB semi-spaces on
 * 64-bit Node 20, where V8 would double it under load up to 16 MiB (ADR 0020). pkgindex's
 * requests allocate little that outlives them, so a small nursery is scavenged more often but
 * quickly; the large one only held more memory: 16 of the 30 MB of anonymous memory at the peak
 * of the 100-client stress test with --io native.
 *
 * Node cannot set the semi-space's limit once running (`--max-semi-space-size` is read when
 * the heap is set up), but V8 reads its growth factor each time it grows the space, and a factor
 * of 1 keeps it where it is. A factor below 2 is only clamped when an isolate's heap is set up,
 * which also happens when a Worker starts: `repinAfter` sets it again once the worker runs, and
 * the watchdog, which looks at the new space after every collection, sets it again and warns if
 * it ever grows anyway (a Worker started without `repinAfter`, or a V8 that no longer reads the
 * factor: then it grows as V8 decides, nothing else changes).
 *
 * The flag is the whole process's, so only the `serve` command pins: pkgindex embedded in
 * another program leaves that program's heap alone.
 */

const FLAG = '--semi-space-growth-factor=1';

/** What the watchdog reports: the semi-space grew past the pin. */
export interface YoungGenerationGrowth {
  /** The semi-space's capacity before, in bytes. */
  readonly fromBytes: number;
  /** Its capacity now, in bytes. */
  readonly toBytes: number;
  /**
   * It grew while a Worker was starting: between its heap's set-up, which undid the pin, and
   * `repinAfter` setting it again, the process's own collections could grow it. Expected, if
   * rare (a busy main thread, a slow start); otherwise the pin did not hold.
   */
  readonly workerStarting: boolean;
}

export interface YoungGenerationPin {
  /** The semi-space's capacity the pin holds, in bytes (the new space is two of them). */
  readonly bytes: number;
  /** Stops the watchdog; V8 keeps the growth factor (the process is ending). */
  stop(): void;
}

/**
 * The capacity of the new space's semi-space in bytes (what V8 grows and shrinks; the space
 * commits two of them once it has been scavenged), or null where this V8 does not report it.
 */
export function semiSpaceBytes(): number | null {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space === undefined ? null : space.space_used_size + space.space_available_size;
}

class PinState {
  /** Workers started with `repinAfter` that are not running yet. */
  starting = 0;

  constructor(
    public bytes: number,
    readonly onGrowth: (growth: YoungGenerationGrowth) => void,
  ) {}

  /** Pins again, and reports if the semi-space grew past the pin since the last look. */
  check(workerStarting: boolean): void {
    setFlagsFromString(FLAG);
    const now = semiSpaceBytes();
    if (now === null || now <= this.bytes) return;
    const growth = { fromBytes: this.bytes, toBytes: now, workerStarting };
    this.bytes = now;
    this.onGrowth(growth);
  }
}

let active: PinState | null = null;

/**
 * Pins the young generation for the rest of the process and watches that it stays pinned; call
 * it at start-up, before the modules that do the work are loaded (loading them is what grows the
 * young generation first). `onGrowth` is called each time it grew anyway (the pin is then set
 * again at the new size). Returns null, pinning nothing, where this V8 reports no new space.
 */
export function pinYoungGeneration(
  onGrowth: (growth: YoungGenerationGrowth) => void,
): YoungGenerationPin | null {
  const start = semiSpaceBytes();
  if (start === null) return null;
  setFlagsFromString(FLAG);
  const state = new PinState(start, onGrowth);
  active = state;
  const observer = new PerformanceObserver(() => {
    state.check(state.starting > 0);
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    get bytes() {
      return state.bytes;
    },
    stop() {
      observer.disconnect();
      if (active === state) active = null;
    },
  };
}

/**
 * Sets the pin again once `worker` runs: its heap's set-up clamped the growth factor back to
 * V8's default, for every isolate of the process. Growth until then is reported as the
 * worker's (`workerStarting`). Does nothing unless the process is pinned.
 */
export function repinAfter(worker: Worker): void {
  const state = active;
  if (state === null) return;
  state.starting++;
  let started = false;
  const running = (): void => {
    if (started) return;
    started = true;
    state.check(true);
    state.starting--;
  };
  worker.once('online', running);
  // One that fails before it runs set its heap up all the same.
  worker.once('exit', running);
}
