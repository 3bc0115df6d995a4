/**
 * The query API: read-only JSON under `/v1/`, behind the admin token like every admin route
 * but health. Each route reads the index through `IndexReader` (src/store/index-reader.ts),
 * whose answers are bounded; this module turns requests into reader calls and answers into
 * JSON, and documents nothing itself: the description is `openapi.ts`, which a test holds to
 * these routes. Decisions and alternatives: docs/adr/0014-query-api.md.
 */
import { createError, meaningOf } from '../errors.js';
import { indexLineError } from '../protocol/parse.js';
import type { HealthReporter } from '../observability/readiness.js';
import {
  DEFAULT_LIMIT,
  Direction,
  ListFilter,
  MAX_LIMIT,
  type IndexReader,
  type Page,
} from '../store/index-reader.js';
import { encodeCursor } from './cursor.js';
import { openApiDocument } from './openapi.js';
import {
  DEFAULT_TREE_DEPTH,
  DEFAULT_TREE_NODES,
  MAX_TREE_DEPTH,
  MAX_TREE_NODES,
  PACKAGE_PAGE_DEPENDENTS,
  WHY_BODY_BYTES,
} from './query-limits.js';
import { QueryParams } from './query-params.js';
import { jsonItemsReply, jsonReply, type AdminReply } from './reply.js';
import type { AdminRequest, Router, RouteParams } from './router.js';

export interface QueryRouteDeps {
  /** Null when the store serves the protocol only: the query routes answer 501. */
  readonly reader: IndexReader | null;
  readonly store: HealthReporter & { stats(): { readonly packages: number; readonly edges: number } };
  /** The storage backend's name (`memory`, `disk`, ...). */
  readonly backend: string;
  /** Open protocol connections. */
  readonly connections: () => number;
  /** Packages plus edges one query may visit (`--query-max-visits`). */
  readonly maxVisits: number;
  /** Queries answered at once; more are refused E_QUERY_BUSY (`--query-max-concurrent`). */
  readonly maxConcurrent: number;
  readonly version: string;
}

export {
  DEFAULT_TREE_DEPTH,
  DEFAULT_TREE_NODES,
  MAX_TREE_DEPTH,
  MAX_TREE_NODES,
  PACKAGE_PAGE_DEPENDENTS,
} from './query-limits.js';

const NO_STORE = { 'cache-control': 'no-store' };

function json(value: unknown): AdminReply {
  return jsonReply(value, { headers: NO_STORE });
}

function notIndexed(name: string): never {
  throw createError(
    'E_PACKAGE_NOT_FOUND',
    `package "${name}" is not indexed; search the index by prefix: GET /v1/packages?prefix=${encodeURIComponent(name.slice(0, 3))} (pkgindex ls ${name.slice(0, 3)})`,
  );
}

/** The `deps` of a POSTed why question: `{ "deps": ["a", "b"] }`. */
function depsOf(body: Buffer): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = null;
  }
  const deps = (parsed as { deps?: unknown } | null)?.deps;
  if (!Array.isArray(deps) || !deps.every((d): d is string => typeof d === 'string'))
    throw createError(
      'E_ADMIN_BAD_REQUEST',
      'the body must be JSON {"deps": ["name", ...]}: the dependencies of the INDEX to explain',
    );
  // As written: an empty name makes the INDEX line malformed, as `?deps=a,,b` does.
  return deps;
}

function page<T>(p: Page<T>): { items: readonly T[]; next: string | null } {
  return { items: p.items, next: p.next === null ? null : encodeCursor(p.next) };
}

