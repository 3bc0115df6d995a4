import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ListenError } from '../errors.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { Profiler } from '../observability/profiler.js';
import type { HealthReporter, ServingState } from '../observability/readiness.js';
import { requireBearerToken } from './auth.js';
import { registerHealthRoutes } from './health-routes.js';
import { installErrorHandling } from './http-errors.js';
import { registerMetricsRoute } from './metrics-route.js';
import { registerProfilingRoutes } from './profiling-routes.js';

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port; `listen()` returns the one bound. */
  readonly port: number;
  /** Bearer token required on every route but health; null serves them all openly. */
  readonly token: string | null;
}

export interface AdminServerDeps {
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly server: ServingState;
  readonly store: HealthReporter;
  readonly version: string;
}

/**
 * The operator's HTTP side of the server, on its own port: health, readiness, Prometheus
 * metrics and on-call profiling. Separate from the protocol port so that it can stay on
 * loopback (or behind a token) while clients reach the protocol.
 */
export class AdminServer {
  readonly #app: FastifyInstance;
  readonly #options: AdminServerOptions;
  readonly #log: Logger;
  /** Aborted on close, so that a running CPU profile ends instead of holding shutdown. */
  readonly #closing = new AbortController();

  constructor(deps: AdminServerDeps, options: AdminServerOptions) {
    this.#options = options;
    this.#log = deps.log.child({ component: 'admin' });
    const app = Fastify({ logger: false, forceCloseConnections: true });
    this.#app = app;
    installErrorHandling(app, this.#log);
    if (options.token !== null) requireBearerToken(app, options.token);
    app.addHook('onResponse', async (request, reply) => {
      if (this.#log.isLevelEnabled('debug'))
        this.#log.debug(
          {
            method: request.method,
            url: request.url,
            status: reply.statusCode,
            durationMs: Math.round(reply.elapsedTime),
          },
          'admin request',
        );
    });
    registerHealthRoutes(app, deps);
    registerMetricsRoute(app, deps.metrics);
    registerProfilingRoutes(app, { profiler: new Profiler(), log: this.#log, signal: this.#closing.signal });
  }

  /** Starts listening; resolves with the bound address (useful with port 0). */
  async listen(): Promise<AddressInfo> {
    const { host, port } = this.#options;
    try {
      await this.#app.listen({ host, port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        code === 'EADDRINUSE'
          ? 'another process holds this port; stop it, pass another --admin-port, or --admin=false'
          : 'check --admin-host and --admin-port, or pass --admin=false';
      throw new ListenError(
        `cannot listen on ${host}:${port} (admin HTTP): ${(err as Error).message}; ${hint}`,
        {
          cause: err,
        },
      );
    }
    return this.#app.server.address() as AddressInfo;
  }

  /** Stops listening and closes open connections; a running CPU profile ends early. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#app.close();
  }
}
