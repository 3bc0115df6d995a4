/** Where the tools find the checkout, the built CLI and their own output. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolError } from './errors.js';

/**
 * The checkout: the nearest directory above this module holding package.json (the same from
 * dist/tools/ after the build and from tools/ under tsx).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new ToolError('cannot find the checkout (package.json) above the tools');
    dir = up;
  }
  return dir;
}

/** The built `pkgindex` command the tools start and measure (`npm run build` makes it). */
export function cliPath(root = repoRoot()): string {
  return join(root, 'dist', 'src', 'cli', 'main.js');
}

/** What the tools build and write (the C ceiling, the matrix's JSON, data dirs): not source. */
export function outDir(root = repoRoot()): string {
  return join(root, 'tools', 'out');
}
