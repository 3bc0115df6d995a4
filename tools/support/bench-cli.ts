/** `pkgindex bench` run as a child process, as its users run it, with its JSON result. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { BenchResult } from '../../src/bench/run-bench.js';
import { ToolError } from './errors.js';
import { cliPath, repoRoot } from './paths.js';

/**
 * Bench options for a server started for one load and stopped after it: the data set's bare
 * names, as in the runs before the bench had a namespace (so figures stay comparable with
 * earlier ones), and no clean-up, since the server goes away.
 */
export const FRESH_SERVER_BENCH_ARGS: readonly string[] = ['--prefix', '', '--no-cleanup'];

/**
 * Runs `pkgindex bench ARGS --json` to completion, on CPU `cpu` when given (taskset execs the
 * command, so the pid is bench's); killed after `timeoutMs`. Resolves with its result, also
 * when it exits 1 for protocol errors (the result says how many); rejects when it failed.
 */
export async function runBenchCli(
  args: readonly string[],
  options: { readonly cpu?: number; readonly timeoutMs: number },
): Promise<BenchResult> {
  const node = [cliPath(), 'bench', ...args, '--json'];
  const [command, argv] =
    options.cpu === undefined
      ? [process.execPath, node]
      : ['taskset', ['-c', String(options.cpu), process.execPath, ...node]];
  const child = spawn(command, argv, { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4096)));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  if ((code === 0 || code === 1) && stdout.trim().startsWith('{')) return JSON.parse(stdout) as BenchResult;
  throw new ToolError(`pkgindex bench exited with ${String(code)}: ${stderr.trim()}`);
}

/**
 * `pkgindex bench` for `seconds` against the fresh server `server` (its port, its CPU and peak
 * RSS reported through its pid), with the load's options `load` and FRESH_SERVER_BENCH_ARGS.
 * Never rejects: a failed run is its Error, for tools that report it beside their own figures.
 */
export function benchFreshServer(
  server: { readonly port: number; readonly pid: number },
  seconds: number,
  load: readonly string[],
): Promise<BenchResult | Error> {
  return runBenchCli(
    [
      '--port',
      String(server.port),
      ...load,
      '--duration',
      String(seconds),
      '--server-pid',
      String(server.pid),
      ...FRESH_SERVER_BENCH_ARGS,
    ],
    { timeoutMs: (seconds + 120) * 1000 },
  ).catch((err: unknown) => err as Error);
}
