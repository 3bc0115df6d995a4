import { compactionFs, foldSnapshot, type Compactor } from '../../src/store/compaction.js';
import type { StorageFs } from '../../src/store/fs/storage-fs.js';

/**
 * Runs compaction on this thread through `fs`, so that a fault-injecting fs sees (and can
 * fail, or hold) its I/O too, tracked and abortable as the store asks; the product's compactor
 * runs in a worker thread on the real file system.
 */
export function inlineCompactor(fs: StorageFs): Compactor {
  return (job, context) => foldSnapshot(compactionFs(fs, context), job);
}
