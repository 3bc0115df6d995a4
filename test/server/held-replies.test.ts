import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reply } from '../../src/protocol/reply.js';
import { DURABLE, FAILED, HeldReplies, PENDING_SLOT, WAITING } from '../../src/server/held-replies.js';
import type { Barrier } from '../../src/server/barrier-waiters.js';

const ROWS = 4;

/** A barrier nobody awaits: HeldReplies only compares them. */
function barrier(): Barrier {
  return new Promise<void>(() => undefined);
}

/** Releases what a connection would: the replies of every settled batch at the head, in order. */
function release(held: HeldReplies, commands: Float64Array): number[] {
  const from = held.from;
  let to = from;
  while (held.length > 0 && held.state !== WAITING) {
    if (held.state === FAILED) held.fail(commands);
    to = held.shift();
  }
  return Array.from(held.bytes.subarray(from, to));
}

test('held replies: released in order, each batch once its barrier settles and every batch before it has', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          size: fc.integer({ min: 1, max: 70 }),
          group: fc.integer({ min: 0, max: 3 }),
          fails: fc.boolean(),
          settleAfter: fc.integer({ min: 0, max: 5 }),
        }),
        { maxLength: 200 },
      ),
      (batches) => {
        const held = new HeldReplies();
        const commands = new Float64Array(ROWS * 3);
        const expected: number[] = [];
        const released: number[] = [];
        // Batches of one group share a barrier, as chunks of one group commit do; a group is
        // settled (failed or durable) a few batches after it was opened, then replaced.
        const groups = Array.from({ length: 4 }, () => ({ barrier: barrier(), left: 0, fails: false }));
        let n = 0;
        for (const b of batches) {
          const group = groups[b.group]!;
          if (group.left === 0) Object.assign(group, { left: b.settleAfter + 1, fails: b.fails });
          const replies = Uint8Array.from({ length: b.size }, () => n++ % 2);
          // The scratch is longer than the batch: only its first `size` slots are held.
          const scratch = new Uint8Array(b.size + 3).fill(9);
          scratch.set(replies);
          held.hold(scratch, b.size, group.barrier, 0, false);
          for (const r of replies) expected.push(group.fails ? Reply.ERROR : r);
          if (--group.left === 0) {
            held.settle(group.barrier, undefined, group.fails, commands);
            group.barrier = barrier();
            released.push(...release(held, commands));
          }
        }
        for (const group of groups)
          if (group.left > 0) {
            held.settle(group.barrier, undefined, group.fails, commands);
            released.push(...release(held, commands));
          }
        assert.equal(held.length, 0);
        assert.equal(held.replies, 0);
        assert.deepEqual(released, expected);
      },
    ),
    { numRuns: 200 },
  );
});

test('held replies: a client that never lets the queue empty keeps it bounded, replies in place', () => {
  const held = new HeldReplies();
  const commands = new Float64Array(ROWS * 3);
  let previous = barrier();
  held.hold(Uint8Array.of(Reply.OK), 1, previous, 0, false);
  const out: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const next = barrier();
    held.hold(Uint8Array.of(i % 2, Reply.OK), 2, next, 0, false);
    held.settle(previous, undefined, false, commands);
    out.push(...release(held, commands));
    assert.equal(held.length, 1);
    previous = next;
  }
  assert.ok(held.bytes.length <= 64, `buffer grew to ${held.bytes.length} bytes for 2 replies held`);
  assert.equal(out.length, 1 + 2 * 999);
});

test('held replies: decided replies go to their own batch, pending slots of a failed batch count as ERROR, and suspension is reported', () => {
  const held = new HeldReplies();
  const commands = new Float64Array(ROWS * 3);
  const a = barrier();
  const b = barrier();
  const c = barrier();
  // Row 1 and row 0 decided later; a plain OK between them.
  held.hold(Uint8Array.of(PENDING_SLOT + 1, Reply.OK, PENDING_SLOT + 0), 3, a, 5, false);
  held.hold(Uint8Array.of(Reply.FAIL, PENDING_SLOT + 2), 2, b, 6, true);
  held.hold(Uint8Array.of(PENDING_SLOT + 0), 1, c, 7, false);
  held.hold(Uint8Array.of(Reply.OK), 1, null, 8, false);
  assert.equal(held.replies, 7);

  assert.equal(held.settle(b, [Reply.OK], false, commands), true, 'b ends with a suspended command');
  assert.equal(held.state, WAITING, 'a still waits');
  assert.equal(held.settle(c, undefined, true, commands), false);
  // The store decided only one of a's two slots: the other is ERROR.
  assert.equal(held.settle(a, [Reply.FAIL], false, commands), false);
  assert.equal(held.state, DURABLE);
  assert.equal(held.arrivedAt, 5);
  assert.deepEqual(release(held, commands), [
    Reply.FAIL,
    Reply.OK,
    Reply.ERROR,
    Reply.FAIL,
    Reply.OK,
    Reply.ERROR,
    Reply.OK,
  ]);
  assert.equal(commands[1 * 3 + Reply.FAIL], 1);
  assert.equal(commands[0 * 3 + Reply.ERROR], 2, "a's undecided slot and c's failed one");
  assert.equal(commands[2 * 3 + Reply.OK], 1);

  held.hold(Uint8Array.of(Reply.OK), 1, barrier(), 0, false);
  held.clear();
  assert.equal(held.length, 0);
  assert.equal(held.replies, 0);
  assert.equal(held.state, WAITING, 'nothing held: nothing to release');
});

test('held replies: batches that share one barrier each take their own replies from their offset', () => {
  const held = new HeldReplies();
  const commands = new Float64Array(ROWS * 3);
  const turn = barrier();
  // Two batches of one connection in one turn of a socket thread: the turn's replies are
  // [FAIL, OK, ERROR | OK, FAIL]; the first batch's two pending slots start at 1, the
  // second's at 3 (another connection's reply sits at 0).
  held.hold(Uint8Array.of(PENDING_SLOT + 0, Reply.OK, PENDING_SLOT + 1), 3, turn, 1, false, 1);
  held.hold(Uint8Array.of(PENDING_SLOT + 2, PENDING_SLOT + 0), 2, turn, 2, false, 3);
  assert.equal(
    held.settle(turn, [Reply.FAIL, Reply.OK, Reply.ERROR, Reply.OK, Reply.FAIL], false, commands),
    false,
  );
  assert.deepEqual(release(held, commands), [Reply.OK, Reply.OK, Reply.ERROR, Reply.OK, Reply.FAIL]);
  assert.equal(commands[0 * 3 + Reply.OK], 1);
  assert.equal(commands[0 * 3 + Reply.FAIL], 1);
  assert.equal(commands[1 * 3 + Reply.ERROR], 1);
  assert.equal(commands[2 * 3 + Reply.OK], 1);
});
