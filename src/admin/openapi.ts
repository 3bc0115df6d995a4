/**
 * The OpenAPI 3.1 description of every `/v1` route of the admin server, served at
 * `/v1/openapi.json`: the query API (query-routes.ts), the dashboard's event stream
 * (dashboard/dashboard-routes.ts) and the backup (backup-route.ts). Written by hand beside the
 * routes; a test checks it against the routes the running admin server serves (each method and
 * path, in both directions), that every described GET answers, and that the answers carry the
 * fields described here.
 */
import { DEFAULT_LIMIT, MAX_LIMIT } from '../store/index-reader.js';
import {
  DEFAULT_TREE_DEPTH,
  DEFAULT_TREE_NODES,
  MAX_TREE_DEPTH,
  MAX_TREE_NODES,
  PACKAGE_PAGE_DEPENDENTS,
  WHY_BODY_BYTES,
} from './query-limits.js';

type Schema = Readonly<Record<string, unknown>>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer', minimum: 0 };
const bool: Schema = { type: 'boolean' };
const names: Schema = { type: 'array', items: str };
const cursor: Schema = {
  type: ['string', 'null'],
  description: 'Pass as `cursor` for the next page; null on the last page. Opaque.',
};

function object(properties: Readonly<Record<string, Schema>>, description?: string): Schema {
  return {
    type: 'object',
    required: Object.keys(properties),
    properties,
    ...(description === undefined ? {} : { description }),
  };
}

const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'The package name, percent-encoded (`/` as `%2F`).',
  schema: str,
};
const query = (name: string, schema: Schema, description: string): Schema => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});
const listParams = [
  query('prefix', str, 'Only names starting with this.'),
  query('cursor', str, 'The `next` of the previous page; absent for the first.'),
  query(
    'limit',
    { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
    'Items per page.',
  ),
];

const error = object({ error: str, message: str }, 'A stable code from the error catalogue, and what to do.');
const errors = {
  '400': { description: 'A parameter out of its bounds (E_ADMIN_BAD_REQUEST).', content: jsonOf(error) },
  '401': { description: 'Missing or wrong bearer token (E_ADMIN_UNAUTHORIZED).', content: jsonOf(error) },
  '501': {
    description: 'The storage backend serves no queries (E_QUERY_UNAVAILABLE).',
    content: jsonOf(error),
  },
  '503': {
    description:
      'Busy (E_QUERY_BUSY): --query-max-concurrent queries are running, or the index kept changing during a long ' +
      "walk. Retry after the Retry-After header's seconds.",
    headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 } } },
    content: jsonOf(error),
  },
};
const notFound = {
  '404': { description: 'The package is not indexed (E_PACKAGE_NOT_FOUND).', content: jsonOf(error) },
};

function jsonOf(schema: Schema): Schema {
  return { 'application/json': { schema } };
}

function get(summary: string, parameters: readonly Schema[], schema: Schema, extra: Schema = {}): Schema {
  return {
    get: {
      summary,
      parameters,
      responses: { '200': { description: 'OK', content: jsonOf(schema) }, ...errors, ...extra },
    },
  };
}

const summaryPage = object({
  items: { type: 'array', items: object({ name: str, dependencies: int, dependents: int }) },
  next: cursor,
});
const maxVisits: Schema = {
  type: 'integer',
  minimum: 1,
  description:
    "The server's --query-max-visits: the packages plus edges a walk may visit, the bound a truncated answer hit.",
};
const order = object({
  items: names,
  truncated: {
    type: 'boolean',
    description: 'The walk hit its bound: the order covers part of the closure.',
  },
  maxVisits,
});
const whyIndex: Schema = {
  type: 'object',
  required: ['name', 'action', 'deps', 'indexable', 'verdict'],
  properties: {
    name: str,
    action: { const: 'index' },
    deps: names,
    indexable: bool,
    verdict: {
      enum: ['ok', 'missing-dependency', 'cycle', 'unknown', 'malformed'],
      description:
        'malformed: the protocol answers the line ERROR whatever the index holds (code and problem say why).',
    },
    missing: names,
    cycle: names,
    code: {
      type: 'string',
      description: 'With malformed: the protocol error code (E_EMPTY_DEPENDENCY, E_INVALID_NAME, ...).',
    },
    problem: { type: 'string', description: 'With malformed: what is wrong with the line.' },
  },
};
const treeNode: Schema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: str,
    children: { type: 'array', items: { $ref: '#/components/schemas/TreeNode' } },
    seen: { const: true, description: 'Expanded earlier in the tree.' },
    more: { const: true, description: 'Has children not shown (depth or size limit).' },
  },
};

