/**
 * `measure ab`: an A/B benchmark. The same `pkgindex bench` load against two server
 * configurations, in interleaved rounds (A then B, B then A, ...) so that drift on a shared
 * machine hits both alike. Prints ops/s, server CPU µs per op and its main thread's (the
 * index owner's) for each round, then the median B/A ratios with a distribution-free 95 %
 * interval (support/median-interval.ts).
 */
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { median } from '../matrix/targets.js';
import { medianInterval } from '../support/median-interval.js';
import { FRESH_SERVER_BENCH_ARGS, runBenchCli } from '../support/bench-cli.js';
import { freePort, startServer } from '../support/child-server.js';
import { ToolError } from '../support/errors.js';
import { intOption, parseToolArgs, splitArgs } from '../support/options.js';
import { cliPath } from '../support/paths.js';

export const usage = `Usage: node dist/tools/measure.js ab --a=ARGS --b=ARGS [--rounds 3] [-- bench options...]

  --a=ARGS, --b=ARGS   extra \`pkgindex serve\` arguments of each side, as one string
                       (write --a='--admin=false' --b='': a value starting with - needs the =);
                       {dataDir} becomes a fresh directory per round (--a='--storage=disk --data-dir={dataDir}')
  --a-data-root=DIR, --b-data-root=DIR
                       where each side's {dataDir} is made (default: the system's temporary
                       directory): e.g. /dev/shm for one side, to tell the store's own work
                       from the device's
  --a-cli=PATH, --b-cli=PATH
                       the pkgindex CLI (dist/src/cli/main.js) each side runs: another build,
                       for a before/after comparison in one run (default: this build)
  --rounds N           A/B pairs (default 3; at least 6 for a 95 % interval of the median
                       ratio, 15 or more to resolve a few per cent on this shared machine)
  --server-cpu N, --client-cpu M
                       run every server on CPU N and the load generator on CPU M (taskset),
                       both sides alike: each process has a core to itself, instead of the
                       scheduler moving them between the cores and sharing the caches (check
                       that the client is not the bound: pkgindex bench --server-pid prints
                       both CPUs)
  --warmup-seconds N   first run the same load for N seconds, not measured, so that the
                       measured run compares servers whose code is compiled (default 0:
                       each measured run starts on a fresh server, its warm-up included)

Each server runs in memory, --quiet, admin server on a free port, plus its side's arguments.
Bench options default to --connections 100 --in-flight 32 --duration 4.`;

const DEFAULT_BENCH_ARGS = ['--connections', '100', '--in-flight', '32', '--duration', '4'];

