import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/options.js';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly quiet: boolean;
  readonly pretty: boolean;
}

/**
 * Fields never written, wherever they appear in an event: the admin token and HTTP
 * credentials. The token is kept out of every logged object in the first place; this is the
 * second line of defence.
 */
export const REDACTED_PATHS: readonly string[] = [
  'adminToken',
  'token',
  '*.adminToken',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

/**
 * The server's structured logger: JSON lines on stdout (one event per line, with `time`,
 * `level` and `msg`), or colourised lines for a human at a terminal.
 */
export function createLogger(
  options: LoggerOptions,
  destination: NodeJS.WritableStream = process.stdout,
): Logger {
  const level = options.quiet ? 'warn' : options.level;
  const base = { name: 'pkgindex' };
  const redact = { paths: [...REDACTED_PATHS], censor: '[redacted]' };
  if (options.pretty) {
    return pino({
      level,
      base,
      redact,
      transport: { target: 'pino-pretty', options: { colorize: true, destination: 1 } },
    });
  }
  return pino({ level, base, redact, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
