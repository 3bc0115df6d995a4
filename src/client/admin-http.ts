/**
 * One HTTP request to a server's admin port, on node:http, for the query client and
 * `pkgindex backup`. Not WHATWG fetch: fetch refuses the Fetch standard's "bad ports" (6667,
 * 6000, 5060, ...) before connecting, though `pkgindex serve --admin-port` binds them and curl
 * reaches them; and it reports every failure as "fetch failed", hiding the cause behind it.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createError } from '../errors.js';

export interface AdminTarget {
  readonly host: string;
  readonly port: number;
  /** The admin bearer token (PKGINDEX_ADMIN_TOKEN); null sends none. */
  readonly token: string | null;
}

export interface AdminRequest {
  readonly method: 'GET' | 'POST';
  /** Path and query, already percent-encoded. */
  readonly path: string;
  /** A JSON request body, sent with its content-type and length. */
  readonly json?: unknown;
  /**
   * Give up when the whole answer, body included, has not arrived this long after the request
   * was sent (0: wait as long as it takes); the request fails with E_REPLY_TIMEOUT.
   */
  readonly timeoutMs: number;
}

/** An answer whose body is still to be read: `body` is the stream. */
export interface AdminAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: IncomingMessage;
}

/** `http://host:port`, a literal IPv6 address in brackets: where messages say the API is. */
export function adminBase(target: Pick<AdminTarget, 'host' | 'port'>): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `http://${host}:${target.port}`;
}

/**
 * Sends the request and resolves once the status line and headers are in. The timeout keeps
 * running while the caller reads `body`: a body stalled past it fails with the same error.
 * Rejects with node's own error (its `code`: ECONNREFUSED, HPE_...), or E_REPLY_TIMEOUT.
 */
export function sendAdminRequest(target: AdminTarget, req: AdminRequest): Promise<AdminAnswer> {
  const payload = req.json === undefined ? null : Buffer.from(JSON.stringify(req.json));
  const headers: Record<string, string | number> = {};
  if (target.token !== null) headers.authorization = `Bearer ${target.token}`;
  if (payload !== null) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = payload.length;
  }
  return new Promise((resolve, reject) => {
    const outgoing = request({
      host: target.host,
      port: target.port,
      method: req.method,
      path: req.path,
      headers,
    });
    let answer: IncomingMessage | null = null;
    const timer =
      req.timeoutMs > 0
        ? setTimeout(() => {
            const err = createError('E_REPLY_TIMEOUT', `no answer within ${req.timeoutMs} ms`);
            outgoing.destroy(err);
            answer?.destroy(err);
          }, req.timeoutMs)
        : null;
    const stop = (): void => {
      if (timer !== null) clearTimeout(timer);
    };
    outgoing.on('error', (err) => {
      stop();
      reject(err);
    });
    outgoing.on('response', (body) => {
      answer = body;
      body.on('end', stop).on('close', stop);
      resolve({ status: body.statusCode ?? 0, headers: body.headers, body });
    });
    outgoing.end(payload ?? undefined);
  });
}

/** The whole body as text; rejects if the connection fails (or times out) before its end. */
export async function readText(body: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
