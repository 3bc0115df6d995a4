import type { Logger } from 'pino';
import { ADMIN_TOKEN_ENV, adminTokenFromEnv } from '../admin/auth.js';
import { describeOptions, loadConfig } from '../config/load-config.js';
import { createPkgIndex, type PkgIndex } from '../index.js';
import { createLogger } from '../observability/logger.js';

export const SERVE_HELP = `Usage: pkgindex serve [options]

Runs the package index server. Every option is also an environment variable.

Options:
${describeOptions()}
  ${ADMIN_TOKEN_ENV} (environment only)
      Bearer token required by every admin endpoint except /healthz and /readyz.
  --help
      Print this help.
`;

/**
 * `pkgindex serve`: runs until SIGTERM/SIGINT, then shuts down gracefully and exits 0. A thin
 * shell around createPkgIndex (src/index.ts): configuration from flags and environment, the
 * logger, signals, and exit codes.
 */
export async function serve(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  let log: Logger | null = null;
  let pkgindex: PkgIndex;
  let signalled: Promise<void>;
  try {
    const config = loadConfig(argv, process.env);
    const adminToken = adminTokenFromEnv(process.env);
    log = createLogger({ level: config.logLevel, quiet: config.quiet, pretty: config.logPretty });
    // Handlers go in before anything is logged: a supervisor that signals as soon as it reads
    // "listening" must not find the default handler (which kills without draining).
    signalled = waitForSignal(log);
    // Crashes become one JSON event too (Node still prints the stack and exits as usual).
    const crashLog = log;
    process.on('uncaughtExceptionMonitor', (err, origin) => {
      crashLog.fatal({ err, origin }, 'uncaught exception; exiting');
    });
    pkgindex = createPkgIndex(config, { log, adminToken });
    // The token itself is never logged, only whether one is set.
    log.info(
      { version: pkgindex.version, pid: process.pid, config, adminAuth: adminToken !== null },
      'starting',
    );
    await pkgindex.listen();
  } catch (err) {
    // One JSON event for log pipelines (a bad setting fails before the configured logger
    // exists, so it gets a default one); main.ts still prints the line for a human on stderr.
    const fatalLog = log ?? createLogger({ level: 'info', quiet: false, pretty: false });
    fatalLog.fatal({ err }, 'startup failed');
    throw err;
  }

  await signalled;
  await pkgindex.close();
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
