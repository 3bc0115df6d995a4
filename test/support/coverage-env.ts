/**
 * The test run's NODE_V8_COVERAGE (set by c8 in `npm test`), for child processes given an
 * environment of their own: without it their code would be missing from the coverage report.
 */
export function coverageEnv(): Record<string, string> {
  const dir = process.env.NODE_V8_COVERAGE;
  return dir === undefined ? {} : { NODE_V8_COVERAGE: dir };
}
