import type { OptionSpec } from './command-line.js';
import {
  databaseUrl,
  existingFile,
  flagBool,
  integer,
  oneOf,
  oneOfWithAliases,
  ratio,
  text,
} from './parsers.js';

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
    help: 'Longest a long cycle check, one round of slices of the connections with more input, or a slice of a /v1 API query runs before the event loop reads again (microseconds); the rest runs on a later turn.',
    parse: integer(100, 1_000_000),
  }),
  sliceUs: option({
    flag: '--slice-us',
    env: 'PKGINDEX_SLICE_US',
    default: 100,
    help: 'Longest a connection executes its input at a time (microseconds); the rest waits for its next slice, after the other connections with input waiting (round robin).',
    parse: integer(10, 1_000_000),
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
    help: 'Packages the index may hold; at the cap every INDEX line is answered ERROR until REMOVEs make room (0: no cap). Not with --storage postgres, whose count every instance sees seconds late (refused at start).',
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
    help: 'On SIGTERM/SIGINT, how long to let clients collect their replies before closing them; then, how long the store may take to close (a hung disk: the server stops without it).',
    parse: integer(0, 600_000),
  }),
  // Socket threads (issue 13, ADR 0010).
  threads: option({
    flag: '--threads',
    env: 'PKGINDEX_THREADS',
    // 1, not one per core: on the 2-core machine measured, a second thread costs more than it
    // saves (even with the rings, a strict request on it pays a wake-up of the owner and one
    // back); see ADR 0010, "Measured costs".
    default: 1,
    help: 'Threads that accept, read and write connections; the first also owns the index, and every command is executed there, in one serial order (ADR 0010). 0: one per core.',
    parse: integer(0, 256),
  }),
  io: option<'auto' | 'node' | 'native'>({
    flag: '--io',
    env: 'PKGINDEX_IO',
    // auto, not node: on the 2-core machine measured, the native layer served strict
    // request/response 1.2-1.4x faster, durable or not (ADR 0019, "The default").
    default: 'auto',
    help: "Who reads and writes the protocol's connections. native: the native connection layer (built by npm run build with g++) does the socket work, on the owner's own event loop for its share of the connections (all of them with --threads 1), and on --threads - 1 epoll threads, which pass every line to the owner, for the others; every line still runs on the one thread that owns the index (ADR 0019); it falls back to node, with a warning, where the layer is not built or an option it does not support is set (--tls-cert, --mutation-rate-per-peer). node: Node's sockets, on the event loop (and --threads' socket threads). auto: native where it can serve, else node, with an info line saying why.",
    parse: oneOf('auto', 'node', 'native'),
  }),
  ioUring: option({
    flag: '--io-uring',
    env: 'PKGINDEX_IO_URING',
    default: true,
    help: "With --io native: each turn's socket reads, and then its replies' writes, go to the kernel in one io_uring submission instead of one recv or send per connection (a system call's entry and exit cost about 1 µs on a VM with page-table isolation: ADR 0023). Where the kernel refuses a ring (io_uring_disabled, a seccomp profile such as Docker's default), a line says why (a warning with --io native, info with --io auto) and the layer makes the plain calls. false: always the plain calls.",
    parse: flagBool,
  }),
  acceptLanes: option({
    flag: '--accept-lanes',
    env: 'PKGINDEX_ACCEPT_LANES',
    // libuv (1.45 on, Node 20) accepts one connection per listener per turn of the event loop;
    // a turn under load serves every ready connection, so 1000 clients connecting at once
    // waited up to seconds in the kernel's queue (ADR 0018, docs/benchmarks.md "Strict 1000×1 tail").
    default: 16,
    help: 'Listeners per thread on the protocol socket (each its own descriptor): one turn of the event loop accepts up to this many new connections, so clients connecting to a busy server wait fewer turns. 1: one listener, as Node does. Fewer when the descriptor limit leaves room for fewer than 64 connections per listener. Plain TCP only.',
    parse: integer(1, 256),
  }),
  threadHop: option<'ring' | 'ring-doorbell' | 'message'>({
    flag: '--thread-hop',
    env: 'PKGINDEX_THREAD_HOP',
    default: 'ring',
    help: 'With --threads above 1: how batches of commands reach the index owner and replies come back. ring: a shared-memory ring per thread and direction, woken with Atomics.notify; ring-doorbell: the same rings, woken by a message; message: one postMessage per batch (ADR 0010).',
    parse: oneOf('ring', 'ring-doorbell', 'message'),
  }),
  threadHeapMb: option({
    flag: '--thread-heap-mb',
    env: 'PKGINDEX_THREAD_HEAP_MB',
    default: 0,
    help: 'With --threads above 1: the old-generation heap limit of each socket thread, in MiB. A thread that reaches it is stopped: its connections are closed, an error (E_THREAD_HEAP) is logged, and the other threads serve on. 0: sized from --max-connections (64 MiB, plus 8 KiB per connection).',
    parse: integer(0, 65536),
  }),
  pinYoungGeneration: option({
    flag: '--pin-young-generation',
    env: 'PKGINDEX_PIN_YOUNG_GENERATION',
    default: true,
    help: "Keep V8's young generation at the size it starts with (1 MiB semi-spaces) instead of letting V8 double it under load up to 16 MiB: its requests allocate little that outlives them, so a small nursery only means more, quick scavenges, and a busy server's peak memory is about 8 MB lower (ADR 0020). false: V8's own sizing (node's --max-semi-space-size sets its limit).",
    parse: flagBool,
  }),
  sharedReadBuffer: option({
    flag: '--shared-read-buffer',
    env: 'PKGINDEX_SHARED_READ_BUFFER',
    default: true,
    help: "Read every connection into one 64 KiB buffer, skipping Node's buffer and stream events per read (faster for request/response clients); --shared-read-buffer=false uses Node's ordinary socket reads.",
    parse: flagBool,
  }),
  storage: option<'memory' | 'disk' | 'postgres'>({
    flag: '--storage',
    env: 'PKGINDEX_STORAGE',
    default: 'disk',
    help: 'Where the index lives: disk (durable, in --data-dir), postgres (shared by every instance on --database-url) or memory (lost on restart; for tests and throwaway use).',
    parse: oneOf('memory', 'disk', 'postgres'),
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
  compactionKeepMs: option({
    flag: '--compaction-keep-ms',
    env: 'PKGINDEX_COMPACTION_KEEP_MS',
    default: 30_000,
    help: "How long the compaction thread waits for the next compaction before it ends: under sustained writes compactions come seconds apart, and a fresh thread for each costs about 40 % more CPU (it starts Node and compiles the fold again), while a kept one holds its heap (10–15 MB more anonymous memory under the benchmark's write load). 0: a fresh thread for every compaction, ended when it is done.",
    parse: integer(0, 3_600_000),
  }),
  commitReadPauseUs: option({
    flag: '--commit-read-pause-us',
    env: 'PKGINDEX_COMMIT_READ_PAUSE_US',
    default: 1000,
    help: "With --io native: while two batches of the owner's own connections wait for the store (durable: their group commits), the owner reads no new lines for up to this long, or until the older batch is answered: the lines that arrive meanwhile would wait for a later commit whatever turn ran them, and run as one larger turn instead of many small ones (a fifth less CPU a reply on the durable pipelined load, ADR 0025). Rounded to whole milliseconds, at least 1. 0: read whenever lines arrive.",
    parse: integer(0, 1_000_000),
  }),
  compactionNice: option({
    flag: '--compaction-nice',
    env: 'PKGINDEX_COMPACTION_NICE',
    default: 19,
    help: "Nice value the compaction thread runs at (Linux: that thread alone). Folding the log is background work: at 19 it takes the CPU the threads serving clients leave idle instead of sharing a core with them (the durable mutation load served 8 % more with it), and if it falls behind, log rotation waits for it, so the log stays bounded. 0: the server's own priority. Ignored on other systems.",
    parse: integer(0, 19),
  }),
  preallocateBytes: option({
    flag: '--preallocate-bytes',
    env: 'PKGINDEX_PREALLOCATE_BYTES',
    default: MiB,
    help: 'With --sync-mode durable: log bytes zeroed and synced at a time ahead of the records, so that a group commit overwrites space the log file already has instead of growing it (a cheaper fdatasync; 0: the log grows with its records). On a full disk the zeroing stops and the records fill what it made.',
    parse: integer(0, 64 * MiB),
  }),
  acceptDataLoss: option({
    flag: '--accept-data-loss',
    env: 'PKGINDEX_ACCEPT_DATA_LOSS',
    default: false,
    help: 'Start even when the data dir holds less than its control record says was durable (a deleted or truncated file), serving what is left; the loss is logged at error level. Only to bring a damaged index back after reading pkgindex fsck.',
    parse: flagBool,
  }),
  createIndex: option<'missing' | 'empty' | 'never'>({
    flag: '--create-index',
    env: 'PKGINDEX_CREATE_INDEX',
    default: 'missing',
    help: "Where a new, empty index may be created. missing: only by making a --data-dir that does not exist; an existing dir without an index (emptied, a volume not mounted, a wrong path) is refused (exit 2, E_STORAGE_NO_INDEX) rather than served empty. empty: also in an existing dir with nothing of the store's in it (a freshly mounted volume). never: nowhere (pkgindex init creates one). true and false, from when this was a switch, mean empty and never.",
    parse: oneOfWithAliases(['missing', 'empty', 'never'], { true: 'empty', false: 'never' }),
  }),
  storageTimeoutMs: option({
    flag: '--storage-timeout-ms',
    env: 'PKGINDEX_STORAGE_TIMEOUT_MS',
    default: 30_000,
    help: 'Deadline of one disk operation (write, fdatasync): past it (a hung disk) the replies waiting on it are answered ERROR, /readyz turns not ready and mutations are ERROR until it completes and the store has reopened its data dir.',
    parse: integer(100, 3_600_000),
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
  // The query API (issue 15, docs/adr/0014-query-api.md).
  queryMaxVisits: option({
    flag: '--query-max-visits',
    env: 'PKGINDEX_QUERY_MAX_VISITS',
    default: 25_000,
    help: "Packages plus edges one query of the /v1 API may visit before it answers truncated (a query runs in slices of --turn-budget-us between the protocol's reads, so this bounds its total time, not what it adds to a protocol reply).",
    parse: integer(100, 10_000_000),
  }),
  queryMaxConcurrent: option({
    flag: '--query-max-concurrent',
    env: 'PKGINDEX_QUERY_MAX_CONCURRENT',
    default: 8,
    help: 'Queries of the /v1 API answered at once (they run one after another, a slice per turn); more are refused 503 E_QUERY_BUSY with Retry-After, so that many clients cannot queue up work without end.',
    parse: integer(1, 10_000),
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
  // Admin port hardening (issue 12, ADR 0013).
  adminDebug: option<'auto' | 'on' | 'off'>({
    flag: '--admin-debug',
    env: 'PKGINDEX_ADMIN_DEBUG',
    default: 'auto',
    help: 'The /debug/* endpoints (CPU profile, heap snapshot): auto serves them only when PKGINDEX_ADMIN_TOKEN is set (and then only with it); on serves them without a token too (loopback only); off never.',
    parse: oneOf('auto', 'on', 'off'),
  }),
  adminMaxConnections: option({
    flag: '--admin-max-connections',
    env: 'PKGINDEX_ADMIN_MAX_CONNECTIONS',
    default: 32,
    help: 'Open admin HTTP connections (per bound address) beyond which new ones are closed at once, so that the admin side never takes the file descriptors the protocol port needs.',
    parse: integer(1, 10_000),
  }),
  adminRequestTimeoutMs: option({
    flag: '--admin-request-timeout-ms',
    env: 'PKGINDEX_ADMIN_REQUEST_TIMEOUT_MS',
    default: 5000,
    help: "An admin request's headers (and the whole request) must arrive within this long, or it is answered 408 and closed (checked every second).",
    parse: integer(100, 600_000),
  }),
  adminHeapSnapshotMaxHeapBytes: option({
    flag: '--admin-heap-snapshot-max-heap-bytes',
    env: 'PKGINDEX_ADMIN_HEAP_SNAPSHOT_MAX_HEAP_BYTES',
    default: 0,
    help: 'Refuse /debug/heap-snapshot (503) when the V8 heap in use is larger than this (0: only the check against the memory and disk left).',
    parse: integer(0),
  }),
  // TLS on the protocol port (issue 12, ADR 0013).
  tlsCert: option({
    flag: '--tls-cert',
    env: 'PKGINDEX_TLS_CERT',
    default: '',
    defaultText: 'unset',
    help: 'PEM certificate chain of the protocol port; with --tls-key, clients must speak TLS. Reloaded on SIGHUP (new connections get it; open ones keep theirs).',
    parse: existingFile,
  }),
  tlsKey: option({
    flag: '--tls-key',
    env: 'PKGINDEX_TLS_KEY',
    default: '',
    defaultText: 'unset',
    help: 'PEM private key of --tls-cert. Reloaded on SIGHUP with it.',
    parse: existingFile,
  }),
  tlsCa: option({
    flag: '--tls-ca',
    env: 'PKGINDEX_TLS_CA',
    default: '',
    defaultText: 'unset',
    help: 'PEM CA certificate(s): when set, every client must present a certificate signed by one of them (mutual TLS); others are refused during the handshake.',
    parse: existingFile,
  }),
  // --- PostgreSQL backend (issue 14, ADR 0009) ---
  databaseUrl: option({
    flag: '--database-url',
    env: 'PKGINDEX_DATABASE_URL',
    default: '',
    help: 'PostgreSQL connection URL (postgres://user@host:5432/db) of --storage postgres. A password only in the environment variable or --database-password-file (flags show in `ps`); never logged.',
    parse: databaseUrl,
  }),
  databasePasswordFile: option({
    flag: '--database-password-file',
    env: 'PKGINDEX_DATABASE_PASSWORD_FILE',
    default: '',
    help: 'File holding the PostgreSQL password (one line), read at start; PGPASSWORD works too.',
    parse: text,
  }),
  databasePoolSize: option({
    flag: '--database-pool-size',
    env: 'PKGINDEX_DATABASE_POOL_SIZE',
    default: 4,
    help: "Most PostgreSQL connections this instance opens: --database-batches-in-flight of them carry the batches and the circuit breaker's probes, the rest the statistics, query API and migrations (so slow queries never keep a batch waiting for a connection).",
    parse: integer(2, 100),
  }),
  databaseBatchesInFlight: option({
    flag: '--database-batches-in-flight',
    env: 'PKGINDEX_DATABASE_BATCHES_IN_FLIGHT',
    default: 1,
    help: "Batches (pkgindex_apply round trips) this instance runs at once, each on its own pool connection; a client connection's batches still apply in the order it sent them. Below --database-pool-size. 1 measured best on a 2-core machine (docs/benchmarks.md#postgresql); more can help when the database has cores to spare. Above 1, each batch holds up to 257 advisory locks of the database's lock table (docs/runbook.md).",
    parse: integer(1, 64),
  }),
  databaseStatementTimeoutMs: option({
    flag: '--database-statement-timeout-ms',
    env: 'PKGINDEX_DATABASE_STATEMENT_TIMEOUT_MS',
    default: 5_000,
    help: 'statement_timeout of every PostgreSQL session: a batch running longer is cancelled and its commands answered ERROR. A query with no answer at all by then, plus the connect timeout (this, at most 5 s; at least 1 s), counts as the database unreachable (a network partition).',
    parse: integer(100, 600_000),
  }),
  databaseApplicationName: option({
    flag: '--database-application-name',
    env: 'PKGINDEX_DATABASE_APPLICATION_NAME',
    default: '',
    help: "application_name of this instance's PostgreSQL sessions (pg_stat_activity); default pkgindex/<host>/<pid>.",
    parse: text,
  }),
  otlpEndpoint: option({
    flag: '--otlp-endpoint',
    env: 'PKGINDEX_OTLP_ENDPOINT',
    default: '',
    help: 'OTLP/HTTP traces endpoint (http://collector:4318/v1/traces): turns on OpenTelemetry spans per database batch, sampled by --trace-sample-ratio. Empty: tracing off.',
    parse: text,
  }),
  traceSampleRatio: option({
    flag: '--trace-sample-ratio',
    env: 'PKGINDEX_TRACE_SAMPLE_RATIO',
    default: 0.01,
    help: 'Share of database batches traced when --otlp-endpoint is set (0 to 1).',
    parse: ratio,
  }),
};

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type Options = typeof OPTIONS;
export type OptionKey = keyof Options;
/** The validated configuration of `pkgindex serve`. */
export type Config = { readonly [K in OptionKey]: Options[K]['default'] };

/** The server's `--data-dir`, for a command that works on a data dir offline (init, fsck). */
export function offlineDataDirOption(help: string): OptionSpec<string> {
  return { ...OPTIONS.dataDir, value: 'DIR', help };
}
