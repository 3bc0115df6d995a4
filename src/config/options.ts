import type { OptionSpec } from './command-line.js';
import { flagBool, integer, oneOf, text } from './parsers.js';

/**
 * Every setting of `pkgindex serve`, in one table: each is a flag and an environment
 * variable (12-factor), typed, validated at startup, and documented in the README's
 * configuration table (generated from this table; a test keeps the two in step).
 */
export type Option<T = unknown> = OptionSpec<T> & { readonly env: `PKGINDEX_${string}` };

function option<T>(spec: Option<T>): Option<T> {
  return spec;
}

const MiB = 1024 * 1024;

export const OPTIONS = {
  host: option({
    flag: '--host',
    env: 'PKGINDEX_HOST',
    default: '0.0.0.0',
    help: 'Address the protocol listener binds to.',
    parse: text,
  }),
  port: option({
    flag: '--port',
    env: 'PKGINDEX_PORT',
    default: 8080,
    help: 'TCP port of the protocol listener (0 picks a free port, printed in the "listening" log event).',
    parse: integer(0, 65535),
  }),
  maxLineBytes: option({
    flag: '--max-line-bytes',
    env: 'PKGINDEX_MAX_LINE_BYTES',
    default: 64 * 1024,
    help: 'Longest accepted line, without its newline; a longer line gets one ERROR and is discarded.',
    parse: integer(16, 16 * MiB),
  }),
  maxConnections: option({
    flag: '--max-connections',
    env: 'PKGINDEX_MAX_CONNECTIONS',
    default: 10_000,
    help: 'Open connections beyond which new ones are closed at once (existing ones keep working).',
    parse: integer(1, 1_000_000),
  }),
  idleTimeoutMs: option({
    flag: '--idle-timeout-ms',
    env: 'PKGINDEX_IDLE_TIMEOUT_MS',
    default: 300_000,
    help: 'Close a connection that sent nothing for this long (0 disables).',
    parse: integer(0, 86_400_000),
  }),
  outputHighWaterBytes: option({
    flag: '--output-high-water-bytes',
    env: 'PKGINDEX_OUTPUT_HIGH_WATER_BYTES',
    default: 64 * 1024,
    help: 'Stop reading from a client while this many reply bytes wait for it to read them.',
    parse: integer(1024, 64 * MiB),
  }),
  // Issue 12, fair service (src/server/connection.ts, src/store/sliced-graph.ts, docs/adr/0012).
  turnBudgetUs: option({
    flag: '--turn-budget-us',
    env: 'PKGINDEX_TURN_BUDGET_US',
    default: 1000,
    help: 'Longest a connection, or a long cycle check, runs before other connections get their turn (microseconds); the rest of its input runs on a later turn.',
    parse: integer(100, 1_000_000),
  }),
  maxConnectionsPerPeer: option({
    flag: '--max-connections-per-peer',
    env: 'PKGINDEX_MAX_CONNECTIONS_PER_PEER',
    default: 2000,
    help: 'Open connections per client address beyond which new ones from it are closed at once (0: no limit; raise it for many clients behind one NAT or proxy).',
    parse: integer(0, 1_000_000),
  }),
  mutationRatePerPeer: option({
    flag: '--mutation-rate-per-peer',
    env: 'PKGINDEX_MUTATION_RATE_PER_PEER',
    default: 0,
    help: 'INDEX and REMOVE lines per second per client address (token bucket of --mutation-burst); lines beyond it are answered ERROR (0: no limit).',
    parse: integer(0, 100_000_000),
  }),
  mutationBurst: option({
    flag: '--mutation-burst',
    env: 'PKGINDEX_MUTATION_BURST',
    default: 1000,
    help: 'With --mutation-rate-per-peer: mutations a client address may send at once above the rate.',
    parse: integer(1, 100_000_000),
  }),
  maxPackages: option({
    flag: '--max-packages',
    env: 'PKGINDEX_MAX_PACKAGES',
    default: 0,
    help: 'Packages the index may hold; at the cap every INDEX line is answered ERROR until REMOVEs make room (0: no cap).',
    parse: integer(0, 1_000_000_000),
  }),
  maxDependencies: option({
    flag: '--max-dependencies',
    env: 'PKGINDEX_MAX_DEPENDENCIES',
    default: 0,
    help: 'Dependencies one INDEX line may list; a longer list is answered ERROR (0: no cap but --max-line-bytes).',
    parse: integer(0, 1_000_000),
  }),
  shutdownTimeoutMs: option({
    flag: '--shutdown-timeout-ms',
    env: 'PKGINDEX_SHUTDOWN_TIMEOUT_MS',
    default: 10_000,
    help: 'On SIGTERM/SIGINT, how long to let clients collect their replies before closing them.',
    parse: integer(0, 600_000),
  }),
  sharedReadBuffer: option({
    flag: '--shared-read-buffer',
    env: 'PKGINDEX_SHARED_READ_BUFFER',
    default: true,
    help: "Read every connection into one 64 KiB buffer, skipping Node's buffer and stream events per read (faster for request/response clients); --shared-read-buffer=false uses Node's ordinary socket reads.",
    parse: flagBool,
  }),
  storage: option<'memory' | 'disk'>({
    flag: '--storage',
    env: 'PKGINDEX_STORAGE',
    default: 'disk',
    help: 'Where the index lives: disk (durable, in --data-dir) or memory (lost on restart; for tests and throwaway use).',
    parse: oneOf('memory', 'disk'),
  }),
  dataDir: option({
    flag: '--data-dir',
    env: 'PKGINDEX_DATA_DIR',
    default: './data',
    help: 'Directory of the durable index (--storage disk). One server per directory: a second one refuses to start.',
    parse: text,
  }),
  syncMode: option<'durable' | 'relaxed'>({
    flag: '--sync-mode',
    env: 'PKGINDEX_SYNC_MODE',
    default: 'durable',
    help: 'durable: OK only once the change is on stable storage (fdatasync, shared by concurrent clients). relaxed: OK after write(2), fdatasync every --sync-interval-ms; a kill -9 loses nothing, a power loss up to that interval.',
    parse: oneOf('durable', 'relaxed'),
  }),
  syncIntervalMs: option({
    flag: '--sync-interval-ms',
    env: 'PKGINDEX_SYNC_INTERVAL_MS',
    default: 100,
    help: 'With --sync-mode relaxed: longest time between a write and its fdatasync.',
    parse: integer(1, 60_000),
  }),
  compactAfterBytes: option({
    flag: '--compact-after-bytes',
    env: 'PKGINDEX_COMPACT_AFTER_BYTES',
    default: 64 * MiB,
    help: 'Log bytes after which a new log segment is started and the old ones are folded into a snapshot in the background.',
    parse: integer(4096, 1024 * MiB),
  }),
  logLevel: option<LogLevel>({
    flag: '--log-level',
    env: 'PKGINDEX_LOG_LEVEL',
    default: 'info',
    help: 'Log level: fatal, error, warn, info, debug, trace (debug logs every command).',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace'),
  }),
  quiet: option({
    flag: '--quiet',
    env: 'PKGINDEX_QUIET',
    default: false,
    help: 'Log only warnings and errors (overrides --log-level).',
    parse: flagBool,
  }),
  logPretty: option({
    flag: '--log-pretty',
    env: 'PKGINDEX_LOG_PRETTY',
    default: false,
    help: 'Human-readable logs instead of JSON lines (for a terminal; not for production).',
    parse: flagBool,
  }),
  admin: option({
    flag: '--admin',
    env: 'PKGINDEX_ADMIN',
    default: true,
    help: 'Serve the admin HTTP endpoints (/healthz, /readyz, /metrics, /debug/*); --admin=false turns them off.',
    parse: flagBool,
  }),
  adminHost: option({
    flag: '--admin-host',
    env: 'PKGINDEX_ADMIN_HOST',
    default: '127.0.0.1',
    help: 'Address the admin HTTP server binds to (loopback by default; set PKGINDEX_ADMIN_TOKEN before widening it).',
    parse: text,
  }),
  adminPort: option({
    flag: '--admin-port',
    env: 'PKGINDEX_ADMIN_PORT',
    default: 9090,
    help: 'TCP port of the admin HTTP server (0 picks a free port, printed in the "admin listening" log event).',
    parse: integer(0, 65535),
  }),
};

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type Options = typeof OPTIONS;
export type OptionKey = keyof Options;
/** The validated configuration of `pkgindex serve`. */
export type Config = { readonly [K in OptionKey]: Options[K]['default'] };
