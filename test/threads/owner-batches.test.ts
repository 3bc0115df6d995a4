import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CommandSlot } from '../../src/protocol/command.js';
import { parseInto } from '../../src/protocol/parse.js';
import { Reply } from '../../src/protocol/reply.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RemoteStore } from '../../src/threads/remote-store.js';
import { executeBatch, HELD, type BatchPeer, type SplitPeer } from '../../src/threads/owner-batches.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { executeSplit } from '../../src/threads/split-batches.js';
import { newDataDir } from '../store/support/tmp-dir.js';
import { openFaultStore } from '../store/support/fault-store.js';
import { until } from '../support/until.js';
import { DeferredStore } from '../support/deferred-store.js';

/** Names, valid and not (too long, empty, a space, non-ASCII). */
const NAMES = ['a', 'zlib', 'openssl@3', 'b.c_d+e-f/g:h', 'x'.repeat(255), 'y'.repeat(256), '', ' ', 'é'];

test('a parsed command goes to the owner as a line that the owner parses to the same command', async () => {
  const batches: Buffer[] = [];
  const store = new RemoteStore('t', (lines) => {
    batches.push(Buffer.from(lines));
  });
  const samples = fc.sample(
    fc.tuple(
      fc.constantFrom('INDEX', 'QUERY', 'REMOVE', 'index'),
      fc.constantFrom(...NAMES),
      fc.array(fc.constantFrom(...NAMES), { maxLength: 4 }),
      fc.constantFrom('', '\r', '|'),
      fc.nat(3),
    ),
    { numRuns: 4000, seed: 13 },
  );
  const expected: { verb: string; name: string; deps: string[] }[] = [];
  const slot = new CommandSlot();
  for (const [verb, name, deps, end, before] of samples) {
    // The line sits inside a larger read, as in the shared read buffer.
    const line = Buffer.from(`${verb}|${name}|${deps.join(',')}${end}`, 'utf8');
    const buf = Buffer.concat([Buffer.alloc(before, 0x7c), line, Buffer.from('\nQUERY|next|\n')]);
    if (parseInto(buf, before, before + line.length, slot) !== null) continue;
    expected.push({ verb: slot.verb, name: slot.name, deps: [...slot.deps] });
    store.execute(slot);
    buf.fill(0); // the read buffer is reused at once: the batch must hold a copy
  }
  void store.barrier();
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(expected.length > 300, `${expected.length} valid lines in the sample`);
  const lines = Buffer.concat(batches);
  const owner = new CommandSlot();
  let start = 0;
  for (const want of expected) {
    const end = lines.indexOf(0x0a, start);
    assert.equal(parseInto(lines, start, end, owner), null, lines.toString('latin1', start, end));
    assert.deepEqual({ verb: owner.verb, name: owner.name, deps: [...owner.deps] }, want);
    start = end + 1;
  }
  assert.equal(start, lines.length, 'one line per command, nothing else');
});

/**
 * A socket thread's side of the hop that keeps the replies it is sent; a failed batch is a test
 * failure (the memory store never fails one) unless `failures` says to keep it, as null.
 */
function recordingPeer({ failures = false } = {}): { peer: BatchPeer; answered: (number[] | null)[] } {
  const answered: (number[] | null)[] = [];
  const peer: BatchPeer = {
    tail: null,
    queued: null,
    replies(replies) {
      answered.push(Array.from(replies));
    },
    failed() {
      if (!failures) assert.fail('the memory store never fails a batch');
      answered.push(null);
    },
    suspended() {
      // Counted in the owner's stats; test/server/server.test.ts checks the count per serving.
    },
  };
  return { peer, answered };
}

