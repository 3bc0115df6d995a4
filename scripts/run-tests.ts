// Runs every compiled test file with node's test runner (Node 20's `node --test` does not
// expand globs, so the file list is found here). Compiled with the rest by `npm run build`:
//   node dist/scripts/run-tests.js [substring...]   only the test files whose path has one
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
