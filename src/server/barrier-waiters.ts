import type { IndexStore } from '../store/store.js';

/** A store's barrier, and what it resolves with (replies it decided, or nothing). */
export type Barrier = NonNullable<ReturnType<IndexStore['barrier']>>;
export type Decided = Awaited<Barrier>;

/** What waits on a store's barrier: told once it has settled (see Connection.barrierSettled). */
export interface BarrierWaiter {
  barrierSettled(barrier: Barrier, decided: Decided, failed: boolean): void;
}

/**
 * One settle callback per barrier instead of one per read chunk (issue 13, item 3). A durable
 * store answers every chunk of a group commit with the same promise; each chunk used to attach
 * its own `then` and two closures to it. Here the first waiter on a barrier attaches one pair
 * of callbacks, later waiters on the same barrier only join its list, and the callbacks tell
 * each waiter, which settles every held batch of its own that waited on that barrier.
 */
export class BarrierWaiters {
  #last: Barrier | null = null;
  #waiters: BarrierWaiter[] = [];

  wait(barrier: Barrier, waiter: BarrierWaiter): void {
    if (barrier === this.#last) {
      const waiters = this.#waiters;
      if (waiters[waiters.length - 1] !== waiter) waiters.push(waiter);
      return;
    }
    this.#last = barrier;
    const waiters: BarrierWaiter[] = [waiter];
    this.#waiters = waiters;
    barrier.then(
      (decided) => {
        for (const w of waiters) w.barrierSettled(barrier, decided, false);
      },
      () => {
        for (const w of waiters) w.barrierSettled(barrier, undefined, true);
      },
    );
  }
}
