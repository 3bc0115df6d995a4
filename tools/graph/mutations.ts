/**
 * `measure graph-mutations`: the benchmark's workload applied straight to the DependencyGraph of
 * a build (--dist): no server, no parsing, the graph's own cost per message. Lines are split into
 * names before anything is counted, and a warm-up of 200,000 messages in slices of 1,000 lets
 * the JIT optimize the loop first; `measure instructions --graph` runs it under callgrind at two
 * message counts, so the warm-up cancels out.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as GraphModule from '../../src/graph/dependency-graph.js';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { DEFAULT_MIX, buildScript, parseDataFile, parseMix, planWorkload } from '../../src/bench/workload.js';
import { ToolError } from '../support/errors.js';
import { intOption, parseToolArgs } from '../support/options.js';
import { repoRoot } from '../support/paths.js';

export const usage = `Usage: node dist/tools/measure.js graph-mutations [options]

  --dist DIR      the build whose graph is driven (default: this checkout's dist)
  --messages N    messages after the warm-up (default 500000)
  --mix SPEC      workload mix (default: the bench's)
  --verify        check every invariant of the graph at the end (graph.verify())`;

const WARMUP = 200_000;

interface Op {
  readonly verb: string;
  readonly name: string;
  readonly deps: readonly string[];
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      dist: { type: 'string' },
      messages: { type: 'string' },
      mix: { type: 'string' },
      verify: { type: 'boolean' },
    },
    usage,
  );
  const dist = resolve(values.dist ?? join(repoRoot(), 'dist'));
  const messages = intOption('--messages', values.messages, 500_000, 0);
  const module = (await import(
    pathToFileURL(join(dist, 'src/graph/dependency-graph.js')).href
  )) as typeof GraphModule;
  const plan = planWorkload(parseDataFile(readFileSync(defaultDataFile(), 'utf8')), 1);
  const script = buildScript(plan, values.mix === undefined ? DEFAULT_MIX : parseMix(values.mix), 1, 65_536);
  const text = script.bytes.toString('latin1');
  const ops: Op[] = [];
  for (let i = 0; i < script.length; i++) {
    const line = text.slice(script.offsets[i], script.offsets[i + 1]! - 1);
    const [verb = '', name = '', deps = ''] = line.split('|');
    ops.push({ verb, name, deps: deps === '' ? [] : deps.split(',') });
  }
  const graph = new module.DependencyGraph();
  for (const spec of plan.warmup) graph.index(spec.name, spec.deps);
  const run = (from: number, to: number): number => {
    let changed = 0;
    for (let m = from; m < to; m++) {
      const op = ops[m % ops.length]!;
      if (op.verb === 'QUERY') changed += graph.has(op.name) ? 0 : 1;
      else if (op.verb === 'INDEX') changed += graph.index(op.name, op.deps) === 'unchanged' ? 0 : 1;
      else if (op.verb === 'REMOVE') changed += graph.remove(op.name) === 'removed' ? 1 : 0;
    }
    return changed;
  };
  let changed = 0;
  for (let m = 0; m < WARMUP; m += 1000) changed += run(m, m + 1000);
  changed += run(WARMUP, WARMUP + messages);
  console.log(`${messages} messages after ${WARMUP} of warm-up (${dist}): ${changed} changes`);
  if (values.verify === true) {
    const problems = graph.verify();
    if (problems.length > 0)
      throw new ToolError(`the graph is inconsistent: ${problems.slice(0, 5).join('; ')}`);
  }
  return 0;
}
