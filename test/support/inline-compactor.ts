import { foldSnapshot, type Compactor } from '../../src/store/compaction.js';
import type { StorageFs } from '../../src/store/fs/storage-fs.js';

/**
 * Runs compaction on this thread through `fs`, so that a fault-injecting fs sees (and can
 * fail) its I/O too; the product's compactor runs in a worker thread on the real file system.
 */
export function inlineCompactor(fs: StorageFs): Compactor {
  return (job) => foldSnapshot(fs, job);
}
