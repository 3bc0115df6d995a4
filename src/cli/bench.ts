/**
 * `pkgindex bench`: the load generator. Exit status 0 when every request got the reply it
 * must, 1 on any protocol error, 2 on a usage error.
 */
import { option, type Values } from '../config/command-line.js';
import { existingFile, flagBool, integer, positiveNumber } from '../config/parsers.js';
import { defaultDataFile } from '../bench/data-set.js';
import { formatSummary, progressLine } from '../bench/report.js';
import { allProtocolErrors, runBench, type BenchOptions } from '../bench/run-bench.js';
import {
  DEFAULT_MIX,
  DEFAULT_PREFIX,
  checkPrefix,
  formatMix,
  parseMix,
  type Mix,
} from '../bench/workload.js';
import { createError } from '../errors.js';
import { defineCommand } from './command.js';
import { clientTls, SERVER_OPTIONS } from './connection.js';

const DEFAULT_DURATION_S = 5;

/** The options of `pkgindex bench`; short aliases as in wrk (-c, -d, -t). */
const OPTIONS = {
  ...SERVER_OPTIONS,
  connections: option({
    flag: '--connections',
    short: '-c',
    value: 'N',
    default: 1,
    help: 'Client connections.',
    parse: integer(1, 100_000),
  }),
  inFlight: option({
    flag: '--in-flight',
    value: 'N',
    default: 1,
    help: 'Requests outstanding per connection; 1 = request/response.',
    parse: integer(1, 1_000_000),
  }),
  duration: option<number | null>({
    flag: '--duration',
    short: '-d',
    value: 'SECONDS',
    default: null,
    defaultText: `${DEFAULT_DURATION_S} unless --ops`,
    help: 'How long to send; exclusive with --ops.',
    parse: positiveNumber,
  }),
  ops: option<number | null>({
    flag: '--ops',
    value: 'N',
    default: null,
    defaultText: 'unset',
    help: 'How many requests to send in all; exclusive with --duration.',
    parse: integer(1),
  }),
  mix: option<Mix>({
    flag: '--mix',
    value: 'SPEC',
    default: DEFAULT_MIX,
    defaultText: formatMix(DEFAULT_MIX),
    help: 'Weights of the request kinds, kind=weight,... with kinds query, index, remove, malformed.',
    parse: (raw) => parseMix(raw),
  }),
  seed: option({
    flag: '--seed',
    value: 'N',
    default: 1,
    help: 'The workload is the same for the same seed.',
    parse: integer(0),
  }),
  data: option<string | null>({
    flag: '--data',
    value: 'FILE',
    default: null,
    defaultText: 'the Homebrew list shipped in the package, bench/brew-dependencies.txt',
    help: '"name: dep1 dep2" lines: the packages indexed during warm-up and used by the workload.',
    parse: existingFile,
  }),
  prefix: option({
    flag: '--prefix',
    value: 'TEXT',
    default: DEFAULT_PREFIX,
    help: 'Put before every package name, so the run neither reads nor changes the server\'s other packages ("" for the bare names, on a server that holds nothing else).',
    parse: checkPrefix,
  }),
  noCleanup: option({
    flag: '--no-cleanup',
    default: false,
    help: 'Leave the indexed packages on the server (by default the run removes them at the end).',
    parse: flagBool,
  }),
  threads: option({
    flag: '--threads',
    short: '-t',
    value: 'N',
    default: 1,
    help: 'Worker threads driving the connections (1: the main thread).',
    parse: integer(1, 1024),
  }),
  serverPid: option<number | null>({
    flag: '--server-pid',
    value: 'PID',
    default: null,
    defaultText: 'unset',
    help: "Report that process's CPU time (and its main thread's: pkgindex's index owner) and peak RSS.",
    parse: integer(1),
  }),
  scriptLength: option({
    flag: '--script-length',
    value: 'N',
    default: 65_536,
    help: 'Requests in the rendered script that connections cycle through.',
    parse: integer(1),
  }),
  noValidate: option({
    flag: '--no-validate',
    default: false,
    help: "Do not compare replies with the ones the workload requires (for a server that answers OK to everything, like the matrix's C ceiling).",
    parse: flagBool,
  }),
  json: option({
    flag: '--json',
    default: false,
    help: 'Print the result as JSON on stdout.',
    parse: flagBool,
  }),
};

/** `pkgindex bench`. */
export const command = defineCommand({
  description: `Indexes the data file on the server (warm-up, not measured), then sends the workload and
reports throughput, latency percentiles, replies by class and protocol errors. Every package
name is prefixed (--prefix), so the run neither reads nor changes the server's other
packages; at the end it removes what it indexed, and the server holds what it held before
(an interrupted run leaves them: run again with the same --prefix to remove them).`,
  options: OPTIONS,
  epilogue: 'Exit status: 0 every request got the reply it must, 1 any protocol error, 2 a usage error.',
  run: (values) => benchMain(values),
});

/** Turns the parsed flags into run options. */
function benchOptions(values: Values<typeof OPTIONS>): Omit<BenchOptions, 'onProgress'> {
  if (values.duration !== null && values.ops !== null)
    throw createError('E_USAGE', '--duration and --ops are exclusive: give one');
  return {
    host: values.host,
    port: values.port,
    tls: clientTls(values),
    connections: values.connections,
    inFlight: values.inFlight,
    durationS: values.ops === null ? (values.duration ?? DEFAULT_DURATION_S) : null,
    ops: values.ops,
    mix: values.mix,
    seed: values.seed,
    dataFile: values.data ?? defaultDataFile(),
    prefix: values.prefix,
    cleanup: !values.noCleanup,
    serverPid: values.serverPid,
    threads: values.threads,
    validate: !values.noValidate,
    scriptLength: values.scriptLength,
  };
}

/** Runs `pkgindex bench` with the parsed flags; resolves to the exit status. */
async function benchMain(values: Values<typeof OPTIONS>): Promise<number> {
  const tty = process.stderr.isTTY;
  const result = await runBench({
    ...benchOptions(values),
    onProgress: tty
      ? (answered, s) => process.stderr.write(`\r${progressLine(answered, s)}\x1b[K`)
      : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatSummary(result)}\n`);
  return allProtocolErrors(result) === 0 ? 0 : 1;
}
