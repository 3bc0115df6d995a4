/**
 * The admin router on its own: exact paths before patterns, parameters decoded segment by
 * segment, HEAD with every GET, routes registered twice refused, and a parameter that is not
 * valid percent-encoding refused with the stable 400 code. (Over HTTP, parseRequest refuses
 * such a path first, as test/admin/query-api.test.ts shows; the router does not rely on it.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPkgIndexError } from '../../src/errors.js';
import { httpStatusOf } from '../../src/admin/http-errors.js';
import { jsonReply } from '../../src/admin/reply.js';
import { Router } from '../../src/admin/router.js';

function router(): Router {
  const r = new Router();
  r.get('/v1/packages', () => jsonReply('list'));
  r.get('/v1/packages/{name}', (_req, params) => jsonReply(params));
  r.get('/v1/packages/{name}/why', (_req, params) => jsonReply({ why: params.name }));
  r.get('/healthz', () => jsonReply('ok'), { public: true });
  r.post('/v1/backup', () => jsonReply('backup'));
  return r;
}

const request = (method: string, rawPath: string) => ({
  method,
  rawPath,
  path: (() => {
    try {
      return decodeURIComponent(rawPath);
    } catch {
      return rawPath;
    }
  })(),
});

test('parameters are decoded each on its own: a %2F stays inside its segment', () => {
  const found = router().match(request('GET', '/v1/packages/x%2Fy'));
  assert.deepEqual(found?.params, { name: 'x/y' });
  assert.deepEqual(router().match(request('HEAD', '/v1/packages/a/why'))?.params, { name: 'a' });
  // Exact paths first, with no parameters.
  assert.deepEqual(router().match(request('GET', '/v1/packages'))?.params, {});
  assert.equal(router().find('HEAD', '/healthz')?.public, true);
  assert.equal(router().find('POST', '/v1/backup')?.public, false);
});

test('unknown: an empty parameter, a wrong method, a different number of segments', () => {
  const r = router();
  assert.equal(r.match(request('GET', '/v1/packages/')), undefined);
  assert.equal(r.match(request('POST', '/v1/packages/a')), undefined);
  assert.equal(r.match(request('GET', '/v1/packages/a/b/c')), undefined);
  assert.equal(r.match(request('GET', '/v1/other/a')), undefined);
});

test('a parameter that is not valid percent-encoding: E_ADMIN_BAD_REQUEST, 400, saying how to encode', () => {
  assert.throws(
    () => router().match(request('GET', '/v1/packages/%E0%A4%A/why')),
    (err: unknown) => {
      assert.ok(isPkgIndexError(err, 'E_ADMIN_BAD_REQUEST'));
      assert.equal(httpStatusOf(err), 400);
      assert.match(err.message, /"%E0%A4%A" is not valid percent-encoding; encode "%" as "%25"/);
      return true;
    },
  );
});

test('a route registered twice is a programming error, said at start', () => {
  const r = router();
  assert.throws(() => {
    r.get('/v1/packages/{name}', () => jsonReply(1));
  }, /registered twice/);
  assert.throws(() => {
    r.get('/healthz', () => jsonReply(1));
  }, /admin route GET \/healthz registered twice/);
  assert.throws(() => {
    r.post('/v1/backup', () => jsonReply(1));
  }, /admin route POST \/v1\/backup registered twice/);
  assert.deepEqual(r.paths().sort(), [
    '/healthz',
    '/v1/packages',
    '/v1/packages/{name}',
    '/v1/packages/{name}/why',
  ]);
});
