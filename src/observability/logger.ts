import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/options.js';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly quiet: boolean;
  readonly pretty: boolean;
}

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
  if (options.pretty) {
    return pino({
      level,
      base,
      transport: { target: 'pino-pretty', options: { colorize: true, destination: 1 } },
    });
  }
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
