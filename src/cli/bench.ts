/**
 * `pkgindex bench`: the load generator. Exit status 0 when every request got the reply it
 * must, 1 on any protocol error, 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { defaultDataFile } from '../bench/data-set.js';
import { formatSummary, progressLine } from '../bench/report.js';
import { allProtocolErrors, runBench, type BenchOptions } from '../bench/run-bench.js';
import { DEFAULT_MIX, DEFAULT_PREFIX, formatMix, parseMix } from '../bench/workload.js';
import { createError } from '../errors.js';

export const BENCH_USAGE = `Usage: pkgindex bench [options]

Indexes the data file on the server (warm-up, not measured), then sends the workload and
reports throughput, latency percentiles, replies by class and protocol errors. Every package
name is prefixed (--prefix), so the run neither reads nor changes the server's other
packages; at the end it removes what it indexed, and the server holds what it held before
(an interrupted run leaves them: run again with the same --prefix to remove them).

  --host HOST          server address (default 127.0.0.1)
  --port PORT          server port (default 8080)
  --connections N      client connections (default 1)
  --in-flight N        requests outstanding per connection; 1 = request/response (default 1)
  --duration SECONDS   how long to send (default 5), or
  --ops N              how many requests to send in all
  --mix SPEC           weights, default ${formatMix(DEFAULT_MIX)}
  --seed N             the workload is the same for the same seed (default 1)
  --data FILE          "name: dep1 dep2" lines (default: the Homebrew list shipped in
                       the package, bench/brew-dependencies.txt)
  --prefix TEXT        put before every package name (default "${DEFAULT_PREFIX}"; "" for the bare
                       names, on a server that holds nothing else)
  --no-cleanup         leave the indexed packages on the server
  --threads N          worker threads driving the connections (default 1: the main thread)
  --server-pid PID     report that process's CPU time and peak RSS
  --no-validate        do not compare replies with the ones the workload requires (for a
                       server that answers OK to everything, like the matrix's C ceiling)
  --json               print the result as JSON on stdout
  -h, --help           this text`;

function positiveInt(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw createError('E_USAGE', `${flag} must be a positive integer, got "${text}"`);
  return n;
}

/** Parses bench flags into run options (minus what depends on a started server). */
export function parseBenchArgs(argv: readonly string[]): {
  options: Omit<BenchOptions, 'onProgress'>;
  json: boolean;
  help: boolean;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        connections: { type: 'string' },
        'in-flight': { type: 'string' },
        duration: { type: 'string' },
        ops: { type: 'string' },
        mix: { type: 'string' },
        seed: { type: 'string' },
        data: { type: 'string' },
        threads: { type: 'string' },
        'server-pid': { type: 'string' },
        'script-length': { type: 'string' },
        prefix: { type: 'string' },
        'no-cleanup': { type: 'boolean' },
        'no-validate': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw createError('E_USAGE', `${(err as Error).message}\n\n${BENCH_USAGE}`);
  }
  if (values.duration !== undefined && values.ops !== undefined)
    throw createError('E_USAGE', '--duration and --ops are exclusive: give one');
  const durationS = values.duration === undefined ? null : Number(values.duration);
  if (durationS !== null && !(durationS > 0))
    throw createError('E_USAGE', `--duration must be > 0 seconds, got "${values.duration}"`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed))
    throw createError('E_USAGE', `--seed must be an integer, got "${values.seed}"`);
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw createError('E_USAGE', `--port must be 1-65535, got "${values.port}"`);
  return {
    options: {
      host: values.host ?? '127.0.0.1',
      port,
      connections: positiveInt('--connections', values.connections, 1),
      inFlight: positiveInt('--in-flight', values['in-flight'], 1),
      durationS: values.ops === undefined ? (durationS ?? 5) : null,
      ops: values.ops === undefined ? null : positiveInt('--ops', values.ops, 1),
      mix: values.mix === undefined ? DEFAULT_MIX : parseMix(values.mix),
      seed,
      dataFile: values.data ?? defaultDataFile(),
      prefix: values.prefix ?? DEFAULT_PREFIX,
      cleanup: values['no-cleanup'] !== true,
      serverPid:
        values['server-pid'] === undefined ? null : positiveInt('--server-pid', values['server-pid'], 1),
      threads: positiveInt('--threads', values.threads, 1),
      validate: values['no-validate'] !== true,
      scriptLength: positiveInt('--script-length', values['script-length'], 65_536),
    },
    json: values.json === true,
    help: values.help === true,
  };
}

/** Runs `pkgindex bench` with `argv` (the arguments after `bench`); resolves to the exit status. */
export async function benchMain(argv: readonly string[]): Promise<number> {
  const parsed = parseBenchArgs(argv);
  if (parsed.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  const tty = process.stderr.isTTY;
  const result = await runBench({
    ...parsed.options,
    onProgress: tty
      ? (answered, s) => process.stderr.write(`\r${progressLine(answered, s)}\x1b[K`)
      : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  process.stdout.write(parsed.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatSummary(result)}\n`);
  return allProtocolErrors(result) === 0 ? 0 : 1;
}