test('the owner executes a batch in order and answers it with one reply per line, as the store would', async () => {
  const { peer, answered } = recordingPeer();
  const store = new MemoryStore();
  await store.open();
  const lines = Buffer.from(
    'INDEX|b|a\nINDEX|a|\nINDEX|b|a\r\nQUERY|b|\nREMOVE|a|\nREMOVE|b|\nQUERY|b|\nquery|b|\n',
  );
  executeBatch(store, new CommandSlot(), peer, lines, 8);
  const { OK, FAIL, ERROR } = Reply;
  assert.deepEqual(answered, [[FAIL, OK, OK, OK, FAIL, OK, FAIL, ERROR]]);
  assert.equal(peer.tail, null, 'answered at once: nothing chained');
});

test('a batch that holds fewer lines than its count says gets ERROR for the missing ones', async () => {
  const { peer, answered } = recordingPeer();
  const store = new MemoryStore();
  await store.open();
  // The last line lacks its newline: a record cut short is never read past its end.
  executeBatch(store, new CommandSlot(), peer, Buffer.from('INDEX|a|\nQUERY|a|'), 3);
  assert.deepEqual(answered, [[Reply.OK, Reply.ERROR, Reply.ERROR]]);
});

test('a SUSPENDED command stops the batch: the rest, and the batches after it, run once it is decided, in order', async () => {
  const { peer, answered } = recordingPeer();
  const store = new MemoryStore();
  await store.open();
  const chain = 30_000;
  let text = '';
  for (let i = 0; i < chain; i++) text += `INDEX|q${i}|${i > 0 ? `q${i - 1}` : ''}\n`;
  executeBatch(store, new CommandSlot(), peer, Buffer.from(text), chain);
  assert.equal(answered.length, 1);
  // q0 on the chain's end needs a check of the whole chain: longer than a turn (ADR 0012).
  const slot = new CommandSlot();
  executeBatch(
    store,
    slot,
    peer,
    Buffer.from(`INDEX|q0|q${chain - 1}\nINDEX|z|q${chain - 1}\nQUERY|z|\n`),
    3,
  );
  assert.notEqual(peer.queued, null, 'the peer waits for the check');
  // A batch that comes meanwhile waits too, and sees what the one before it did.
  const ring = Buffer.from('QUERY|z|\nREMOVE|q0|\n');
  executeBatch(store, slot, peer, ring, 2);
  ring.fill(0); // the caller's bytes (a ring's) are reused once the call returns
  assert.equal(answered.length, 1, 'nothing answered before the check is decided');
  await until('both batches answered', () => answered.length === 3);
  const { OK, FAIL } = Reply;
  assert.deepEqual(answered.slice(1), [
    [FAIL, OK, OK],
    [OK, FAIL],
  ]);
  assert.equal(peer.queued, null);
});

test('a split peer: each client of a batch gets its own barrier; one that waits for nothing is answered at once', async (t) => {
  const store = new DiskStore({ dataDir: await newDataDir(t) });
  await store.open();
  t.after(() => store.close());
  const { peer, first, second } = recordingSplitPeer();
  const { OK, FAIL } = Reply;
  // Three clients: one writes (its lines wait for the group commit), one reads a package no
  // pending write touched (answered at once), one reads what the first one wrote (waits too).
  const lines = Buffer.from('INDEX|a|\nQUERY|a|\nQUERY|b|\nQUERY|a|\n');
  executeSplit(store, new CommandSlot(), peer, lines, 4, null, Uint32Array.of(7, 2, 8, 1, 9, 1));
  assert.deepEqual(first, [[HELD, HELD, FAIL, HELD]]);
  await until('the group commit', () => second.length === 1);
  assert.deepEqual(second, [[OK, OK, OK]]);
  // Without a write pending, every client is answered at once, in one part.
  executeSplit(
    store,
    new CommandSlot(),
    peer,
    Buffer.from('QUERY|a|\nQUERY|b|\n'),
    2,
    null,
    Uint32Array.of(7, 1, 8, 1),
  );
  assert.deepEqual(first[1], [OK, FAIL]);
  assert.equal(second.length, 1);
});

