#!/usr/bin/env bash
# `npm test`: the gates and the whole suite, arranged for a 2-core machine. One after the
# other, ESLint (42 s), the build (25 s), the type check (10 s) and Prettier (11 s) took about
# 90 s of CI's 10 minutes before the first test ran. Here the build, Prettier's check and ESLint
# run side by side (about 70 s), then the suite. The build's `tsc -p tsconfig.build.json`
# type-checks exactly what `npm run typecheck` does (that file extends tsconfig.json with the
# same files and only turns emitting on), so the separate `tsc --noEmit` is not run again.
# ESLint beside the suite instead was tried and dropped: the suite is CPU-bound on two cores and
# took 25-30 s longer beside it, what ESLint adds here (clean-clone .ci/run 541 s both ways),
# and the extra load failed a timing-sensitive test; before the suite, a lint error is known
# before the tests start.
# A gate's output is printed, with its name, once the three are done and only when it failed;
# the suite runs if the build passed, and streams its own output (spec reporter, then c8's
# coverage summary). Any failure fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0

# Prints a gate's verdict, and its output when it failed (then the run fails).
verdict() {
  local name=$1 rc=$2
  if [ "$rc" -eq 0 ]; then
    echo "== $name: passed"
  else
    echo "== $name: FAILED (exit $rc)"
    cat "$out/$name"
    status=1
  fi
}

npm run --silent lint >"$out/lint" 2>&1 &
lint=$!
npm run --silent format:check >"$out/format" 2>&1 &
format=$!
npm run --silent build >"$out/build" 2>&1
build_rc=$?
wait "$format"
format_rc=$?
wait "$lint"
lint_rc=$?
verdict build "$build_rc"
verdict format "$format_rc"
verdict lint "$lint_rc"
if [ "$build_rc" -ne 0 ]; then exit 1; fi

npx c8 node dist/scripts/run-tests.js
tests_rc=$?
if [ "$tests_rc" -ne 0 ]; then
  echo "== tests: FAILED (exit $tests_rc)"
  status=1
fi
exit "$status"
