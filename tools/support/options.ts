/** Command-line parsing shared by the tools: node:util's parseArgs, with usage errors that say what to pass. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ToolUsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `argv` strictly against `options`; an unknown flag or a missing value is a
 * ToolUsageError carrying `usage`. Arguments after `--` come back in `rest`.
 */
export function parseToolArgs<O extends Options>(
  argv: readonly string[],
  options: O,
  usage: string,
): { values: ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values']; rest: string[] } {
  const cut = argv.indexOf('--');
  const own = cut < 0 ? [...argv] : argv.slice(0, cut);
  const rest = cut < 0 ? [] : argv.slice(cut + 1);
  try {
    const { values } = parseArgs({ args: own, options, strict: true, allowPositionals: false });
    return { values, rest };
  } catch (err) {
    throw new ToolUsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

/** A whole number ≥ `min` (default 1), or `fallback` when the flag was not given. */
export function intOption(flag: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new ToolUsageError(`${flag} must be an integer ≥ ${min}, got "${text}"`);
  return n;
}

/** A number > 0, or `fallback` when the flag was not given. */
export function positiveOption(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!(n > 0)) throw new ToolUsageError(`${flag} must be a number > 0, got "${text}"`);
  return n;
}

/** A server argument list given as one string ("--admin=false --quiet"); empty gives none. */
export function splitArgs(text: string): string[] {
  return text.split(' ').filter((a) => a !== '');
}
