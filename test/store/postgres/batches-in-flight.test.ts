import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reply } from '../../../src/protocol/reply.js';
import { Verb, type Command } from '../../../src/protocol/command.js';
import { CommandGroup, LOCK_SLOTS, lockSlot, lockSlots } from '../../../src/store/postgres/command-batch.js';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.js';
import { GATE_KEY, GATE_SLOTS, LOCK_NAMESPACE } from '../../../src/store/postgres/migrations.js';
import pg from 'pg';
import { LineClient } from '../../support/line-client.js';
import { adminQuery, createTestDatabase, databaseState, needPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/servers.js';

// Several round trips in flight per instance (--database-batches-in-flight, ADR 0009): a client
// connection's batches must still be applied in the order it sent them, while other
// connections' batches keep the other lanes busy.

test('batches in flight: a connection that pipelines a chain over many chunks, among busy connections, sees every link OK', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const server = await startServer({
    storage: 'postgres',
    databaseUrl: url,
    databaseBatchesInFlight: 4,
    databasePoolSize: 6,
  });
  const chains = await Promise.all(Array.from({ length: 4 }, () => LineClient.open(server.port)));
  const noise = await Promise.all(Array.from({ length: 8 }, () => LineClient.open(server.port)));
  try {
    let busy = true;
    // Other connections keep every lane loaded, so a chain's next chunk would find a quieter
    // lane than the one its previous chunk waits in if the store did not keep it there.
    const load = noise.map(async (c, i) => {
      for (let round = 0; busy; round++)
        await c.request(...Array.from({ length: 20 }, (_, k) => `INDEX|n${i}x${round % 5}x${k}|`));
    });
    const links = 40;
    const results = await Promise.all(
      chains.map(async (c, i) => {
        const replies = c.read(links);
        // Each link in a write of its own, a little apart, so that the server reads them as
        // separate chunks (separate batches) while the earlier ones are still in flight; the
        // replies are read only at the end.
        for (let k = 0; k < links; k++) {
          c.write(`INDEX|c${i}l${k}|${k === 0 ? '' : `c${i}l${k - 1}`}\n`);
          await sleep(1);
        }
        return replies;
      }),
    );
    busy = false;
    await Promise.all(load);
    for (const [i, replies] of results.entries())
      assert.deepEqual(replies, Array<string>(links).fill('OK'), `chain ${i}`);
    const state = await databaseState(url);
    for (let i = 0; i < chains.length; i++)
      for (let k = 1; k < links; k++) assert.deepEqual(state.get(`c${i}l${k}`), [`c${i}l${k - 1}`]);
  } finally {
    for (const c of [...chains, ...noise]) c.close();
    await server.close();
  }
});

function command(verb: Verb, name: string, deps: readonly string[] = []): Command {
  return verb === Verb.INDEX ? { verb, name, deps } : { verb, name };
}

test("batches in flight: the store applies one origin's batches in the order they were closed, among other origins' batches", async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const store = new PostgresStore({
    url,
    poolSize: 5,
    statementTimeoutMs: 5_000,
    applicationName: 'pkgindex-test',
    batchesInFlight: 3,
  });
  await store.open();
  try {
    // One origin closes a chain of batches in one turn: each depends on the one before, so
    // only one order of application answers them all OK. Other origins' batches arrive between.
    const origin = {};
    const pending: Promise<ArrayLike<Reply>>[] = [];
    const others: Promise<ArrayLike<Reply>>[] = [];
    for (let k = 0; k < 30; k++) {
      store.execute(command(Verb.INDEX, `s${k}`, k === 0 ? [] : [`s${k - 1}`]));
      pending.push(store.barrier(origin));
      for (let o = 0; o < 2; o++) {
        store.execute(command(Verb.INDEX, `o${k}x${o}`));
        store.execute(command(Verb.QUERY, `o${k}x${o}`));
        others.push(store.barrier({}));
      }
    }
    const replies = await Promise.all(pending);
    assert.deepEqual(
      replies.map((r) => Array.from(r)),
      Array.from({ length: 30 }, () => [Reply.OK]),
    );
    for (const r of await Promise.all(others)) assert.deepEqual(Array.from(r), [Reply.OK, Reply.OK]);
    // A batch of no command (every line malformed) resolves at once, with no reply.
    assert.deepEqual(Array.from(await store.barrier(origin)), []);
  } finally {
    await store.close();
  }
});

