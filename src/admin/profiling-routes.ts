import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AdminBadRequestError } from '../errors.js';
import type { Profiler } from '../observability/profiler.js';

/** Longest CPU profile one request may ask for. */
export const MAX_PROFILE_SECONDS = 60;
const DEFAULT_PROFILE_SECONDS = 10;

function parseSeconds(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PROFILE_SECONDS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PROFILE_SECONDS)
    throw new AdminBadRequestError(
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
  app: FastifyInstance,
  deps: { profiler: Profiler; log: Logger; signal: AbortSignal },
): void {
  const { profiler, log } = deps;
  app.get<{ Querystring: { seconds?: string } }>('/debug/cpu-profile', async (request, reply) => {
    const seconds = parseSeconds(request.query.seconds);
    log.info({ seconds, peer: request.ip }, 'cpu profile started');
    const profile = await profiler.cpuProfile(seconds, deps.signal);
    const body = JSON.stringify(profile);
    log.info({ seconds, bytes: body.length }, 'cpu profile taken');
    return reply
      .header('content-type', 'application/json')
      .header('content-disposition', `attachment; filename="${fileName('cpuprofile')}"`)
      .send(body);
  });
  app.get('/debug/heap-snapshot', async (request, reply) => {
    log.info({ peer: request.ip }, 'heap snapshot started');
    const startedAt = performance.now();
    const chunks = await profiler.heapSnapshot();
    log.info(
      {
        durationMs: Math.round(performance.now() - startedAt),
        bytes: chunks.reduce((n, c) => n + c.length, 0),
      },
      'heap snapshot taken',
    );
    return reply
      .header('content-type', 'application/json')
      .header('content-disposition', `attachment; filename="${fileName('heapsnapshot')}"`)
      .send(Readable.from(chunks));
  });
}
