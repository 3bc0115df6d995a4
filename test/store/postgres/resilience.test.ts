import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { StoreChannel, type DatabaseEvent } from '../../../src/store/store-events.js';
import { get, sample } from '../../admin/harness.js';
import { LineClient } from '../../support/line-client.js';
import {
  ADMIN_URL,
  adminQuery,
  createTestDatabase,
  databaseState,
  needPostgres,
} from '../../support/postgres.js';
import { spawnServer, startServer } from '../../support/servers.js';

/** Resolves once `check` resolves true, asking every few milliseconds (the test's timeout bounds it). */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
}

function databaseEvents(storeId: string): { events: DatabaseEvent[]; stop: () => void } {
  const events: DatabaseEvent[] = [];
  const handler = (m: unknown): void => {
    const e = m as DatabaseEvent;
    if (e.storeId === storeId) events.push(e);
  };
  subscribe(StoreChannel.DATABASE, handler);
  return { events, stop: () => unsubscribe(StoreChannel.DATABASE, handler) };
}

test('a batch that deadlocks with another session is rolled back, run again, and applied once', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const app = `pkgindex-deadlock-${randomBytes(4).toString('hex')}`;
  const s = await startServer({ storage: 'postgres', databaseUrl: url, databaseApplicationName: app });
  const { events, stop } = databaseEvents(s.store.id);
  const side = new pg.Client({ connectionString: url });
  const c = await LineClient.open(s.port);
  try {
    assert.deepEqual(await c.request('INDEX|p|', 'INDEX|x|'), ['OK', 'OK']);
    await side.connect();
    await side.query('BEGIN');
    // The batch's backend must be the one that detects the deadlock (after its 1 s default).
    await side.query("SET LOCAL deadlock_timeout = '60s'");
    await side.query("SELECT 1 FROM pkgindex_packages WHERE name = 'x' FOR UPDATE");
    // The batch locks p (re-INDEX), then waits for x, which the side session holds...
    const replies = c.request('INDEX|p|', 'INDEX|y|x', 'REMOVE|x|', 'REMOVE|y|', 'INDEX|y|x', 'QUERY|y|');
    await eventually(async () => {
      const rows = await adminQuery<{ n: string }>(
        ADMIN_URL,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [app],
      );
      return rows[0]!.n !== '0';
    });
    // ...and the side session now waits for p: a deadlock, which rolls the batch back.
    await side.query("SELECT 1 FROM pkgindex_packages WHERE name = 'p' FOR UPDATE");
    await side.query('COMMIT');
    // Run again whole, the batch's replies are those of one application, and so is the state.
    assert.deepEqual(await replies, ['OK', 'OK', 'FAIL', 'OK', 'OK', 'OK']);
    const batch = events.find((e) => e.commands === 6)!;
    assert.ok(batch.attempts >= 2, `the batch was retried (attempts ${batch.attempts})`);
    assert.equal(batch.failed, false);
    assert.deepEqual(
      await databaseState(url),
      new Map([
        ['p', []],
        ['x', []],
        ['y', ['x']],
      ]),
    );
  } finally {
    stop();
    c.close();
    await side.end().catch(() => undefined);
    await s.close();
  }
});

