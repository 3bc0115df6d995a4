import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh directory removed after the test. */
export async function tempDir(t: TestContext, prefix = 'pkgindex-store-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The path of a data dir that does not exist yet, in a fresh directory removed after the test:
 * a store or server started on it makes it with a new index (--create-index=missing, the
 * default), where an existing empty dir would be refused as possibly emptied.
 */
export async function newDataDir(t: TestContext, prefix = 'pkgindex-store-'): Promise<string> {
  return join(await tempDir(t, prefix), 'data');
}
