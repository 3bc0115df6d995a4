import { readFileSync } from 'node:fs';
import { defaultDataFile } from '../../src/bench/data-set.js';

/**
 * The Homebrew list as the challenge's harness uses it: every name that appears, as a package
 * or only as a dependency (2 dependencies, gpg and docbook2X, have no line of their own and
 * are indexed with no dependencies).
 */
export function loadBrewPackages(path = defaultDataFile()): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    packages.set(line.slice(0, colon).trim(), deps);
  }
  for (const deps of [...packages.values()]) for (const d of deps) if (!packages.has(d)) packages.set(d, []);
  return packages;
}
