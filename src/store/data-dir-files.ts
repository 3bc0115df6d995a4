import { join } from 'node:path';
import type { StorageFs } from './fs/storage-fs.js';

/**
 * Names of the files in a data dir. Log segments `segment-<seq>.log` hold records in order;
 * `snapshot-<seq>.snap` holds the state after every segment up to and including <seq>.
 * Sequence numbers are zero-padded so a directory listing sorts in log order.
 */
const SEGMENT = /^segment-(\d{10})\.log$/;
const SNAPSHOT = /^snapshot-(\d{10})\.snap$/;
export const TEMP_SUFFIX = '.tmp';
export const PID_FILE = 'LOCK';
/** The control record (format version 2; see control-file.ts). */
export const CONTROL_FILE = 'CONTROL';

const pad = (seq: number): string => String(seq).padStart(10, '0');

export const segmentPath = (dir: string, seq: number): string => join(dir, `segment-${pad(seq)}.log`);
export const snapshotPath = (dir: string, seq: number): string => join(dir, `snapshot-${pad(seq)}.snap`);

export interface DirListing {
  /** Ascending. */
  readonly segments: number[];
  /** Ascending. */
  readonly snapshots: number[];
  /** Leftovers of an interrupted snapshot write. */
  readonly temporary: string[];
}

export async function listDataDir(fs: StorageFs, dir: string): Promise<DirListing> {
  const segments: number[] = [];
  const snapshots: number[] = [];
  const temporary: string[] = [];
  for (const name of await fs.readdir(dir)) {
    const seg = SEGMENT.exec(name);
    const snap = SNAPSHOT.exec(name);
    if (seg !== null) segments.push(Number(seg[1]));
    else if (snap !== null) snapshots.push(Number(snap[1]));
    else if (name.endsWith(TEMP_SUFFIX)) temporary.push(name);
  }
  const ascending = (a: number, b: number): number => a - b;
  return { segments: segments.sort(ascending), snapshots: snapshots.sort(ascending), temporary };
}
