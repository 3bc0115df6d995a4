/**
 * Loaded with `node --import` into a process the attack tool measures (the server under
 * attack, any build: the server's code is not touched), or imported by the victim: watches that
 * process's own event loop and garbage collector, so that a victim's slow query can be told
 * apart from a stall of the server (a long turn, a GC pause) or of the victim itself.
 *
 * In a child with an IPC channel, answers the messages 'probe:reset' and 'probe:report' with
 * its figures since the last reset.
 */
import {
  monitorEventLoopDelay,
  PerformanceObserver,
  type EventLoopUtilization,
  performance,
} from 'node:perf_hooks';

export interface ProbeFigures {
  /** The event loop's delay as a 1 ms timer sees it (ms): a timer that fired late by a stall. */
  readonly loopP99: number;
  readonly loopMax: number;
  /** Garbage collections and their pauses (ms). */
  readonly gcCount: number;
  readonly gcTotal: number;
  readonly gcMax: number;
  /** What the longest collection was (minor: scavenge of the young generation; major: mark-compact). */
  readonly gcMaxKind: string;
  /** Share of the time the event loop was busy (0..1). */
  readonly busy: number;
}

/** perf_hooks' NODE_PERFORMANCE_GC_* flags. */
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak callbacks' };

export class LoopProbe {
  readonly #delay = monitorEventLoopDelay({ resolution: 1 });
  readonly #gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      this.#gcCount++;
      this.#gcTotal += entry.duration;
      if (entry.duration > this.#gcMax) {
        this.#gcMax = entry.duration;
        this.#gcMaxKind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
      }
    }
  });
  #gcCount = 0;
  #gcTotal = 0;
  #gcMax = 0;
  #gcMaxKind = '';
  #elu: EventLoopUtilization = performance.eventLoopUtilization();

  constructor() {
    this.#delay.enable();
    this.#gc.observe({ entryTypes: ['gc'] });
  }

  reset(): void {
    this.#delay.reset();
    this.#gcCount = 0;
    this.#gcTotal = 0;
    this.#gcMax = 0;
    this.#gcMaxKind = '';
    this.#elu = performance.eventLoopUtilization();
  }

  figures(): ProbeFigures {
    const ms = (ns: number): number => (Number.isFinite(ns) ? ns / 1e6 : 0);
    return {
      loopP99: ms(this.#delay.percentile(99)),
      loopMax: ms(this.#delay.max),
      gcCount: this.#gcCount,
      gcTotal: this.#gcTotal,
      gcMax: this.#gcMax,
      gcMaxKind: this.#gcMaxKind,
      busy: performance.eventLoopUtilization(this.#elu).utilization,
    };
  }

  stop(): void {
    this.#delay.disable();
    this.#gc.disconnect();
  }
}

/** Under `--import` in a child with an IPC channel: answers the attack tool. */
if (process.send !== undefined && process.env['PKGINDEX_LOOP_PROBE'] === '1') {
  const probe = new LoopProbe();
  process.on('message', (message: unknown) => {
    if (message === 'probe:reset') probe.reset();
    else if (message === 'probe:report') process.send?.({ probe: probe.figures() });
  });
  // The channel must not keep the server alive, nor the probe's timer.
  process.channel?.unref();
}
