import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import pg from 'pg';
import { StoreChannel, type DatabaseEvent } from '../../../src/store/store-events.js';
import { get, sample } from '../../admin/harness.js';
import { LineClient } from '../../support/line-client.js';
import { ADMIN_URL, adminQuery, createTestDatabase, needPostgres } from '../../support/postgres.js';
import { spawnServer, startServer } from '../../support/servers.js';
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

for (const io of ['native', 'node'] as const)
  test(`--io ${io}: a batch of one read that spans two round trips, one timed out: each line's reply says whether its change was kept`, async (t) => {
    if (!(await needPostgres(t))) return;
    const url = await createTestDatabase(t);
    // Slices long enough that each client's 4,500 lines are one read: the native layer hands
    // all three clients' lines to the owner as one batch.
    const s = await startServer({
      storage: 'postgres',
      databaseUrl: url,
      databaseStatementTimeoutMs: 1_000,
      sliceUs: 2_000,
      io,
    });
    const side = new pg.Client({ connectionString: url });
    side.on('error', () => undefined);
    const clients = await Promise.all([0, 1, 2].map(() => LineClient.open(s.port)));
    try {
      assert.deepEqual(await clients[0]!.request('INDEX|hot|'), ['OK']);
      await side.connect();
      await side.query('BEGIN');
      await side.query("SELECT 1 FROM pkgindex_packages WHERE name = 'hot' FOR UPDATE");
      // 13,500 commands: past the 8,192 of one round trip, so whichever two clients come first
      // fill one and the third goes in the next. Client 0's first line waits for the lock until
      // the statement timeout: its round trip fails, the other one commits. Mostly QUERYs, so
      // that the round trip that commits stays well inside the timeout on a busy machine.
      const lines = clients.map((_, k) =>
        Array.from({ length: 4_500 }, (_, i) =>
          k === 0 && i === 0
            ? 'INDEX|h|hot'
            : i % 10 === 0
              ? `INDEX|c${k}n${i}|`
              : `QUERY|c${k}n${i - (i % 10)}|`,
        ),
      );
      for (const [k, c] of clients.entries()) c.write(lines[k]!.map((l) => `${l}\n`).join(''));
      const replies = await Promise.all(clients.map((c, k) => c.read(lines[k]!.length)));
      await side.query('COMMIT');
      const kept = new Set(
        (await adminQuery<{ name: string }>(url, 'SELECT name FROM pkgindex_packages')).map((r) => r.name),
      );
      const seen = { OK: 0, ERROR: 0 };
      let errors = 0;
      for (const [k, got] of replies.entries())
        for (const [i, reply] of got.entries()) {
          assert.ok(['OK', 'FAIL', 'ERROR'].includes(reply), `client ${k} line ${i}: ${reply}`);
          if (reply === 'ERROR') errors++;
          const index = /^INDEX\|([^|]*)\|/.exec(lines[k]![i]!);
          if (index === null) continue;
          const name = index[1]!;
          assert.ok(reply === 'OK' || reply === 'ERROR', `client ${k} line ${i}: ${reply}`);
          seen[reply]++;
          assert.equal(
            reply === 'OK',
            kept.has(name),
            `client ${k} line ${i} (${name}) answered ${reply}, yet the database ${kept.has(name) ? 'kept' : 'lacks'} it`,
          );
        }
      // The case under test happened: one round trip failed, the other committed.
      assert.ok(
        seen.OK > 0 && seen.ERROR > 0,
        `one round trip failed, one committed: ${JSON.stringify(seen)}`,
      );
      // pkgindex_replies_failed_durability_total counts exactly the ERROR replies.
      assert.equal((await s.stats()).repliesFailedDurability, errors);
    } finally {
      for (const c of clients) c.close();
      await side.end().catch(() => undefined);
      await s.close();
    }
  });

