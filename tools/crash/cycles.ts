/**
 * The crash test: `pkgindex serve` killed with SIGKILL under load, its data dir checked
 * offline against what clients saw acknowledged. Run by the suite (test/store/crash.test.ts)
 * and, for longer, by `node dist/tools/measure.js crash`.
 */
import { DependencyGraph } from '../../src/graph/dependency-graph.js';
import type { Command } from '../../src/protocol/command.js';
import { formatCommand } from '../../src/protocol/parse.js';
import { REPLY_NAMES } from '../../src/protocol/reply.js';
import { applyCommand } from '../../src/store/apply-command.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { LineClient } from '../support/line-client.js';
import { spawnServer } from '../support/serve-process.js';
import { randomCommand, seededRandom, stateOf } from './workload.js';

export interface CrashCyclesOptions {
  readonly dir: string;
  readonly seed: number;
  readonly cycles: number;
  readonly clients: number;
  /** How long the workload runs before kill -9: a random time in this range. */
  readonly minRunMs: number;
  readonly maxRunMs: number;
  /** Extra `serve` flags. */
  readonly args?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface CrashCyclesReport {
  acked: number;
  /** Mutations in flight at a kill that turned out durable / not. */
  inFlightKept: number;
  inFlightLost: number;
}

/**
 * One client's view: it sends one command at a time in its own key space, so what it saw
 * acknowledged is a sequential history, and at a kill at most one mutation is in doubt.
 */
class ClientModel {
  model = new DependencyGraph();
  inFlight: DependencyGraph | null = null;
  readonly names: string[];
  readonly prefix: string;
  acked = 0;

  constructor(id: number) {
    this.prefix = `c${id}n`;
    this.names = Array.from({ length: 12 }, (_, k) => `${this.prefix}${k}`);
  }

  stateIn(graph: DependencyGraph): string[] {
    return stateOf(graph).filter((line) => line.startsWith(this.prefix));
  }
}

function clone(graph: DependencyGraph): DependencyGraph {
  const copy = new DependencyGraph();
  for (const [name, deps] of graph.topological()) copy.index(name, deps);
  return copy;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the server on `dir`, drives a concurrent mixed workload, kill -9s it at a random
 * moment, then opens the data dir offline and checks that, for every client, the recovered
 * state is exactly its acknowledged history, plus at most its one in-flight mutation.
 * Repeats for `cycles`; every restart also proves that the killed process left no lock.
 */
export async function runCrashCycles(o: CrashCyclesOptions): Promise<CrashCyclesReport> {
  const random = seededRandom(o.seed);
  const clients = Array.from({ length: o.clients }, (_, i) => new ClientModel(i));
  const report: CrashCyclesReport = { acked: 0, inFlightKept: 0, inFlightLost: 0 };
  for (let cycle = 0; cycle < o.cycles; cycle++) {
    const server = await spawnServer({ storage: 'disk', dataDir: o.dir, admin: false, args: o.args });
    let stop = false;
    const failures: Error[] = [];
    const loops = clients.map(async (client, i) => {
      const rng = seededRandom(o.seed * 7919 + cycle * 101 + i);
      const connection = await LineClient.open(server.port);
      try {
        while (!stop) {
          const command: Command = randomCommand(rng, client.names);
          const trial = clone(client.model);
          const expected = REPLY_NAMES[applyCommand(trial, command).reply];
          client.inFlight = trial;
          let reply: string | undefined;
          try {
            [reply] = await connection.request(formatCommand(command).slice(0, -1));
          } catch {
            return; // the server died with this command in flight
          }
          client.inFlight = null;
          if (reply !== expected)
            throw new Error(`${formatCommand(command).trim()} answered ${reply}, expected ${expected}`);
          client.model = trial;
          client.acked++;
        }
      } finally {
        connection.close();
      }
    });
    const settled = Promise.allSettled(loops).then((results) => {
      for (const r of results) if (r.status === 'rejected') failures.push(r.reason as Error);
    });
    await sleep(o.minRunMs + random() * (o.maxRunMs - o.minRunMs));
    await server.kill9();
    stop = true;
    await settled;
    if (failures.length > 0) throw failures[0]!;

    const { graph, truncatedBytes } = await recover(new NodeFs(), o.dir, { repair: false });
    for (const client of clients) {
      const recovered = client.stateIn(graph).join('\n');
      if (recovered === client.stateIn(client.model).join('\n')) {
        if (client.inFlight !== null) report.inFlightLost++;
      } else if (client.inFlight !== null && recovered === client.stateIn(client.inFlight).join('\n')) {
        client.model = client.inFlight;
        report.inFlightKept++;
      } else {
        throw new Error(
          `cycle ${cycle}, client ${client.prefix}: recovered\n${recovered}\nbut acknowledged\n${client.stateIn(client.model).join('\n')}`,
        );
      }
      client.inFlight = null;
    }
    o.log?.(
      `cycle ${cycle}: ${graph.size} packages recovered, ${truncatedBytes} torn bytes, ${clients.reduce((n, c) => n + c.acked, 0)} acknowledged so far`,
    );
  }
  report.acked = clients.reduce((n, c) => n + c.acked, 0);
  return report;
}
