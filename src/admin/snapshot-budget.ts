import { statfs } from 'node:fs/promises';
import { freemem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { createError } from '../errors.js';

/**
 * Memory a heap snapshot takes, as a multiple of the heap in use: V8 builds its own graph of
 * every object before writing a byte. Measured here: 125 MB of heap in use (400,000 small
 * objects) took RSS from 208 MB to a 1,276 MB peak, 8.5 times; the 1M-package index went
 * from 256 MB to 3.97 GB with the old in-memory chunks. Rounded up, as a refusal costs less
 * than the OOM killer.
 */
export const SNAPSHOT_MEMORY_FACTOR = 10;
/** Disk a snapshot file takes, as a multiple of the heap in use (measured 1.3). */
export const SNAPSHOT_DISK_FACTOR = 2;

/** What the budget is checked against; a seam for tests (the defaults read this process). */
export interface MemoryProbe {
  heapUsed(): number;
  /** Memory the process may still take: its cgroup limit's remainder where Node knows it. */
  availableMemory(): number;
  diskFree(dir: string): Promise<number>;
}

export const PROCESS_MEMORY: MemoryProbe = {
  heapUsed: () => getHeapStatistics().used_heap_size,
  // process.availableMemory (Node 20.13) accounts for a container's limit; os.freemem does not.
  availableMemory: () =>
    typeof process.availableMemory === 'function' ? process.availableMemory() : freemem(),
  diskFree: async (dir) => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  },
};

const mb = (bytes: number): string => `${Math.round(bytes / 1e6)} MB`;

/**
 * Refuses a heap snapshot (E_ADMIN_HEAP_TOO_LARGE, 503) when the heap in use is over the
 * configured cap (0: none), or when SNAPSHOT_MEMORY_FACTOR times it is more than the memory left
 * or SNAPSHOT_DISK_FACTOR times it more than the disk left in `dir`.
 */
export async function checkSnapshotBudget(
  probe: MemoryProbe,
  dir: string,
  maxHeapBytes: number,
): Promise<void> {
  const used = probe.heapUsed();
  const refuse = (why: string): never => {
    throw createError(
      'E_ADMIN_HEAP_TOO_LARGE',
      `heap snapshot refused: ${why}; it would stall the server and risk the OOM killer. ` +
        'Take a CPU profile instead, or snapshot a replica with more memory',
    );
  };
  if (maxHeapBytes > 0 && used > maxHeapBytes)
    refuse(
      `the heap in use (${mb(used)}) is over --admin-heap-snapshot-max-heap-bytes (${mb(maxHeapBytes)})`,
    );
  const memory = probe.availableMemory();
  if (used * SNAPSHOT_MEMORY_FACTOR > memory)
    refuse(
      `the heap in use (${mb(used)}) needs about ${mb(used * SNAPSHOT_MEMORY_FACTOR)} to snapshot, and ${mb(memory)} of memory is left`,
    );
  const disk = await probe.diskFree(dir);
  if (used * SNAPSHOT_DISK_FACTOR > disk)
    refuse(
      `the snapshot file needs about ${mb(used * SNAPSHOT_DISK_FACTOR)} in ${dir}, and ${mb(disk)} is free there`,
    );
}
