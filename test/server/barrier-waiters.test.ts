import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BarrierWaiters,
  type Barrier,
  type BarrierWaiter,
  type Decided,
} from '../../src/server/barrier-waiters.js';
import type { Reply } from '../../src/protocol/reply.js';

function recorder(name: string, log: string[]): BarrierWaiter {
  return {
    barrierSettled(_barrier: Barrier, decided: Decided, failed: boolean): void {
      log.push(
        `${name}:${failed ? 'failed' : decided === undefined ? 'durable' : Array.from(decided).join(',')}`,
      );
    },
  };
}

test('barrier waiters: one callback per barrier, each waiter told once, failures told as failed', async () => {
  const waiters = new BarrierWaiters();
  const log: string[] = [];
  const a = recorder('a', log);
  const b = recorder('b', log);
  let resolveGroup!: () => void;
  const group: Barrier = new Promise<void>((resolve) => (resolveGroup = resolve));
  let attached = 0;
  const then = group.then.bind(group);
  group.then = ((...args: Parameters<typeof then>) => {
    attached++;
    return then(...args);
  }) as typeof group.then;
  // a's two chunks and b's chunk in one group commit: one callback, a told once.
  waiters.wait(group, a);
  waiters.wait(group, a);
  waiters.wait(group, b);
  assert.equal(attached, 1);
  resolveGroup();
  await group;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['a:durable', 'b:durable']);

  const failing: Barrier = Promise.reject(new Error('fdatasync failed'));
  waiters.wait(failing, b);
  const decided: Barrier = Promise.resolve([1, 0] as unknown as ArrayLike<Reply>);
  waiters.wait(decided, a);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log.slice(2), ['b:failed', 'a:1,0']);
});