test('circuit breaker: database gone, commands are answered ERROR at once and /readyz is 503; service resumes by itself', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const db = new URL(url).pathname.slice(1);
  // Three lanes: the breaker is the store's, shared by every lane.
  const s = await startServer({
    storage: 'postgres',
    databaseUrl: url,
    admin: true,
    adminPort: 0,
    databaseBatchesInFlight: 3,
    databasePoolSize: 5,
  });
  const adminPort = s.pkgindex.addresses!.admin!.port;
  const { events, stop } = databaseEvents(s.store.id);
  const c = await LineClient.open(s.port);
  try {
    assert.deepEqual(await c.request('INDEX|a|'), ['OK']);
    assert.equal((await get(adminPort, '/readyz')).status, 200);

    await adminQuery(ADMIN_URL, `ALTER DATABASE ${db} ALLOW_CONNECTIONS false`);
    await adminQuery(ADMIN_URL, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      db,
    ]);
    // The first batch meets the dead connection (or the refused new one): ERROR, never OK.
    assert.deepEqual(await c.request('INDEX|b|'), ['ERROR']);
    const readyz = await get(adminPort, '/readyz');
    assert.equal(readyz.status, 503);
    assert.match(readyz.text, /database unreachable/);
    const metrics = (await get(adminPort, '/metrics')).text;
    assert.equal(sample(metrics, 'pkgindex_database_circuit_open'), 1);
    assert.equal(sample(metrics, 'pkgindex_store_writable'), 0);
    // While open, commands do not reach the database: no batch is sent for them.
    const batches = events.filter((e) => e.commands > 0).length;
    assert.deepEqual(await c.request('QUERY|a|', 'INDEX|c|'), ['ERROR', 'ERROR']);
    assert.equal(events.filter((e) => e.commands > 0).length, batches);

    await adminQuery(ADMIN_URL, `ALTER DATABASE ${db} ALLOW_CONNECTIONS true`);
    await eventually(async () => (await get(adminPort, '/readyz')).status === 200);
    assert.deepEqual(await c.request('QUERY|a|', 'INDEX|c|', 'QUERY|c|'), ['OK', 'OK', 'OK']);
    assert.equal(sample((await get(adminPort, '/metrics')).text, 'pkgindex_database_circuit_open'), 0);
  } finally {
    stop();
    c.close();
    await adminQuery(ADMIN_URL, `ALTER DATABASE ${db} ALLOW_CONNECTIONS true`);
    await s.close();
  }
});

/**
 * Each way a server's batches reach the store: the native layer (the default where it is
 * built), Node's sockets on the index's own thread, and a socket thread's hop to it.
 */
const SHAPES: readonly { name: string; io?: 'node'; threads?: number }[] = [
  { name: 'the default connection layer' },
  { name: '--io node', io: 'node' },
  { name: '--io node --threads 2', io: 'node', threads: 2 },
];

for (const shape of SHAPES)
  test(`${shape.name}: sessions terminated again and again under pipelined load never end the server; it serves on`, async (t) => {
    if (!(await needPostgres(t))) return;
    const url = await createTestDatabase(t);
    const db = new URL(url).pathname.slice(1);
    // A child process: what this guards against is the process exiting (an unhandled rejection
    // of a batch the store refused at once while the same peer's earlier batch was in flight).
    const server = await spawnServer({
      storage: 'postgres',
      admin: false,
      ...(shape.io === undefined ? {} : { io: shape.io }),
      ...(shape.threads === undefined ? {} : { threads: shape.threads }),
      env: { PKGINDEX_DATABASE_URL: url },
    });
    let stop = false;
    const replies = { OK: 0, ERROR: 0, other: 0 };
    const client = async (k: number): Promise<void> => {
      const c = await LineClient.open(server.port);
      try {
        for (let i = 0; !stop && !c.ended; i++) {
          const lines = Array.from({ length: 8 }, (_, j) => `INDEX|c${k}p${i}x${j}|`);
          for (const r of await c.request(...lines))
            if (r === 'OK' || r === 'ERROR') replies[r]++;
            else replies.other++;
        }
      } catch {
        // The server went away: asserted below, with its stderr.
      } finally {
        c.close();
      }
    };
    try {
      const clients = Array.from({ length: 6 }, (_, k) => client(k));
      for (let round = 0; round < 25 && server.child.exitCode === null; round++) {
        await new Promise((resolve) => setTimeout(resolve, 60 + 40 * Math.random()));
        await adminQuery(
          ADMIN_URL,
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1',
          [db],
        );
      }
      stop = true;
      await Promise.all(clients);
      t.diagnostic(`replies: ${JSON.stringify(replies)}`);
      assert.equal(server.child.exitCode, null, `the server exited: ${server.stderr().slice(-2000)}`);
      assert.ok(replies.ERROR > 0, 'the terminated sessions were felt');
      assert.equal(replies.other, 0);
      // The breaker closes again by itself: a new client is served.
      const c = await LineClient.open(server.port);
      try {
        let reply = '';
        for (let i = 0; reply !== 'OK' && i < 500; i++) {
          reply = (await c.request('INDEX|after|'))[0]!;
          if (reply !== 'OK') await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(reply, 'OK');
      } finally {
        c.close();
      }
    } finally {
      stop = true;
      await server.stop();
    }
  });
