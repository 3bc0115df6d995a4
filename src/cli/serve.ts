import type { Logger } from 'pino';
import { ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE_ENV, adminTokenFromEnv } from '../admin/auth.js';
import { OPTIONS, type Config } from '../config/options.js';
import type { PkgIndex } from '../index.js';
import { createLogger } from '../observability/logger.js';
import { pinYoungGeneration, type YoungGenerationPin } from '../runtime/young-generation.js';
import { redactUrl } from '../store/postgres/database-url.js';
import { defineCommand, type Command } from './command.js';

/** Start-up errors already written as a JSON fatal event by the configured logger. */
const loggedFatal = new WeakSet<object>();

const declared = defineCommand({
  description: 'Runs the package index server. Every option is also an environment variable.',
  options: OPTIONS,
  environment: [
    {
      env: ADMIN_TOKEN_ENV,
      why: 'flags show in `ps`',
      help: 'Bearer token required by every admin endpoint except /healthz and /readyz (`Authorization: Bearer <token>`, which also shows /readyz in detail); at least 16 characters and 64 bits of estimated entropy (length × Shannon entropy of its characters: `openssl rand -hex 32` passes, 16 × `a` does not). Compared in constant time, never logged. Unset: the admin endpoints are open and /debug/* off, and a non-loopback --admin-host refuses to start.',
    },
    {
      env: ADMIN_TOKEN_FILE_ENV,
      why: 'a secret file',
      help: 'Path of a file holding the admin token (a Docker or Kubernetes secret; one trailing newline is ignored), instead of PKGINDEX_ADMIN_TOKEN.',
    },
  ],
  run: serve,
});

/**
 * `pkgindex serve`: its settings are the table in src/config/options.ts. A failed start is one
 * JSON fatal event on stdout (for log pipelines and the runbook's `jq` filter) as well as the
 * line main.ts prints on stderr for a human; a bad setting fails before the configured logger
 * exists, so it gets a default one.
 */
export const command: Command = {
  spec: declared.spec,
  main: async (name, argv, env) => {
    try {
      return await declared.main(name, argv, env);
    } catch (err) {
      if (!(typeof err === 'object' && err !== null && loggedFatal.has(err)))
        createLogger({ level: 'info', quiet: false, pretty: false }).fatal({ err }, 'startup failed');
      throw err;
    }
  },
};

/**
 * Runs until SIGTERM/SIGINT, then shuts down gracefully and exits 0. A thin shell around
 * createPkgIndex (src/index.ts): the logger, signals, and exit codes.
 */
export async function serve(config: Config): Promise<number> {
  const adminToken = adminTokenFromEnv(process.env);
  const log: Logger = createLogger({ level: config.logLevel, quiet: config.quiet, pretty: config.logPretty });
  let pkgindex: PkgIndex;
  // Handlers go in before anything is logged: a supervisor that signals as soon as it reads
  // "listening" must not find the default handler (which kills without draining).
  const signalled = waitForSignal(log);
  const pin = config.pinYoungGeneration ? pinYoung(log) : null;
  try {
    // Crashes become one JSON event too (Node still prints the stack and exits as usual).
    process.on('uncaughtExceptionMonitor', (err, origin) => {
      log.fatal({ err, origin }, 'uncaught exception; exiting');
    });
    // Loaded once the young generation is pinned: loading the server is what first grows it.
    const { createPkgIndex } = await import('../index.js');
    pkgindex = createPkgIndex(config, { log, adminToken });
    reloadOnHangup(pkgindex, log);
    // The token itself is never logged, only whether one is set.
    log.info(
      {
        version: pkgindex.version,
        pid: process.pid,
        config: { ...config, databaseUrl: redactUrl(config.databaseUrl) },
        adminAuth: adminToken !== null,
      },
      'starting',
    );
    await pkgindex.listen();
  } catch (err) {
    log.fatal({ err }, 'startup failed');
    if (typeof err === 'object' && err !== null) loggedFatal.add(err);
    throw err;
  }

  await signalled;
  try {
    await pkgindex.close();
  } finally {
    pin?.stop();
  }
  // A storage operation that hangs (logged by close()) holds the process: it keeps the event
  // loop alive, and process.exit() joins Node's thread pool, where the operation waits (a pwrite
  // held 15 s under strace: exit(1) called at 0.3 s, the process gone at 15 s). A signal ends
  // every thread whose wait the kernel can interrupt (NFS waits are killable); one stuck in
  // uninterruptible I/O (state D) ends only when it returns, whatever is done here.
  if (!pkgindex.storeClosed) process.kill(process.pid, 'SIGKILL');
  return 0;
}

/** --pin-young-generation (ADR 0020): logs where it cannot pin, and each time the pin slipped. */
function pinYoung(log: Logger): YoungGenerationPin | null {
  const pin = pinYoungGeneration(({ fromBytes, toBytes, workerStarting }) => {
    const sizes = `${mib(fromBytes)} to ${mib(toBytes)} MiB`;
    if (workerStarting)
      log.info(
        { fromBytes, toBytes },
        `the young generation grew while a worker thread started (${sizes}); pinned again there`,
      );
    else
      log.warn(
        { fromBytes, toBytes },
        `V8 grew the young generation past its pin (${sizes}) and it is pinned again there; ` +
          'memory is that much higher, nothing else changes. If it keeps growing, this Node no longer honours the pin: ' +
          'run with --pin-young-generation=false to leave the sizing to V8',
      );
  });
  if (pin !== null) log.info({ semiSpaceBytes: pin.bytes }, 'young generation pinned');
  else
    log.warn(
      { node: process.version },
      'this Node reports no new space for --pin-young-generation to hold; V8 sizes the young generation itself',
    );
  return pin;
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/**
 * SIGHUP re-reads the TLS certificate and key (renewed by certbot or a secret manager): new
 * connections get them, open ones keep theirs. A failed reload is logged and the old ones stay.
 */
function reloadOnHangup(pkgindex: PkgIndex, log: Logger): void {
  const onHangup = (): void => {
    try {
      if (!pkgindex.reloadTls()) log.info('SIGHUP ignored: TLS is off, nothing to reload');
    } catch (err) {
      log.error({ err }, 'TLS reload failed; still serving the previous certificate');
    }
  };
  process.on('SIGHUP', onHangup);
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
