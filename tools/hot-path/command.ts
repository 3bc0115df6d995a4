/**
 * `measure hot-path`: the server's per-message cost without the kernel. Feeds the benchmark's
 * workload, in chunks of --batch lines, through real Connections (framer, parser, store,
 * stats, reply rendering) whose sockets are stubs, and reports CPU nanoseconds per message,
 * the minimum of --rounds rounds (the figure least disturbed by other processes on a shared
 * machine), and the median.
 *
 * --store memory (default): one Connection over a MemoryStore.
 * --store disk: --connections Connections over a DiskStore in a temporary data dir; each turn
 * feeds one chunk to each connection, then waits for the store's barrier (the group commit),
 * so every turn is one write (and, in durable mode, one fdatasync). CPU is the process's user
 * + system time, thread pool and compaction worker included.
 */
import { join } from 'node:path';
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { ToolUsageError } from '../support/errors.js';
import { intOption, parseToolArgs, positiveOption } from '../support/options.js';
import { repoRoot } from '../support/paths.js';
import { measureRemote } from './remote.js';
import {
  StubSocket,
  UNLIMITED,
  connectionFeeds,
  importServer,
  loadWorkload,
  silentLogger,
  type ServerModules,
} from './harness.js';

export const usage = `Usage: node dist/tools/measure.js hot-path [options]

  --store memory|disk|remote
                           the store under the connections (default memory); remote: a
                           socket thread's RemoteStore and the owner's side of the ring, in
                           this one thread, against the same turns on a MemoryStore
  --dist DIR               the build to measure (default: this checkout's dist; another
                           build's dist compares with this one)
  --mix SPEC               workload mix (default: the bench's; with --store disk index=50,remove=50)
  --batch N                lines per read chunk (default 32)
  --seconds S              per round (default 2)
  --rounds N               rounds; the minimum and the median are reported (default 5)
  --messages N             each round feeds exactly N messages (whole chunks, N rounded up;
                           with --store disk, whole turns of one chunk per connection)
                           instead of running --seconds: the same work for every build, for
                           instruction counts (measure instructions)
 with --store disk or remote:
  --connections N          connections fed in turn (default 100; remote: 50)
 with --store remote:
  --turns N                turns per round (default 400)
  --side both|local|remote which to run (default both; one alone for instruction counts)
  --sync-mode MODE         durable or relaxed (default durable)
  --compact-after-bytes N  default 1 GiB: no compaction during the measurement`;

/**
 * A turn budget no chunk reaches: the memory measurement feeds chunks in one synchronous loop,
 * where a slice that yielded (a round preempted for a millisecond on a loaded machine) would
 * leave its connection a backlog that no later turn drains, every further chunk appended to it.
 */

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      store: { type: 'string' },
      dist: { type: 'string' },
      mix: { type: 'string' },
      batch: { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      messages: { type: 'string' },
      connections: { type: 'string' },
      turns: { type: 'string' },
      side: { type: 'string' },
      'sync-mode': { type: 'string' },
      'compact-after-bytes': { type: 'string' },
    },
    usage,
  );
  const dist = values.dist ?? 'dist';
  const common = {
    // Without --dist, this checkout's build, wherever the command runs from.
    modules: await importServer(values.dist ?? join(repoRoot(), 'dist')),
    dist,
    mix: values.mix,
    batch: intOption('--batch', values.batch, 32),
    seconds: positiveOption('--seconds', values.seconds, 2),
    rounds: intOption('--rounds', values.rounds, 5),
    messages: values.messages === undefined ? null : intOption('--messages', values.messages, 0),
  };
  const store = values.store ?? 'memory';
  if (store === 'memory') console.log(await measureMemory(common));
  else if (store === 'remote')
    console.log(
      await measureRemote({
        ...common,
        dist: values.dist ?? join(repoRoot(), 'dist'),
        connections: intOption('--connections', values.connections, 50),
        turns: intOption('--turns', values.turns, 400),
        sides: sideOption(values.side),
      }),
    );
  else if (store === 'disk') {
    const syncMode = values['sync-mode'] ?? 'durable';
    if (syncMode !== 'durable' && syncMode !== 'relaxed')
      throw new ToolUsageError(`--sync-mode must be durable or relaxed, got "${syncMode}"`);
    console.log(
      await measureDisk({
        ...common,
        connections: intOption('--connections', values.connections, 100),
        syncMode,
        compactAfterBytes: intOption(
          '--compact-after-bytes',
          values['compact-after-bytes'],
          1024 * 1024 * 1024,
        ),
      }),
    );
  } else throw new ToolUsageError(`--store must be memory, disk or remote, got "${store}"`);
  return 0;
}

interface Common {
  readonly modules: ServerModules;
  readonly dist: string;
  readonly mix: string | undefined;
  readonly batch: number;
  readonly seconds: number;
  readonly rounds: number;
  /** Messages per round, or null to run each round for `seconds`. */
  readonly messages: number | null;
}

