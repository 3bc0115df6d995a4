import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashCycles } from '../../tools/crash/cycles.js';
import { newDataDir } from './support/tmp-dir.js';
import { DEFAULT_SERVING, SERVINGS } from '../support/servers.js';

const MODES = [
  [1, []],
  [2, ['--compact-after-bytes', '8192']],
  // Relaxed mode acknowledges after write(2): a killed process still loses nothing.
  [3, ['--sync-mode', 'relaxed', '--sync-interval-ms', '1000']],
] as const;

// Every mode on the default serving (`--io auto` is the native layer, `--threads` the cores);
// two on each of the others, in turn, so that every mode is crashed on one thread and on two,
// on both connection layers (all twelve took a sixteenth of the suite's time). Quick variant;
// `node dist/tools/measure.js crash --cycles 50` runs the long one, on any serving.

for (const [at, { threads, io, label }] of SERVINGS.entries())
  for (const [seed, args] of at === DEFAULT_SERVING
    ? MODES
    : [MODES[at % MODES.length]!, MODES[(at + 1) % MODES.length]!]) {
    test(
      `kill -9 of the server at random moments loses no acknowledged mutation (seed ${seed} ${args.join(' ')}, ${label})`,
      { timeout: 60_000 },
      async (t) => {
        const report = await runCrashCycles({
          dir: await newDataDir(t),
          seed,
          cycles: 3,
          clients: 12,
          minRunMs: 200,
          maxRunMs: 700,
          args: ['--threads', String(threads), '--io', io, ...args],
        });
        // A floor that only proves the workload ran: a loaded CI disk can be very slow to fsync.
        assert.ok(report.acked > 50, `only ${report.acked} acknowledged`);
      },
    );
  }