/** The document, with the server's version. */
export function openApiDocument(version: string): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'pkgindex query API',
      version,
      description:
        'Read-only views of the package index. Every list is keyset-paginated by name (bytewise) with an opaque ' +
        'cursor; every computation is bounded and says so (`truncated`, `exact`) when it hit its bound.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { TreeNode: treeNode },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/openapi.json': get('This description.', [], { type: 'object' }),
      '/v1/info': get(
        'Server and index status, like Redis INFO.',
        [],
        object({
          version: str,
          uptimeSeconds: int,
          connections: int,
          packages: int,
          edges: int,
          storage: object({
            backend: str,
            state: { enum: ['recovering', 'writable', 'read-only'] },
            recovered: bool,
            writable: bool,
          }),
          index: {
            type: ['object', 'null'],
            description: 'The last survey of the whole graph (null while recovering).',
            properties: {
              roots: int,
              leaves: int,
              maxDepth: int,
              mostDependents: { type: 'array', items: object({ name: str, dependents: int }) },
              largestClosures: { type: 'array', items: object({ name: str, dependents: int, exact: bool }) },
              exact: bool,
              surveyedAt: str,
            },
          },
        }),
      ),
      '/v1/packages': get('Indexed packages by name.', listParams, summaryPage),
      '/v1/leaves': get('Packages nothing depends on.', listParams, summaryPage),
      '/v1/roots': get('Packages that depend on nothing.', listParams, summaryPage),
      '/v1/chains': get(
        'The longest dependency chains, longest first (from the last survey).',
        [],
        object({ maxDepth: int, items: { type: 'array', items: names }, exact: bool, surveyedAt: str }),
      ),
      '/v1/packages/{name}': get(
        'One package: dependencies, direct dependents, closure size and depth.',
        [nameParam],
        object({
          name: str,
          dependencies: names,
          dependents: {
            ...names,
            description: `The first ${PACKAGE_PAGE_DEPENDENTS} by name; dependentCount counts them all, and /v1/packages/{name}/dependents lists them a page at a time.`,
          },
          dependentCount: int,
          dependentsTruncated: {
            type: 'boolean',
            description: 'True when dependents lists fewer than dependentCount.',
          },
          closureSize: int,
          depth: int,
          exact: bool,
        }),
        notFound,
      ),
      ...Object.fromEntries(
        ['dependencies', 'dependents'].map((direction) => [
          `/v1/packages/{name}/${direction}`,
          get(
            `A page of the package's ${direction}, direct or transitive, by name.`,
            [nameParam, query('transitive', bool, 'Follow the edges transitively.'), ...listParams.slice(1)],
            object({ items: names, next: cursor, total: int, truncated: bool, maxVisits }),
            notFound,
          ),
        ]),
      ),
      '/v1/packages/{name}/tree': get(
        'The dependency tree (or with reverse=true, the tree of dependents).',
        [
          nameParam,
          query(
            'depth',
            { type: 'integer', minimum: 0, maximum: MAX_TREE_DEPTH, default: DEFAULT_TREE_DEPTH },
            'Levels below the package.',
          ),
          query('reverse', bool, 'The tree of what depends on the package.'),
          query(
            'maxNodes',
            { type: 'integer', minimum: 1, maximum: MAX_TREE_NODES, default: DEFAULT_TREE_NODES },
            'Most nodes.',
          ),
        ],
        object({
          direction: { enum: ['dependencies', 'dependents'] },
          root: { $ref: '#/components/schemas/TreeNode' },
          nodes: int,
          truncated: bool,
          maxVisits,
        }),
        notFound,
      ),
      '/v1/packages/{name}/why': {
        ...get(
          'Why REMOVE is refused (the chain of dependents holding it), or with deps, why INDEX would be.',
          [
            nameParam,
            query(
              'deps',
              str,
              'The dependency field of a hypothetical INDEX line, as written (comma-separated).',
            ),
          ],
          {
            oneOf: [
              object({
                name: str,
                action: { const: 'remove' },
                removable: bool,
                chain: names,
                shortest: bool,
                complete: bool,
              }),
              whyIndex,
            ],
          },
          notFound,
        ),
        post: {
          summary:
            'Why INDEX of the package with these dependencies would be refused, the dependencies in the body: ' +
            'GET ?deps= asks the same, but a long list does not fit in a URL.',
          parameters: [nameParam],
          requestBody: {
            required: true,
            description: `At most ${WHY_BODY_BYTES} bytes.`,
            content: jsonOf(object({ deps: names })),
          },
          responses: { '200': { description: 'OK', content: jsonOf(whyIndex) }, ...errors },
        },
      },
      '/v1/packages/{name}/install-order': get(
        'The transitive dependencies, each after all of its own, ending with the package.',
        [nameParam],
        order,
        notFound,
      ),
      '/v1/packages/{name}/removal-order': get(
        'The package and everything depending on it, dependents first.',
        [nameParam],
        order,
        notFound,
      ),
      '/v1/events': {
        get: {
          summary:
            "The live golden signals (the dashboard's feed) as server-sent events: one `history` event with the " +
            'samples kept (up to five minutes), then one `sample` event a second. The stream does not end.',
          parameters: [],
          responses: {
            '200': {
              description:
                'A stream of `event: history` then `event: sample` lines, each `data:` one JSON object.',
              content: { 'text/event-stream': { schema: str } },
            },
            '401': errors['401'],
            '503': {
              description:
                'As many streams are open as the server keeps (E_ADMIN_BUSY); retry after Retry-After.',
              headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 } } },
              content: jsonOf(error),
            },
          },
        },
      },
      '/v1/backup': {
        post: {
          summary:
            'An online backup of the data dir, streamed: a consistent cut of its durable state taken when the ' +
            'request arrives, while the server keeps serving (`pkgindex backup` saves it, `pkgindex restore` ' +
            'brings it back).',
          parameters: [],
          responses: {
            '200': {
              description: 'The backup archive.',
              headers: {
                'X-Pkgindex-Backup-Files': { schema: int },
                'X-Pkgindex-Backup-Data-Bytes': { schema: int },
              },
              content: {
                'application/octet-stream': {
                  schema: { type: 'string', contentMediaType: 'application/octet-stream' },
                },
              },
            },
            '401': errors['401'],
            '503': {
              description: 'The server does not keep its index in a data dir (E_BACKUP_UNAVAILABLE).',
              content: jsonOf(error),
            },
          },
        },
      },
    },
  };
}
