import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { Profiler } from '../observability/profiler.js';
import { JSON_CONTENT_TYPE } from './reply.js';
import { checkSnapshotBudget, type MemoryProbe } from './snapshot-budget.js';
import type { Router } from './router.js';

/** Longest CPU profile one request may ask for. */
export const MAX_PROFILE_SECONDS = 60;
const DEFAULT_PROFILE_SECONDS = 10;

/** `?seconds=N`; a repeated parameter is reported as its values joined by commas. */
function parseSeconds(query: URLSearchParams): number {
  const values = query.getAll('seconds');
  if (values.length === 0) return DEFAULT_PROFILE_SECONDS;
  const raw = values.join(',');
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PROFILE_SECONDS)
    throw createError(
      'E_ADMIN_BAD_REQUEST',
      `seconds must be a whole number from 1 to ${MAX_PROFILE_SECONDS}, got "${raw}"`,
    );
  return n;
}

function fileName(kind: string): string {
  return `pkgindex-${process.pid}-${new Date().toISOString().replace(/[:.]/g, '-')}.${kind}`;
}

/** How the /debug/* endpoints are served. */
export interface ProfilingRoutesDeps {
  readonly profiler: Profiler;
  readonly log: Logger;
  /** Aborted when the admin server closes: a running CPU profile ends early. */
  readonly signal: AbortSignal;
  /** False: every /debug/* route answers 403 E_ADMIN_DEBUG_OFF (see --admin-debug). */
  readonly enabled: boolean;
  /** Where heap snapshot files are written, each removed once opened for sending. */
  readonly snapshotDir: string;
  /** --admin-heap-snapshot-max-heap-bytes (0: no cap but the memory and disk left). */
  readonly maxHeapBytes: number;
  readonly memory: MemoryProbe;
}

const DEBUG_OFF =
  'the /debug/* endpoints are off: set PKGINDEX_ADMIN_TOKEN (they then need it), or pass --admin-debug=on on a loopback admin host';

/**
 * On-call profiling, downloadable files that Chrome DevTools opens (Performance/Memory tab,
 * "Load profile"):
 * - GET /debug/cpu-profile?seconds=N: a .cpuprofile of the next N seconds (default 10, at most 60);
 * - GET /debug/heap-snapshot: a .heapsnapshot (the server pauses while it is taken), refused
 *   with 503 when the heap is too large for the memory or disk left (snapshot-budget.ts).
 * One at a time, a heap snapshot until its file is sent: a second request meanwhile gets 409.
 * Off (403) unless enabled: see --admin-debug.
 */
export function registerProfilingRoutes(router: Router, deps: ProfilingRoutesDeps): void {
  const { profiler, log } = deps;
  if (!deps.enabled) {
    const off = (): never => {
      throw createError('E_ADMIN_DEBUG_OFF', DEBUG_OFF);
    };
    router.get('/debug/cpu-profile', off);
    router.get('/debug/heap-snapshot', off);
    return;
  }
  router.get('/debug/cpu-profile', async (request) => {
    const seconds = parseSeconds(request.query);
    const profile = await profiler.cpuProfile(seconds, {
      signal: deps.signal,
      // Only once it has started: a request refused with 409 starts nothing.
      onStarted: () => {
        log.info({ seconds, peer: request.peer }, 'cpu profile started');
      },
    });
    const body = JSON.stringify(profile);
    log.info({ seconds, bytes: body.length }, 'cpu profile taken');
    return {
      status: 200,
      headers: {
        'content-type': JSON_CONTENT_TYPE,
        'content-disposition': `attachment; filename="${fileName('cpuprofile')}"`,
      },
      body,
    };
  });
  router.get('/debug/heap-snapshot', async (request) => {
    // Busy first: a refused request must not cost the budget's statfs either.
    profiler.checkFree();
    await checkSnapshotBudget(deps.memory, deps.snapshotDir, deps.maxHeapBytes);
    const startedAt = performance.now();
    const { path, release } = profiler.heapSnapshotFile(deps.snapshotDir, {
      onStarted: () => {
        log.info({ peer: request.peer }, 'heap snapshot started');
      },
    });
    let file: FileHandle;
    let size: number;
    try {
      file = await open(path, 'r');
      size = (await file.stat()).size;
    } catch (err) {
      release();
      throw createError('E_PROFILER', `reading the heap snapshot back failed: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      // Unlinked at once: the open handle keeps it readable, and nothing is left behind if the
      // process dies while sending it.
      await rm(path, { force: true });
    }
    log.info({ durationMs: Math.round(performance.now() - startedAt), bytes: size }, 'heap snapshot taken');
    const body = file.createReadStream();
    // Closed when sent, failed or abandoned by the client: the next snapshot may then start.
    body.once('close', release);
    return {
      status: 200,
      headers: {
        'content-type': 'application/json',
        'content-disposition': `attachment; filename="${fileName('heapsnapshot')}"`,
      },
      body,
    };
  });
}
