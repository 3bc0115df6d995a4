/**
 * `measure profile-summary`: summarises a V8 .cpuprofile (from `node --cpu-prof`): self and
 * inclusive time per function, as % of all samples, and, given --per N, in nanoseconds per
 * message for N messages.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ToolUsageError } from '../support/errors.js';
import { intOption } from '../support/options.js';

export const usage = `Usage: node dist/tools/measure.js profile-summary FILE.cpuprofile [--top 30] [--per MESSAGES]`;

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { top: { type: 'string' }, per: { type: 'string' } },
    });
  } catch (err) {
    throw new ToolUsageError(`${(err as Error).message}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new ToolUsageError(usage);
  const top = intOption('--top', values.top, 30);
  const per = values.per === undefined ? null : intOption('--per', values.per, 1);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const label = (n: ProfileNode): string => {
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const own = label(byId.get(id)!);
    self.set(own, (self.get(own) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  });

  const fmt = (us: number): string => {
    const pct = `${((100 * us) / total).toFixed(1).padStart(5)} %`;
    return per === null ? pct : `${pct} ${((us * 1000) / per).toFixed(0).padStart(6)} ns/msg`;
  };
  const show = (title: string, map: Map<string, number>): void => {
    console.log(`\n${title}`);
    for (const [l, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${fmt(us)}  ${l}`);
  };
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
  show('self time', self);
  show('inclusive time', inclusive);
  return Promise.resolve(0);
}
