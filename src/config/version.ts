import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in this package's package.json (found above this module, built or not). */
export function packageVersion(): string {
  try {
    for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
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
