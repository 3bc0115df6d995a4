// Runs every compiled test file with node's test runner (Node 20's `node --test` does not
// expand globs, so the file list is found here). Compiled with the rest by `npm run build`:
//   node dist/scripts/run-tests.js [substring...]   only the test files whose path has one
// Test files run two or more at a time (PKGINDEX_TEST_CONCURRENCY overrides): most of a file's
// time is spent waiting on servers it spawned, sockets and fsync, so on the 2-core development
// machine two at a time took the suite from 3 min 12 s to 1 min 51 s, where node's default
// (one fewer than the cores) ran them one by one.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

/** dist/test, next to this file's dist/scripts/. */
const TESTS = fileURLToPath(new URL('../test', import.meta.url));

const filter = process.argv.slice(2);
const files = find(TESTS)
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(
    `no test files found under ${TESTS}${filter.length > 0 ? ` matching ${filter.join(', ')}` : ''}`,
  );
  process.exit(1);
}
const concurrency = testConcurrency(process.env['PKGINDEX_TEST_CONCURRENCY']);
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);

/** Files run at once: the override if it is a positive integer, else 2 to 8 by the cores. */
function testConcurrency(override: string | undefined): number {
  if (override !== undefined && override !== '') {
    const n = Number(override);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`PKGINDEX_TEST_CONCURRENCY must be a positive integer, got ${override}`);
      process.exit(2);
    }
    return n;
  }
  return Math.min(8, Math.max(2, availableParallelism() - 1));
}
