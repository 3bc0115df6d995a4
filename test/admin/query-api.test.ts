import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeferredStore } from '../support/deferred-store.js';
import { newDataDir } from '../store/support/tmp-dir.js';
import { OPTIONS } from '../../src/config/options.js';
import { exchange, get, startInProcess, type InProcess } from './harness.js';

/** The server's --query-max-visits, which every walk's answer names. */
const MAX_VISITS = OPTIONS.queryMaxVisits.default;

type Json = Record<string, unknown>;

async function getJson(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  const r = await get(port, path, headers);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `${path}: JSON`);
  return { status: r.status, body: JSON.parse(r.text) as Json };
}

async function ok(port: number, path: string): Promise<Json> {
  const { status, body } = await getJson(port, path);
  assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`);
  return body;
}

async function fails(port: number, path: string, status: number, code: string): Promise<string> {
  const r = await getJson(port, path);
  assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error, code, path);
  assert.equal(typeof r.body.message, 'string');
  return r.body.message as string;
}

// a ← b ← c ← x/y, c → a; d alone; a name with a slash, and one with characters to escape.
const FEED = ['INDEX|a|', 'INDEX|b|a', 'INDEX|c|a,b', 'INDEX|x/y|c', 'INDEX|d|', 'INDEX|e+1@2:3|d'];

describe('query API over HTTP, fed over the protocol port', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess();
    assert.deepEqual(
      await exchange(s.port, FEED),
      FEED.map(() => 'OK'),
    );
  });
  after(async () => {
    await s.close();
  });

  test('GET /v1/packages lists every package by name with its counts, and no next page', async () => {
    assert.deepEqual(await ok(s.adminPort, '/v1/packages'), {
      items: [
        { name: 'a', dependencies: 0, dependents: 2 },
        { name: 'b', dependencies: 1, dependents: 1 },
        { name: 'c', dependencies: 2, dependents: 1 },
        { name: 'd', dependencies: 0, dependents: 1 },
        { name: 'e+1@2:3', dependencies: 1, dependents: 0 },
        { name: 'x/y', dependencies: 1, dependents: 0 },
      ],
      next: null,
    });
  });

  test('pages follow each other by cursor; prefix narrows the list', async () => {
    const first = await ok(s.adminPort, '/v1/packages?limit=4');
    assert.deepEqual(
      (first.items as Json[]).map((i) => i.name),
      ['a', 'b', 'c', 'd'],
    );
    assert.equal(typeof first.next, 'string');
    const second = await ok(s.adminPort, `/v1/packages?limit=4&cursor=${first.next as string}`);
    assert.deepEqual(
      (second.items as Json[]).map((i) => i.name),
      ['e+1@2:3', 'x/y'],
    );
    assert.equal(second.next, null);
    const prefixed = await ok(s.adminPort, '/v1/packages?prefix=x%2F');
    assert.deepEqual(prefixed, { items: [{ name: 'x/y', dependencies: 1, dependents: 0 }], next: null });
    assert.deepEqual(await ok(s.adminPort, '/v1/packages?prefix=zz'), { items: [], next: null });
  });

  test('GET /v1/packages/{name}: dependencies, dependents, closure size and depth; names percent-encoded', async () => {
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/c'), {
      name: 'c',
      dependencies: ['a', 'b'],
      dependents: ['x/y'],
      dependentCount: 1,
      dependentsTruncated: false,
      closureSize: 2,
      depth: 2,
      exact: true,
    });
    const slashed = await ok(s.adminPort, '/v1/packages/x%2Fy');
    assert.equal(slashed.name, 'x/y');
    assert.equal(slashed.closureSize, 3);
    assert.equal(slashed.depth, 3);
    assert.equal((await ok(s.adminPort, `/v1/packages/${encodeURIComponent('e+1@2:3')}`)).name, 'e+1@2:3');
  });

  test('dependencies and dependents, direct or transitive, as pages', async () => {
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/x%2Fy/dependencies'), {
      items: ['c'],
      next: null,
      total: 1,
      truncated: false,
      maxVisits: MAX_VISITS,
    });
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/x%2Fy/dependencies?transitive=true'), {
      items: ['a', 'b', 'c'],
      next: null,
      total: 3,
      truncated: false,
      maxVisits: MAX_VISITS,
    });
    assert.deepEqual((await ok(s.adminPort, '/v1/packages/a/dependents')).items, ['b', 'c']);
    const page = await ok(s.adminPort, '/v1/packages/a/dependents?transitive=true&limit=2');
    assert.deepEqual(page.items, ['b', 'c']);
    assert.equal(page.total, 3);
    const rest = await ok(
      s.adminPort,
      `/v1/packages/a/dependents?transitive=true&limit=2&cursor=${page.next as string}`,
    );
    assert.deepEqual(rest.items, ['x/y']);
    assert.equal(rest.next, null);
  });

  test('install order: each package after all of its dependencies, ending with the package', async () => {
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/x%2Fy/install-order'), {
      items: ['a', 'b', 'c', 'x/y'],
      truncated: false,
      maxVisits: MAX_VISITS,
    });
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/a/removal-order'), {
      items: ['x/y', 'c', 'b', 'a'],
      truncated: false,
      maxVisits: MAX_VISITS,
    });
  });

  test('tree, depth-limited, and the reverse tree', async () => {
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/x%2Fy/tree?depth=2'), {
      direction: 'dependencies',
      root: { name: 'x/y', children: [{ name: 'c', children: [{ name: 'a' }, { name: 'b', more: true }] }] },
      nodes: 4,
      truncated: false,
      maxVisits: MAX_VISITS,
    });
    const reverse = await ok(s.adminPort, '/v1/packages/b/tree?reverse=true');
    assert.deepEqual(reverse.root, { name: 'b', children: [{ name: 'c', children: [{ name: 'x/y' }] }] });
    assert.equal(reverse.direction, 'dependents');
  });

  test('POST .../why: the INDEX question with its dependencies in a JSON body, however many', async () => {
    const post = async (path: string, body: string): Promise<{ status: number; body: Json }> => {
      const r = await fetch(`http://127.0.0.1:${s.adminPort}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      return { status: r.status, body: (await r.json()) as Json };
    };
    assert.deepEqual((await post('/v1/packages/a/why', JSON.stringify({ deps: ['x/y', 'd'] }))).body, {
      name: 'a',
      action: 'index',
      deps: ['x/y', 'd'],
      indexable: false,
      verdict: 'cycle',
      cycle: ['a', 'x/y', 'c', 'a'],
    });
    // 3,000 names, some 40 KiB: over node:http's 16 KiB of headers, so no GET could ask it.
    const many = Array.from({ length: 3000 }, (_, i) => `missing-dependency-${i}`);
    const long = await post('/v1/packages/new/why', JSON.stringify({ deps: ['a', ...many] }));
    assert.equal(long.status, 200, JSON.stringify(long.body));
    assert.equal(long.body.verdict, 'missing-dependency');
    assert.deepEqual(long.body.missing, many);
    assert.equal((await post('/v1/packages/new/why', '{"deps":[]}')).body.indexable, true);
    // The body's names make the same INDEX line as ?deps=, checked by the protocol's parser.
    const malformed = await post('/v1/packages/new/why', JSON.stringify({ deps: ['a', ''] }));
    assert.equal(malformed.body.verdict, 'malformed', JSON.stringify(malformed.body));
    assert.equal(malformed.body.indexable, false);
    for (const [path, body, message] of [
      ['/v1/packages/a/why', '{"deps":"a,b"}', /the body must be JSON \{"deps": \["name", \.\.\.\]\}/],
      ['/v1/packages/a/why', 'not json', /the body must be JSON/],
      [
        '/v1/packages/a/why',
        JSON.stringify({ deps: ['x'.repeat(1 << 20)] }),
        /the request body is over 1048576 bytes/,
      ],
      ['/v1/packages/a/why?deps=b', '{"deps":[]}', /unknown query parameter "deps"; this route takes none/],
    ] as const) {
      const r = await post(path, body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error, 'E_ADMIN_BAD_REQUEST');
      assert.match(r.body.message as string, message);
    }
    // The connection that sent an over-long body still serves the next request.
    assert.equal((await ok(s.adminPort, '/v1/packages/a/why')).removable, false);
  });

  test('why: the chain that holds a package, and why an INDEX would be refused', async () => {
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/a/why'), {
      name: 'a',
      action: 'remove',
      removable: false,
      chain: ['x/y', 'c', 'a'],
      shortest: true,
      complete: true,
    });
    assert.equal((await ok(s.adminPort, '/v1/packages/x%2Fy/why')).removable, true);
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/a/why?deps=x/y,d'), {
      name: 'a',
      action: 'index',
      deps: ['x/y', 'd'],
      indexable: false,
      verdict: 'cycle',
      cycle: ['a', 'x/y', 'c', 'a'],
    });
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/new/why?deps=a,nope,gone'), {
      name: 'new',
      action: 'index',
      deps: ['a', 'nope', 'gone'],
      indexable: false,
      verdict: 'missing-dependency',
      missing: ['nope', 'gone'],
    });
    assert.equal((await ok(s.adminPort, '/v1/packages/new/why?deps=a,b')).indexable, true);
    // Lines the protocol answers ERROR are malformed, never indexable, whatever the index holds.
    assert.deepEqual(await ok(s.adminPort, '/v1/packages/new/why?deps=a,,b'), {
      name: 'new',
      action: 'index',
      deps: ['a', '', 'b'],
      indexable: false,
      verdict: 'malformed',
      code: 'E_EMPTY_DEPENDENCY',
      problem: 'a dependency name is empty (two commas, or a trailing comma)',
    });
    for (const [path, code] of [
      ['/v1/packages/new/why?deps=a,', 'E_EMPTY_DEPENDENCY'],
      ['/v1/packages/new/why?deps=bad%20name', 'E_INVALID_DEPENDENCY'],
      ['/v1/packages/bad%20name/why?deps=a', 'E_INVALID_NAME'],
      [`/v1/packages/${'x'.repeat(300)}/why?deps=a`, 'E_NAME_TOO_LONG'],
    ] as const) {
      const why = await ok(s.adminPort, path);
      assert.equal(why.verdict, 'malformed', path);
      assert.equal(why.code, code, path);
      assert.equal(why.indexable, false, path);
    }
  });

  test('leaves, roots and the longest chains', async () => {
    const names = (body: Json): unknown[] => (body.items as Json[]).map((i) => i.name);
    assert.deepEqual(names(await ok(s.adminPort, '/v1/leaves')), ['e+1@2:3', 'x/y']);
    assert.deepEqual(names(await ok(s.adminPort, '/v1/roots')), ['a', 'd']);
    const chains = await ok(s.adminPort, '/v1/chains');
    assert.equal(chains.maxDepth, 3);
    assert.deepEqual((chains.items as unknown[])[0], ['x/y', 'c', 'b', 'a']);
    assert.equal(chains.exact, true);
  });

  test('GET /v1/info: packages, edges, version, uptime, connections, storage state, index figures', async () => {
    const info = await ok(s.adminPort, '/v1/info');
    assert.equal(info.packages, 6);
    assert.equal(info.edges, 5);
    assert.equal(info.version, 'test');
    assert.equal(typeof info.uptimeSeconds, 'number');
    assert.equal(info.connections, 0);
    assert.deepEqual(info.storage, { backend: 'memory', state: 'writable', recovered: true, writable: true });
    const index = info.index as Json;
    assert.equal(index.roots, 2);
    assert.equal(index.leaves, 2);
    assert.equal(index.maxDepth, 3);
    assert.deepEqual((index.largestClosures as Json[])[0], { name: 'a', dependents: 3, exact: true });
  });

  test('errors: JSON with a stable code and the right status', async () => {
    assert.match(
      await fails(s.adminPort, '/v1/packages/nope', 404, 'E_PACKAGE_NOT_FOUND'),
      /"nope" is not indexed/,
    );
    for (const route of ['dependencies', 'dependents', 'tree', 'why', 'install-order', 'removal-order'])
      await fails(s.adminPort, `/v1/packages/nope/${route}`, 404, 'E_PACKAGE_NOT_FOUND');
    await fails(s.adminPort, '/v1/packages?limit=0', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages?limit=1001', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages?limit=ten', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages?cursor=bm90LWEtY3Vyc29y', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages?cursor=%25%25', 400, 'E_ADMIN_BAD_REQUEST');
    assert.match(
      await fails(s.adminPort, '/v1/packages?prefx=a', 400, 'E_ADMIN_BAD_REQUEST'),
      /takes prefix, cursor, limit/,
    );
    await fails(s.adminPort, '/v1/packages?limit=1&limit=2', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages/a/dependencies?transitive=maybe', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages/a/tree?depth=65', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages/%E0%A4%A/why', 400, 'E_ADMIN_BAD_REQUEST');
    await fails(s.adminPort, '/v1/packages/a/nothing', 404, 'E_NOT_FOUND');
    await fails(s.adminPort, '/v1/packages//dependencies', 404, 'E_NOT_FOUND');
    const post = await fetch(`http://127.0.0.1:${s.adminPort}/v1/packages`, { method: 'POST' });
    assert.equal(post.status, 404);
    assert.equal(((await post.json()) as Json).error, 'E_NOT_FOUND');
  });

  test('HEAD answers like GET without a body', async () => {
    const r = await fetch(`http://127.0.0.1:${s.adminPort}/v1/packages/a`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '');
  });
});

