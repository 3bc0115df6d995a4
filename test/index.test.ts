import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { LineClient } from './support/line-client.js';

/** The checkout: this file runs as dist/test/index.test.js. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface PackageJson {
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
}

test('package.json main, types and exports name files the build produced', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as PackageJson;
  const targets = [pkg.main, pkg.types];
  for (const target of Object.values(pkg.exports))
    targets.push(...(typeof target === 'string' ? [target] : Object.values(target)));
  for (const target of targets) assert.ok(existsSync(`${ROOT}${target}`), `${target} does not exist`);
});

test('the package, imported by its own name, runs a server through its public API', async () => {
  // Resolved through package.json "exports", as a user's `import ... from 'pkgindex'` is.
  const api = await import('pkgindex');
  assert.deepEqual(Object.keys(api), ['createPkgIndex'], 'the entry exports the factory and nothing else');

  const pkgindex = api.createPkgIndex(
    { host: '127.0.0.1', port: 0, storage: 'memory', adminHost: '127.0.0.1', adminPort: 0 },
    { log: pino({ level: 'silent' }) },
  );
  assert.equal(pkgindex.addresses, null);
  const { protocol, admin } = await pkgindex.listen();
  try {
    assert.deepEqual(pkgindex.addresses, { protocol, admin });
    const client = await LineClient.open(protocol.port);
    assert.deepEqual(
      await client.request('INDEX|b|a', 'INDEX|a|', 'INDEX|b|a', 'REMOVE|a|', 'QUERY|b|', 'x'),
      ['FAIL', 'OK', 'OK', 'FAIL', 'OK', 'ERROR'],
    );
    client.close();
    assert.deepEqual(pkgindex.store.stats(), { packages: 2, edges: 1 });
    assert.ok(admin !== null);
    const ready = await fetch(`http://127.0.0.1:${admin.port}/readyz`);
    assert.equal(ready.status, 200);
  } finally {
    await pkgindex.close();
  }
  await assert.rejects(LineClient.open(protocol.port), 'the listener is closed');
});

test('createPkgIndex refuses settings that contradict each other, with a stable code', async () => {
  const api = await import('pkgindex');
  assert.throws(() => api.createPkgIndex({ port: 7000, adminPort: 7000 }), {
    code: 'E_CONFIG',
    message: /--admin-port and --port are both 7000/,
  });
});
