import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitGroup } from '../../src/store/group.js';

test('a commit group decided before anyone waits hands the outcome to a later waiter', async () => {
  const synced = new CommitGroup();
  synced.resolve();
  await synced.wait();

  const failed = new CommitGroup();
  const err = new Error('fsync failed');
  failed.reject(err);
  await assert.rejects(failed.wait(), (e) => e === err);
});

test('a commit group keeps its first outcome: later resolve or reject change nothing', async () => {
  const first = new Error('first');
  const rejected = new CommitGroup();
  const waiting = rejected.wait();
  rejected.reject(first);
  rejected.resolve();
  rejected.reject(new Error('second'));
  await assert.rejects(waiting, (e) => e === first);
  await assert.rejects(rejected.wait(), (e) => e === first);

  const resolved = new CommitGroup();
  const pending = resolved.wait();
  resolved.resolve();
  await pending;
  resolved.reject(new Error('late'));
  await resolved.wait();
  await resolved.wait();
});

test('a commit group failing with nobody waiting is not an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    new CommitGroup().reject(new Error('nobody waits'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
