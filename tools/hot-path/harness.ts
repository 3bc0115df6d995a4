/**
 * What the hot-path measurements share: the server's modules from a build (--dist, so that
 * another build can be compared with this one), a stub socket, the benchmark's workload cut
 * into read-sized chunks, and a logger that writes nowhere.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { defaultDataFile } from '../../src/bench/data-set.js';
import {
  DEFAULT_MIX,
  buildScript,
  buildWarmupScript,
  formatMix,
  parseDataFile,
  parseMix,
  planWorkload,
  type Script,
} from '../../src/bench/workload.js';

type ConnectionModule = typeof import('../../src/server/connection.js');
type Connection = InstanceType<ConnectionModule['Connection']>;
type ConnectionContext = import('../../src/server/connection.js').ConnectionContext;

/** The modules a hot-path measurement drives, as built in some dist/ directory. */
export interface ServerModules {
  /**
   * A Connection of that build, whichever constructor it has: (id, socket, context) since the
   * composition root, eight positional arguments before.
   */
  readonly newConnection: (
    id: number,
    socket: Socket,
    context: Omit<ConnectionContext, 'onClosed'>,
  ) => Connection;
  readonly ServerStats: (typeof import('../../src/server/stats.js'))['ServerStats'];
  readonly ReplyScratch: (typeof import('../../src/server/reply-scratch.js'))['ReplyScratch'];
  readonly MemoryStore: (typeof import('../../src/store/memory-store.js'))['MemoryStore'];
  readonly DiskStore: (typeof import('../../src/store/disk-store.js'))['DiskStore'];
  readonly createLogger: (typeof import('../../src/observability/logger.js'))['createLogger'];
}

/**
 * Connection limits that never get in a measurement's way: long lines, no idle timeout, no
 * back-pressure, a turn budget nothing reaches.
 */
export const UNLIMITED = {
  maxLineBytes: 65_536,
  idleTimeoutMs: 0,
  outputHighWaterBytes: 1 << 30,
  turnBudgetUs: 1e9,
};

/**
 * `count` connections of the build in `modules` on `store`, sharing one ServerStats and one
 * ReplyScratch as a server's connections do: one function per connection, fed whole chunks.
 */
export function connectionFeeds(
  modules: ServerModules,
  store: ConnectionContext['store'],
  count: number,
  log: ConnectionContext['log'],
): ((chunk: Buffer) => void)[] {
  const stats = new modules.ServerStats();
  const scratch = new modules.ReplyScratch();
  return Array.from({ length: count }, (_, i) => {
    const connection = modules.newConnection(i + 1, new StubSocket().asSocket(), {
      store,
      stats,
      limits: UNLIMITED,
      log,
      scratch,
    });
    return (chunk: Buffer): void => {
      connection.receive(chunk, chunk.length);
    };
  });
}

/** The constructor of builds from before the composition root. */
type PositionalConnection = new (
  id: number,
  socket: Socket,
  ...rest: [
    ConnectionContext['store'],
    ConnectionContext['stats'],
    ConnectionContext['limits'],
    ConnectionContext['log'],
    ConnectionContext['scratch'],
    ConnectionContext['onClosed'],
  ]
) => Connection;

/** The server's modules from the build in `distDir` (another build can be compared with this one). */
export async function importServer(distDir: string): Promise<ServerModules> {
  const dist = pathToFileURL(resolve(distDir)).href;
  const load = async <T>(path: string): Promise<T> => (await import(`${dist}/${path}`)) as T;
  const { Connection } = await load<ConnectionModule>('src/server/connection.js');
  const onClosed = (): void => undefined;
  return {
    newConnection: (id, socket, context) => {
      if (Connection.length !== 8) return new Connection(id, socket, { ...context, onClosed });
      const { store, stats, limits, log, scratch } = context;
      const Positional = Connection as unknown as PositionalConnection;
      return new Positional(id, socket, store, stats, limits, log, scratch, onClosed);
    },
    ServerStats: (await load<typeof import('../../src/server/stats.js')>('src/server/stats.js')).ServerStats,
    ReplyScratch: (
      await load<typeof import('../../src/server/reply-scratch.js')>('src/server/reply-scratch.js')
    ).ReplyScratch,
    MemoryStore: (await load<typeof import('../../src/store/memory-store.js')>('src/store/memory-store.js'))
      .MemoryStore,
    DiskStore: (await load<typeof import('../../src/store/disk-store.js')>('src/store/disk-store.js'))
      .DiskStore,
    createLogger: (
      await load<typeof import('../../src/observability/logger.js')>('src/observability/logger.js')
    ).createLogger,
  };
}

/** A socket that accepts every write and never pushes back. */
export class StubSocket extends EventEmitter {
  writableLength = 0;
  bytes = 0;
  setNoDelay(): void {}
  setTimeout(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {}
  write(buf: Uint8Array): boolean {
    this.bytes += buf.length;
    return true;
  }
  /** This stub where a Connection wants a socket. */
  asSocket(): Socket {
    return this as unknown as Socket;
  }
}

export interface ChunkedWorkload {
  readonly mixLabel: string;
  readonly warmup: readonly Buffer[];
  readonly chunks: readonly Buffer[];
  readonly linesPerChunk: number;
}

/**
 * The benchmark's seeded workload over the shipped Homebrew list, from this checkout (so
 * every --dist gets the same lines): the warm-up and the measured script, as chunks of
 * `batch` lines each. `mix` is a --mix spec; `defaultMix` the spec used without one (else
 * the benchmark's default mix).
 */
export function loadWorkload(o: { mix?: string; defaultMix?: string; batch: number }): ChunkedWorkload {
  const plan = planWorkload(parseDataFile(readFileSync(defaultDataFile(), 'utf8')), 1);
  const spec = o.mix ?? o.defaultMix;
  const mix = spec === undefined ? DEFAULT_MIX : parseMix(spec);
  const chunksOf = (s: Script): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < s.length; i += o.batch) {
      const end = Math.min(i + o.batch, s.length);
      out.push(Buffer.from(s.bytes.subarray(s.offsets[i], s.offsets[end])));
    }
    return out;
  };
  const script = buildScript(plan, mix, 1, 65_536);
  const chunks = chunksOf(script);
  return {
    mixLabel: formatMix(mix),
    warmup: chunksOf(buildWarmupScript(plan)),
    chunks,
    linesPerChunk: script.length / chunks.length,
  };
}

/** A logger at info level that writes nowhere. */
export function silentLogger(
  createLogger: ServerModules['createLogger'],
): ReturnType<ServerModules['createLogger']> {
  return createLogger(
    { level: 'info', quiet: true, pretty: false },
    new Writable({
      write: (_c, _e, cb) => {
        cb();
      },
    }),
  );
}