export function registerQueryRoutes(router: Router, deps: QueryRouteDeps): void {
  const startedAt = Date.now();
  const { maxVisits } = deps;
  const reader = (): IndexReader => {
    if (deps.reader === null)
      throw createError(
        'E_QUERY_UNAVAILABLE',
        `the ${deps.backend} storage backend does not serve the query API; run the server with --storage memory or disk`,
      );
    return deps.reader;
  };
  let running = 0;
  /** Runs `handler` unless `maxConcurrent` queries are running already (E_QUERY_BUSY, 503). */
  const limited = async (handler: () => Promise<AdminReply>): Promise<AdminReply> => {
    if (running >= deps.maxConcurrent)
      throw createError(
        'E_QUERY_BUSY',
        `${running} queries are running, the most --query-max-concurrent allows; retry after the Retry-After seconds, or raise --query-max-concurrent`,
      );
    running++;
    try {
      return await handler();
    } finally {
      running--;
    }
  };
  const routeReply = (
    path: string,
    known: readonly string[],
    handler: (q: QueryParams, params: RouteParams, request: AdminRequest) => Promise<AdminReply>,
  ): void => {
    router.get(path, (request, params) =>
      limited(() => handler(new QueryParams(request.query, known), params, request)),
    );
  };
  const route = (
    path: string,
    known: readonly string[],
    handler: (q: QueryParams, params: RouteParams, request: AdminRequest) => Promise<unknown>,
  ): void => {
    routeReply(path, known, async (q, params, request) => json(await handler(q, params, request)));
  };
  const listing = (filter: ListFilter) => async (q: QueryParams) =>
    page(
      await reader().listPackages(filter, {
        prefix: q.text('prefix') ?? '',
        after: q.cursor(),
        limit: q.integer('limit', DEFAULT_LIMIT, 1, MAX_LIMIT),
      }),
    );
  const LIST = ['prefix', 'cursor', 'limit'];

  router.get('/v1/openapi.json', () => json(openApiDocument(deps.version)));
  route('/v1/packages', LIST, listing(ListFilter.ALL));
  route('/v1/leaves', LIST, listing(ListFilter.LEAVES));
  route('/v1/roots', LIST, listing(ListFilter.ROOTS));

  route('/v1/packages/{name}', [], async (_q, { name = '' }) => {
    const info =
      (await reader().packageInfo(name, { maxVisits, maxDependents: PACKAGE_PAGE_DEPENDENTS })) ??
      notIndexed(name);
    return {
      name: info.name,
      dependencies: info.dependencies,
      dependents: info.dependents,
      dependentCount: info.dependentCount,
      dependentsTruncated: info.dependents.length < info.dependentCount,
      closureSize: info.closureSize,
      depth: info.depth,
      exact: info.exact,
    };
  });

  for (const direction of [Direction.DEPENDENCIES, Direction.DEPENDENTS])
    route(`/v1/packages/{name}/${direction}`, ['transitive', 'cursor', 'limit'], async (q, { name = '' }) => {
      const related =
        (await reader().related(name, direction, {
          transitive: q.bool('transitive', false),
          maxVisits,
          after: q.cursor(),
          limit: q.integer('limit', DEFAULT_LIMIT, 1, MAX_LIMIT),
        })) ?? notIndexed(name);
      return { ...page(related), total: related.total, truncated: related.truncated, maxVisits };
    });

  route('/v1/packages/{name}/tree', ['depth', 'reverse', 'maxNodes'], async (q, { name = '' }) => {
    const direction = q.bool('reverse', false) ? Direction.DEPENDENTS : Direction.DEPENDENCIES;
    const tree =
      (await reader().tree(name, direction, {
        depth: q.integer('depth', DEFAULT_TREE_DEPTH, 0, MAX_TREE_DEPTH),
        maxNodes: q.integer('maxNodes', DEFAULT_TREE_NODES, 1, MAX_TREE_NODES),
        maxVisits,
      })) ?? notIndexed(name);
    return { direction, ...tree, maxVisits };
  });

  // `raw`: the INDEX line's dependency field, as the client would send it.
  const whyIndex = async (name: string, raw: string) => {
    // The line first, by the protocol's own parser: an explanation must not call a line
    // indexable that the server answers ERROR (`a,,b`, `glib,`, a name with a space).
    const code = indexLineError(name, raw);
    if (code !== null)
      return {
        name,
        action: 'index',
        deps: raw.split(','),
        indexable: false,
        verdict: 'malformed',
        code,
        problem: meaningOf(code),
      };
    const deps = raw === '' ? [] : raw.split(',');
    const why = await reader().whyRefused(name, deps, { maxVisits });
    return { name, action: 'index', deps, indexable: why.verdict === 'ok', ...why };
  };
  route('/v1/packages/{name}/why', ['deps'], async (q, { name = '' }) => {
    const raw = q.text('deps');
    if (raw !== undefined) return whyIndex(name, raw);
    const held = (await reader().whyHeld(name, { maxVisits })) ?? notIndexed(name);
    return { name, action: 'remove', removable: held.chain.length === 1, ...held };
  });
  // The same INDEX question with the dependencies in a JSON body: a list of thousands of
  // names does not fit in a URL (node:http takes 16 KiB of headers), though it fits in a
  // protocol line.
  router.post('/v1/packages/{name}/why', (request, { name = '' }) =>
    limited(async () => {
      new QueryParams(request.query, []); // refuses any query parameter: the question is the body
      return json(await whyIndex(name, depsOf(await request.body(WHY_BODY_BYTES)).join(',')));
    }),
  );

  routeReply('/v1/packages/{name}/install-order', [], async (_q, { name = '' }) => {
    const order = (await reader().installOrder(name, { maxVisits })) ?? notIndexed(name);
    return jsonItemsReply(order.items, { truncated: order.truncated, maxVisits }, { headers: NO_STORE });
  });

  routeReply('/v1/packages/{name}/removal-order', [], async (_q, { name = '' }) => {
    const order = (await reader().removalOrder(name, { maxVisits })) ?? notIndexed(name);
    return jsonItemsReply(order.items, { truncated: order.truncated, maxVisits }, { headers: NO_STORE });
  });

  route('/v1/chains', [], async () => {
    const { result, finishedAt, stale } = await reader().survey();
    return {
      maxDepth: result.maxDepth,
      items: result.longestChains,
      exact: result.exact && !stale,
      surveyedAt: new Date(finishedAt).toISOString(),
    };
  });

  route('/v1/info', [], async () => {
    const health = deps.store.health();
    const { packages, edges } = deps.store.stats();
    const survey = deps.reader === null || !health.recovered ? null : await deps.reader.survey();
    return {
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      connections: deps.connections(),
      packages,
      edges,
      storage: {
        backend: deps.backend,
        state: !health.recovered ? 'recovering' : health.writable ? 'writable' : 'read-only',
        recovered: health.recovered,
        writable: health.writable,
        ...(health.detail === undefined ? {} : { detail: health.detail }),
      },
      index:
        survey === null
          ? null
          : {
              roots: survey.result.roots,
              leaves: survey.result.leaves,
              maxDepth: survey.result.maxDepth,
              mostDependents: survey.result.mostDependents,
              largestClosures: survey.result.largestClosures,
              exact: survey.result.exact && !survey.stale,
              surveyedAt: new Date(survey.finishedAt).toISOString(),
            },
    };
  });
}
