import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AdminServer } from './admin/admin-server.js';
import { ADMIN_TOKEN_ENV } from './admin/auth.js';
import { OPTIONS, type Config, type Option, type OptionKey } from './config/options.js';
import { packageVersion } from './config/version.js';
import { createError } from './errors.js';
import { createLogger } from './observability/logger.js';
import type { ServerMetrics } from './observability/metrics.js';
import { subscribeStoreEvents } from './observability/store-events.js';
import { IndexServer } from './server/server.js';
import type { SharedReadsProof } from './server/shared-reads-proof.js';
import { DiskStore } from './store/disk-store.js';
import { MemoryStore } from './store/memory-store.js';
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
   * already sent (for up to `config.shutdownTimeoutMs`), closes the store, then the admin server
   * (last, so that /readyz answers 503 for the whole drain). Idempotent.
   */
  close(): Promise<void>;
}

/** What the composition root takes beyond the public options: test seams. */
export interface ComposeOptions extends PkgIndexOptions {
  readonly proveSharedReads?: () => Promise<SharedReadsProof>;
}

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
  return new DiskStore({
    slices,
    dataDir: config.dataDir,
    syncMode: config.syncMode,
    syncIntervalMs: config.syncIntervalMs,
    compactAfterBytes: config.compactAfterBytes,
  });
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
  #metrics: ServerMetrics | null = null;
  #admin: AdminServer | null = null;
  #addresses: PkgIndexAddresses | null = null;
  #unsubscribe: () => void = () => undefined;
  #started: Promise<PkgIndexAddresses> | null = null;
  #closing: Promise<void> | null = null;

  constructor(config: Partial<PkgIndexConfig>, options: ComposeOptions = {}) {
    const full = withDefaults(config);
    if (full.admin && full.adminPort !== 0 && full.adminPort === full.port)
      throw createError(
        'E_CONFIG',
        `--admin-port and --port are both ${full.port}; give the admin HTTP server another port or pass --admin=false`,
      );
    this.config = full;
    this.version = options.version ?? packageVersion();
    this.log =
      options.log ?? createLogger({ level: full.logLevel, quiet: full.quiet, pretty: full.logPretty });
    this.store = options.store ?? createStore(full);
    this.#adminToken = options.adminToken ?? null;
    const deps = { store: this.store, log: this.log };
    this.server = new IndexServer(
      options.proveSharedReads === undefined ? deps : { ...deps, proveSharedReads: options.proveSharedReads },
      full,
    );
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
        stats: server.stats,
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
          { log, metrics: this.#metrics, server, store, version },
          { host: config.adminHost, port: config.adminPort, token },
        );
        admin = await this.#admin.listen();
        log.info({ host: admin.address, port: admin.port, auth: token !== null }, 'admin listening');
        if (token === null && !isLoopback(config.adminHost))
          log.warn(
            { host: config.adminHost },
            `admin endpoints are reachable beyond this host without authentication; set ${ADMIN_TOKEN_ENV}`,
          );
      }

      const startedAt = performance.now();
      await store.open();
      log.info({ ...store.stats(), durationMs: Math.round(performance.now() - startedAt) }, 'store opened');

      const protocol = await server.listen();
      log.info({ host: protocol.address, port: protocol.port }, 'listening');
      this.#addresses = { protocol, admin };
      return this.#addresses;
    } catch (err) {
      // The admin server's handle would keep the process alive after a failed start.
      await this.#admin?.close();
      this.#unsubscribe();
      await store.close();
      throw err;
    }
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
    this.log.info({ connections: this.server.connectionCount }, 'shutting down');
    await this.server.close();
    await this.store.close();
    // Last, so that /readyz answers 503 for the whole drain.
    await this.#admin?.close();
    this.#unsubscribe();
    this.log.info('stopped');
  }
}
