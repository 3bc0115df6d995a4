import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { Profiler } from '../observability/profiler.js';
import { JSON_CONTENT_TYPE } from './reply.js';
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

/**
 * On-call profiling, downloadable files that Chrome DevTools opens (Performance/Memory tab,
 * "Load profile"):
 * - GET /debug/cpu-profile?seconds=N: a .cpuprofile of the next N seconds (default 10, at most 60);
 * - GET /debug/heap-snapshot: a .heapsnapshot (the server pauses while it is taken).
 * One at a time: a second request while one runs gets 409.
 */
export function registerProfilingRoutes(
  router: Router,
  deps: { profiler: Profiler; log: Logger; signal: AbortSignal },
): void {
  const { profiler, log } = deps;
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
    const startedAt = performance.now();
    const chunks = await profiler.heapSnapshot({
      onStarted: () => {
        log.info({ peer: request.peer }, 'heap snapshot started');
      },
    });
    log.info(
      {
        durationMs: Math.round(performance.now() - startedAt),
        bytes: chunks.reduce((n, c) => n + c.length, 0),
      },
      'heap snapshot taken',
    );
    // Streamed in V8's chunks rather than joined: the snapshot may be hundreds of megabytes.
    return {
      status: 200,
      headers: {
        'content-type': 'application/json',
        'content-disposition': `attachment; filename="${fileName('heapsnapshot')}"`,
      },
      body: Readable.from(chunks),
    };
  });
}
