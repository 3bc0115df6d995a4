import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { registerQueryRoutes } from '../../src/admin/query-routes.js';
import { Router } from '../../src/admin/router.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { exchange, get, startInProcess, type InProcess } from './harness.js';

type Json = Record<string, unknown>;
interface Operation {
  parameters: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
}

/** The problems of `value` against the parts of JSON Schema the description uses. */
function check(value: unknown, schema: Json, doc: Json, at: string): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.split('/').pop()!;
    return check(value, ((doc.components as Json).schemas as Json)[name] as Json, doc, at);
  }
  if (Array.isArray(schema.oneOf)) {
    const passing = (schema.oneOf as Json[]).filter((s) => check(value, s, doc, at).length === 0);
    return passing.length === 1 ? [] : [`${at}: matches ${passing.length} of oneOf`];
  }
  if ('const' in schema) return value === schema.const ? [] : [`${at}: not ${String(schema.const)}`];
  if (Array.isArray(schema.enum))
    return schema.enum.includes(value) ? [] : [`${at}: ${String(value)} not in enum`];
  const types = schema.type === undefined ? [] : ([] as unknown[]).concat(schema.type);
  const typeOf =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'array'
        : Number.isInteger(value)
          ? 'integer'
          : typeof value;
  if (types.length > 0 && !types.includes(typeOf) && !(typeOf === 'integer' && types.includes('number')))
    return [`${at}: ${typeOf}, not ${types.join('|')}`];
  if (typeOf === 'array' && schema.items !== undefined)
    return (value as unknown[]).flatMap((v, i) => check(v, schema.items as Json, doc, `${at}[${i}]`));
  if (typeOf === 'object') {
    const v = value as Json;
    const missing = ((schema.required as string[] | undefined) ?? [])
      .filter((k) => !(k in v))
      .map((k) => `${at}.${k}: missing`);
    const props = (schema.properties as Json | undefined) ?? {};
    return [
      ...missing,
      ...Object.entries(props).flatMap(([k, s]) => (k in v ? check(v[k], s as Json, doc, `${at}.${k}`) : [])),
    ];
  }
  return [];
}

describe('/v1/openapi.json against the real routes', () => {
  let s: InProcess;
  let doc: Json;
  before(async () => {
    s = await startInProcess();
    await exchange(s.port, ['INDEX|a|', 'INDEX|b|a', 'INDEX|c/d|b']);
    const r = await get(s.adminPort, '/v1/openapi.json');
    assert.equal(r.status, 200);
    doc = JSON.parse(r.text) as Json;
  });
  after(async () => {
    await s.close();
  });

  test('every /v1 route the admin server serves is described, by method, and nothing else is', () => {
    const served = s
      .adminRoutes()
      .filter((r) => r.path.startsWith('/v1/'))
      .map((r) => `${r.method} ${r.path}`);
    const described = Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual(described.sort(), served.sort());
    // The routes this test exists for: a description that lost them must fail here.
    for (const route of ['GET /v1/events', 'POST /v1/backup', 'GET /v1/packages/{name}/dependents'])
      assert.ok(described.includes(route), `${route} is described`);
    assert.equal(doc.openapi, '3.1.0');
    assert.equal((doc.info as Json).version, 'test');
  });

  test('the query routes alone are the described GET paths but the event stream', () => {
    const router = new Router();
    registerQueryRoutes(router, {
      reader: null,
      store: new MemoryStore(),
      backend: 'memory',
      connections: () => 0,
      maxVisits: 1000,
      maxConcurrent: 8,
      version: 'test',
    });
    const gets = Object.entries(doc.paths as Record<string, Json>)
      .filter(([path, item]) => 'get' in item && path !== '/v1/events')
      .map(([path]) => path);
    assert.deepEqual(router.paths().sort(), gets.sort());
  });

  test('the event stream answers as described, and the backup refuses a memory store as described', async () => {
    const events = (doc.paths as Record<string, { get: Operation }>)['/v1/events']!.get;
    const stop = new AbortController();
    const stream = await fetch(`http://127.0.0.1:${s.adminPort}/v1/events`, { signal: stop.signal });
    assert.equal(stream.status, 200);
    assert.ok(events.responses['200']!.content!['text/event-stream'] !== undefined);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    stop.abort();

    const backup = (doc.paths as Record<string, { post: Operation }>)['/v1/backup']!.post;
    const r = await fetch(`http://127.0.0.1:${s.adminPort}/v1/backup`, { method: 'POST' });
    assert.equal(r.status, 503);
    const schema = backup.responses['503']!.content!['application/json']!.schema;
    assert.deepEqual(check(await r.json(), schema, doc, 'POST /v1/backup'), []);
  });

  test('every described path answers 200 with the fields described, and 404 as described', async () => {
    for (const [path, item] of Object.entries(doc.paths as Record<string, { get?: Operation }>)) {
      const op = item.get;
      // A stream that does not end, and the POST: checked above.
      if (op === undefined || path === '/v1/events') continue;
      const names = op.parameters.filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual(names, path.includes('{name}') ? ['name'] : [], path);
      const url = path.replace('{name}', encodeURIComponent('c/d'));
      const r = await get(s.adminPort, url);
      assert.equal(r.status, 200, `${url}: ${r.text}`);
      const schema = op.responses['200']!.content!['application/json']!.schema;
      assert.deepEqual(check(JSON.parse(r.text), schema, doc, url), [], url);
      if (path.includes('{name}')) {
        assert.ok(op.responses['404'] !== undefined, `${path} documents its 404`);
        const missing = await get(s.adminPort, path.replace('{name}', 'not-indexed'));
        // A hypothetical INDEX needs no indexed package; everything else answers 404.
        assert.equal(missing.status, 404, path);
        assert.deepEqual(
          check(
            JSON.parse(missing.text),
            op.responses['404'].content!['application/json']!.schema,
            doc,
            path,
          ),
          [],
        );
      }
      for (const p of op.parameters.filter((q) => q.in === 'query'))
        assert.notEqual((await get(s.adminPort, `${url}?${p.name}=`)).status, 404, `${path} takes ${p.name}`);
    }
  });
});
