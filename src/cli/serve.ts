import type { Logger } from 'pino';
import { describeOptions, loadConfig } from '../config/load-config.js';
import type { Config } from '../config/options.js';
import { createLogger } from '../observability/logger.js';
import { IndexServer } from '../server/server.js';
import { MemoryStore } from '../store/memory-store.js';
import type { IndexStore } from '../store/store.js';

export const SERVE_HELP = `Usage: pkgindex serve [options]

Runs the package index server. Every option is also an environment variable.

Options:
${describeOptions()}
  --help
      Print this help.
`;

/** Builds the store chosen by --storage (only `memory` so far). */
function createStore(_config: Config): IndexStore {
  return new MemoryStore();
}

/** `pkgindex serve`: runs until SIGTERM/SIGINT, then shuts down gracefully and exits 0. */
export async function serve(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const config = loadConfig(argv, process.env);
  const log = createLogger({ level: config.logLevel, quiet: config.quiet, pretty: config.logPretty });
  log.info({ config }, 'starting');

  const store = createStore(config);
  const startedAt = performance.now();
  await store.open();
  log.info({ ...store.stats(), durationMs: Math.round(performance.now() - startedAt) }, 'store opened');

  const server = new IndexServer(store, config, log);
  const address = await server.listen();
  log.info({ host: address.address, port: address.port }, 'listening');

  await waitForSignal(log);
  log.info({ connections: server.connectionCount }, 'shutting down');
  await server.close();
  await store.close();
  log.info('stopped');
  return 0;
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
function waitForSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) {
        log.warn({ signal }, 'second signal: exiting without finishing shutdown');
        process.exit(1);
      }
      received = true;
      log.info({ signal }, 'signal received');
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
