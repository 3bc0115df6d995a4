import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version in this package's package.json, found in `from` or a directory above it (by
 * default this module's, built or not); 'unknown' when there is none or it cannot be read.
 */
export function packageVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  try {
    for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'pkgindex' && typeof pkg.version === 'string') return pkg.version;
    }
  } catch {
    // Unreadable: the version is only reported, never relied on.
  }
  return 'unknown';
}
