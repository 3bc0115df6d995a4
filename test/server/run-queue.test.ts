/**
 * The round robin of slices (src/server/run-queue.ts), by the order in which things run: each
 * waiting connection gets one slice per round, in arrival order, and a round that has used
 * its budget lets the event loop turn (reads, other callbacks) before the next slice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunQueue, type Runnable } from '../../src/server/run-queue.js';

/** Runs until the clock has moved by `ms`: a slice that certainly used that much time. */
function burn(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** A connection with `slices` slices of input: records each and queues itself for the next. */
function runnable(name: string, slices: number, queue: RunQueue, log: string[], cost = 0): Runnable {
  let left = slices;
  const r: Runnable = {
    runSlice() {
      log.push(name);
      if (cost > 0) burn(cost);
      if (--left > 0) queue.enqueue(r);
    },
  };
  return r;
}

async function settled(queue: RunQueue): Promise<void> {
  while (queue.length > 0) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}

test('waiting connections get one slice each per round, in the order they queued', async () => {
  const queue = new RunQueue(1_000_000);
  const log: string[] = [];
  queue.enqueue(runnable('a', 3, queue, log));
  queue.enqueue(runnable('b', 2, queue, log));
  queue.enqueue(runnable('c', 1, queue, log));
  await settled(queue);
  assert.deepEqual(log, ['a', 'b', 'c', 'a', 'b', 'a']);
});

test('a connection queued during a round waits for the next round, behind those already waiting', async () => {
  const queue = new RunQueue(1_000_000);
  const log: string[] = [];
  const late = runnable('late', 1, queue, log);
  queue.enqueue({
    runSlice() {
      log.push('a');
      queue.enqueue(late);
    },
  });
  queue.enqueue(runnable('b', 2, queue, log));
  await settled(queue);
  assert.deepEqual(log, ['a', 'b', 'late', 'b']);
});

test('a round that used its budget ends: the event loop turns before the next slice', async () => {
  // 100 µs per round; each slice runs 1 ms, so every round ends after its first slice.
  const queue = new RunQueue(100);
  const log: string[] = [];
  queue.enqueue({
    runSlice() {
      log.push('a');
      burn(1);
      // Another client's work, ready during the slice: it must run before b's slice.
      setImmediate(() => log.push('other'));
    },
  });
  queue.enqueue(runnable('b', 1, queue, log, 1));
  queue.enqueue(runnable('c', 1, queue, log, 1));
  await settled(queue);
  assert.deepEqual(log, ['a', 'other', 'b', 'c']);
});

test('hundreds of waiting connections keep their round-robin order across rounds', async () => {
  const queue = new RunQueue(1_000_000);
  const log: string[] = [];
  const names = Array.from({ length: 300 }, (_, i) => `c${i}`);
  for (const name of names) queue.enqueue(runnable(name, 3, queue, log));
  await settled(queue);
  assert.deepEqual(log, [...names, ...names, ...names]);
  assert.equal(queue.length, 0);
});
