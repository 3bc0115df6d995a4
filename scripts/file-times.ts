// A test reporter that prints, once the run is over, how long each test file's top-level tests
// took (the sum of their durations), longest first: the figures behind run-tests.ts's
// LONGEST_FIRST. Used by run-tests.ts when PKGINDEX_TEST_TIMES names a file to write them to:
//   PKGINDEX_TEST_TIMES=/tmp/times.txt npm test
// The sums are wall-clock time inside each file's process, so with files running side by side
// they include the time a file waited for a core: they rank files, they are not CPU.
import { relative } from 'node:path';

interface TestEvent {
  readonly type: string;
  readonly data?: {
    readonly file?: string;
    readonly nesting?: number;
    readonly details?: { readonly duration_ms?: number };
  };
}

interface FileTime {
  ms: number;
  tests: number;
}

export default async function* fileTimes(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const started = Date.now();
  const files = new Map<string, FileTime>();
  for await (const event of source) {
    const { type, data } = event;
    if ((type !== 'test:pass' && type !== 'test:fail') || data?.file === undefined || data.nesting !== 0)
      continue;
    const entry = files.get(data.file) ?? { ms: 0, tests: 0 };
    entry.ms += data.details?.duration_ms ?? 0;
    entry.tests++;
    files.set(data.file, entry);
  }
  let total = 0;
  for (const [file, { ms, tests }] of [...files].sort((a, b) => b[1].ms - a[1].ms)) {
    total += ms;
    yield `${(ms / 1000).toFixed(1).padStart(7)} s  ${String(tests).padStart(3)} tests  ${relative(process.cwd(), file)}\n`;
  }
  yield `${(total / 1000).toFixed(1)} s in ${files.size} files; ${((Date.now() - started) / 1000).toFixed(1)} s of wall clock\n`;
}
