import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { loadNativeIo } from '../../src/native/addon.js';
import { unackedBucket } from '../../src/store/unacked-names.js';
import { FaultFs } from '../support/fault-fs.js';
import { LineClient } from '../support/line-client.js';
import { until } from '../support/until.js';
import { spawnServer, startServer, type ServerProcess } from '../support/servers.js';
import { faultStore } from '../store/support/fault-store.js';
import { newDataDir } from '../store/support/tmp-dir.js';

// ADR 0025 (--commit-read-pause-us): while two batches of the owner's own connections wait for
// their group commits, the owner's loop reads no new lines, until the older one is answered or
// the pause's limit passes; what arrives meanwhile runs as one larger turn.

const loaded = loadNativeIo();

function native(t: TestContext): boolean {
  if (loaded.ok) return true;
  t.skip(`--io native is not built here: ${loaded.reason}`);
  return false;
}

/**
 * Twenty clients at once, each pipelining rounds of four lines about its own packages (`tag`
 * keeps each call's names apart): every reply checked.
 */
async function pipelinedMutations(port: number, tag: string): Promise<void> {
  await Promise.all(
    Array.from({ length: 20 }, async (_, c) => {
      const client = await LineClient.open(port);
      try {
        for (let r = 0; r < 30; r++) {
          const name = `${tag}-c${c}-r${r}`;
          const previous = `${tag}-c${c}-r${r - 1}`;
          const replies = await client.request(
            `INDEX|${name}|${r > 0 ? previous : ''}`,
            `QUERY|${name}|`,
            `REMOVE|${previous}|`,
            `QUERY|${tag}-c${c}-r${r + 1}|`,
          );
          // The previous package is held by this one: its REMOVE fails (round 0: nothing to remove).
          assert.deepEqual(replies, ['OK', 'OK', r > 0 ? 'FAIL' : 'OK', 'FAIL'], `client ${c}, round ${r}`);
        }
      } finally {
        client.close();
      }
    }),
  );
}

/** The server's pkgindex_io_read_pauses_total. */
async function readPauses(server: ServerProcess): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  const value = /^pkgindex_io_read_pauses_total (\d+)$/m.exec(metrics);
  assert.ok(value !== null, 'the metric is exported');
  return Number(value[1]);
}

// A real server process on the disk, so that group commits take the time they take: whether a
// second batch arrives while one is being written is the machine's business, so the load is
// sent again (up to five times) until the reading has paused. The pause itself is shown
// deterministically by the test below, with a commit held in the file system.
for (const threads of [1, 2]) {
  test(`durable, pipelined: the owner's loop pauses reading behind group commits, and every reply is right (--threads ${threads})`, async (t) => {
    if (!native(t)) return;
    const server = await spawnServer({
      io: 'native',
      threads,
      storage: 'disk',
      dataDir: await newDataDir(t),
    });
    t.after(() => server.stop('SIGKILL'));
    let attempt = 0;
    while ((await readPauses(server)) === 0 && attempt < 5)
      await pipelinedMutations(server.port, `a${attempt++}`);
    assert.ok((await readPauses(server)) > 0, `the reading paused, in ${attempt} loads`);
    assert.equal(await server.stop('SIGTERM'), 0);
    const stopped = server.events.find((e) => e.msg === 'native I/O threads stopped');
    assert.ok(Number(stopped?.readPauses) > 0, 'the count is in the shutdown line');
  });
}

test('with --commit-read-pause-us 0 the owner never pauses its reading', async (t) => {
  if (!native(t)) return;
  const server = await spawnServer({
    io: 'native',
    threads: 1,
    storage: 'disk',
    dataDir: await newDataDir(t),
    args: ['--commit-read-pause-us=0'],
  });
  t.after(() => server.stop('SIGKILL'));
  for (let attempt = 0; attempt < 3; attempt++) await pipelinedMutations(server.port, `a${attempt}`);
  assert.equal(await readPauses(server), 0);
});

test("a group commit stuck in the file system pauses the owner's reading no longer than --commit-read-pause-us: other clients' QUERYs are answered", async (t) => {
  if (!native(t)) return;
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  const { store } = faultStore(dir, fs);
  const server = await startServer(
    { io: 'native', threads: 1, storage: 'disk', dataDir: dir, commitReadPauseUs: 5000 },
    { store },
  );
  t.after(() => server.close());
  // A QUERY waits for a commit that changed a name of its bucket (unacked-names.ts): not here.
  assert.notEqual(unackedBucket('base'), unackedBucket('b'));
  assert.notEqual(unackedBucket('base'), unackedBucket('c'));
  const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => LineClient.open(server.port)));
  t.after(() => {
    for (const client of [a, b, c, d]) client!.close();
  });
  assert.deepEqual(await a!.request('INDEX|base|'), ['OK']);
  const pausesBefore = (await server.stats()).ioReadPauses;
  const hold = fs.hold('write');
  const first = b!.request('INDEX|b|base');
  await hold.reached;
  // The first batch's commit hangs; a second batch waits behind it: the reading pauses.
  const second = c!.request('INDEX|c|base');
  await until('the reading paused', async () => (await server.stats()).ioReadPauses > pausesBefore);
  // Sent while paused: read once the pause's limit has passed, though the commit still hangs.
  const query = d!.request('QUERY|base|');
  const answered = await Promise.race([query, delay(10_000).then(() => 'still waiting')]);
  assert.deepEqual(answered, ['OK'], 'the QUERY was read and answered while the commit hung');
  assert.equal(server.pkgindex.io, 'native');
  hold.release();
  assert.deepEqual(await first, ['OK']);
  assert.deepEqual(await second, ['OK']);
});