test('a split peer: when every client waits, the second part is every reply in order, batch after batch', async (t) => {
  const { store, fs } = await openFaultStore(t, await newDataDir(t));
  const { peer, first, second } = recordingSplitPeer();
  const { OK, FAIL } = Reply;
  // Both clients write, so every line waits for the same group commit; a second batch, executed
  // while the first one's commit is open, waits for it too.
  const slot = new CommandSlot();
  executeSplit(
    store,
    slot,
    peer,
    Buffer.from('INDEX|a|\nINDEX|b|a\nQUERY|b|\n'),
    3,
    null,
    Uint32Array.of(1, 1, 2, 2),
  );
  executeSplit(store, slot, peer, Buffer.from('REMOVE|a|\nQUERY|a|\n'), 2, null, Uint32Array.of(2, 1, 1, 1));
  assert.deepEqual(first, [
    [HELD, HELD, HELD],
    [HELD, HELD],
  ]);
  await until('the group commit', () => second.length === 2);
  assert.deepEqual(second, [
    [OK, OK, OK],
    [FAIL, OK],
  ]);
  // A commit that fails: every held line of its batch is answered null (ERROR), never OK.
  fs.inject({ op: 'write', code: 'EIO' });
  executeSplit(store, slot, peer, Buffer.from('INDEX|c|\nQUERY|c|\n'), 2, null, Uint32Array.of(1, 1, 2, 1));
  assert.deepEqual(first[2], [HELD, HELD]);
  await until('the failed commit', () => second.length === 3);
  assert.equal(second[2], null);
});

test('a split peer: a SUSPENDED command holds its own client only; the others are answered meanwhile', async () => {
  const store = new MemoryStore();
  await store.open();
  const { peer, first, second } = recordingSplitPeer();
  const chain = 30_000;
  let text = '';
  for (let i = 0; i < chain; i++) text += `INDEX|q${i}|${i > 0 ? `q${i - 1}` : ''}\n`;
  executeSplit(store, new CommandSlot(), peer, Buffer.from(text), chain, null, Uint32Array.of(1, chain));
  assert.equal(first.length, 1);
  const { OK, FAIL } = Reply;
  // Client 1 closes a cycle over the chain (a check longer than a turn), then indexes z; client
  // 2 asks for q0 in the same batch and in the next one, where client 1 sends one more line.
  const slot = new CommandSlot();
  const ring = Buffer.from(`INDEX|q0|q${chain - 1}\nINDEX|z|q${chain - 1}\nQUERY|q0|\n`);
  executeSplit(store, slot, peer, ring, 3, null, Uint32Array.of(1, 2, 2, 1));
  ring.fill(0); // the caller's bytes are reused once the call returns
  assert.deepEqual(first[1], [HELD, HELD, OK], 'client 2 is answered while client 1 waits');
  assert.ok(peer.clients.has(1));
  executeSplit(store, slot, peer, Buffer.from('QUERY|z|\nQUERY|q1|\n'), 2, null, Uint32Array.of(1, 1, 2, 1));
  assert.deepEqual(first[2], [HELD, OK], "client 1's next line waits behind its check");
  await until('the check decided', () => second.length === 2);
  assert.deepEqual(second, [[FAIL, OK], [OK]], 'in order: the check, z, then the QUERY that sees z');
  assert.equal(peer.clients.size, 0);
});

/**
 * Collects unhandled rejections while `body` runs and for two turns of the event loop after it
 * (one would end the server: it exits on any), then stops listening.
 */
async function unhandledRejections(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return seen;
}

