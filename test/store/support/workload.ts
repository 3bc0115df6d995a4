import assert from 'node:assert/strict';
import type { Command } from '../../../src/protocol/command.js';
import { Verb } from '../../../src/protocol/command.js';
import { Reply } from '../../../src/protocol/reply.js';
import type { DependencyGraph } from '../../../src/graph/dependency-graph.js';
import { PENDING, type IndexStore } from '../../../src/store/store.js';

/** The suite's seeded generator, so a failing seed can be replayed. */
export { prng as seededRandom } from '../../support/harness.js';

/** A random command over `names`, weighted toward INDEX so the index grows. */
export function randomCommand(random: () => number, names: readonly string[]): Command {
  const pick = (): string => names[Math.floor(random() * names.length)]!;
  const roll = random();
  if (roll < 0.6) {
    const deps: string[] = [];
    const n = Math.floor(random() * 4);
    for (let i = 0; i < n; i++) deps.push(pick());
    return { verb: Verb.INDEX, name: pick(), deps };
  }
  if (roll < 0.9) return { verb: Verb.REMOVE, name: pick() };
  return { verb: Verb.QUERY, name: pick() };
}

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
    if (reply !== PENDING) return reply;
    assert.ok(decided !== undefined && decided.length === 1, 'one decided reply for one pending command');
    return decided[0]!;
  } catch {
    return Reply.ERROR;
  }
}

/** The state of a graph as sorted lines `name|dep,dep`, for exact comparison. */
export function stateOf(graph: Pick<DependencyGraph, 'entries'>): string[] {
  const lines: string[] = [];
  for (const [name, deps] of graph.entries()) lines.push(`${name}|${[...deps].sort().join(',')}`);
  return lines.sort();
}
