/**
 * `measure allocations`: what a server allocates per reply under a `pkgindex bench` load, in
 * all and by function, from V8's sampling heap profiler with collected objects included
 * (allocation-sampler.ts). Client-independent like CPU per reply, and far less noisy on a
 * shared machine; garbage is what the young-generation collector pays for.
 *
 * Sampling attributes each allocation to the JavaScript frame on top of the stack, inlined
 * frames included; within a chain of inlined calls the frame named can vary from run to run,
 * so read the per-function rows by their chain, and the total as the figure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchFreshServer } from '../support/bench-cli.js';
import { ToolError, ToolUsageError } from '../support/errors.js';
import { intOption } from '../support/options.js';
import { spawnServer } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js allocations [--serve=ARGS] [--cli=PATH] [--seconds 4] [--warmup-seconds 2] [--top 15] [-- bench options...]

  --serve=ARGS         extra \`pkgindex serve\` arguments, one string ({dataDir}: a fresh
                       directory), e.g. --serve='--io=native --storage=disk --data-dir={dataDir}'
  --cli=PATH           the pkgindex CLI (dist/src/cli/main.js) to run: another build (default:
                       this one)
  --seconds N          the measured load, sampled (default 4)
  --warmup-seconds N   load before it, not sampled (default 2)
  --top N              functions listed (default 15)

Bench options default to --connections 100 --in-flight 32.`;

const SAMPLER = fileURLToPath(new URL('./allocation-sampler.js', import.meta.url));

interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

/** Self bytes per function label (`name file:line`), and their total, of a sampling profile. */
export function bytesByFunction(head: HeapNode): { total: number; byFunction: Map<string, number> } {
  const byFunction = new Map<string, number>();
  let total = 0;
  const stack: HeapNode[] = [head];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const label = `${f.functionName || '(anonymous)'} ${where}`.trim();
    if (node.selfSize > 0) byFunction.set(label, (byFunction.get(label) ?? 0) + node.selfSize);
    total += node.selfSize;
    stack.push(...node.children);
  }
  return { total, byFunction };
}

export async function main(argv: readonly string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const load = split < 0 ? ['--connections', '100', '--in-flight', '32'] : argv.slice(split + 1);
  let values;
  try {
    values = parseArgs({
      args: [...own],
      options: {
        serve: { type: 'string' },
        cli: { type: 'string' },
        seconds: { type: 'string' },
        'warmup-seconds': { type: 'string' },
        top: { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new ToolUsageError(`${(err as Error).message}\n\n${usage}`);
  }
  const seconds = intOption('--seconds', values.seconds, 4);
  const warmup = intOption('--warmup-seconds', values['warmup-seconds'], 2);
  const top = intOption('--top', values.top, 15);
  const dir = mkdtempSync(join(tmpdir(), 'pkgindex-allocations-'));
  const profile = join(dir, 'allocations.heapprofile');
  const serveArgs = (values.serve ?? '')
    .split(/\s+/)
    .filter((a) => a !== '')
    .map((a) => a.replace('{dataDir}', join(dir, 'data')));
  const server = await spawnServer({
    args: serveArgs,
    nodeArgs: ['--import', SAMPLER],
    ...(values.cli === undefined ? {} : { cli: values.cli }),
    env: { PKGINDEX_ALLOCATION_PROFILE: profile },
  });
  try {
    if (warmup > 0) await benchFreshServer(server, warmup, load);
    server.child.kill('SIGUSR2');
    const result = await benchFreshServer(server, seconds, load);
    server.child.kill('SIGUSR2');
    for (let waited = 0; !existsSync(profile) && waited < 10_000; waited += 50) await sleep(50);
    if (result instanceof Error) throw new ToolError(`the load failed: ${result.message}`);
    if (!existsSync(profile)) throw new ToolError('the server wrote no allocation profile');
    const parsed = JSON.parse(readFileSync(profile, 'utf8')) as { head?: HeapNode; error?: string };
    if (parsed.head === undefined) throw new ToolError(`sampling failed: ${parsed.error ?? 'no profile'}`);
    const { total, byFunction } = bytesByFunction(parsed.head);
    const replies = result.answered;
    console.log(
      `serve ${serveArgs.join(' ')}; load ${load.join(' ')}, ${seconds} s sampled after ${warmup} s`,
    );
    console.log(
      `${replies.toLocaleString('en-US')} replies (${Math.round(result.opsPerSec).toLocaleString('en-US')} ops/s): ` +
        `${(total / 1e6).toFixed(1)} MB allocated, ${(total / replies).toFixed(1)} bytes per reply`,
    );
    for (const [label, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(
        `${(bytes / replies).toFixed(1).padStart(8)} B/reply ${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${label}`,
      );
    return 0;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
