/**
 * Value parsers for the options of every subcommand. Each takes the raw text and where it came
 * from (`--port`, `environment variable PKGINDEX_PORT`) and returns the typed value, or throws
 * an E_CONFIG error naming that source and what it accepts, so the user knows what to change.
 */
import { existsSync } from 'node:fs';
import { createError } from '../errors.js';

/** Turns the text of a flag or variable into its value, or throws E_CONFIG naming `source`. */
export type Parser<T> = (raw: string, source: string) => T;

/** A whole number from `min` to `max` (no sign, no decimals, no exponent). */
export function integer(min: number, max: number = Number.MAX_SAFE_INTEGER): Parser<number> {
  const accepts = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  return (raw, source) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw createError('E_CONFIG', `${source} must be a whole number ${accepts}, got "${raw}"`);
    return n;
  };
}

/** A number above 0, decimals allowed (`0.5`). */
export function positiveNumber(raw: string, source: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw createError('E_CONFIG', `${source} must be a number above 0, got "${raw}"`);
  return n;
}

export function oneOf<const T extends string>(...values: T[]): Parser<T> {
  return (raw, source) => {
    if ((values as string[]).includes(raw)) return raw as T;
    throw createError('E_CONFIG', `${source} must be one of ${values.join(', ')}, got "${raw}"`);
  };
}

/**
 * One of `values`, or an alias of one: for a setting that grew from a switch into a choice
 * (`--create-index`), so that the words it took before keep their meaning.
 */
export function oneOfWithAliases<const T extends string>(
  values: readonly T[],
  aliases: Readonly<Record<string, T>>,
): Parser<T> {
  const also = Object.entries(aliases).map(([alias, value]) => `${alias} = ${value}`);
  return (raw, source) => {
    if (Object.hasOwn(aliases, raw)) return aliases[raw]!;
    if ((values as readonly string[]).includes(raw)) return raw as T;
    throw createError(
      'E_CONFIG',
      `${source} must be one of ${values.join(', ')} (or ${also.join(', ')}), got "${raw}"`,
    );
  };
}

export function text(raw: string, source: string): string {
  if (raw.trim() === '') throw createError('E_CONFIG', `${source} must not be empty`);
  return raw;
}

/**
 * The parser of switches (`--quiet`, `--quiet=false`, `PKGINDEX_QUIET=1`). The argument layer
 * recognises a switch by this function: a switch takes no value after it on the command line.
 */
export function flagBool(raw: string, source: string): boolean {
  if (['1', 'true', 'yes', 'on', ''].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw createError('E_CONFIG', `${source} must be true or false, got "${raw}"`);
}

/**
 * The path of a file that exists, checked when the command line is read: a typo then costs
 * nothing (no connection, no warm-up) and says "file not found" rather than failing later.
 */
export function existingFile(raw: string, source: string): string {
  return requireFile(text(raw, source), source);
}

/** `path`, or E_FILE_NOT_FOUND when it does not exist; `source` names the flag it came from. */
export function requireFile(path: string, source?: string): string {
  if (!existsSync(path))
    throw createError(
      'E_FILE_NOT_FOUND',
      `file not found: ${path}${source === undefined ? '' : ` (${source})`}; check the path`,
    );
  return path;
}

/** A number from 0 to 1 (`0.01`). */
export function ratio(raw: string, source: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw createError('E_CONFIG', `${source} must be a number from 0 to 1, got "${raw}"`);
  return n;
}

/**
 * A postgres:// or postgresql:// URL. A password in it is refused on the command line, where
 * `ps` shows it to every user of the machine; the environment variable may carry one.
 */
export function databaseUrl(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(text(raw, source));
  } catch {
    throw createError('E_CONFIG', `${source} must be a URL like postgres://user@host:5432/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw createError(
      'E_CONFIG',
      `${source} must start with postgres:// or postgresql://, got ${url.protocol}//`,
    );
  if (url.password !== '' && source.startsWith('--'))
    throw createError(
      'E_CONFIG',
      `${source} holds a password, which \`ps\` would show: put the URL in PKGINDEX_DATABASE_URL, or the password in --database-password-file`,
    );
  return raw;
}
