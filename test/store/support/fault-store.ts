import type { TestContext } from 'node:test';
import { DiskStore, type DiskStoreOptions } from '../../../src/store/disk-store.js';
import { FaultFs } from '../../support/fault-fs.js';
import { inlineCompactor } from '../../support/inline-compactor.js';
import { startServer, type Serving } from '../../support/servers.js';

/**
 * A durable store on `dir` whose file system fails or holds what the test injects; quick
 * retries; `options` add to or override those.
 */
export function faultStore(
  dir: string,
  fs: FaultFs = new FaultFs(),
  options: Partial<DiskStoreOptions> = {},
): { store: DiskStore; fs: FaultFs } {
  return {
    store: new DiskStore({ dataDir: dir, fs, compactor: inlineCompactor(fs), retryMinMs: 5, ...options }),
    fs,
  };
}

/** Cycle checks past 1000 units of work are suspended (the default is 20,000); retries stay quick. */
export const SUSPENDING_CHECKS: Partial<DiskStoreOptions> = { retryMaxMs: 20, slices: { inlineWork: 1000 } };

/** `faultStore(dir)`, opened, closed when the test ends. */
export async function openFaultStore(
  t: TestContext,
  dir: string,
): Promise<{ store: DiskStore; fs: FaultFs }> {
  const opened = faultStore(dir);
  await opened.store.open();
  t.after(() => opened.store.close());
  return opened;
}

/** A server on `faultStore(dir, fs)`; with `serving`, served that way (else TEST_CONFIG's). */
export async function faultServer(
  dir: string,
  fs: FaultFs = new FaultFs(),
  serving?: Pick<Serving, 'io' | 'threads'>,
) {
  const { store } = faultStore(dir, fs);
  const how = serving === undefined ? {} : { io: serving.io, threads: serving.threads };
  const server = await startServer({ storage: 'disk', dataDir: dir, ...how }, { store });
  return { server, store, fs };
}
