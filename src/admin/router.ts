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
  /**
   * The path as sent, still percent-encoded: routes with parameters match on it segment by
   * segment, so that an encoded `/` (`%2F`) in a package name stays inside its segment.
   */
  readonly rawPath: string;
  readonly query: URLSearchParams;
  /** The client's address. */
  readonly peer: string;
  readonly headers: IncomingMessage['headers'];
  /**
   * Reads the request's body, at most `maxBytes` (more is E_ADMIN_BAD_REQUEST). A route that
   * does not call it has the body drained after it answers.
   */
  readonly body: (maxBytes: number) => Promise<Buffer>;
}

/** The decoded values of a route's `{parameters}`, by name. */
export type RouteParams = Readonly<Record<string, string>>;

export type RouteHandler = (request: AdminRequest, params: RouteParams) => AdminReply | Promise<AdminReply>;

export interface Route {
  readonly handler: RouteHandler;
  /** Served without the admin token (health checks). */
  readonly public: boolean;
}

/** A route whose path has `{parameters}`, each one whole segment. */
interface PatternRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** The segments after the leading `/`: a literal, or `{name}` for a parameter. */
  readonly segments: readonly string[];
  readonly route: Route;
}

/**
 * Method + path → handler. Every GET route answers HEAD too (the same handler; node:http
 * leaves out the body). An exact path is matched after percent-decoding, case-sensitively and
 * without normalisation: `/healthz/` and `/HEALTHZ` are unknown, as they were under fastify.
 * A path with parameters (`/v1/packages/{name}`) is matched on the encoded path, segment by
 * segment, each parameter decoded on its own; exact paths are tried first.
 */
export class Router {
  readonly #routes = new Map<string, Route>();
  readonly #patterns: PatternRoute[] = [];

  get(path: string, handler: RouteHandler, options: { public?: boolean } = {}): void {
    const route: Route = { handler, public: options.public ?? false };
    if (path.includes('{')) {
      this.#addPattern('GET', path, route);
      return;
    }
    for (const method of ['GET', 'HEAD']) {
      const key = `${method} ${path}`;
      if (this.#routes.has(key)) throw createError('E_INTERNAL', `admin route ${key} registered twice`);
      this.#routes.set(key, route);
    }
  }

  /** A POST route (an action, such as a backup, or a question too long for a URL): never public. */
  post(path: string, handler: RouteHandler): void {
    if (path.includes('{')) {
      this.#addPattern('POST', path, { handler, public: false });
      return;
    }
    const key = `POST ${path}`;
    if (this.#routes.has(key)) throw createError('E_INTERNAL', `admin route ${key} registered twice`);
    this.#routes.set(key, { handler, public: false });
  }

  /** The route for this method and path; undefined for an unknown path or a wrong method. */
  find(method: string, path: string): Route | undefined {
    return this.#routes.get(`${method} ${path}`);
  }

  /**
   * The route for a request and the values of its parameters; undefined for an unknown path or
   * a wrong method. Throws E_ADMIN_BAD_REQUEST when a parameter is not valid percent-encoding.
   */
  match(
    request: Pick<AdminRequest, 'method' | 'path' | 'rawPath'>,
  ): { route: Route; params: RouteParams } | undefined {
    const exact = this.find(request.method, request.path);
    if (exact !== undefined) return { route: exact, params: {} };
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const segments = request.rawPath.slice(1).split('/');
    for (const pattern of this.#patterns) {
      if (pattern.method !== method || pattern.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let matched = true;
      for (let i = 0; i < segments.length && matched; i++) {
        const want = pattern.segments[i]!;
        const got = segments[i]!;
        if (want.startsWith('{')) {
          if (got === '') matched = false;
          else params[want.slice(1, -1)] = decodeSegment(got);
        } else matched = want === got;
      }
      if (matched) return { route: pattern.route, params };
    }
    return undefined;
  }

  /** Every route served, by method (`GET` or `POST`; HEAD goes with GET) and path, parameters as `{name}`. */
  routes(): { method: string; path: string }[] {
    const exact = [...this.#routes.keys()]
      .filter((k) => !k.startsWith('HEAD '))
      .map((k) => {
        const space = k.indexOf(' ');
        return { method: k.slice(0, space), path: k.slice(space + 1) };
      });
    return [...exact, ...this.#patterns.map((p) => ({ method: p.method, path: p.path }))];
  }

  /** Every GET path served, parameters as `{name}` (for the API description and its test). */
  paths(): string[] {
    const exact = [...this.#routes.keys()].filter((k) => k.startsWith('GET ')).map((k) => k.slice(4));
    return [...exact, ...this.#patterns.filter((p) => p.method === 'GET').map((p) => p.path)];
  }

  #addPattern(method: 'GET' | 'POST', path: string, route: Route): void {
    if (this.#patterns.some((p) => p.method === method && p.path === path))
      throw createError('E_INTERNAL', `admin route ${method} ${path} registered twice`);
    this.#patterns.push({ method, path, segments: path.slice(1).split('/'), route });
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw createError(
      'E_ADMIN_BAD_REQUEST',
      `"${segment}" is not valid percent-encoding; encode "%" as "%25" and "/" in a name as "%2F"`,
    );
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
    rawPath,
    query: new URLSearchParams(queryAt >= 0 ? target.slice(queryAt + 1) : ''),
    peer: req.socket.remoteAddress ?? 'unknown',
    headers: req.headers,
    body: (maxBytes) => readBody(req, maxBytes),
  };
}

/**
 * The body, refused (E_ADMIN_BAD_REQUEST) as soon as it is known to pass `maxBytes`, from its
 * content-length or from the bytes received; the rest is then drained, not kept.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): Error =>
    createError(
      'E_ADMIN_BAD_REQUEST',
      `the request body is over ${maxBytes} bytes, the most this route takes`,
    );
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData).off('end', onEnd);
      req.resume();
      reject(tooLarge());
    };
    const onEnd = (): void => {
      resolve(Buffer.concat(chunks));
    };
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}
