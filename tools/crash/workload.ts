import type { Command } from '../../src/protocol/command.js';
import { Verb } from '../../src/protocol/command.js';
import type { DependencyGraph } from '../../src/graph/dependency-graph.js';

/** The seeded generator of the stress harness, so a failing seed can be replayed. */
export { prng as seededRandom } from '../stress/harness.js';

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

/** The state of a graph as sorted lines `name|dep,dep`, for exact comparison. */
export function stateOf(graph: Pick<DependencyGraph, 'entries'>): string[] {
  const lines: string[] = [];
  for (const [name, deps] of graph.entries()) lines.push(`${name}|${[...deps].sort().join(',')}`);
  return lines.sort();
}

/** A command as the protocol line that sends it (without the `\n`). */
export function commandLine(c: Command): string {
  return c.verb === Verb.INDEX ? `INDEX|${c.name}|${c.deps.join(',')}` : `${c.verb}|${c.name}|`;
}
