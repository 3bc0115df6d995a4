import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { createError, isOperationalError, isPkgIndexError, type ThrownErrorCode } from '../errors.js';
import { jsonReply, type AdminReply } from './reply.js';

/**
 * The HTTP status for an error thrown by an admin route or check: the catalogue's status for
 * its code, 500 for anything else.
 */
export function httpStatusOf(err: unknown): number {
  return isPkgIndexError(err) ? (err.status ?? 500) : 500;
}

/** Seconds a client refused with these codes should wait before retrying (the Retry-After header). */
const RETRY_AFTER_SECONDS: Partial<Record<string, number>> = { E_QUERY_BUSY: 1, E_ADMIN_BUSY: 1 };

/**
 * The JSON `{ error, message }` answer to an error, with the status from httpStatusOf.
 * Server-side failures are logged with the request's context, refusals as warnings. A refusal
 * that a retry can get past (E_QUERY_BUSY, E_ADMIN_BUSY) carries a Retry-After header.
 */
export function errorReply(
  err: unknown,
  request: { method: string; url: string; peer: string },
  log: Logger,
): AdminReply {
  const status = httpStatusOf(err);
  const ownCode = (err as { code?: unknown } | null)?.code;
  const code = isPkgIndexError(err) ? err.code : typeof ownCode === 'string' ? ownCode : 'E_INTERNAL';
  const context = { method: request.method, url: request.url, status, code };
  if (status >= 500) log.error({ ...context, err }, 'admin request failed');
  else if (status === 401)
    log.warn({ ...context, peer: request.peer }, 'admin request refused: bad or missing token');
  const message =
    status >= 500 && !isOperationalError(err)
      ? 'internal error; see the server log'
      : err instanceof Error
        ? err.message
        : String(err);
  const retryAfter = RETRY_AFTER_SECONDS[code];
  return jsonReply(
    { error: code, message },
    {
      status,
      headers: {
        ...(status === 401 ? { 'www-authenticate': 'Bearer realm="pkgindex-admin"' } : {}),
        ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }),
      },
    },
  );
}

/** The 404 for a path (or a method on it) that no route serves. */
export function notFoundReply(request: { method: string; url: string }): AdminReply {
  const err = createError('E_NOT_FOUND', `no admin endpoint ${request.method} ${request.url}`);
  return jsonReply({ error: err.code, message: err.message }, { status: httpStatusOf(err) });
}

/** How long a refused request's connection may stay open after its answer. */
const CLIENT_ERROR_LINGER_MS = 1000;

/** Requests node:http gave up on, by Node's code: the catalogue's code and what to tell the client. */
const CLIENT_ERRORS: Readonly<Record<string, { code: ThrownErrorCode; message: string } | undefined>> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    code: 'E_ADMIN_REQUEST_TIMEOUT',
    message: 'the HTTP request did not arrive whole in time; send it at once',
  },
  HPE_HEADER_OVERFLOW: {
    code: 'E_ADMIN_HEADERS_TOO_LARGE',
    message: 'the HTTP request headers are too large; send fewer or shorter headers',
  },
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
  const known = CLIENT_ERRORS[err.code ?? ''];
  const error = createError(
    known?.code ?? 'E_ADMIN_BAD_REQUEST',
    known?.message ?? 'the HTTP request could not be read; send a well-formed HTTP/1.1 request',
    { cause: err },
  );
  const status = httpStatusOf(error);
  const body = JSON.stringify({
    error: error.code,
    message: `${STATUS_CODES[status] ?? 'Bad Request'}: ${error.message}`,
  });
  // A client that never reads nor closes would keep the descriptor after our FIN: not longer than this.
  setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref();
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}
