import assert from 'node:assert/strict';
import type { Command } from '../../../src/protocol/command.js';
import { Reply } from '../../../src/protocol/reply.js';
import { PENDING, SUSPENDED, type IndexStore } from '../../../src/store/store.js';

/** The crash test's workload (tools/crash/), shared with the store tests. */
export { commandLine, randomCommand, seededRandom, stateOf } from '../../../tools/crash/workload.js';

/** What the server does for one command alone in a batch: execute, then wait for the barrier. */
export async function send(store: IndexStore, command: Command): Promise<Reply> {
  const reply = store.execute(command);
  const barrier = store.barrier();
  if (barrier === null) {
    assert.notEqual(reply, PENDING, 'a store that answers PENDING must return a barrier');
    return reply as Reply;
  }
  try {
    const decided = await barrier;
    if (reply !== PENDING && reply !== SUSPENDED) return reply;
    assert.ok(decided !== undefined && decided.length === 1, 'one decided reply for one pending command');
    return decided[0]!;
  } catch {
    return Reply.ERROR;
  }
}
