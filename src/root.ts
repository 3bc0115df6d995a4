import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { AdminServer } from './admin/admin-server.js';
import { ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE_ENV } from './admin/auth.js';
import { OPTIONS, type Config, type Option, type OptionKey } from './config/options.js';
import { packageVersion } from './config/version.js';
import { createError } from './errors.js';
import { createLogger } from './observability/logger.js';
import type { ServerMetrics } from './observability/metrics.js';
import { subscribeStoreEvents } from './observability/store-events.js';
import type { Tracing } from './observability/tracing.js';
import { IndexServer } from './server/server.js';
import { TlsListener } from './server/tls-listener.js';
import type { ServerStats } from './server/stats.js';
import { combinedStats } from './threads/combined-stats.js';
import { ConnectionSlots } from './server/connection-slots.js';
import { peerTableBytes, peerTableSlots, SharedPeerTable } from './server/shared-peer-table.js';
import { socketThreadHeapMb, SocketThreads } from './threads/socket-threads.js';
import { copyListeners } from './threads/listener-copy.js';
import { loadNativeIo } from './native/addon.js';
import { NativeFront } from './native/native-front.js';
import type { SharedReadsProof } from './server/shared-reads-proof.js';
import { DiskStore } from './store/disk-store.js';
import { MemoryStore } from './store/memory-store.js';
import { defaultApplicationName, readPasswordFile } from './store/postgres/database-url.js';
import { PostgresStore } from './store/postgres/postgres-store.js';
import type { IndexStore } from './store/store.js';

/** Every setting of a server: the options table of `pkgindex serve` (src/config/options.ts). */
export type PkgIndexConfig = Config;

export interface PkgIndexOptions {
  /** Where events go. Default: JSON lines on stdout at `config.logLevel`. */
  readonly log?: Logger;
  /**
   * Bearer token required by every admin endpoint but /healthz and /readyz (what
   * PKGINDEX_ADMIN_TOKEN sets for `pkgindex serve`). Default: none, the endpoints are open.
   */
  readonly adminToken?: string | null;
  /**
   * The store to serve, instead of the one `config.storage` names (another backend, a test's
   * store). The handle owns it: `listen()` opens it, `close()` closes it.
   */
  readonly store?: IndexStore;
  /** Reported by /healthz and `pkgindex_build_info`. Default: the version in package.json. */
  readonly version?: string;
}

/** Where a listening server can be reached. */
export interface PkgIndexAddresses {
  readonly protocol: AddressInfo;
  /** Null with `config.admin` false. */
  readonly admin: AddressInfo | null;
}

/** A whole server: its store, its protocol listener, and its metrics and admin HTTP server. */
export interface PkgIndex {
  readonly config: PkgIndexConfig;
  readonly version: string;
  readonly store: IndexStore;
  readonly log: Logger;
  /** Null until `listen()` has resolved. */
  readonly addresses: PkgIndexAddresses | null;
  /**
   * Starts the admin HTTP server (so that probes see live-but-not-ready during recovery), opens
   * the store, then binds the protocol listener. On failure, what was started is stopped again
   * and the error (a PkgIndexError with a stable `code`) is thrown. Called once.
   */
  listen(): Promise<PkgIndexAddresses>;
  /**
   * Graceful shutdown: stops accepting, lets every connection receive the replies to what it
   * already sent (for up to `config.shutdownTimeoutMs`), closes the store (waiting for it up to
   * `config.shutdownTimeoutMs` again: see `storeClosed`), then the admin server (last, so that
   * /readyz answers 503 for the whole drain). Idempotent.
   */
  close(): Promise<void>;
  /**
   * After `close()`: false when the store had not closed within its time (a storage operation
   * that hangs: a hung disk or NFS server). It goes on closing once that operation returns; a
   * process that stops meanwhile leaves the data dir as a crash would (the next start recovers
   * it), and must end itself with a signal: the hung operation holds its event loop, and a
   * normal exit too (process.exit() joins the thread pool the operation waits in).
   */
  readonly storeClosed: boolean;
  /**
   * Reads the TLS certificate, key and CA files again (what SIGHUP does for `pkgindex serve`):
   * new connections get them, open ones keep theirs. False without TLS; throws E_TLS, and keeps
   * serving the old ones, when the new files cannot be read or used.
   */
  reloadTls(): boolean;
}

