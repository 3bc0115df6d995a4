/** The load generator's default data set, shipped with the package (package.json `files`). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Homebrew dependency list (3,368 formulae) in `bench/` of the package: found from this
 * module by walking up to the package's root, the same from a checkout's `dist/` and from an
 * installed package.
 */
export function defaultDataFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'bench', 'brew-dependencies.txt');
}
