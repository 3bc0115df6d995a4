/**
 * Issue 12, "Bounded work, fair service": one client's long work (a cycle check of a whole
 * chain, a long pipelined read) must not stall the others. These tests assert what clients
 * observe (who is answered before whom, in which order, with which reply), never timings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineClient } from '../support/line-client.js';
import { startServer, type InProcessServer } from '../support/servers.js';

/** `q0 <- q1 <- ... <- q(n-1)`: each package depends on the one before it. */
function chain(prefix: string, n: number): string {
  const lines = [`INDEX|${prefix}0|`];
  for (let i = 1; i < n; i++) lines.push(`INDEX|${prefix}${i}|${prefix}${i - 1}`);
  return `${lines.join('\n')}\n`;
}

async function load(port: number, text: string): Promise<void> {
  const c = await LineClient.open(port);
  const n = text.split('\n').length - 1;
  c.write(text);
  const replies = await c.read(n, 60_000);
  assert.ok(
    replies.every((r) => r === 'OK'),
    'the chain is indexed',
  );
  c.close();
}

/** Counts the reply lines a client has received so far, beside LineClient's own reading. */
function countReplies(c: LineClient): { readonly count: number } {
  const counter = { count: 0 };
  c.socket.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0a) counter.count++;
  });
  return counter;
}

/** Resolves once the store has suspended at least `n` commands (a check is running in slices). */
async function suspended(server: InProcessServer, n = 1): Promise<void> {
  while (server.server.stats.commandsSuspended < n) await new Promise((r) => setImmediate(r));
}

const CHAIN = 60_000;

test('another client is answered while 200 chain-closing lines sent in one write are checked', async () => {
  const s = await startServer();
  try {
    await load(s.port, chain('q', CHAIN));
    const attacker = await LineClient.open(s.port);
    const victim = await LineClient.open(s.port);
    const received = countReplies(attacker);
    attacker.write(`INDEX|q0|q${CHAIN - 1}\n`.repeat(200));
    await suspended(s);
    assert.deepEqual(await victim.request('QUERY|q0|'), ['OK']);
    assert.ok(received.count < 200, `the victim waited for all ${received.count} attacker replies`);
    const replies = await attacker.read(200, 120_000);
    assert.ok(
      replies.every((r) => r === 'FAIL'),
      'every line would close a cycle',
    );
    assert.deepEqual(await victim.request('QUERY|q0|', 'INDEX|v|q0', 'QUERY|v|'), ['OK', 'OK', 'OK']);
    attacker.close();
    victim.close();
  } finally {
    await s.close();
  }
});

test('a long accepted re-INDEX is linearised at its end: queries before it, mutations after', async () => {
  const s = await startServer();
  try {
    await load(s.port, chain('q', CHAIN));
    await load(s.port, chain('r', CHAIN));
    const a = await LineClient.open(s.port);
    const b = await LineClient.open(s.port);
    const c = await LineClient.open(s.port);
    // q0 gains r(last): both closures are whole chains, and the two do not meet: accepted.
    // The lines after it on the same connection must observe it.
    a.write(`INDEX|q0|r${CHAIN - 1}\nREMOVE|r${CHAIN - 1}|\nQUERY|q0|\n`);
    await suspended(s);
    // Another client's mutation waits for the check: had it run first, r(last) would be gone
    // and the INDEX would fail for a missing dependency.
    b.write(`REMOVE|r${CHAIN - 1}|\n`);
    // Another client's QUERY does not wait.
    assert.deepEqual(await c.request(`QUERY|r${CHAIN - 1}|`), ['OK']);
    assert.deepEqual(await a.read(3, 120_000), ['OK', 'FAIL', 'OK']);
    assert.deepEqual(await b.read(1, 120_000), ['FAIL']);
    // q0 now depends on r(last), so nothing may go below... and a cycle through both chains is refused.
    assert.deepEqual(await c.request(`INDEX|r0|q${CHAIN - 1}`), ['FAIL']);
    assert.deepEqual(await c.request(`INDEX|q0|`, `REMOVE|r${CHAIN - 1}|`), ['OK', 'OK']);
    for (const client of [a, b, c]) client.close();
  } finally {
    await s.close();
  }
});

