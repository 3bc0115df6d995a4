import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { PkgIndexError } from '../errors.js';

/** The one mapping of pkgindex errors to HTTP statuses; anything unlisted is a 500. */
const HTTP_STATUS_OF_CODE: Readonly<Record<string, number>> = {
  E_ADMIN_BAD_REQUEST: 400,
  E_ADMIN_UNAUTHORIZED: 401,
  E_PROFILER_BUSY: 409,
};

/** The HTTP status for an error thrown by an admin route or hook. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof PkgIndexError) return HTTP_STATUS_OF_CODE[err.code] ?? 500;
  const status = (err as Partial<FastifyError>).statusCode;
  // fastify's own client errors (bad URL, unsupported media type, ...) keep their status.
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
}

/**
 * Answers every error as JSON `{ error, message }` with the status from httpStatusOf, and
 * unknown routes with 404. Server-side failures are logged with the request's context.
 */
export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler(async (err, request, reply) => {
    const status = httpStatusOf(err);
    const code =
      err instanceof PkgIndexError ? err.code : ((err as Partial<FastifyError>).code ?? 'E_INTERNAL');
    const context = { method: request.method, url: request.url, status, code };
    if (status >= 500) log.error({ ...context, err }, 'admin request failed');
    else if (status === 401)
      log.warn({ ...context, peer: request.ip }, 'admin request refused: bad or missing token');
    if (status === 401) void reply.header('www-authenticate', 'Bearer realm="pkgindex-admin"');
    const message =
      status >= 500 && !(err instanceof PkgIndexError)
        ? 'internal error; see the server log'
        : err instanceof Error
          ? err.message
          : String(err);
    return reply.code(status).send({ error: code, message });
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply
      .code(404)
      .send({ error: 'E_NOT_FOUND', message: `no admin endpoint ${request.method} ${request.url}` }),
  );
}
