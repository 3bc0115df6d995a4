/**
 * Reading the query string of the API's routes: every parameter a route does not know, and
 * every value out of its bounds, is a 400 with a message that names the parameter and what
 * it takes, rather than a silent default that hides a typo.
 */
import { createError } from '../errors.js';
import { decodeCursor } from './cursor.js';

export class QueryParams {
  readonly #query: URLSearchParams;

  /** `known`: the parameters the route reads; any other is refused. */
  constructor(query: URLSearchParams, known: readonly string[]) {
    this.#query = query;
    for (const key of new Set(query.keys()))
      if (!known.includes(key))
        throw createError(
          'E_ADMIN_BAD_REQUEST',
          known.length === 0
            ? `unknown query parameter "${key}"; this route takes none`
            : `unknown query parameter "${key}"; this route takes ${known.join(', ')}`,
        );
    for (const key of known)
      if (query.getAll(key).length > 1)
        throw createError('E_ADMIN_BAD_REQUEST', `query parameter "${key}" is given twice; give it once`);
  }

  /** The raw value, undefined when absent. */
  text(key: string): string | undefined {
    return this.#query.get(key) ?? undefined;
  }

  /** An integer in [min, max], `fallback` when absent. */
  integer(key: string, fallback: number, min: number, max: number): number {
    const raw = this.#query.get(key);
    if (raw === null) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(value >= min && value <= max))
      throw createError(
        'E_ADMIN_BAD_REQUEST',
        `${key} must be an integer from ${min} to ${max}, got "${raw}"`,
      );
    return value;
  }

  /** `true`/`1` or `false`/`0` (or empty, for true: `?transitive`), `fallback` when absent. */
  bool(key: string, fallback: boolean): boolean {
    const raw = this.#query.get(key);
    if (raw === null) return fallback;
    if (raw === '' || raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw createError('E_ADMIN_BAD_REQUEST', `${key} must be true or false, got "${raw}"`);
  }

  /** The name a `cursor` stands after; undefined for the first page. */
  cursor(): string | undefined {
    const raw = this.#query.get('cursor');
    return raw === null || raw === '' ? undefined : decodeCursor(raw);
  }
}
