import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { lookup } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { Profiler } from '../observability/profiler.js';
import type { ServingState } from '../observability/readiness.js';
import { bearerTokenCheck } from './auth.js';
import { registerDashboardRoutes } from './dashboard/dashboard-routes.js';
import { SignalStream } from './dashboard/signal-stream.js';
import { registerHealthRoutes } from './health-routes.js';
import { answerClientError, errorReply, notFoundReply } from './http-errors.js';
import { registerMetricsRoute } from './metrics-route.js';
import { registerBackupRoute } from './backup-route.js';
import type { BackupSource } from '../store/backup-source.js';
import { registerProfilingRoutes } from './profiling-routes.js';
import { registerQueryRoutes, type QueryRouteDeps } from './query-routes.js';
import { sendReply, type AdminReply } from './reply.js';
import { PROCESS_MEMORY, type MemoryProbe } from './snapshot-budget.js';
import { parseRequest, Router, type AdminRequest } from './router.js';

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port; `listen()` returns the one bound. */
  readonly port: number;
  /** Bearer token required on every route but health; null serves them all openly. */
  readonly token: string | null;
  /** --admin-debug: auto serves /debug/* only with a token. Default auto. */
  readonly debug?: 'auto' | 'on' | 'off';
  /** Connections per bound address beyond which new ones are closed at once. Default 32. */
  readonly maxConnections?: number;
  /** Headers, and the whole request, must arrive within this. Default 5 s. */
  readonly requestTimeoutMs?: number;
  /** Heap snapshots refused above this heap in use (0: no cap but memory and disk left). */
  readonly heapSnapshotMaxHeapBytes?: number;
  /** Where heap snapshots are written before they are sent. Default the OS's temporary directory. */
  readonly snapshotDir?: string;
  /** Test seam for the snapshot budget. Default: this process's heap, memory and disk. */
  readonly memory?: MemoryProbe;
}

export interface AdminServerDeps {
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly server: ServingState;
  readonly store: QueryRouteDeps['store'];
  readonly version: string;
  /** The query API (`/v1/...`): the index's read side and the status /v1/info reports. */
  readonly query: Omit<QueryRouteDeps, 'store' | 'version'>;
  /** Online backups (POST /v1/backup); absent or null: the store has none. */
  readonly backup?: BackupSource | null;
}

/**
 * The default bound on the time to receive a request's headers (and the whole request: the
 * few bodies the admin routes take are small), not the time to answer it: a CPU profile answers after up to
 * MAX_PROFILE_SECONDS.
 */
const REQUEST_TIMEOUT_MS = 5000;
/**
 * How often node:http looks for requests over their timeout. Its default, 30 s, let a request
 * sending one header line every 5 s hold its connection for 40 s instead of the 10 s set.
 */
const TIMEOUT_CHECK_MS = 1000;
/** How long an idle keep-alive connection stays open (fastify's default, kept). */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;
/** Default cap of open admin connections per bound address (see README, "Admin port security"). */
export const ADMIN_MAX_CONNECTIONS = 32;
/** At most one "connection refused" log line per this long, with the count since the last. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * The operator's HTTP side of the server, on its own port: health, readiness, Prometheus
 * metrics and on-call profiling. Separate from the protocol port so that it can stay on
 * loopback (or behind a token) while clients reach the protocol. Plain node:http: a framework
 * cost more memory than these few routes justify (docs/adr/0003-admin-http-on-node-http.md).
 */
export class AdminServer {
  /** The server on the configured address first; for `localhost`, one per other address. */
  readonly #servers: Server[] = [];
  readonly #router = new Router();
  readonly #options: AdminServerOptions;
  readonly #log: Logger;
  readonly #authorize: ((request: AdminRequest) => void) | null;
  /** Aborted on close, so that a running CPU profile ends instead of holding shutdown. */
  readonly #closing = new AbortController();
  /** Connections closed at once over the cap, and not yet logged. */
  #dropped = 0;
  #lastDropLog = -Infinity;
  /** The dashboard's live signals (GET /v1/events), sampled while the server listens. */
  readonly signals: SignalStream;

