import { after } from 'node:test';
import { pino, type Logger } from 'pino';
import { Composition, type ComposeOptions, type PkgIndexConfig } from '../../src/root.js';
import type { IndexServer } from '../../src/server/server.js';
import type { ServerStats } from '../../src/server/stats.js';
import type { IndexStore } from '../../src/store/store.js';
import {
  spawnServer as spawnChild,
  type ServerProcess,
  type SpawnOptions,
} from '../../tools/support/serve-process.js';

/** What tests run a server in this process with, unless they say otherwise. */
export const TEST_CONFIG: Partial<PkgIndexConfig> = {
  host: '127.0.0.1',
  port: 0,
  storage: 'memory',
  admin: false,
  idleTimeoutMs: 0,
  shutdownTimeoutMs: 5_000,
  // One thread and Node's sockets unless a test says otherwise: the tests of the protocol,
  // durability and crashes loop over SERVINGS, which include the native layer, and the servers
  // spawned as child processes run the CLI's default (--io auto: the native layer where built).
  threads: 1,
  io: 'node',
  // One listener: the lanes fork a helper process at start, which hundreds of servers per run
  // would pay for nothing; test/server/accept-lanes.test.ts and the spawned servers use them.
  acceptLanes: 1,
};

/** One way of serving the protocol's connections (issue 13). */
export interface Serving {
  readonly threads: number;
  readonly io: 'node' | 'native';
  /** For test names. */
  readonly label: string;
}

/**
 * The ways every protocol, durability and crash test runs the server (issue 13): today's
 * single thread, the main thread with one socket thread (ADR 0010), the native connection
 * layer on the owner's own event loop and on two I/O threads around it (ADR 0019; test/native/native-io.test.ts fails in CI when the native
 * layer is not built, which would make this variant serve with Node's sockets).
 */
export const SERVINGS: readonly Serving[] = [
  { threads: 1, io: 'node', label: '1 thread(s)' },
  { threads: 2, io: 'node', label: '2 thread(s)' },
  { threads: 1, io: 'native', label: 'native I/O on the owner, 1 thread(s)' },
  { threads: 2, io: 'native', label: 'native I/O, 2 thread(s)' },
];

/**
 * The index in SERVINGS of what `pkgindex serve` runs by default on the 2-core machine (`--io
 * auto` is the native layer, `--threads` the cores): the tests that run their seeds or modes in
 * turn over the servings run all of them here.
 */
export const DEFAULT_SERVING = SERVINGS.findIndex((s) => s.io === 'native' && s.threads === 2);

export interface InProcessServer {
  readonly pkgindex: Composition;
  readonly server: IndexServer;
  readonly port: number;
  readonly store: IndexStore;
  readonly log: Logger;
  /** The counters of every thread's server, summed (the socket threads asked for theirs now). */
  readonly stats: () => Promise<ServerStats>;
  readonly close: () => Promise<void>;
}

/**
 * A real server on an ephemeral port of loopback, in this process, built by the composition
 * root as `pkgindex serve` builds it: in memory, without the admin server and silent, unless
 * `config` and `options` say otherwise.
 */
export async function startServer(
  config: Partial<PkgIndexConfig> = {},
  options: ComposeOptions = {},
): Promise<InProcessServer> {
  const pkgindex = new Composition(
    { ...TEST_CONFIG, ...config },
    { log: pino({ level: 'silent' }), ...options },
  );
  const { protocol } = await pkgindex.listen();
  left.add(pkgindex);
  return {
    pkgindex,
    server: pkgindex.server,
    port: protocol.port,
    store: pkgindex.store,
    log: pkgindex.log,
    stats: () => pkgindex.serverStats(),
    close: async () => {
      left.delete(pkgindex);
      await pkgindex.close();
    },
  };
}

/**
 * Servers a test started and did not close: the ones whose test failed before its `close()`.
 * Left listening, they would hold the file's process until the runner's per-file bound (four
 * minutes) and cancel every test after them; closed once the file's tests are done, the
 * failure is reported as itself.
 */
const left = new Set<Composition>();
after(async () => {
  const open = [...left];
  left.clear();
  await Promise.allSettled(open.map((pkgindex) => pkgindex.close()));
});

// The child-process server is shared with the tools (tools/ must not import test/).
export { CLI, memoryOf, type ServerProcess, type SpawnOptions } from '../../tools/support/serve-process.js';

/**
 * `pkgindex serve` as a child process (tools/support/serve-process.ts), killed once the file's
 * tests are done if a test left it running: a failed assertion before its `stop()` would
 * otherwise hold the file until the runner's per-file bound, as a server in this process would.
 */
export async function spawnServer(options?: SpawnOptions): Promise<ServerProcess> {
  const server = await spawnChild(options);
  children.add(server);
  const forget = (): void => {
    children.delete(server);
  };
  server.exited().then(forget, forget);
  return server;
}

const children = new Set<ServerProcess>();
after(async () => {
  await Promise.allSettled([...children].map((child) => child.kill9()));
});