async function measureMemory(o: Common): Promise<string> {
  const { newConnection, ServerStats, ReplyScratch, MemoryStore, createLogger } = o.modules;
  const workload = loadWorkload({ mix: o.mix, batch: o.batch });
  const store = new MemoryStore();
  await store.open();
  const socket = new StubSocket();
  const connection = newConnection(1, socket.asSocket(), {
    store,
    stats: new ServerStats(),
    limits: UNLIMITED,
    log: silentLogger(createLogger),
    scratch: new ReplyScratch(),
  });
  // Builds from before `receive()` took their bytes from the socket's 'data' events.
  const feed =
    typeof (connection as Partial<typeof connection>).receive === 'function'
      ? (c: Buffer): void => {
          connection.receive(c, c.length);
        }
      : (c: Buffer): void => {
          socket.emit('data', c);
        };
  for (const c of workload.warmup) feed(c);
  const { chunks, linesPerChunk } = workload;
  const results: number[] = [];
  let next = 0;
  for (let r = 0; r < o.rounds; r++) {
    let messages = 0;
    const cpu0 = process.cpuUsage();
    if (o.messages !== null) {
      // The chunks in script order, carried on across rounds, so that every build and every
      // run sees the same lines in the same order.
      for (; messages < o.messages; messages += linesPerChunk) {
        feed(chunks[next]!);
        next = next + 1 === chunks.length ? 0 : next + 1;
      }
    } else {
      const until = performance.now() + o.seconds * 1000;
      while (performance.now() < until) {
        for (const c of chunks) feed(c);
        messages += chunks.length * linesPerChunk;
      }
    }
    const cpu = process.cpuUsage(cpu0);
    results.push(messages === 0 ? 0 : ((cpu.user + cpu.system) * 1000) / messages);
  }
  results.sort((a, b) => a - b);
  const round =
    o.messages === null
      ? `${o.seconds} s`
      : `${Math.ceil(o.messages / linesPerChunk) * linesPerChunk} messages`;
  return `${o.dist} mix ${workload.mixLabel} batch ${o.batch}: min ${results[0]!.toFixed(0)} ns/msg, median ${results[Math.floor(o.rounds / 2)]!.toFixed(0)} ns/msg (${o.rounds} rounds of ${round})`;
}

async function measureDisk(
  o: Common & { connections: number; syncMode: 'durable' | 'relaxed'; compactAfterBytes: number },
): Promise<string> {
  const { DiskStore, createLogger } = o.modules;
  const workload = loadWorkload({ mix: o.mix, defaultMix: 'index=50,remove=50', batch: o.batch });
  const log = silentLogger(createLogger);
  const dir = newDataDir('pkgindex-durable-bench-');
  const store = new DiskStore({ dataDir: dir, syncMode: o.syncMode, compactAfterBytes: o.compactAfterBytes });
  await store.open();
  const feeds = connectionFeeds(o.modules, store, o.connections, log);
  const settle = async (): Promise<void> => {
    // Everything the turn executed, whatever its batches observed; builds before whenDurable()
    // waited for all of it in barrier().
    const whenDurable = (store as { whenDurable?: () => Promise<void> | null }).whenDurable;
    const barrier = whenDurable !== undefined ? whenDurable.call(store) : store.barrier();
    if (barrier !== null) await barrier;
    // Let the connections' release callbacks run.
    await new Promise((r) => setImmediate(r));
  };
  for (const c of workload.warmup) feeds[0]!(c);
  await settle();
  const { chunks, linesPerChunk } = workload;
  const results: { ns: number; rate: number }[] = [];
  let next = 0;
  for (let r = 0; r < o.rounds; r++) {
    let messages = 0;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const until = started + o.seconds * 1000;
    // With --messages, whole turns until that many: the chunks in script order, carried on
    // across rounds, so that every build sees the same lines (and the same group commits).
    const more = (): boolean => (o.messages === null ? performance.now() < until : messages < o.messages);
    while (more()) {
      for (const feed of feeds) {
        feed(chunks[next]!);
        next = next + 1 === chunks.length ? 0 : next + 1;
      }
      messages += o.connections * linesPerChunk;
      await settle();
    }
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - started;
    results.push({
      ns: messages === 0 ? 0 : ((cpu.user + cpu.system) * 1000) / messages,
      rate: messages / (wall / 1000),
    });
  }
  await store.close();
  removeDataDir(dir);
  const all = results.map((x) => x.ns.toFixed(0)).join(' ');
  results.sort((a, b) => a.ns - b.ns);
  const perTurn = o.connections * linesPerChunk;
  const round =
    o.messages === null ? `${o.seconds} s` : `${Math.ceil(o.messages / perTurn) * perTurn} messages`;
  return `${o.dist} ${o.syncMode} mix ${workload.mixLabel} ${o.connections}×${o.batch}: min ${results[0]!.ns.toFixed(0)} ns/msg, median ${results[Math.floor(o.rounds / 2)]!.ns.toFixed(0)} ns/msg [${all}] (${o.rounds} rounds of ${round}, ${Math.round(results[0]!.rate)} msg/s wall)`;
}

function sideOption(text: string | undefined): 'both' | 'local' | 'remote' {
  if (text === undefined || text === 'both' || text === 'local' || text === 'remote') return text ?? 'both';
  throw new ToolUsageError(`--side must be both, local or remote, got "${text}"`);
}
