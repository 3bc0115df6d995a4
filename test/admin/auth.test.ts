import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminTokenFromEnv } from '../../src/admin/auth.js';
import { isPkgIndexError } from '../../src/errors.js';
import { get, startInProcess, type InProcess } from './harness.js';

const TOKEN = 'correct-horse-battery-staple-42';

describe('admin bearer token', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ token: TOKEN });
  });
  after(async () => {
    await s.close();
  });

  for (const path of ['/metrics', '/debug/cpu-profile?seconds=1', '/debug/heap-snapshot', '/nope']) {
    test(`${path} needs the token: 401 without or with a wrong one`, async () => {
      const none = await get(s.adminPort, path);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="pkgindex-admin"');
      assert.equal((JSON.parse(none.text) as { error: string }).error, 'E_ADMIN_UNAUTHORIZED');
      for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, TOKEN])
        assert.equal((await get(s.adminPort, path, { authorization })).status, 401, authorization);
    });
  }

  test('/metrics answers 200 with the token', async () => {
    const r = await get(s.adminPort, '/metrics', { authorization: `Bearer ${TOKEN}` });
    assert.equal(r.status, 200);
    assert.match(r.text, /pkgindex_commands_total/);
    assert.equal((await get(s.adminPort, '/metrics', { authorization: `bearer  ${TOKEN}` })).status, 200);
  });

  test('health endpoints stay open', async () => {
    assert.equal((await get(s.adminPort, '/healthz')).status, 200);
    assert.equal((await get(s.adminPort, '/readyz')).status, 200);
  });

  test('refusals are logged without the token', () => {
    const refused = s.events.filter((e) => e.msg.startsWith('admin request refused'));
    assert.ok(refused.length > 0);
    assert.ok(!JSON.stringify(s.events).includes(TOKEN));
  });
});

describe('adminTokenFromEnv', () => {
  test('unset means no authentication', () => {
    assert.equal(adminTokenFromEnv({}), null);
  });
  test('a long enough token is accepted', () => {
    assert.equal(adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN: TOKEN }), TOKEN);
  });
  test('an empty, short or padded token is an E_CONFIG error saying what to do', () => {
    for (const bad of ['', 'short', ` ${TOKEN}`, `${TOKEN}\n`])
      assert.throws(
        () => adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN: bad }),
        (err: unknown) => isPkgIndexError(err, 'E_CONFIG') && /at least 16 characters/.test(err.message),
      );
  });
});
