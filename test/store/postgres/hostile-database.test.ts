import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { get, sample } from '../../admin/harness.js';
import { LineClient } from '../../support/line-client.js';
import { ADMIN_URL, adminQuery, createTestDatabase, needPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/servers.js';
import { until } from '../../support/until.js';

/** Sessions of `app` waiting for a lock, as pg_stat_activity shows them. */
async function waitingOnLocks(app: string): Promise<number> {
  const rows = await adminQuery<{ n: string }>(
    ADMIN_URL,
    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
    [app],
  );
  return Number(rows[0]!.n);
}

test('query API requests that hold every connection they may have neither starve the batches nor open the circuit', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const app = `pkgindex-starve-${randomBytes(4).toString('hex')}`;
  // Two connections, one lane: the batches' own, and one for the rest. A statement timeout of
  // 1 s is also how long a batch waits for a connection.
  const s = await startServer({
    storage: 'postgres',
    databaseUrl: url,
    databaseApplicationName: app,
    databasePoolSize: 2,
    databaseStatementTimeoutMs: 1_000,
    admin: true,
    adminPort: 0,
    io: 'native',
  });
  const adminPort = s.pkgindex.addresses!.admin!.port;
  const side = new pg.Client({ connectionString: url });
  side.on('error', () => undefined);
  const c = await LineClient.open(s.port);
  let reads: Promise<{ status: number; text: string }>[] = [];
  try {
    assert.deepEqual(await c.request('INDEX|a|'), ['OK']);
    // An operator's ALTER TABLE, VACUUM FULL or migration: every read of the edges waits.
    await side.connect();
    await side.query('BEGIN');
    await side.query('LOCK TABLE pkgindex_dependencies IN ACCESS EXCLUSIVE MODE');
    // Six package pages (each reads the edges), below --query-max-concurrent: they take every
    // connection the query API may have, and the others queue for one.
    reads = Array.from({ length: 6 }, () => get(adminPort, '/v1/packages/a'));
    await until('a query API request waiting for the lock', async () => (await waitingOnLocks(app)) > 0);
    // QUERY reads only the packages: the lock is not in its way, a connection would be. With one
    // pool for everything it waited behind the queued reads until its connect timed out: ERROR,
    // and the circuit opened as if the database were gone.
    assert.deepEqual(await c.request('QUERY|a|', 'QUERY|b|'), ['OK', 'FAIL']);
    assert.equal((await get(adminPort, '/readyz')).status, 200, 'the instance stays ready');
    const metrics = (await get(adminPort, '/metrics')).text;
    assert.equal(sample(metrics, 'pkgindex_database_circuit_open'), 0);
    assert.equal(sample(metrics, 'pkgindex_database_batches_failed_total'), 0);
    await side.query('COMMIT');
    // The reads that met the statement timeout are 503 with the typed code; none is anything else.
    for (const r of await Promise.all(reads))
      if (r.status !== 200) {
        assert.equal(r.status, 503, r.text);
        assert.equal((JSON.parse(r.text) as { error: string }).error, 'E_DATABASE_UNAVAILABLE');
      }
    assert.deepEqual(await c.request('INDEX|b|a', 'QUERY|b|'), ['OK', 'OK']);
  } finally {
    c.close();
    await side.end().catch(() => undefined);
    await Promise.allSettled(reads);
    await s.close();
  }
});