test('batches in flight: batches that re-INDEX the same packages in opposite orders wait for each other instead of deadlocking', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const config = { storage: 'postgres', databaseUrl: url, databaseBatchesInFlight: 2 } as const;
  const servers = [await startServer(config), await startServer(config)];
  const names = Array.from({ length: 24 }, (_, i) => `p${i}`);
  const conns: LineClient[] = [];
  try {
    const first = await LineClient.open(servers[0]!.port);
    conns.push(first);
    assert.ok((await first.request('INDEX|base|', 'INDEX|other|')).every((r) => r === 'OK'));
    assert.ok((await first.request(...names.map((n) => `INDEX|${n}|base`))).every((r) => r === 'OK'));
    for (const s of servers) for (let i = 0; i < 2; i++) conns.push(await LineClient.open(s.port));
    // Each round, four connections over two instances re-INDEX every package (switching its
    // dependency, so each takes row locks), two in name order and two in reverse: without a
    // common lock order their batches would hold rows the others wait for.
    for (let round = 0; round < 10; round++) {
      const dep = round % 2 === 0 ? 'other' : 'base';
      const forward = names.map((n) => `INDEX|${n}|${dep}`);
      const replies = await Promise.all(
        conns.slice(1).map((c, i) => c.request(...(i % 2 === 0 ? forward : forward.slice().reverse()))),
      );
      for (const r of replies)
        assert.ok(
          r.every((x) => x === 'OK'),
          `round ${round}: ${r.join(',')}`,
        );
    }
  } finally {
    for (const c of conns) c.close();
    await Promise.all(servers.map((s) => s.close()));
  }
  // The instances' sessions are closed, so their statistics have been reported.
  const rows = await adminQuery<{ deadlocks: string }>(
    url,
    'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()',
  );
  assert.equal(Number(rows[0]!.deadlocks), 0);
});

test('lock slots: ascending by slot, a changed package exclusive, a dependency only shared, QUERYs none', () => {
  const group = new CommandGroup();
  group.add(command(Verb.INDEX, 'a', ['b', 'c']));
  group.add(command(Verb.REMOVE, 'c'));
  group.add(command(Verb.QUERY, 'q'));
  group.add(command(Verb.INDEX, 'd'));
  const slot = (n: string): number => lockSlot(n);
  const expected = [
    [slot('a'), slot('a')],
    [slot('b'), -1 - slot('b')],
    [slot('c'), slot('c')],
    [slot('d'), slot('d')],
  ]
    .sort((x, y) => x[0]! - y[0]!)
    .map(([, encoded]) => encoded);
  assert.deepEqual(lockSlots(group), expected);
  assert.ok(['a', 'b', 'c', 'd', 'q'].every((n) => slot(n) >= 0 && slot(n) < LOCK_SLOTS));
  assert.equal(new Set(['a', 'b', 'c', 'd', 'q'].map(slot)).size, 5);
});

/** The slots pkgindex_apply_ordered takes for INDEX `name` with `deps`, as the store computes them. */
function slotsOf(...commands: Command[]): number[] {
  const group = new CommandGroup();
  for (const c of commands) group.add(c);
  return lockSlots(group);
}

/** `INDEX name|deps` applied by a side session in its open transaction (pkgindex_apply_ordered, as a lane sends it). */
function applyIndex(session: pg.Client, slots: readonly number[], name: string, deps = ''): Promise<unknown> {
  return session.query(
    'SELECT pkgindex_apply_ordered($1::integer[], ARRAY[0]::smallint[], ARRAY[$2]::text[], ARRAY[$3]::text[])',
    [slots, name, deps],
  );
}

async function advisoryLocks(
  url: string,
  pid: number,
): Promise<{ objid: number; mode: string; granted: boolean }[]> {
  return adminQuery(
    url,
    "SELECT objid::integer AS objid, mode, granted FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND classid = $2 ORDER BY objid",
    [pid, LOCK_NAMESPACE],
  );
}

async function sideSession(url: string): Promise<{ session: pg.Client; pid: number }> {
  const session = new pg.Client({ connectionString: url });
  await session.connect();
  const { rows } = await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { session, pid: rows[0]!.pid };
}

