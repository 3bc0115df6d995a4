// Runs every compiled test file with node's test runner (Node 20's `node --test` does not
// expand globs, so the file list is found here). Compiled with the rest by `npm run build`:
//   node dist/scripts/run-tests.js [substring...]   only the test files whose path has one
// Test files run one more at a time than there are cores (PKGINDEX_TEST_CONCURRENCY overrides):
// part of a file's time is spent waiting on servers it spawned, sockets, timers and fsync. On
// the 2-core development machine two at a time took the suite from 3 min 12 s to 1 min 51 s,
// where node's default (one fewer than the cores) ran them one by one; at stop 52, with the
// suite grown to 1,059 tests under c8, three at a time took it from 425 s to 397 s, the cores
// 99 % busy instead of 87-99 %.
// PKGINDEX_TEST_TIMES=FILE also writes each file's time to FILE (scripts/file-times.ts).
// Each file has 4 minutes (PKGINDEX_TEST_FILE_TIMEOUT_MS overrides; Node 20's --test-timeout
// bounds a whole file when files run in processes of their own). The slowest file, the
// conformance harness, takes 35 s alone on the 2-core machine; a file that hangs (a server
// that died under a test's clients once made one spin for 11 minutes) fails, named, at the
// bound, and the runner goes on, instead of the whole run going past CI's time.
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

/**
 * The files that took longest (stop 52, 3 at a time on the 2-core machine, 14-64 s each), run
 * first, longest first; every other file follows in alphabetical order. In alphabetical order a
 * long file could start last and finish alone with the other cores idle: `tools/soak` did, the
 * last 20 s of the run at 25-55 % idle. Only the order depends on this list: a file renamed or
 * added runs all the same.
 */
const LONGEST_FIRST = [
  'conformance/harness',
  'server/server',
  'store/crash',
  'store/restore-replace',
  'server/limits',
  'cli/cli',
  'admin/dashboard-browser',
  'native/native-io',
  'deploy/dockerfile',
  'store/native-disk-faults',
  'cli/import-cli',
  'runtime/young-generation',
  'store/suspended-faults-fuzz',
  'store/postgres/resilience',
  'tools/soak',
].map((name) => `${name}.test.js`);

/** Where `file` runs: its place in LONGEST_FIRST, or after all of them. */
function rank(file: string): number {
  const i = LONGEST_FIRST.findIndex((name) => file.endsWith(`/${name}`));
  return i === -1 ? LONGEST_FIRST.length : i;
}

const filter = process.argv.slice(2);
const files = find(TESTS)
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error(
    `no test files found under ${TESTS}${filter.length > 0 ? ` matching ${filter.join(', ')}` : ''}`,
  );
  process.exit(1);
}
const concurrency = positiveInteger('PKGINDEX_TEST_CONCURRENCY', Math.min(8, availableParallelism() + 1));
const fileTimeoutMs = positiveInteger('PKGINDEX_TEST_FILE_TIMEOUT_MS', 240_000);
const result = spawnSync(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${fileTimeoutMs}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    ...timesReporter(),
    ...files,
  ],
  {
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);

/** file-times.js as a second reporter, writing to PKGINDEX_TEST_TIMES, when that is set. */
function timesReporter(): string[] {
  const destination = process.env.PKGINDEX_TEST_TIMES;
  if (destination === undefined || destination === '') return [];
  const reporter = fileURLToPath(new URL('file-times.js', import.meta.url));
  return [`--test-reporter=${reporter}`, `--test-reporter-destination=${destination}`];
}

/** The environment variable `name` if it is set to a positive integer, else `fallback`. */
function positiveInteger(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive integer, got ${value}`);
    process.exit(2);
  }
  return n;
}
