import type { IncomingMessage } from 'node:http';
import { createError } from '../errors.js';
import type { AdminReply } from './reply.js';

/** What a route handler sees of a request. */
export interface AdminRequest {
  readonly method: string;
  /** The request target as sent (for logs and messages). */
  readonly url: string;
  /** The decoded path, without query or fragment. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The client's address. */
  readonly peer: string;
  readonly headers: IncomingMessage['headers'];
}

export type RouteHandler = (request: AdminRequest) => AdminReply | Promise<AdminReply>;

export interface Route {
  readonly handler: RouteHandler;
  /** Served without the admin token (health checks). */
  readonly public: boolean;
}

/**
 * Method + exact path → handler. Every GET route answers HEAD too (the same handler; node:http
 * leaves out the body). A path is matched after percent-decoding, case-sensitively and without
 * normalisation: `/healthz/` and `/HEALTHZ` are unknown, as they were under fastify.
 */
export class Router {
  readonly #routes = new Map<string, Route>();

  get(path: string, handler: RouteHandler, options: { public?: boolean } = {}): void {
    const route: Route = { handler, public: options.public ?? false };
    for (const method of ['GET', 'HEAD']) {
      const key = `${method} ${path}`;
      if (this.#routes.has(key)) throw createError('E_INTERNAL', `admin route ${key} registered twice`);
      this.#routes.set(key, route);
    }
  }

  /** The route for this method and path; undefined for an unknown path or a wrong method. */
  find(method: string, path: string): Route | undefined {
    return this.#routes.get(`${method} ${path}`);
  }
}

/**
 * Parses an incoming request's target into path and query. Throws E_ADMIN_BAD_REQUEST when
 * the path cannot be percent-decoded.
 */
export function parseRequest(req: IncomingMessage): AdminRequest {
  const url = req.url ?? '/';
  let target = url;
  // Absolute form (`GET http://host/healthz`), which HTTP/1.1 servers must accept.
  if (!target.startsWith('/') && URL.canParse(target)) {
    const absolute = new URL(target);
    target = absolute.pathname + absolute.search;
  }
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const queryAt = target.indexOf('?');
  const rawPath = queryAt >= 0 ? target.slice(0, queryAt) : target;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw createError(
      'E_ADMIN_BAD_REQUEST',
      `the path of "${url}" is not valid percent-encoding; encode "%" as "%25"`,
    );
  }
  return {
    method: req.method ?? 'GET',
    url,
    path,
    query: new URLSearchParams(queryAt >= 0 ? target.slice(queryAt + 1) : ''),
    peer: req.socket.remoteAddress ?? 'unknown',
    headers: req.headers,
  };
}
