import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineClient } from '../../support/line-client.js';
import { createTestDatabase, databaseState, needPostgres } from '../../support/postgres.js';
import { startServer, type InProcessServer } from '../../support/servers.js';

/** Throws unless `state` is a DAG in which every dependency is itself indexed. */
function assertDag(state: ReadonlyMap<string, readonly string[]>): void {
  for (const [name, deps] of state)
    for (const d of deps) assert.ok(state.has(d), `${name} depends on ${d}, which is not indexed`);
  const done = new Set<string>();
  const onPath = new Set<string>();
  const visit = (n: string): void => {
    if (done.has(n)) return;
    assert.ok(!onPath.has(n), `cycle through ${n}`);
    onPath.add(n);
    for (const d of state.get(n) ?? []) visit(d);
    onPath.delete(n);
    done.add(n);
  };
  for (const n of state.keys()) visit(n);
}

/** Two batches in flight each, so that batches of one instance race each other too. */
async function instances(url: string, n: number): Promise<InProcessServer[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      startServer({ storage: 'postgres', databaseUrl: url, databaseBatchesInFlight: 2 }),
    ),
  );
}

/** `count` connections to each instance, round robin. */
async function connections(servers: readonly InProcessServer[], perServer: number): Promise<LineClient[]> {
  const out: LineClient[] = [];
  for (let i = 0; i < perServer; i++) for (const s of servers) out.push(await LineClient.open(s.port));
  return out;
}

test('cross-instance race: re-INDEXes that would close 2- and 3-cycles through different instances never both succeed', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const servers = await instances(url, 3);
  const conns = await connections(servers, 2);
  try {
    for (let round = 0; round < 6; round++) {
      const pairs = 40;
      const names = (k: string): string[] => Array.from({ length: pairs }, (_, i) => `r${round}${k}${i}`);
      const [a, b, c] = [names('a'), names('b'), names('c')];
      // Every package exists, with no dependencies, before the race.
      assert.ok(
        (await conns[0]!.request(...[...a, ...b, ...c].map((p) => `INDEX|${p}|`))).every((r) => r === 'OK'),
      );
      // Through instance 1: a→b; instance 2: b→a (pairs), or b→c and instance 3: c→a (triangles).
      const twoCycle = round % 2 === 0;
      const lanes = twoCycle
        ? [a.map((p, i) => `INDEX|${p}|${b[i]}`), b.map((p, i) => `INDEX|${p}|${a[i]}`)]
        : [
            a.map((p, i) => `INDEX|${p}|${b[i]}`),
            b.map((p, i) => `INDEX|${p}|${c[i]}`),
            c.map((p, i) => `INDEX|${p}|${a[i]}`),
          ];
      // Each lane split over two connections of its instance, sent pipelined at once.
      const replies = await Promise.all(
        lanes.map(async (lines, lane) => {
          const half = lines.length / 2;
          const [x, y] = await Promise.all([
            conns[lane]!.request(...lines.slice(0, half)),
            conns[lane + 3]!.request(...lines.slice(half)),
          ]);
          return [...x, ...y];
        }),
      );
      const state = await databaseState(url);
      assertDag(state);
      for (let i = 0; i < pairs; i++) {
        const oks = replies.map((r) => r[i]);
        assert.ok(oks.includes('FAIL'), `round ${round} pair ${i}: all of ${oks.join(',')} succeeded`);
        assert.ok(
          oks.every((r) => r === 'OK' || r === 'FAIL'),
          `round ${round} pair ${i}: ${oks.join(',')}`,
        );
        // What was acknowledged is what the database holds.
        const from = [a, b, c];
        const to = twoCycle ? [b, a] : [b, c, a];
        for (let lane = 0; lane < lanes.length; lane++)
          assert.deepEqual(state.get(from[lane]![i]!), oks[lane] === 'OK' ? [to[lane]![i]!] : []);
      }
    }
  } finally {
    for (const c of conns) c.close();
    await Promise.all(servers.map((s) => s.close()));
  }
});

test('cross-instance race: INDEX of a dependent against REMOVE of its dependency; exactly one wins', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  const servers = await instances(url, 2);
  const conns = await connections(servers, 2);
  try {
    for (let round = 0; round < 6; round++) {
      const n = 60;
      const deps = Array.from({ length: n }, (_, i) => `r${round}d${i}`);
      const users = Array.from({ length: n }, (_, i) => `r${round}u${i}`);
      assert.ok((await conns[0]!.request(...deps.map((d) => `INDEX|${d}|`))).every((r) => r === 'OK'));
      const index = users.map((u, i) => `INDEX|${u}|${deps[i]}`);
      const remove = deps.map((d) => `REMOVE|${d}|`);
      // Instance 1 indexes, instance 2 removes, each over two connections.
      const [i1, i2, r1, r2] = await Promise.all([
        conns[0]!.request(...index.slice(0, n / 2)),
        conns[2]!.request(...index.slice(n / 2)),
        conns[1]!.request(...remove.slice(0, n / 2)),
        conns[3]!.request(...remove.slice(n / 2)),
      ]);
      const indexed = [...i1, ...i2];
      const removed = [...r1, ...r2];
      const state = await databaseState(url);
      assertDag(state);
      for (let i = 0; i < n; i++) {
        assert.notEqual(
          indexed[i],
          removed[i],
          `round ${round} pair ${i}: INDEX ${indexed[i]}, REMOVE ${removed[i]}`,
        );
        assert.equal(state.has(users[i]!), indexed[i] === 'OK');
        assert.equal(state.has(deps[i]!), removed[i] === 'FAIL');
      }
    }
  } finally {
    for (const c of conns) c.close();
    await Promise.all(servers.map((s) => s.close()));
  }
});
