/**
 * A client of the query API (`/v1/...` on the admin port): what `pkgindex ls`, `deps`, `why`,
 * `order` and `info`, and the interactive client's explanations, ask the server. Answers are
 * the JSON the routes document (`/v1/openapi.json`); an error answer comes back as the
 * catalogue error it names, with the server's message.
 */
import { createError, deserializeError, ERRORS, type PkgIndexError } from '../errors.js';

export interface AdminAddress {
  readonly host: string;
  readonly port: number;
  /** The admin bearer token (PKGINDEX_ADMIN_TOKEN); null sends none. */
  readonly token: string | null;
  /** Give up on a request after this long; 0 waits as long as it takes. */
  readonly timeoutMs: number;
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

export class QueryClient {
  readonly #address: AdminAddress;
  readonly #base: string;

  constructor(address: AdminAddress) {
    this.#address = address;
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    this.#base = `http://${host}:${address.port}`;
  }

  /**
   * GETs `path` (its parts already percent-encoded: see `segment`) with `query`, and resolves
   * with the parsed JSON. Rejects with the catalogue error of an error answer, or E_CONNECT.
   */
  async get<T>(path: string, query: Readonly<Record<string, QueryValue>> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) search.set(key, Array.isArray(value) ? value.join(',') : String(value));
    const url = `${this.#base}${path}${search.size > 0 ? `?${search.toString()}` : ''}`;
    const { token, timeoutMs } = this.#address;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        signal: timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : null,
      });
    } catch (err) {
      throw createError(
        'E_CONNECT',
        `cannot reach the query API at ${this.#base} (${reason(err)}); is the server running with its admin port there? ` +
          'Pass --admin-host and --admin-port (PKGINDEX_ADMIN_SERVER_HOST, PKGINDEX_ADMIN_PORT)',
        { cause: err },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw createError(
        'E_BAD_REPLY',
        `${this.#base} answered ${response.status} with something other than JSON; is it a pkgindex admin port?`,
        { cause: err },
      );
    }
    if (response.ok) return body as T;
    throw answerError(body, response.status);
  }

  /** Every item of a paginated list, page after page, following the `next` cursors. */
  async *items<T>(path: string, query: Readonly<Record<string, QueryValue>> = {}): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const page = await this.get<{ items: T[]; next: string | null }>(path, { ...query, cursor });
      yield* page.items;
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
  }
}

/** A package name as one path segment (`/` and `%` escaped). */
export function segment(name: string): string {
  return encodeURIComponent(name);
}

function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return err instanceof Error ? err.message : String(err);
}

/** The catalogue error an error answer names; E_BAD_REPLY when it names none. */
function answerError(body: unknown, status: number): PkgIndexError | Error {
  const { error, message } = (body ?? {}) as { error?: unknown; message?: unknown };
  if (typeof error === 'string' && Object.hasOwn(ERRORS, error) && typeof message === 'string')
    return deserializeError({ name: '', message, stack: undefined, fields: { code: error } });
  return createError(
    'E_BAD_REPLY',
    `the query API answered ${status} without an error code: ${JSON.stringify(body)}`,
  );
}