test('lock slots: a batch changing a popular dependency is not starved by batches that keep depending on it', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  // A statement timeout far above the sharers' whole run: the batch below is never cancelled,
  // only answered late if it waits for them all.
  const server = await startServer({
    storage: 'postgres',
    databaseUrl: url,
    databaseBatchesInFlight: 2,
    databaseStatementTimeoutMs: 60_000,
  });
  const c = await LineClient.open(server.port);
  const sides = [await sideSession(url), await sideSession(url)];
  try {
    assert.deepEqual(await c.request('INDEX|popular|'), ['OK']);
    // Two sessions apply INDEXes that depend on `popular`, each holding its transaction open
    // 120 ms, the second 60 ms behind the first: at every moment one of them holds `popular`'s
    // slot shared, as batches of other lanes and instances do under load.
    const budget = 40;
    let begun = 0;
    let stop = false;
    const sharers = sides.map(async ({ session }, k) => {
      await sleep(k * 60);
      for (let i = 0; i < budget && !stop; i++) {
        await session.query('BEGIN');
        const name = `s${k}x${i}`;
        await applyIndex(session, slotsOf(command(Verb.INDEX, name, ['popular'])), name, 'popular');
        begun++;
        await sleep(120);
        await session.query('COMMIT');
      }
    });
    while (begun < 4) await sleep(10);
    // Re-INDEXing `popular` takes its slot exclusively: it must get it once the transactions
    // holding it when it asked have ended, not when the sharers stop.
    const reply = await c.request('INDEX|popular|');
    const sharedMeanwhile = begun;
    stop = true;
    await Promise.all(sharers);
    assert.deepEqual(reply, ['OK']);
    assert.ok(
      sharedMeanwhile < 2 * budget,
      `answered only after the sharers' last transaction (${sharedMeanwhile} of ${2 * budget}): starved`,
    );
  } finally {
    c.close();
    for (const { session } of sides) await session.end().catch(() => undefined);
    await server.close();
  }
});

test('lock slots: a batch with more slots than the gate allows takes the gate alone, exclusively, in turn with the others', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  // Started once for its migrations: the sessions below call the batch function themselves.
  await (await startServer({ storage: 'postgres', databaseUrl: url })).close();
  const [small, big, later] = [await sideSession(url), await sideSession(url), await sideSession(url)];
  const waiting = async (pid: number): Promise<boolean> =>
    (await advisoryLocks(url, pid)).some((l) => !l.granted);
  try {
    await small.session.query('BEGIN');
    // INDEX a with dependencies: its slot exclusive, theirs shared, and the gate shared.
    await applyIndex(small.session, slotsOf(command(Verb.INDEX, 'a', ['d1', 'd2'])), 'a', 'd1,d2');
    const a = lockSlot('a');
    assert.deepEqual(
      await advisoryLocks(url, small.pid),
      [
        { objid: a, mode: 'ExclusiveLock', granted: true },
        { objid: lockSlot('d1'), mode: 'ShareLock', granted: true },
        { objid: lockSlot('d2'), mode: 'ShareLock', granted: true },
        { objid: GATE_KEY, mode: 'ShareLock', granted: true },
      ].sort((x, y) => x.objid - y.objid),
    );

    // Names with more distinct slots than the gate allows, none of the small batch's.
    const names: string[] = [];
    const seen = new Set([a, lockSlot('d1'), lockSlot('d2')]);
    for (let i = 0; names.length <= GATE_SLOTS; i++)
      if (!seen.has(lockSlot(`b${i}`))) {
        seen.add(lockSlot(`b${i}`));
        names.push(`b${i}`);
      }
    const bigSlots = slotsOf(...names.map((n) => command(Verb.INDEX, n)));
    assert.equal(bigSlots.length, GATE_SLOTS + 1);
    await big.session.query('BEGIN');
    const bigApplied = big.session.query(
      'SELECT pkgindex_apply_ordered($1::integer[], $2::smallint[], $3::text[], $4::text[])',
      [bigSlots, names.map(() => 0), names, names.map(() => '')],
    );
    while (!(await waiting(big.pid))) await sleep(10);
    // A small batch asking now, on a slot nobody holds, queues behind the big one at the gate.
    const c = names.length;
    let name = `c${c}`;
    for (let i = c; seen.has(lockSlot(name)); i++) name = `c${i}`;
    await later.session.query('BEGIN');
    const laterApplied = applyIndex(later.session, slotsOf(command(Verb.INDEX, name)), name);
    while (!(await waiting(later.pid))) await sleep(10);

    await small.session.query('COMMIT');
    await bigApplied;
    // The big batch holds one advisory lock, however many packages it changes.
    assert.deepEqual(await advisoryLocks(url, big.pid), [
      { objid: GATE_KEY, mode: 'ExclusiveLock', granted: true },
    ]);
    assert.ok(await waiting(later.pid), 'the small batch still waits for the big one');
    await big.session.query('COMMIT');
    await laterApplied;
    await later.session.query('COMMIT');
    const state = await databaseState(url);
    assert.ok([name, ...names].every((n) => state.has(n)));
    assert.equal(state.has('a'), false, "a's dependencies were never indexed: FAIL, nothing applied");
  } finally {
    for (const { session } of [small, big, later]) await session.end().catch(() => undefined);
  }
});
