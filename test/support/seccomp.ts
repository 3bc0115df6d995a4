import { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../store/support/tmp-dir.js';

const SOURCE = join(import.meta.dirname, '..', '..', '..', 'test', 'support', 'deny-syscall.c');

/**
 * A launcher (`spawnServer`'s `launcher`) that runs its command under a real seccomp filter
 * refusing the system call `call` with EPERM (deny-syscall.c, built here with cc), or null when
 * it cannot be had here: the test is then skipped, saying why, except in CI, where it fails.
 */
export async function denyingLauncher(t: TestContext, call: string): Promise<string | null> {
  if (process.platform !== 'linux') {
    t.skip(`seccomp filters are Linux's; this is ${process.platform}`);
    return null;
  }
  const out = join(await tempDir(t, 'pkgindex-seccomp-'), `deny-${call}`);
  const built = spawnSync('cc', ['-O2', `-DDENIED_CALL=__NR_${call}`, '-o', out, SOURCE], {
    encoding: 'utf8',
  });
  if (built.status === 0) return out;
  const why = `cannot build ${SOURCE} with cc: ${built.error?.message ?? built.stderr}`;
  // .ci/run installs g++ (and so gcc and cc) for the native layer.
  if (process.env.CI === 'true') assert.fail(`CI must run this test: ${why}`);
  t.skip(why);
  return null;
}