/** What the composition root takes beyond the public options: test seams. */
export interface ComposeOptions extends PkgIndexOptions {
  readonly proveSharedReads?: () => Promise<SharedReadsProof>;
  /** Finds the listening socket's descriptor for the socket threads; default: the server's. */
  readonly listenerFd?: () => number | null;
}

/** `config.threads` as a count: 0 means one per core. */
export function threadCount(config: PkgIndexConfig): number {
  return config.threads === 0 ? availableParallelism() : config.threads;
}

/** An accept lane only for every this many connections the file descriptors leave room for. */
const CONNECTIONS_PER_LANE = 64;
const NO_ACCEPT_LANES =
  "this Node does not expose the listening socket's descriptor; accepting with one listener (--accept-lanes 1)";
const NO_SHARED_LISTENER =
  "this Node does not expose the listening socket's descriptor; serving on one thread (--threads 1)";

/** The configuration with every setting the caller left out at its default. */
export function withDefaults(config: Partial<PkgIndexConfig>): PkgIndexConfig {
  const full: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(OPTIONS) as [OptionKey, Option][])
    full[key] = config[key] ?? option.default;
  return full as PkgIndexConfig;
}

/** Builds the store chosen by `config.storage`. */
function createStore(config: PkgIndexConfig): IndexStore {
  const slices = { sliceMs: config.turnBudgetUs / 1000 };
  if (config.storage === 'memory') return new MemoryStore(slices);
  if (config.storage === 'postgres') return createPostgresStore(config);
  return new DiskStore({
    slices,
    dataDir: config.dataDir,
    syncMode: config.syncMode,
    syncIntervalMs: config.syncIntervalMs,
    compactAfterBytes: config.compactAfterBytes,
    compactionKeepMs: config.compactionKeepMs,
    compactionNice: config.compactionNice,
    preallocateBytes: config.preallocateBytes,
    acceptDataLoss: config.acceptDataLoss,
    createIndex: config.createIndex,
    storageTimeoutMs: config.storageTimeoutMs,
  });
}

/** The PostgreSQL store `--storage postgres` and the `--database-*` options describe. */
function createPostgresStore(config: PkgIndexConfig): PostgresStore {
  if (config.databaseUrl === '')
    throw createError(
      'E_DATABASE_CONFIG',
      '--storage postgres needs the database: set PKGINDEX_DATABASE_URL (or --database-url without a password)',
    );
  // The cap is checked before each INDEX against the package count; the database's is read
  // every few seconds and is shared by every instance, so a burst would go past it unseen.
  if (config.maxPackages > 0)
    throw createError(
      'E_DATABASE_CONFIG',
      `--max-packages ${config.maxPackages} cannot be kept with --storage postgres: instances share the index and ` +
        'each sees its package count seconds late; drop --max-packages (0), and bound the index in the database ' +
        '(a quota on its tables), or limit writers with --mutation-rate-per-peer',
    );
  if (config.databaseBatchesInFlight >= config.databasePoolSize)
    throw createError(
      'E_DATABASE_CONFIG',
      `--database-batches-in-flight ${config.databaseBatchesInFlight} needs a larger --database-pool-size (${config.databasePoolSize}): ` +
        'one connection per batch in flight and one more for probes, statistics and the query API',
    );
  return new PostgresStore({
    url: config.databaseUrl,
    password: config.databasePasswordFile === '' ? undefined : readPasswordFile(config.databasePasswordFile),
    poolSize: config.databasePoolSize,
    batchesInFlight: config.databaseBatchesInFlight,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    applicationName:
      config.databaseApplicationName === '' ? defaultApplicationName() : config.databaseApplicationName,
  });
}

