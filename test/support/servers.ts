import { pino } from 'pino';
import { IndexServer, type IndexServerOptions } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { IndexStore } from '../../src/store/store.js';

export const TEST_LIMITS: IndexServerOptions = {
  host: '127.0.0.1',
  port: 0,
  maxLineBytes: 64 * 1024,
  maxConnections: 10_000,
  idleTimeoutMs: 0,
  outputHighWaterBytes: 64 * 1024,
  shutdownTimeoutMs: 5_000,
  sharedReadBuffer: true,
};

/** A real server on an ephemeral port, in this process. */
export async function startServer(
  options: Partial<IndexServerOptions> = {},
  store: IndexStore = new MemoryStore(),
): Promise<{ server: IndexServer; port: number; store: IndexStore; close: () => Promise<void> }> {
  await store.open();
  const server = new IndexServer(store, { ...TEST_LIMITS, ...options }, pino({ level: 'silent' }));
  const { port } = await server.listen();
  return {
    server,
    port,
    store,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

// The child-process server is shared with the tools (tools/ must not import test/).
export {
  CLI,
  memoryOf,
  spawnServer,
  type ServerProcess,
  type SpawnOptions,
} from '../../tools/support/serve-process.js';
