import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createError } from '../../errors.js';

/** The URL with its password, if any, replaced: what logs and error messages may show. */
export function redactUrl(url: string): string {
  if (url === '') return url;
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

/** The password in `path` (its first line), for --database-password-file. */
export function readPasswordFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/, 1)[0]!;
  } catch (err) {
    throw createError(
      'E_DATABASE_CONFIG',
      `cannot read the database password file ${path}: ${(err as Error).message}; fix --database-password-file`,
      { cause: err },
    );
  }
}

/** application_name of an instance's sessions unless configured: which host and process. */
export function defaultApplicationName(): string {
  // PostgreSQL truncates application_name at 63 bytes.
  return `pkgindex/${hostname()}/${process.pid}`.slice(0, 63);
}