/** TLS on the protocol port when --tls-cert and --tls-key are set; E_CONFIG when only part is. */
function tlsListener(config: PkgIndexConfig, log: Logger): TlsListener | null {
  const { tlsCert: cert, tlsKey: key, tlsCa: ca } = config;
  if (cert === '' && key === '' && ca === '') return null;
  if (cert === '' || key === '')
    throw createError(
      'E_CONFIG',
      '--tls-cert and --tls-key go together (and --tls-ca needs both): pass the certificate and its key',
    );
  return new TlsListener({ cert, key, ca: ca === '' ? null : ca }, log);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The composition root: builds a server from its configuration, wires store, TCP front,
 * storage events, metrics and admin server, and runs them in order. The only place that knows
 * every part; `pkgindex serve` and in-process tests go through it.
 */
export class Composition implements PkgIndex {
  readonly config: PkgIndexConfig;
  readonly version: string;
  readonly store: IndexStore;
  readonly log: Logger;
  readonly server: IndexServer;
  readonly #adminToken: string | null;
  readonly #tls: TlsListener | null;
  #metrics: ServerMetrics | null = null;
  #admin: AdminServer | null = null;
  #addresses: PkgIndexAddresses | null = null;
  #unsubscribe: () => void = () => undefined;
  #tracing: Tracing | null = null;
  #started: Promise<PkgIndexAddresses> | null = null;
  #closing: Promise<void> | null = null;
  storeClosed = true;
  readonly #listenerFd: () => number | null;
  /** The process's count of open connections, shared with the socket threads. */
  readonly #connections = new SharedArrayBuffer(4);
  #threads: SocketThreads | null = null;
  /** The native I/O threads (--io native, ADR 0019), once started. */
  #native: NativeFront | null = null;
  /** The process's table of peers, when socket threads may start (see SharedPeerTable). */
  readonly #peerTable: { readonly memory: SharedArrayBuffer; readonly slots: number } | null = null;
  /** Every thread's counters as one (see combined-stats.ts). */
  readonly #stats: ServerStats;

  constructor(config: Partial<PkgIndexConfig>, options: ComposeOptions = {}) {
    const full = withDefaults(config);
    if (full.admin && full.adminPort !== 0 && full.adminPort === full.port)
      throw createError(
        'E_CONFIG',
        `--admin-port and --port are both ${full.port}; give the admin HTTP server another port or pass --admin=false`,
      );
    this.#adminToken = options.adminToken ?? null;
    // Refused rather than warned about: an open /debug/heap-snapshot beyond this host lets anyone
    // stall the server for seconds and take gigabytes of memory (issue 12).
    if (full.admin && this.#adminToken === null && !isLoopback(full.adminHost))
      throw createError(
        'E_ADMIN_UNPROTECTED',
        `--admin-host ${full.adminHost} reaches beyond this host, and no admin token is set; set ` +
          `${ADMIN_TOKEN_ENV} or ${ADMIN_TOKEN_FILE_ENV} (e.g. \`openssl rand -hex 32\`), or bind --admin-host to 127.0.0.1`,
      );
    this.config = full;
    this.version = options.version ?? packageVersion();
    this.log =
      options.log ?? createLogger({ level: full.logLevel, quiet: full.quiet, pretty: full.logPretty });
    this.#tls = tlsListener(full, this.log);
    this.store = options.store ?? createStore(full);
    // With socket threads, the limits per peer are counted in memory every thread shares.
    if (threadCount(full) > 1 && this.#tls === null) {
      const slots = peerTableSlots(full.maxConnections);
      this.#peerTable = { memory: new SharedArrayBuffer(peerTableBytes(slots)), slots };
    }
    const deps = {
      ...(this.#peerTable === null
        ? {}
        : { peerTable: new SharedPeerTable(this.#peerTable.memory, this.#peerTable.slots) }),
      store: this.store,
      log: this.log,
      ...(this.#tls === null ? {} : { createListener: this.#tls.create }),
      connectionSlots: new ConnectionSlots(full.maxConnections, new Int32Array(this.#connections)),
    };
    this.server = new IndexServer(
      options.proveSharedReads === undefined ? deps : { ...deps, proveSharedReads: options.proveSharedReads },
      // The shared read buffer reads the kernel socket, which under TLS carries ciphertext.
      this.#tls === null ? full : { ...full, sharedReadBuffer: false },
    );
    this.#listenerFd = options.listenerFd ?? (() => this.server.listenerFd());
    const open = new Int32Array(this.#connections);
    this.#stats = combinedStats(
      this.server.stats,
      () => {
        const reports = this.#threads?.reports() ?? [];
        return this.#native === null ? reports : [...reports, this.#native.report()];
      },
      () => Atomics.load(open, 0) + (this.#native?.connectionsOpen ?? 0),
    );
  }

  /**
   * Threads serving connections: the main one and its socket threads (1 until `listen()` has
   * started the others), or the native I/O threads.
   */
  get threads(): number {
    return this.#native?.threads ?? 1 + (this.#threads?.count ?? 0);
  }

  /**
   * io_uring submissions the native layer has made (each a turn's socket reads or its
   * writes, ADR 0023); 0 with --io node, --io-uring=false, or where the kernel refuses a ring.
   */
  get ioRingCalls(): number {
    return this.#native?.report().ioRingSubmissions ?? 0;
  }

  /** Who reads and writes the connections: 'native' once its threads serve, else 'node'. */
  get io(): 'node' | 'native' {
    return this.#native === null ? 'node' : 'native';
  }

  /**
   * The counters of every thread's server, summed, the socket threads asked for theirs now
   * (the metrics read the same sum, with reports at most a second old).
   */
  async serverStats(): Promise<ServerStats> {
    await this.#threads?.collectStats();
    return this.#stats;
  }

  /** The socket threads, once started; null on one thread. */
  get socketThreads(): SocketThreads | null {
    return this.#threads;
  }

  reloadTls(): boolean {
    if (this.#tls === null) return false;
    this.#tls.reload();
    this.log.info({ cert: this.config.tlsCert }, 'TLS certificate reloaded');
    return true;
  }

  /** The metrics, once `listen()` has built them; null with `config.admin` false. */
  get metrics(): ServerMetrics | null {
    return this.#metrics;
  }

  /** The admin HTTP server, once `listen()` has started it; null with `config.admin` false. */
  get admin(): AdminServer | null {
    return this.#admin;
  }

  get addresses(): PkgIndexAddresses | null {
    return this.#addresses;
  }

  listen(): Promise<PkgIndexAddresses> {
    this.#started ??= this.#listen();
    return this.#started;
  }

  async #listen(): Promise<PkgIndexAddresses> {
    const { config, log, store, server, version } = this;
    const token = this.#adminToken;
    // prom-client and the admin server's modules are loaded only with the admin server: without
    // it, prom-client alone would cost ~10 MB of memory for nothing.
    if (config.admin)
      this.#metrics = new (await import('./observability/metrics.js')).ServerMetrics({
        stats: this.#stats,
        server,
        store,
        maxConnections: config.maxConnections,
        version,
      });
    // Subscribed before open, so that recovery is logged and measured.
    this.#unsubscribe = subscribeStoreEvents({ storeId: store.id, log, sink: this.#metrics });
    try {
      let admin: AddressInfo | null = null;
      if (this.#metrics !== null) {
        const { AdminServer } = await import('./admin/admin-server.js');
        this.#admin = new AdminServer(
          {
            log,
            metrics: this.#metrics,
            server,
            store,
            version,
            backup: store instanceof DiskStore ? store : null,
            query: {
              reader: store.reader ?? null,
              backend: store.id.replace(/-\d+$/, ''),
              connections: () => server.connectionCount,
              maxVisits: config.queryMaxVisits,
              maxConcurrent: config.queryMaxConcurrent,
            },
          },
          {
            host: config.adminHost,
            port: config.adminPort,
            token,
            debug: config.adminDebug,
            maxConnections: config.adminMaxConnections,
            requestTimeoutMs: config.adminRequestTimeoutMs,
            heapSnapshotMaxHeapBytes: config.adminHeapSnapshotMaxHeapBytes,
          },
        );
        admin = await this.#admin.listen();
        log.info({ host: admin.address, port: admin.port, auth: token !== null }, 'admin listening');
      }

      if (config.otlpEndpoint !== '') {
        const { startTracing } = await import('./observability/tracing.js');
        this.#tracing = await startTracing({
          endpoint: config.otlpEndpoint,
          sampleRatio: config.traceSampleRatio,
          serviceName: 'pkgindex',
        });
        log.info({ endpoint: config.otlpEndpoint, sampleRatio: config.traceSampleRatio }, 'tracing on');
      }
      const startedAt = performance.now();
      await store.open();
      log.info({ ...store.stats(), durationMs: Math.round(performance.now() - startedAt) }, 'store opened');

      const protocol = await server.listen();
      if (!(await this.#startNative())) {
        await this.#addAcceptLanes();
        await this.#startThreads();
      }
      log.info(
        {
          host: protocol.address,
          port: protocol.port,
          tls: this.#tls !== null,
          threads: this.threads,
          io: this.io,
        },
        'listening',
      );
      this.#addresses = { protocol, admin };
      return this.#addresses;
    } catch (err) {
      await this.#threads?.close();
      await this.#native?.close(0);
      await server.close();
      // The admin server's handle would keep the process alive after a failed start.
      await this.#admin?.close();
      this.#unsubscribe();
      await store.close();
      await this.#tracing?.shutdown();
      throw err;
    }
  }

  /**
   * With --io native or auto: starts the native I/O threads on the listening socket and hands
   * it to them (ADR 0019); the main thread then serves no connection itself and executes every
   * thread's batches. False, with a line saying why (a warning if --io native asked for it),
   * where the native layer cannot serve: the caller serves with Node's sockets.
   */
  async #startNative(): Promise<boolean> {
    const { config, log } = this;
    if (config.io === 'node') return false;
    const fallBack = (reason: string, fields: Record<string, unknown> = {}): false => {
      // Asked for by name, a fallback is a surprise worth a warning; chosen by --io auto, it
      // is the documented choice, and an info line says which was made.
      if (config.io === 'native')
        log.warn({ ...fields, io: 'native' }, `--io native cannot serve: ${reason}; serving with --io node`);
      else
        log.info(
          { ...fields, io: 'auto' },
          `--io auto: serving with Node's sockets, since the native layer cannot serve: ${reason}`,
        );
      return false;
    };
    if (this.#tls !== null) return fallBack('it speaks plain TCP, and --tls-cert is set');
    if (config.mutationRatePerPeer > 0) return fallBack('it does not apply --mutation-rate-per-peer');
    const loaded = loadNativeIo();
    if (!loaded.ok) return fallBack(loaded.reason, { addon: loaded.path });
    const fd = this.#listenerFd();
    if (fd === null)
      return fallBack("this Node does not expose the listening socket's descriptor", {
        node: process.version,
      });
    let ring = config.ioUring;
    if (ring) {
      const refused = loaded.addon.ringError();
      if (refused !== null) {
        ring = false;
        // A warning when asked for by name; under --io auto, the server's own choice (e.g. in
        // a container whose seccomp profile refuses io_uring), an info line.
        log[config.io === 'native' ? 'warn' : 'info'](
          { io: 'native', reason: refused },
          `the kernel refuses io_uring (${refused}): the native layer makes one system call per ` +
            "connection's read and write instead (slower on strict request/response); " +
            '--io-uring=false says this is meant',
        );
      }
    }
    try {
      this.#native = NativeFront.start({
        addon: loaded.addon,
        ring,
        fd,
        threads: threadCount(config),
        server: config,
        store: this.store,
        log: log.child({ io: 'native' }),
        latency: () => this.server.stats.commandLatency,
        readPauseUs: config.commitReadPauseUs,
        descriptorRoom: this.server.descriptorRoom,
      });
    } catch (err) {
      return fallBack(err instanceof Error ? err.message : String(err), { err });
    }
    await this.server.handOff();
    return true;
  }

  /**
   * Gives the main thread's server its accept lanes (ADR 0018): copies of the listening
   * socket, so that a busy turn of the loop accepts more than one connection. Plain TCP only
   * (a TLS listener wraps its own server); without the socket's descriptor, one listener.
   */
  async #addAcceptLanes(): Promise<void> {
    // A lane is a descriptor: under a low descriptor limit, connections come first.
    const lanes = Math.min(
      this.config.acceptLanes - 1,
      Math.floor(this.server.descriptorRoom / CONNECTIONS_PER_LANE),
    );
    if (lanes <= 0 || this.#tls !== null) return;
    const fd = this.#listenerFd();
    if (fd === null) {
      this.log.warn({ node: process.version, acceptLanes: this.config.acceptLanes }, NO_ACCEPT_LANES);
      return;
    }
    try {
      await this.server.addAcceptLanes(await copyListeners(fd, lanes));
    } catch (err) {
      // Lanes only make accepting faster: serve with the listeners there are.
      this.log.warn(
        { err, acceptLanes: this.config.acceptLanes, listeners: this.server.listeners },
        'cannot open the accept lanes; accepting with fewer listeners',
      );
    }
  }

  /**
   * Starts the socket threads beside the main one (ADR 0010): each gets a copy of the
   * listening socket and sends its connections' commands here. Without the socket's
   * descriptor, serves on this thread alone, with a warning.
   */
  async #startThreads(): Promise<void> {
    const wanted = threadCount(this.config);
    if (wanted <= 1) return;
    if (this.#tls !== null) {
      // The socket threads would accept on the shared descriptor and speak plain TCP.
      this.log.warn({ threads: wanted }, 'TLS is served on one thread: --threads is ignored with --tls-cert');
      return;
    }
    const fd = this.#listenerFd();
    if (fd === null) {
      this.log.warn({ node: process.version, threads: wanted }, NO_SHARED_LISTENER);
      return;
    }
    this.#threads = await SocketThreads.start({
      count: wanted - 1,
      fd,
      server: this.config,
      store: this.store,
      log: this.log,
      connections: this.#connections,
      hop: this.config.threadHop,
      peers: this.#peerTable!.memory,
      peerSlots: this.#peerTable!.slots,
      latency: this.server.stats.commandLatency,
      heapMb: socketThreadHeapMb(this.config.threadHeapMb, this.config.maxConnections),
      onPackageCap: () => {
        this.server.refusedAtPackageCap();
      },
      onFailedDurability: (lines) => {
        this.server.stats.repliesFailedDurability += lines;
      },
      // Executed here, so counted here: a socket thread's connections never see SUSPENDED.
      onSuspended: () => {
        this.server.stats.commandsSuspended++;
      },
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Not listening yet: wait for the start (the drain begins at once when listening).
    if (this.#addresses === null) {
      // Never started: only the store to release.
      if (this.#started === null) return this.store.close();
      try {
        await this.#started;
      } catch {
        return; // A start that failed has already stopped what it started.
      }
    }
    this.log.info(
      // Every thread's, the native layer's too (with socket threads, as of their last report).
      { connections: this.#stats.connectionsOpen, connectionsServed: this.#stats.connectionsTotal },
      'shutting down',
    );
    // The socket threads' batches are executed here until each has drained.
    await Promise.all([
      this.server.close(),
      this.#threads?.close(),
      this.#native?.close(this.config.shutdownTimeoutMs),
    ]);
    // A store that fails as it closes (its last group commit's write or sync) does not stop the
    // rest of the shutdown: an admin server left listening kept `pkgindex serve` alive after it
    // had printed the error. The failure is logged here and thrown once all is closed.
    const storeFailure = await this.#closeStore().then(
      () => null,
      (err: unknown) => ({ err }),
    );
    if (storeFailure !== null)
      this.log.error(
        { err: storeFailure.err },
        'the store failed as it closed: its last writes were answered ERROR or not at all, and the log cut back to its last good sync where it could be; the next start recovers what was synced',
      );
    // After the store: the spans of the last batches are exported too.
    await this.#tracing?.shutdown();
    // Last, so that /readyz answers 503 for the whole drain.
    await this.#admin?.close();
    this.#unsubscribe();
    if (storeFailure !== null) throw storeFailure.err;
    this.log.info('stopped');
  }

  /**
   * Closes the store, waiting at most `shutdownTimeoutMs`: a store whose group commit hangs in
   * the file system cannot close before it returns (its log is cut back or synced first), and a
   * SIGTERM then never ended the server, whatever the connection layer.
   */
  async #closeStore(): Promise<void> {
    const timeoutMs = this.config.shutdownTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const closing = this.store.close();
    const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)));
    try {
      this.storeClosed = await Promise.race([closing.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
    if (!this.storeClosed) {
      // Read by nobody now: a failure when the operation returns is the store's to report.
      closing.catch(() => undefined);
      const health = this.store.health();
      this.log.error(
        { timeoutMs, inflightIoMs: health.inflightIoMs, detail: health.detail },
        'the store did not close within --shutdown-timeout-ms (a storage operation hangs); stopping without closing it: the next start recovers the data dir',
      );
    }
  }
}