test('a database that takes no writes (a standby after a failover) makes the instance unready until it takes them again', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const db = new URL(url).pathname.slice(1);
  const s = await startServer({
    storage: 'postgres',
    databaseUrl: url,
    admin: true,
    adminPort: 0,
    io: 'native',
  });
  const adminPort = s.pkgindex.addresses!.admin!.port;
  const c = await LineClient.open(s.port);
  try {
    assert.deepEqual(await c.request('INDEX|a|'), ['OK']);
    // Read-only for every new session, as a hot standby is; the sessions open now are ended.
    await adminQuery(ADMIN_URL, `ALTER DATABASE ${db} SET default_transaction_read_only = on`);
    await adminQuery(ADMIN_URL, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      db,
    ]);
    // Never OK; once a batch has met the read-only database, the instance says it cannot write.
    await until(
      'a batch refused by the read-only database',
      async () => {
        const [reply] = await c.request('INDEX|b|');
        assert.notEqual(reply, 'OK', 'the database took no write');
        return (await get(adminPort, '/readyz')).status === 503;
      },
      5_000,
    );
    // The first batch may have met a terminated session instead (the circuit then opens as
    // "unreachable"); the breaker's first probe, one backoff later, finds the session read-only.
    await until(
      'the probe found the database read-only',
      async () => /read-only/.test((await get(adminPort, '/readyz')).text),
      5_000,
    );
    // It stays so while the database is read-only: its probes find a session that takes no
    // writes, not merely one that answers (SELECT 1 did, and closed the circuit at once).
    for (let i = 0; i < 10; i++) {
      const readyz = await get(adminPort, '/readyz');
      assert.equal(readyz.status, 503, `readiness while read-only: ${readyz.text}`);
      assert.match(readyz.text, /read-only/);
      assert.equal(sample((await get(adminPort, '/metrics')).text, 'pkgindex_database_circuit_open'), 1);
      assert.deepEqual(await c.request('INDEX|b|', 'QUERY|a|'), ['ERROR', 'ERROR']);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Writable again (the failover completed): the instance takes writes by itself.
    await adminQuery(ADMIN_URL, `ALTER DATABASE ${db} RESET default_transaction_read_only`);
    await until('ready again', async () => (await get(adminPort, '/readyz')).status === 200, 15_000);
    assert.deepEqual(await c.request('INDEX|b|a', 'QUERY|b|'), ['OK', 'OK']);
  } finally {
    c.close();
    await adminQuery(ADMIN_URL, `ALTER DATABASE ${db} RESET default_transaction_read_only`);
    await s.close();
  }
});

/**
 * A TCP path to PostgreSQL that can be cut as a network partition cuts it: while cut, nothing
 * passes either way, not even a FIN or a reset (the peers just hear nothing). `heal` drops the
 * connections that were cut (as their TCP would, at last) and lets new ones through.
 */
