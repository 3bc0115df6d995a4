import assert from 'node:assert/strict';
import { setImmediate as turn, setTimeout as delay } from 'node:timers/promises';

/**
 * Resolves once `check` holds: the one way tests wait for a state the code under test reaches
 * asynchronously (a counter, a metric, a health flag). It re-checks after each event-loop turn at
 * first, then every few milliseconds, and fails naming `what` when `timeoutMs` passes.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; !(await check()); i++) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    if (i < 100) await turn();
    else await delay(5);
  }
}
