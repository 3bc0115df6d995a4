import type { Command } from '../../../src/protocol/command.js';
import { Reply } from '../../../src/protocol/reply.js';
import type { IndexStore } from '../../../src/store/store.js';

/** The crash test's workload (tools/crash/), shared with the store tests. */
export { randomCommand, seededRandom, stateOf } from '../../../tools/crash/workload.js';

/** What the server does for one command alone in a batch: execute, then wait for the barrier. */
export async function send(store: IndexStore, command: Command): Promise<Reply> {
  const reply = store.execute(command);
  const barrier = store.barrier();
  if (barrier === null) return reply;
  try {
    await barrier;
    return reply;
  } catch {
    return Reply.ERROR;
  }
}
