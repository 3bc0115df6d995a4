import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandSlot } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { executeBatch, type BatchPeer } from '../../src/threads/owner-batches.js';

test('the owner executes a batch in order and answers it with one reply per line, as the store would', async () => {
  const answered: number[][] = [];
  const peer: BatchPeer = {
    tail: null,
    replies(replies) {
      answered.push(Array.from(replies));
    },
    failed() {
      assert.fail('the memory store never fails a batch');
    },
  };
  const store = new MemoryStore();
  await store.open();
  const lines = Buffer.from(
    'INDEX|b|a\nINDEX|a|\nINDEX|b|a\r\nQUERY|b|\nREMOVE|a|\nREMOVE|b|\nQUERY|b|\nquery|b|\n',
  );
  executeBatch(store, new CommandSlot(), peer, lines, 8);
  const { OK, FAIL, ERROR } = Reply;
  assert.deepEqual(answered, [[FAIL, OK, OK, OK, FAIL, OK, FAIL, ERROR]]);
  assert.equal(peer.tail, null, 'answered at once: nothing chained');
});
