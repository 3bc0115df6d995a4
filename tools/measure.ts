#!/usr/bin/env node
/**
 * The one entry of the measurement tools (not shipped: see package.json `files`):
 *
 *   npm run build && node dist/tools/measure.js <command> [options]
 *
 * Each command lives in its own module, loaded only when run, and prints its figures on
 * stdout. They start the built `pkgindex` (dist/src/cli/main.js) from this checkout.
 */
import { ToolError, ToolUsageError } from './support/errors.js';

interface Command {
  readonly summary: string;
  readonly load: () => Promise<{ readonly usage: string; main(argv: readonly string[]): Promise<number> }>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  matrix: {
    summary: 'the standard matrix against the C ceiling; rewrites docs/benchmarks.md (npm run bench)',
    load: () => import('./matrix/command.js'),
  },
  stress: {
    summary: 'the challenge-style stress test: 100 clients, the Homebrew list, broken messages',
    load: () => import('./stress/command.js'),
  },
  crash: {
    summary: 'kill -9 the durable server at random moments, check every acknowledged mutation',
    load: () => import('./crash/command.js'),
  },
  idle: {
    summary: 'server memory with many idle connections while others run the workload',
    load: () => import('./load/idle.js'),
  },
  soak: {
    summary:
      'minutes of sustained load (durable mutations by default): memory and compactions sampled, growth judged',
    load: () => import('./load/soak.js'),
  },
  ab: {
    summary: 'two server configurations under the same `pkgindex bench` load, interleaved',
    load: () => import('./load/ab.js'),
  },
  observability: {
    summary: 'what metrics cost the hot path: admin off, on, and scraped every second',
    load: () => import('./load/observability.js'),
  },
  dashboard: {
    summary: 'the web dashboard: page weight, time to first chart, protocol p99 with it open or closed',
    load: () => import('./load/dashboard.js'),
  },
  storage: {
    summary: 'mutation throughput per storage mode, and recovery time and size of large data dirs',
    load: () => import('./load/storage.js'),
  },
  postgres: {
    summary:
      'pgbench -N, then 1-3 instances on one PostgreSQL: strict and pipelined, mixed and mutation-heavy',
    load: () => import('./postgres/command.js'),
  },
  compaction: {
    summary: 'what one compaction (the fold of a full segment into a snapshot) costs per record',
    load: () => import('./load/compaction.js'),
  },
  'hot-path': {
    summary: 'CPU per message of real Connections over a stub socket (memory or disk store)',
    load: () => import('./hot-path/command.js'),
  },
  instructions: {
    summary: 'instructions per message of the hot path (callgrind): builds compared whatever the load',
    load: () => import('./hot-path/instructions.js'),
  },
  'server-instructions': {
    summary:
      'instructions per line of the whole server (callgrind) under a bench load: sockets and event loop included',
    load: () => import('./hot-path/server-instructions.js'),
  },
  'graph-mutations': {
    summary: "the bench's workload on a build's DependencyGraph alone (for instructions --graph)",
    load: () => import('./graph/mutations.js'),
  },
  'cycle-check': {
    summary: 'cycle checks of a build against a baseline build: chains, wide DAGs, Debian, Homebrew',
    load: () => import('./graph/cycle-check.js'),
  },
  query: {
    summary: "what the graph's queries cost: name pages, closures, the survey (run node with --expose-gc)",
    load: () => import('./graph/queries.js'),
  },
  'admin-attacks': {
    summary: 'the admin-port attacks of issue 12 (slow headers, heap snapshots) against a build (--cli)',
    load: () => import('./load/admin-attacks.js'),
  },
  'query-api': {
    summary: "the protocol's QUERY latency while the query API walks the largest closure",
    load: () => import('./graph/query-api.js'),
  },
  attack: {
    summary:
      "a hostile client (chain, pipeline, connection flood, slowloris) against a victim's QUERY latency",
    load: () => import('./attack/command.js'),
  },
  hop: {
    summary: "one batch's round trip to another thread: postMessage against shared-memory rings",
    load: () => import('./threads/hop.js'),
  },
  'perf-categories': {
    summary: 'sorts `perf report` output (stdin) into parts of the work: parse, index, kernel, ...',
    load: () => import('./profile/perf-categories.js'),
  },
  allocations: {
    summary:
      "bytes a server allocates per reply under a bench load, in all and by function (V8's sampling heap profiler)",
    load: () => import('./profile/allocations.js'),
  },
  'profile-summary': {
    summary: 'self and inclusive time per function of a V8 .cpuprofile',
    load: () => import('./profile/profile-summary.js'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: node dist/tools/measure.js <command> [options]   (after npm run build)

Commands:
${lines.join('\n')}

Run \`node dist/tools/measure.js <command> --help\` for a command's options.
`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new ToolUsageError(`unknown command "${name}"\n\n${usage()}`);
  const module = await command.load();
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(`${module.usage}\n`);
    return 0;
  }
  return module.main(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ToolUsageError) {
      process.stderr.write(`measure: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof ToolError) {
      process.stderr.write(`measure: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`measure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
