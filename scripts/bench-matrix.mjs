#!/usr/bin/env node
// `npm run bench`: the standard benchmark matrix, from the compiled sources (see src/cli/bench-matrix.ts).
import { benchMatrixMain } from '../dist/src/cli/bench-matrix.js';

benchMatrixMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench-matrix: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