class Link {
  readonly #target: URL;
  readonly #server = createServer({ allowHalfOpen: true }, (down) => {
    this.#join(down);
  });
  readonly #pairs = new Set<readonly [Socket, Socket]>();
  #cut = false;
  /** Chunks that met the cut (and were lost in it). */
  lost = 0;

  private constructor(target: URL) {
    this.#target = target;
  }

  static async open(t: TestContext, target: URL): Promise<Link> {
    const link = new Link(target);
    await new Promise<void>((resolve) => link.#server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      link.heal();
      link.#server.close();
    });
    return link;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  #join(down: Socket): void {
    const up = connect({
      port: Number(this.#target.port || 5432),
      host: this.#target.hostname,
      allowHalfOpen: true,
    });
    const pair = [down, up] as const;
    this.#pairs.add(pair);
    const end = (): void => {
      if (this.#cut) return; // the other side hears nothing of it
      this.#pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    for (const [from, to] of [pair, [up, down] as const]) {
      from.on('data', (chunk: Buffer) => {
        if (this.#cut) this.lost++;
        else to.write(chunk);
      });
      from.on('end', () => {
        if (!this.#cut) to.end();
      });
      from.on('error', end).on('close', end);
    }
  }

  /** `url` through this link. */
  through(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  cut(): void {
    this.#cut = true;
  }

  heal(): void {
    this.#cut = false;
    for (const [down, up] of [...this.#pairs]) {
      down.destroy();
      up.destroy();
    }
    this.#pairs.clear();
  }
}

test('a network partition from the database: the round trip in flight fails at its own timeout, the instance goes unready, and serves again once healed', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const link = await Link.open(t, new URL(url));
  // A statement timeout of 500 ms: a round trip that hears nothing for 1.5 s has failed.
  const s = await startServer({
    storage: 'postgres',
    databaseUrl: link.through(url),
    databaseStatementTimeoutMs: 500,
    admin: true,
    adminPort: 0,
    io: 'native',
  });
  const adminPort = s.pkgindex.addresses!.admin!.port;
  const batches: DatabaseEvent[] = [];
  const onBatch = (m: unknown): void => {
    const e = m as DatabaseEvent;
    if (e.storeId === s.store.id && e.commands > 0) batches.push(e);
  };
  subscribe(StoreChannel.DATABASE, onBatch);
  const c = await LineClient.open(s.port);
  const other = await LineClient.open(s.port);
  try {
    assert.deepEqual(await c.request('INDEX|a|'), ['OK']);
    const before = batches.length;
    link.cut();
    // The database's statement timeout cannot help: its error would not come back either.
    // Without a timeout of the instance's own, these waited until TCP gave up, /readyz 200.
    const replies = c.request('INDEX|b|', 'QUERY|a|');
    await until('the round trip sent into the cut', () => link.lost > 0);
    // Behind it, in the next round trip: refused once the first one has failed, not sent (it
    // would only wait for a connect through the cut to time out too).
    const behind = other.request('INDEX|d|');
    const read = get(adminPort, '/v1/packages/a');
    assert.deepEqual(await replies, ['ERROR', 'ERROR']);
    assert.deepEqual(await behind, ['ERROR']);
    assert.deepEqual(
      batches.slice(before).map((e) => [e.commands, e.failed]),
      [[2, true]],
      'one round trip sent and failed; the one behind it never sent',
    );
    const readyz = await get(adminPort, '/readyz');
    assert.equal(readyz.status, 503);
    assert.match(readyz.text, /database unreachable: .*Query read timeout/);
    // While it is open, the circuit refuses at once: nothing waits on the cut link.
    assert.deepEqual(await c.request('QUERY|a|'), ['ERROR']);
    const answer = await read;
    assert.equal(answer.status, 503, answer.text);
    assert.equal((JSON.parse(answer.text) as { error: string }).error, 'E_DATABASE_UNAVAILABLE');
    link.heal();
    await until(
      'ready again once healed',
      async () => (await get(adminPort, '/readyz')).status === 200,
      15_000,
    );
    assert.deepEqual(await c.request('QUERY|a|', 'INDEX|c|a'), ['OK', 'OK']);
  } finally {
    unsubscribe(StoreChannel.DATABASE, onBatch);
    c.close();
    other.close();
    link.heal();
    await s.close();
  }
});

test('SIGTERM while the database is cut off: the server closes its clients and exits within the bound, not when TCP gives up', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const link = await Link.open(t, new URL(url));
  const server = await spawnServer({
    storage: 'postgres',
    admin: false,
    args: ['--database-statement-timeout-ms', '500', '--shutdown-timeout-ms', '1000'],
    env: { PKGINDEX_DATABASE_URL: link.through(url) },
  });
  const c = await LineClient.open(server.port);
  try {
    assert.deepEqual(await c.request('INDEX|a|'), ['OK']);
    link.cut();
    c.write('INDEX|b|\n');
    await until('the round trip sent into the cut', () => link.lost > 0);
    const exit = server.stop();
    // The clients are closed at --shutdown-timeout-ms and the round trip fails at its own
    // timeout (1.5 s); then the idle connections' goodbyes, which the cut swallows, must not
    // hold the process (they did: it logged "stopped" and stayed up).
    const code = await Promise.race([
      exit,
      new Promise((resolve) => setTimeout(resolve, 10_000, 'still running')),
    ]);
    assert.equal(
      code,
      0,
      `exit after SIGTERM; log: ${JSON.stringify(server.events.slice(-4).map((e) => e.msg))}`,
    );
  } finally {
    c.close();
    link.heal();
    await server.kill9();
  }
});
