/**
 * `pkgindex bench`: the load generator. Exit status 0 when every request got the reply it
 * must, 1 on any protocol error, 2 on a usage error.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCeiling, freePort, repoRoot, startServer, type ChildServer } from '../bench/child-server.js';
import { formatSummary, progressLine } from '../bench/report.js';
import { runBench, type BenchOptions } from '../bench/run-bench.js';
import { DEFAULT_MIX, formatMix, parseMix } from '../bench/workload.js';
import { createError } from '../errors.js';

export const BENCH_USAGE = `Usage: pkgindex bench [options]

Indexes the data file on the server (warm-up, not measured), then sends the workload and
reports throughput, latency percentiles, replies by class and protocol errors.

  --host HOST          server address (default 127.0.0.1)
  --port PORT          server port (default 8080)
  --connections N      client connections (default 1)
  --in-flight N        requests outstanding per connection; 1 = request/response (default 1)
  --duration SECONDS   how long to send (default 5), or
  --ops N              how many requests to send in all
  --mix SPEC           weights, default ${formatMix(DEFAULT_MIX)}
  --seed N             the workload is the same for the same seed (default 1)
  --data FILE          "name: dep1 dep2" lines (default test/fixtures/brew-dependencies.txt)
  --threads N          worker threads driving the connections (default 1: the main thread)
  --server-pid PID     report that process's CPU time and peak RSS
  --ceiling            build and start the C ceiling server (answers OK to everything) and
                       measure it instead; replies are then not validated
  --no-validate        do not compare replies with the ones the workload requires
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
  ceiling: boolean;
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
        ceiling: { type: 'boolean' },
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
  const ceiling = values.ceiling === true;
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
      dataFile: values.data ?? join(repoRoot(), 'test', 'fixtures', 'brew-dependencies.txt'),
      serverPid:
        values['server-pid'] === undefined ? null : positiveInt('--server-pid', values['server-pid'], 1),
      threads: positiveInt('--threads', values.threads, 1),
      validate: values['no-validate'] !== true && !ceiling,
      scriptLength: positiveInt('--script-length', values['script-length'], 65_536),
    },
    json: values.json === true,
    ceiling,
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
  let options: BenchOptions = parsed.options;
  let ceiling: ChildServer | null = null;
  if (parsed.ceiling) {
    const port = await freePort(options.host);
    ceiling = await startServer(buildCeiling(), [String(port), options.host], port, options.host);
    options = { ...options, port, serverPid: ceiling.pid };
  }
  const tty = process.stderr.isTTY;
  try {
    const result = await runBench({
      ...options,
      onProgress: tty
        ? (answered, s) => process.stderr.write(`\r${progressLine(answered, s)}\x1b[K`)
        : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    process.stdout.write(parsed.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatSummary(result)}\n`);
    return result.protocolErrors === 0 && result.warmup.protocolErrors === 0 ? 0 : 1;
  } finally {
    await ceiling?.stop();
  }
}