  constructor(deps: AdminServerDeps, options: AdminServerOptions) {
    this.#options = options;
    this.#log = deps.log.child({ component: 'admin' });
    const authorize = options.token === null ? null : bearerTokenCheck(options.token);
    this.#authorize = authorize;
    registerHealthRoutes(this.#router, {
      ...deps,
      // Without a token every endpoint is open (and the host is loopback: see root.ts).
      detail: (request) => {
        if (authorize === null) return true;
        try {
          authorize(request);
          return true;
        } catch {
          return false;
        }
      },
    });
    registerMetricsRoute(this.#router, deps.metrics);
    registerBackupRoute(this.#router, { source: deps.backup ?? null, log: this.#log });
    registerQueryRoutes(this.#router, { ...deps.query, store: deps.store, version: deps.version });
    const debug = options.debug ?? 'auto';
    this.signals = new SignalStream(() => deps.metrics.live.sample());
    registerDashboardRoutes(this.#router, { signals: this.signals });
    registerProfilingRoutes(this.#router, {
      profiler: new Profiler(),
      log: this.#log,
      signal: this.#closing.signal,
      enabled: debug === 'on' || (debug === 'auto' && options.token !== null),
      snapshotDir: options.snapshotDir ?? tmpdir(),
      maxHeapBytes: options.heapSnapshotMaxHeapBytes ?? 0,
      memory: options.memory ?? PROCESS_MEMORY,
    });
    this.#servers.push(this.#createServer());
  }

  #createServer(): Server {
    const timeout = this.#options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const server = createServer({
      requestTimeout: timeout,
      headersTimeout: timeout,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, timeout),
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    });
    // Closed by node:net before node:http sees them, so that slow or idle admin clients cannot
    // take the file descriptors the protocol port needs.
    server.maxConnections = this.#options.maxConnections ?? ADMIN_MAX_CONNECTIONS;
    server.on('drop', () => {
      this.#onDrop(server.maxConnections);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.#handle(req, res);
    });
    server.on('clientError', answerClientError);
    return server;
  }

  /** Logs refused connections, at most once per DROP_LOG_INTERVAL_MS, with their count. */
  #onDrop(max: number): void {
    this.#dropped++;
    const now = performance.now();
    if (now - this.#lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.#lastDropLog = now;
    this.#log.warn(
      { refused: this.#dropped, max },
      'admin connections refused: --admin-max-connections reached (count since the last such line)',
    );
    this.#dropped = 0;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    if (this.#log.isLevelEnabled('debug'))
      res.once('finish', () => {
        this.#log.debug(
          {
            method: req.method,
            url: req.url,
            status: res.statusCode,
            durationMs: Math.round(performance.now() - startedAt),
          },
          'admin request',
        );
      });
    const context = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      peer: req.socket.remoteAddress ?? 'unknown',
    };
    let reply: AdminReply;
    try {
      const request = parseRequest(req);
      // Unknown paths need the token too: without it, their 404 would map the endpoints.
      if (this.#router.find(request.method, request.path)?.public !== true) this.#authorize?.(request);
      const found = this.#router.match(request);
      reply = found === undefined ? notFoundReply(request) : await found.route.handler(request, found.params);
    } catch (err) {
      reply = errorReply(err, context, this.#log);
    }
    // A body the route did not read (most take none) is drained, so that the connection can be
    // reused.
    req.resume();
    try {
      await sendReply(res, reply);
    } catch (err) {
      if (reply.live === true) return;
      // Mostly a client that went away during a download; the response is already destroyed.
      this.#log.warn({ ...context, err }, 'admin reply not sent in full');
    }
  }

  /**
   * Starts listening; resolves with the bound address (useful with port 0). `localhost` is
   * bound on each of its addresses (127.0.0.1 and ::1 where both exist), as fastify did, so
   * that probes reach it whichever one they try.
   */
  async listen(): Promise<AddressInfo> {
    const { host, port } = this.#options;
    const main = this.#servers[0]!;
    try {
      await listenOn(main, host, port);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        code === 'EADDRINUSE'
          ? 'another process holds this port; stop it, pass another --admin-port, or --admin=false'
          : 'check --admin-host and --admin-port, or pass --admin=false';
      throw createError(
        'E_LISTEN',
        `cannot listen on ${host}:${port} (admin HTTP): ${(err as Error).message}; ${hint}`,
        {
          cause: err,
        },
      );
    }
    const bound = main.address() as AddressInfo;
    this.signals.start();
    if (host === 'localhost')
      for (const { address } of await lookup('localhost', { all: true })) {
        if (address === bound.address) continue;
        const server = this.#createServer();
        try {
          await listenOn(server, address, bound.port);
          this.#servers.push(server);
        } catch (err) {
          this.#log.warn(
            { host: address, port: bound.port, err },
            'admin server not listening on this address of localhost; the others serve',
          );
        }
      }
    return bound;
  }

  /** Every route served, by method and path (for the API description's test). */
  routes(): { method: string; path: string }[] {
    return this.#router.routes();
  }

  /**
   * Stops listening and closes open connections, idle keep-alive ones and those with a request
   * in progress alike; a running CPU profile ends early.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    this.signals.stop();
    await Promise.all(
      this.#servers
        .filter((server) => server.listening)
        .map(async (server) => {
          const closed = new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
          });
          server.closeAllConnections();
          await closed;
        }),
    );
  }
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
