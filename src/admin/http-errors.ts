import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { PkgIndexError } from '../errors.js';
import { jsonReply, type AdminReply } from './reply.js';

/** The one mapping of pkgindex errors to HTTP statuses; anything unlisted is a 500. */
const HTTP_STATUS_OF_CODE: Readonly<Record<string, number>> = {
  E_ADMIN_BAD_REQUEST: 400,
  E_ADMIN_UNAUTHORIZED: 401,
  E_PROFILER_BUSY: 409,
};

/** The HTTP status for an error thrown by an admin route or check. */
export function httpStatusOf(err: unknown): number {
  return err instanceof PkgIndexError ? (HTTP_STATUS_OF_CODE[err.code] ?? 500) : 500;
}

/**
 * The JSON `{ error, message }` answer to an error, with the status from httpStatusOf.
 * Server-side failures are logged with the request's context, refusals as warnings.
 */
export function errorReply(
  err: unknown,
  request: { method: string; url: string; peer: string },
  log: Logger,
): AdminReply {
  const status = httpStatusOf(err);
  const ownCode = (err as { code?: unknown } | null)?.code;
  const code = err instanceof PkgIndexError ? err.code : typeof ownCode === 'string' ? ownCode : 'E_INTERNAL';
  const context = { method: request.method, url: request.url, status, code };
  if (status >= 500) log.error({ ...context, err }, 'admin request failed');
  else if (status === 401)
    log.warn({ ...context, peer: request.peer }, 'admin request refused: bad or missing token');
  const message =
    status >= 500 && !(err instanceof PkgIndexError)
      ? 'internal error; see the server log'
      : err instanceof Error
        ? err.message
        : String(err);
  return jsonReply(
    { error: code, message },
    {
      status,
      headers: status === 401 ? { 'www-authenticate': 'Bearer realm="pkgindex-admin"' } : {},
    },
  );
}

/** The 404 for a path (or a method on it) that no route serves. */
export function notFoundReply(request: { method: string; url: string }): AdminReply {
  return jsonReply(
    { error: 'E_NOT_FOUND', message: `no admin endpoint ${request.method} ${request.url}` },
    { status: 404 },
  );
}

const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_HEADER_OVERFLOW: 431,
};

/**
 * Answers a request that node:http could not parse (or that came too slowly) with a JSON
 * error and closes the connection; node's default would send no body.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400;
  const body = JSON.stringify({
    error: 'E_ADMIN_BAD_REQUEST',
    message: `${STATUS_CODES[status] ?? 'Bad Request'}: the HTTP request could not be read`,
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}
