/**
 * What a socket thread holds in shared memory (ConnectionSlots, SharedPeerTable) can be given
 * back by the owner when the thread dies holding it (ADR 0010: a thread stopped at its heap
 * limit never closes its connections itself).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionSlots } from '../../src/server/connection-slots.js';
import { peerTableBytes, SharedPeerTable } from '../../src/server/shared-peer-table.js';

test('ConnectionSlots: the owner gives back what a dead thread held, and only that', () => {
  const count = new Int32Array(new SharedArrayBuffer(4));
  const held = new Int32Array(new SharedArrayBuffer(4));
  const owner = new ConnectionSlots(5, count);
  const thread = new ConnectionSlots(5, count, held);
  assert.ok(owner.tryAcquire());
  for (let i = 0; i < 4; i++) assert.ok(thread.tryAcquire());
  assert.equal(thread.tryAcquire(), false, 'the process is at its limit');
  thread.release();
  assert.equal(owner.open, 4);
  assert.equal(owner.giveBack(held), 3);
  assert.equal(owner.open, 1, "the owner's own connection still counts");
  assert.equal(Atomics.load(held, 0), 0);
  assert.equal(owner.giveBack(held), 0, 'given back once');
});

test("SharedPeerTable: releaseHeld drops a dead thread's connections per peer, not the owner's", () => {
  const slots = 1024;
  const memory = new SharedArrayBuffer(peerTableBytes(slots));
  const held = new Int32Array(new SharedArrayBuffer(4 * slots));
  const owner = new SharedPeerTable(memory, slots);
  const thread = new SharedPeerTable(memory, slots, held);
  const max = 3;
  const a = thread.admit('10.0.0.1', max, 1, 0);
  thread.admit('10.0.0.1', max, 1, 0);
  owner.admit('10.0.0.1', max, 1, 0);
  assert.equal(thread.admit('10.0.0.1', max, 1, 0), -1, 'the peer is at its limit');
  const b = thread.admit('10.0.0.2', max, 1, 0);
  thread.release(b, false);
  thread.admit('10.0.0.3', max, 1, 0);
  assert.equal(owner.live, 2);
  assert.equal(owner.releaseHeld(held, false), 3);
  assert.ok(
    owner.admit('10.0.0.1', max, 1, 0) === a,
    "room again for the peer: only the owner's connection counts",
  );
  assert.ok(owner.admit('10.0.0.1', max, 1, 0) >= 0);
  assert.equal(owner.admit('10.0.0.1', max, 1, 0), -1);
  assert.equal(owner.live, 1, 'the peer the dead thread alone held is forgotten');
  assert.deepEqual(
    [...held].filter((n) => n !== 0),
    [],
  );
});
