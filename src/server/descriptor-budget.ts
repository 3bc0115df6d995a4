import { readFileSync, readdirSync } from 'node:fs';

/**
 * Descriptors kept free beyond the connections: log segments, snapshots, the compaction
 * worker, admin connections, DNS, a spare for libuv. Past the budget the server refuses new
 * connections itself, so that accept() does not fail.
 */
export const DESCRIPTOR_RESERVE = 64;

/**
 * How many connections the descriptors this process may open leave room for. Out of
 * descriptors, accept() fails, and libuv then accepts and closes the waiting clients with a
 * spare descriptor without telling Node (uv__emfile_trick): they are reset, with no log and
 * no metric. So the server counts its own descriptors instead: the soft RLIMIT_NOFILE and the
 * descriptors open at listen(), read from /proc (Linux). Elsewhere, or if /proc cannot be
 * read, there is no budget (Infinity) and --max-connections alone applies.
 */
export function connectionBudget(proc = '/proc/self', reserve = DESCRIPTOR_RESERVE): DescriptorBudget {
  try {
    const limits = readFileSync(`${proc}/limits`, 'latin1');
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (match === null || match[1] === 'unlimited') return { limit: null, open: null, connections: Infinity };
    const limit = Number(match[1]);
    const open = readdirSync(`${proc}/fd`).length;
    return { limit, open, connections: Math.max(0, limit - open - reserve) };
  } catch {
    return { limit: null, open: null, connections: Infinity };
  }
}

export interface DescriptorBudget {
  /** The soft limit on open descriptors, or null when unknown. */
  readonly limit: number | null;
  /** Descriptors open when it was measured, or null when unknown. */
  readonly open: number | null;
  /** Connections that fit: limit - open - reserve, or Infinity when unknown. */
  readonly connections: number;
}
