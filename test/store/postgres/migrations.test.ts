import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SCHEMA_VERSION } from '../../../src/store/postgres/migrations.js';
import { isPkgIndexError } from '../../../src/errors.js';
import { LineClient } from '../../support/line-client.js';
import { adminQuery, createTestDatabase, databaseState, needPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/servers.js';
import { CLI } from '../../support/servers.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const V1_FIXTURE = new URL('../../../../test/fixtures/postgres/schema-v1.sql', import.meta.url);
const run = promisify(execFile);

async function versions(url: string): Promise<number[]> {
  const rows = await adminQuery<{ version: number }>(
    url,
    'SELECT version FROM pkgindex_schema ORDER BY version',
  );
  return rows.map((r) => r.version);
}

test('migrations: instances starting together on an empty database migrate it once', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const servers = await Promise.all(
    [1, 2, 3].map(() => startServer({ storage: 'postgres', databaseUrl: url })),
  );
  try {
    assert.deepEqual(
      await versions(url),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    const c = await LineClient.open(servers[2]!.port);
    assert.deepEqual(await c.request('INDEX|a|', 'INDEX|b|a', 'QUERY|b|'), ['OK', 'OK', 'OK']);
    c.close();
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});

test('migrations: a database at the previous schema version (v1 fixture) is migrated, its index kept', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  await adminQuery(url, readFileSync(V1_FIXTURE, 'utf8'));
  const before = await databaseState(url);
  const { stdout } = await run(process.execPath, [CLI, 'migrate'], {
    env: { ...process.env, PKGINDEX_DATABASE_URL: url },
  });
  assert.equal(stdout, `schema migrated from version 1 to ${SCHEMA_VERSION}\n`);
  assert.deepEqual(await databaseState(url), before);
  const again = await run(process.execPath, [CLI, 'migrate', '--database-url', url]);
  assert.equal(again.stdout, `schema already at version ${SCHEMA_VERSION}\n`);
  const { port, close } = await startServer({ storage: 'postgres', databaseUrl: url });
  try {
    const c = await LineClient.open(port);
    assert.deepEqual(
      await c.request('QUERY|git|', 'REMOVE|curl|', 'INDEX|openssl|git', 'REMOVE|git|', 'REMOVE|curl|'),
      ['OK', 'FAIL', 'FAIL', 'OK', 'OK'],
    );
    c.close();
  } finally {
    await close();
  }
});

test('migrations: an instance refuses a schema newer than it knows, saying what to do', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  await adminQuery(
    url,
    'CREATE TABLE pkgindex_schema (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  await adminQuery(url, 'INSERT INTO pkgindex_schema (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
  await assert.rejects(startServer({ storage: 'postgres', databaseUrl: url }), (err) => {
    assert.ok(isPkgIndexError(err, 'E_DATABASE_SCHEMA_TOO_NEW'));
    assert.match(err.message, /upgrade this instance/);
    return true;
  });
});