describe('query API authentication', () => {
  const token = 'query-api-token-0123456789';
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ token });
    await exchange(s.port, ['INDEX|a|']);
  });
  after(async () => {
    await s.close();
  });

  test('every /v1 route needs the admin token, unknown ones included', async () => {
    for (const path of [
      '/v1/packages',
      '/v1/packages/a',
      '/v1/packages/zz/why',
      '/v1/info',
      '/v1/openapi.json',
      '/v1/nope',
    ]) {
      const r = await getJson(s.adminPort, path);
      assert.equal(r.status, 401, path);
      assert.equal(r.body.error, 'E_ADMIN_UNAUTHORIZED');
      const wrong = await getJson(s.adminPort, path, { authorization: 'Bearer not-the-token-at-all' });
      assert.equal(wrong.status, 401, path);
    }
    const r = await getJson(s.adminPort, '/v1/packages/a', { authorization: `Bearer ${token}` });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'a');
  });
});

describe('query API on a store without a read side', () => {
  test('the query routes answer 501 E_QUERY_UNAVAILABLE; /v1/info still reports status', async () => {
    const s = await startInProcess({ store: new DeferredStore() });
    try {
      await fails(s.adminPort, '/v1/packages', 501, 'E_QUERY_UNAVAILABLE');
      await fails(s.adminPort, '/v1/packages/a', 501, 'E_QUERY_UNAVAILABLE');
      const info = await ok(s.adminPort, '/v1/info');
      assert.equal(info.index, null);
      assert.equal((info.storage as Json).backend, 'deferred');
    } finally {
      await s.close();
    }
  });
});