export async function main(argv: readonly string[]): Promise<number> {
  const { values, rest } = parseToolArgs(
    argv,
    {
      a: { type: 'string' },
      b: { type: 'string' },
      'a-cli': { type: 'string' },
      'b-cli': { type: 'string' },
      'a-data-root': { type: 'string' },
      'b-data-root': { type: 'string' },
      rounds: { type: 'string' },
      'warmup-seconds': { type: 'string' },
      'server-cpu': { type: 'string' },
      'client-cpu': { type: 'string' },
    },
    usage,
  );
  const sides = { A: splitArgs(values.a ?? ''), B: splitArgs(values.b ?? '') };
  const clis = { A: values['a-cli'] ?? cliPath(), B: values['b-cli'] ?? cliPath() };
  const dataRoots = { A: values['a-data-root'], B: values['b-data-root'] };
  const rounds = intOption('--rounds', values.rounds, 3);
  const benchArgs = rest.length > 0 ? rest : DEFAULT_BENCH_ARGS;
  const warmupSeconds = intOption('--warmup-seconds', values['warmup-seconds'], 0, 0);
  const warmupArgs = [...withoutLength(benchArgs), '--duration', String(warmupSeconds)];
  const serverCpu = optionalCpu('--server-cpu', values['server-cpu']);
  const clientCpu = optionalCpu('--client-cpu', values['client-cpu']);
  const ops = { A: [] as number[], B: [] as number[] };
  const cpu = { A: [] as number[], B: [] as number[] };
  const owner = { A: [] as number[], B: [] as number[] };
  for (let round = 1; round <= rounds; round++)
    // A first in odd rounds, B first in even ones: a side that always ran second (a warmer
    // machine, a neighbour's job that starts on the minute) would bias every pair alike.
    for (const side of round % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const port = await freePort();
      const dataDir = newDataDir(`pkgindex-ab-${side}-`, dataRoots[side]);
      const serve = [
        clis[side],
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--storage',
        'memory',
        '--admin-port',
        '0',
        '--quiet',
        ...sides[side].map((arg) => arg.replaceAll('{dataDir}', dataDir)),
      ];
      // taskset execs node: the pid stays the server's, for bench's --server-pid.
      const server =
        serverCpu === undefined
          ? await startServer(process.execPath, serve, port)
          : await startServer('taskset', ['-c', String(serverCpu), process.execPath, ...serve], port);
      try {
        if (warmupSeconds > 0)
          await runBenchCli(['--port', String(port), ...FRESH_SERVER_BENCH_ARGS, ...warmupArgs], {
            cpu: clientCpu,
            timeoutMs: 600_000,
          });
        const r = await runBenchCli(
          [
            '--port',
            String(port),
            '--server-pid',
            String(server.pid),
            ...FRESH_SERVER_BENCH_ARGS,
            ...benchArgs,
          ],
          { cpu: clientCpu, timeoutMs: 600_000 },
        );
        if (r.protocolErrors !== 0)
          throw new ToolError(`${side} round ${round}: ${r.protocolErrors} protocol errors`);
        if (r.server === null) throw new ToolError('pkgindex bench reported no server figures');
        const perOp = (seconds: number): number => (seconds * 1e6) / (r.opsPerSec * r.elapsedS);
        const us = perOp(r.server.cpuSeconds);
        const mainUs = perOp(r.server.mainUserSeconds + r.server.mainSystemSeconds);
        ops[side].push(r.opsPerSec);
        cpu[side].push(us);
        owner[side].push(mainUs);
        console.log(
          `round ${round} ${side}: ${Math.round(r.opsPerSec)} ops/s, server ${us.toFixed(3)} µs CPU/op (main thread ${mainUs.toFixed(3)}: user ${perOp(r.server.mainUserSeconds).toFixed(3)} + kernel ${perOp(r.server.mainSystemSeconds).toFixed(3)}), peak RSS ${(r.server.peakRssBytes / 1048576).toFixed(1)} MiB`,
        );
      } finally {
        await server.stop();
        removeDataDir(dataDir);
      }
    }
  const ratios = (m: { A: number[]; B: number[] }): number[] => m.A.map((a, i) => m.B[i]! / a);
  const show = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(', ');
  const summary = (xs: number[]): string => {
    const interval = medianInterval(xs);
    const range =
      interval === null
        ? 'no 95 % interval with fewer than 6 rounds'
        : `${(100 * interval.confidence).toFixed(1)} % interval ${interval.low.toFixed(3)}–${interval.high.toFixed(3)}`;
    return `median ${median(xs).toFixed(3)}, ${range} (rounds ${show(xs)})`;
  };
  console.log(`B/A ops/s: ${summary(ratios(ops))}`);
  console.log(`B/A server CPU per op: ${summary(ratios(cpu))}`);
  console.log(`B/A main thread (index owner) CPU per op: ${summary(ratios(owner))}`);
  return 0;
}

function optionalCpu(flag: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : intOption(flag, text, 0, 0);
}

/** Bench arguments without their --duration / --ops (and its value), for a run of another length. */
export function withoutLength(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--duration' || arg === '-d' || arg === '--ops') i++;
    else if (!/^(--duration|--ops)=/.test(arg)) out.push(arg);
  }
  return out;
}