test('a pipelining client is served in slices: a request/response client is answered in between', async () => {
  const s = await startServer({ turnBudgetUs: 100 });
  try {
    const flooder = await LineClient.open(s.port);
    const victim = await LineClient.open(s.port);
    const received = countReplies(flooder);
    const lines = 200_000;
    flooder.write('INDEX|a|\n' + 'QUERY|a|\n'.repeat(lines - 1));
    while (received.count === 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(await victim.request('QUERY|a|'), ['OK']);
    assert.ok(received.count < lines, 'the victim was answered before the flood ended');
    assert.ok(s.server.stats.turnsYielded > 0, 'the flooder yielded its turn');
    const replies = await flooder.read(lines, 120_000);
    assert.equal(replies.filter((r) => r === 'OK').length, lines);
    flooder.close();
    victim.close();
  } finally {
    await s.close();
  }
});

test('several pipelining clients share the turns: a request/response client is answered before any of them is done', async () => {
  // One slice is 20 µs of lines and one round 100 µs: a pipeliner's every read is cut into
  // slices, served in turn with the other pipeliners' and between the event loop's reads.
  const s = await startServer({ sliceUs: 20, turnBudgetUs: 100 });
  try {
    const lines = 100_000;
    const flooders = await Promise.all(Array.from({ length: 4 }, () => LineClient.open(s.port)));
    const victim = await LineClient.open(s.port);
    assert.deepEqual(await victim.request('INDEX|a|'), ['OK']);
    const received = flooders.map(countReplies);
    for (const f of flooders) f.write('QUERY|a|\n'.repeat(lines));
    // Every pipeliner has been served a first slice: all of them are in the round robin now.
    while (received.some((r) => r.count === 0)) await new Promise((r) => setImmediate(r));
    assert.deepEqual(await victim.request('QUERY|a|'), ['OK']);
    const counts = received.map((r) => r.count);
    assert.ok(
      counts.every((n) => n < lines),
      `the victim was answered before every pipeliner's input was done (${counts.join(', ')} of ${lines})`,
    );
    for (const f of flooders) {
      const replies = await f.read(lines, 120_000);
      assert.equal(
        replies.filter((r) => r === 'OK').length,
        lines,
        'each pipeliner gets all its replies, in order',
      );
      f.close();
    }
    victim.close();
  } finally {
    await s.close();
  }
});

test('the turn budget clock starts as line 17 of a read starts, and is compared every 16 lines after', async () => {
  // A budget of 0 µs is spent by the first comparison, which ends the slice. A read of up to
  // 32 lines (a pipelining client's usual) reads the clock at most once and never yields, with
  // metrics on or off; the first slice of a longer one ends after line 33.
  for (const admin of [false, true]) {
    const s = await startServer({ sliceUs: 0, turnBudgetUs: 0, admin, adminPort: 0 });
    try {
      const c = await LineClient.open(s.port);
      c.write('QUERY|a|\n'.repeat(32));
      assert.equal((await c.read(32)).length, 32);
      assert.equal(s.server.stats.turnsYielded, 0, `32 lines, admin ${admin}: the clock only started`);
      // Loopback delivers a 360-byte write in one read; were it split, there would be no yield.
      c.write('QUERY|a|\n'.repeat(40));
      assert.equal((await c.read(40)).length, 40);
      assert.equal(s.server.stats.turnsYielded, 1, `40 lines, admin ${admin}: one slice ends after line 33`);
      c.close();
    } finally {
      await s.close();
    }
  }
});

test('the durable store answers a suspended re-INDEX once it is on disk, and keeps it', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'pkgindex-fair-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  // Not yet existing: the server makes it (an existing empty dir is refused as emptied).
  const dir = join(parent, 'data');
  let s = await startServer({ storage: 'disk', dataDir: dir });
  try {
    await load(s.port, chain('q', CHAIN) + chain('r', CHAIN));
    const a = await LineClient.open(s.port);
    assert.deepEqual(await a.request(`INDEX|q0|r${CHAIN - 1}`, `INDEX|q0|q${CHAIN - 1}`), ['OK', 'FAIL']);
    assert.ok(s.server.stats.commandsSuspended >= 2, 'both checks ran in slices');
    a.close();
  } finally {
    await s.close();
  }
  s = await startServer({ storage: 'disk', dataDir: dir });
  try {
    const a = await LineClient.open(s.port);
    assert.deepEqual(await a.request(`REMOVE|r${CHAIN - 1}|`), ['FAIL'], 'q0 still depends on it');
    a.close();
  } finally {
    await s.close();
  }
});