test("a batch refused at once while the peer's earlier batch waits: no unhandled rejection, answered in order", async () => {
  const store = new DeferredStore();
  await store.open();
  const { peer, answered } = recordingPeer({ failures: true });
  const seen = await unhandledRejections(async () => {
    store.hold = true;
    executeBatch(store, new CommandSlot(), peer, Buffer.from('INDEX|a|\n'), 1);
    // The database went away meanwhile: the store refuses the next batch in barrier() itself.
    // A batch of malformed lines only: nothing waits for a fill, its barrier is the wait.
    store.refuse = new Error('database unavailable');
    executeBatch(store, new CommandSlot(), peer, Buffer.from('INDEX\n'), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(answered, [], 'nothing is answered before the first batch is decided');
    store.refuse = null;
    store.release();
    await until('both batches answered', () => answered.length === 2);
  });
  assert.deepEqual(seen, []);
  assert.deepEqual(answered, [[Reply.OK], null], 'the first batch, then the refused one, failed');
});

test('a split peer: a batch refused at once while an earlier one waits is answered after it, with no unhandled rejection', async () => {
  const store = new DeferredStore();
  await store.open();
  const { peer, first, second } = recordingSplitPeer();
  const seen = await unhandledRejections(async () => {
    store.hold = true;
    executeSplit(store, new CommandSlot(), peer, Buffer.from('INDEX|a|\n'), 1, null, Uint32Array.of(1, 1));
    // Two clients in the refused batch: its two waits are one Promise.all.
    store.refuse = new Error('database unavailable');
    executeSplit(
      store,
      new CommandSlot(),
      peer,
      Buffer.from('INDEX|b|\nINDEX|c|\n'),
      2,
      null,
      Uint32Array.of(2, 1, 3, 1),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(second, [], 'no second part before the first batch is decided');
    store.refuse = null;
    store.release();
    await until('both batches settled', () => second.length === 2);
  });
  assert.deepEqual(seen, []);
  assert.deepEqual(first, [[HELD], [HELD, HELD]]);
  assert.deepEqual(second, [[Reply.OK], null], 'the first batch, then the refused one, failed');
});

test("a split peer: a client whose barrier fails is answered ERROR; the batch's other clients keep their replies", async () => {
  const store = new DeferredStore();
  await store.open();
  const { peer, first, second, failed } = recordingSplitPeer();
  const { OK, ERROR } = Reply;
  // Each client's lines close a barrier of their own: the store's batches 1, 2 and 3.
  store.failBatch = (n) => n === 2;
  executeSplit(
    store,
    new CommandSlot(),
    peer,
    Buffer.from('INDEX|a|\nINDEX|b|\nQUERY|b|\nINDEX|c|\n'),
    4,
    null,
    Uint32Array.of(1, 1, 2, 2, 3, 1),
  );
  assert.deepEqual(first, [[HELD, HELD, HELD, HELD]]);
  await until('the second part', () => second.length === 1);
  assert.deepEqual(second, [[OK, ERROR, ERROR, OK]], "only client 2's lines failed");
  assert.deepEqual(failed, [2], 'counted as failed for durability');
  // When every client's barrier fails, the answer is null, as the layer counts it.
  store.failBatch = () => true;
  executeSplit(
    store,
    new CommandSlot(),
    peer,
    Buffer.from('INDEX|d|\nINDEX|e|\n'),
    2,
    null,
    Uint32Array.of(1, 1, 2, 1),
  );
  await until('the second part', () => second.length === 2);
  assert.equal(second[1], null);
});

/** The native layer's side of a split answer, keeping both parts as they come. */
function recordingSplitPeer(): {
  peer: SplitPeer;
  first: number[][];
  second: (number[] | null)[];
  /** Per second part that is not null: how many of its replies failed for durability. */
  failed: number[];
} {
  const first: number[][] = [];
  const second: (number[] | null)[] = [];
  const failed: number[] = [];
  const peer: SplitPeer = {
    tail: null,
    queued: null,
    clients: new Map(),
    replies(replies) {
      first.push(Array.from(replies));
    },
    failed() {
      assert.fail('a split peer is answered in two parts');
    },
    suspended() {
      // Counted in the owner's stats; test/server/server.test.ts checks the count per serving.
    },
    settled(replies, lines = 0) {
      second.push(replies === null ? null : Array.from(replies));
      if (replies !== null) failed.push(lines);
    },
  };
  return { peer, first, second, failed };
}