describe('GET /v1/info on the disk store', () => {
  test('reports the disk backend, its storage state, and an index that survives a restart', async (t) => {
    const dataDir = await newDataDir(t);
    const config = { storage: 'disk' as const, dataDir };
    const first = await startInProcess({ config });
    try {
      assert.deepEqual(await exchange(first.port, ['INDEX|a|', 'INDEX|b|a', 'INDEX|c|a,b']), [
        'OK',
        'OK',
        'OK',
      ]);
      const info = await ok(first.adminPort, '/v1/info');
      assert.equal(info.packages, 3);
      assert.equal(info.edges, 3);
      const storage = info.storage as Json;
      assert.equal(storage.backend, 'disk');
      assert.equal(storage.state, 'writable');
      assert.equal(storage.recovered, true);
      assert.equal(storage.writable, true);
      assert.equal((info.index as Json).maxDepth, 2);
    } finally {
      await first.close();
    }
    // The same data dir, recovered by a new server: the same index, the same figures.
    const second = await startInProcess({ config });
    try {
      const info = await ok(second.adminPort, '/v1/info');
      assert.equal(info.packages, 3);
      assert.equal(info.edges, 3);
      assert.equal((info.storage as Json).state, 'writable');
      assert.deepEqual(((info.index as Json).largestClosures as Json[])[0], {
        name: 'a',
        dependents: 2,
        exact: true,
      });
      const c = await ok(second.adminPort, '/v1/packages/c');
      assert.equal(c.closureSize, 2);
    } finally {
      await second.close();
    }
  });
});
