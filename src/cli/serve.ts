import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AdminServer } from '../admin/admin-server.js';
import { ADMIN_TOKEN_ENV, adminTokenFromEnv } from '../admin/auth.js';
import { describeOptions, loadConfig } from '../config/load-config.js';
import type { Config } from '../config/options.js';
import { createError } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { subscribeStoreEvents } from '../observability/store-events.js';
import { IndexServer } from '../server/server.js';
import { DiskStore } from '../store/disk-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { IndexStore } from '../store/store.js';

export const SERVE_HELP = `Usage: pkgindex serve [options]

Runs the package index server. Every option is also an environment variable.

Options:
${describeOptions()}
  ${ADMIN_TOKEN_ENV} (environment only)
      Bearer token required by every admin endpoint except /healthz and /readyz.
  --help
      Print this help.
`;

/** Builds the store chosen by --storage. */
function createStore(config: Config): IndexStore {
  if (config.storage === 'memory') return new MemoryStore();
  return new DiskStore({
    dataDir: config.dataDir,
    syncMode: config.syncMode,
    syncIntervalMs: config.syncIntervalMs,
    compactAfterBytes: config.compactAfterBytes,
  });
}

/** `pkgindex serve`: runs until SIGTERM/SIGINT, then shuts down gracefully and exits 0. */
export async function serve(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const config = loadConfig(argv, process.env);
  const adminToken = adminTokenFromEnv(process.env);
  if (config.admin && config.adminPort !== 0 && config.adminPort === config.port)
    throw createError(
      'E_CONFIG',
      `--admin-port and --port are both ${config.port}; give the admin HTTP server another port or pass --admin=false`,
    );
  const log = createLogger({ level: config.logLevel, quiet: config.quiet, pretty: config.logPretty });
  // Handlers go in before anything is logged: a supervisor that signals as soon as it reads
  // "listening" must not find the default handler (which kills without draining).
  const signalled = waitForSignal(log);
  // Crashes become one JSON event too (Node still prints the stack and exits as usual).
  process.on('uncaughtExceptionMonitor', (err, origin) => {
    log.fatal({ err, origin }, 'uncaught exception; exiting');
  });
  const version = packageVersion();
  // The token itself is never logged, only whether one is set.
  log.info({ version, pid: process.pid, config, adminAuth: adminToken !== null }, 'starting');

  const store = createStore(config);
  const server = new IndexServer({ store, log }, config);
  // prom-client and the admin server's modules are loaded only with the admin server: without
  // it, prom-client alone would cost ~10 MB of memory for nothing.
  const metrics: ServerMetrics | null = config.admin
    ? new (await import('../observability/metrics.js')).ServerMetrics({
        stats: server.stats,
        server,
        store,
        maxConnections: config.maxConnections,
        version,
      })
    : null;
  // Subscribed before open, so that recovery is logged and measured.
  const unsubscribeStore = subscribeStoreEvents({ storeId: store.id, log, sink: metrics });

  // Up before recovery, so that probes see live-but-not-ready while the store recovers.
  let admin: AdminServer | null = null;
  if (metrics !== null) {
    const { AdminServer } = await import('../admin/admin-server.js');
    admin = new AdminServer(
      { log, metrics, server, store, version },
      { host: config.adminHost, port: config.adminPort, token: adminToken },
    );
    const adminAddress = await admin.listen();
    log.info(
      { host: adminAddress.address, port: adminAddress.port, auth: adminToken !== null },
      'admin listening',
    );
    if (adminToken === null && !isLoopback(config.adminHost))
      log.warn(
        { host: config.adminHost },
        `admin endpoints are reachable beyond this host without authentication; set ${ADMIN_TOKEN_ENV}`,
      );
  }

  try {
    const startedAt = performance.now();
    await store.open();
    log.info({ ...store.stats(), durationMs: Math.round(performance.now() - startedAt) }, 'store opened');

    const address = await server.listen();
    log.info({ host: address.address, port: address.port }, 'listening');
  } catch (err) {
    // The admin server's handle would keep the process alive after a failed start.
    await admin?.close();
    unsubscribeStore();
    await store.close();
    throw err;
  }

  await signalled;
  log.info({ connections: server.connectionCount }, 'shutting down');
  await server.close();
  await store.close();
  // Last, so that /readyz answers 503 for the whole drain.
  await admin?.close();
  unsubscribeStore();
  log.info('stopped');
  return 0;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The version in package.json (two levels above dist/src/cli/). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
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
