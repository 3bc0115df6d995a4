/**
 * A client of the query API (`/v1/...` on the admin port): what `pkgindex ls`, `deps`, `why`,
 * `order` and `info`, and the interactive client's explanations, ask the server. Answers are
 * the JSON the routes document (`/v1/openapi.json`); an error answer comes back as the
 * catalogue error it names, with the server's message.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createError, deserializeError, ERRORS, isPkgIndexError, type PkgIndexError } from '../errors.js';
import { adminBase, readText, sendAdminRequest, type AdminRequest } from './admin-http.js';

export interface AdminAddress {
  readonly host: string;
  readonly port: number;
  /** The admin bearer token (PKGINDEX_ADMIN_TOKEN); null sends none. */
  readonly token: string | null;
  /** Give up on a request after this long; 0 waits as long as it takes. */
  readonly timeoutMs: number;
  /**
   * How many times to ask again when the API answers busy (503 E_QUERY_BUSY), each after the
   * answer's Retry-After; 0 (the default) fails at once.
   */
  readonly busyRetries?: number;
  /** Called before each wait for a retry, with the seconds it waits and the retry's number. */
  readonly onBusy?: (seconds: number, retry: number) => void;
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

/** The longest Retry-After honoured: a server asking for more is not waited for. */
const MAX_RETRY_AFTER_SECONDS = 10;

export class QueryClient {
  readonly #address: AdminAddress;
  readonly #base: string;

  constructor(address: AdminAddress) {
    this.#address = address;
    this.#base = adminBase(address);
  }

  /**
   * GETs `path` (its parts already percent-encoded: see `segment`) with `query`, and resolves
   * with the parsed JSON. Rejects with the catalogue error of an error answer, or E_CONNECT.
   */
  get<T>(path: string, query: Readonly<Record<string, QueryValue>> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) search.set(key, Array.isArray(value) ? value.join(',') : String(value));
    const target = `${path}${search.size > 0 ? `?${search.toString()}` : ''}`;
    return this.#ask<T>({ method: 'GET', path: target, timeoutMs: this.#address.timeoutMs });
  }

  /** POSTs `body` as JSON to `path` (a question too long for a URL), as `get` does otherwise. */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.#ask<T>({ method: 'POST', path, json: body, timeoutMs: this.#address.timeoutMs });
  }

  async #ask<T>(request: AdminRequest): Promise<T> {
    const retries = this.#address.busyRetries ?? 0;
    let waited = 0;
    for (let retry = 1; ; retry++) {
      const { status, retryAfter, body } = await this.#exchange(request);
      if (status >= 200 && status < 300) return body as T;
      const err = answerError(body, status);
      if ((err as Partial<PkgIndexError>).code === 'E_ADMIN_HEADERS_TOO_LARGE')
        // A usage problem, not a bug (the catalogue gives the server's code no exit status):
        // the question does not fit in a URL.
        throw createError(
          'E_USAGE',
          `the request is too long for the admin port at ${this.#base} (a ${request.path.length}-byte URL; ` +
            'node:http takes 16 KiB of headers): ask about fewer or shorter names',
          { cause: err },
        );
      const busy = (err as Partial<PkgIndexError>).code === 'E_QUERY_BUSY';
      if (!busy || retries === 0) throw err;
      const seconds = retryAfter ?? 1;
      if (seconds > MAX_RETRY_AFTER_SECONDS)
        throw createError(
          'E_QUERY_BUSY',
          `${err.message} (the server asks for ${seconds} s: try again then)`,
          {
            cause: err,
          },
        );
      if (retry > retries)
        throw createError(
          'E_QUERY_BUSY',
          `${err.message} (still busy after ${retries} retries over ${Math.round(waited)} s: try again later or ask a smaller question)`,
          { cause: err },
        );
      this.#address.onBusy?.(seconds, retry);
      // A little jitter, so that clients refused together do not all come back together.
      const ms = seconds * 1000 * (1 + Math.random() * 0.2);
      waited += ms / 1000;
      await sleep(ms);
    }
  }

  async #exchange(
    request: AdminRequest,
  ): Promise<{ status: number; retryAfter: number | null; body: unknown }> {
    let status: number;
    let retryAfter: number | null;
    let text: string;
    try {
      const answer = await sendAdminRequest(this.#address, request);
      status = answer.status;
      const header = Number(answer.headers['retry-after']);
      retryAfter = Number.isInteger(header) && header >= 0 ? header : null;
      text = await readText(answer.body);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      // node's HTTP parser (llhttp) failed on the first bytes: something answered, not in HTTP.
      if (typeof code === 'string' && code.startsWith('HPE_'))
        throw createError(
          'E_BAD_REPLY',
          `${this.#base} answered in something other than HTTP (${code}): it is probably the server's protocol port ` +
            "(pkgindex serve --port); pass its admin port (serve's --admin-port) with --admin-port or PKGINDEX_ADMIN_PORT",
          { cause: err },
        );
      throw createError(
        'E_CONNECT',
        `cannot reach the query API at ${this.#base} (${reason(err)}); is the server running with its admin port there? ` +
          'Pass --admin-host and --admin-port (PKGINDEX_ADMIN_SERVER_HOST, PKGINDEX_ADMIN_PORT)',
        { cause: err },
      );
    }
    try {
      return { status, retryAfter, body: JSON.parse(text) as unknown };
    } catch (err) {
      throw createError(
        'E_BAD_REPLY',
        `${this.#base} answered ${status} with something other than JSON; is it a pkgindex admin port?`,
        { cause: err },
      );
    }
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

/**
 * A package name as one path segment: `/` and `%` escaped, and `.` too, since a segment `.`
 * or `..` is resolved away as a URL is normalised (`/v1/packages/./why` is `/v1/packages/why`),
 * and both are valid package names.
 */
export function segment(name: string): string {
  return encodeURIComponent(name).replaceAll('.', '%2E');
}

function reason(err: unknown): string {
  if (isPkgIndexError(err, 'E_REPLY_TIMEOUT')) return 'timed out';
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return code;
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
