import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reply } from '../../src/protocol/reply.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { DeferredStore } from '../support/deferred-store.js';
import { prng } from '../../tools/stress/harness.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';
import { parseLine } from '../../src/protocol/parse.js';
import { isProtocolError } from '../../src/protocol/command.js';

const NAMES = ['OK', 'FAIL', 'ERROR'];

/** A random line over a connection's own names (so connections cannot affect each other), sometimes malformed. */
function randomLine(random: () => number, prefix: string): string {
  const name = (): string => `${prefix}${Math.floor(random() * 6)}`;
  const roll = random();
  if (roll < 0.1) return `BOGUS|${name()}|`;
  if (roll < 0.55) {
    const deps = Array.from({ length: Math.floor(random() * 3) }, name);
    return `INDEX|${name()}|${deps.join(',')}`;
  }
  if (roll < 0.75) return `REMOVE|${name()}|`;
  return `QUERY|${name()}|`;
}

/** What a single in-memory server answers to the lines of one connection, alone. */
function expected(lines: readonly string[]): string[] {
  const store = new MemoryStore();
  return lines.map((line) => {
    const bytes = Buffer.from(line, 'latin1');
    const parsed = parseLine(bytes, 0, bytes.length);
    if (isProtocolError(parsed)) return 'ERROR';
    return NAMES[store.execute(parsed)]!;
  });
}

describe('a store that decides replies asynchronously, a batch at a time', () => {
  test('pipelined lines of many connections get their replies in order, malformed lines in place', async () => {
    const store = new DeferredStore();
    const server = await startServer({}, { store });
    try {
      const random = prng(7);
      const clients = await Promise.all(Array.from({ length: 8 }, () => LineClient.open(server.port)));
      const scripts = clients.map((_, c) => Array.from({ length: 400 }, () => randomLine(random, `c${c}-`)));
      const replies = await Promise.all(
        clients.map(async (client, c) => {
          const script = scripts[c]!;
          // Several writes per connection, each sent once the server has read the one before
          // (while its replies may still wait for the store), so that its lines span many batches.
          const stats = server.server.stats;
          for (let at = 0; at < script.length; at += 37) {
            const bytes = script
              .slice(at, at + 37)
              .map((l) => `${l}\n`)
              .join('');
            const readBefore = stats.bytesIn;
            client.write(bytes);
            while (stats.bytesIn < readBefore + bytes.length) await new Promise((r) => setImmediate(r));
          }
          return client.read(script.length);
        }),
      );
      for (const [c, script] of scripts.entries())
        assert.deepEqual(replies[c], expected(script), `connection ${c}`);
      assert.ok(store.batchesClosed > clients.length, `${store.batchesClosed} batches`);
      // Every executed command is counted under its verb and decided reply, the malformed ones as invalid.
      const stats = server.server.stats;
      let counted = 0;
      for (const n of stats.commands) counted += n;
      assert.equal(counted, 8 * 400);
      const errors = scripts.flat().filter((l) => l.startsWith('BOGUS')).length;
      assert.equal(stats.count('INVALID', Reply.ERROR), errors);
      const queriesOk = replies.flatMap((r, c) =>
        r.filter((x, i) => x === 'OK' && scripts[c]![i]!.startsWith('QUERY')),
      );
      assert.equal(stats.count('QUERY', Reply.OK), queriesOk.length);
      for (const client of clients) client.close();
    } finally {
      await server.close();
    }
  });

  test('a batch that fails is answered ERROR throughout, and the batches around it are not', async () => {
    const store = new DeferredStore();
    store.failBatch = (n) => n === 2;
    const server = await startServer({}, { store });
    try {
      const client = await LineClient.open(server.port);
      assert.deepEqual(await client.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
      // The second batch: every reply ERROR, its malformed line too, as a failed durable batch.
      assert.deepEqual(await client.request('INDEX|b|', 'BOGUS', 'QUERY|a|'), ['ERROR', 'ERROR', 'ERROR']);
      assert.deepEqual(await client.request('QUERY|b|', 'QUERY|a|'), ['FAIL', 'OK']);
      assert.equal(server.server.stats.repliesFailedDurability, 3);
      client.close();
    } finally {
      await server.close();
    }
  });

  test('replies waiting for the store count toward the output limit: reading pauses until they are decided', async () => {
    const store = new DeferredStore();
    store.hold = true;
    const server = await startServer({ outputHighWaterBytes: 1024 }, { store });
    try {
      const client = await LineClient.open(server.port);
      const line = 'QUERY|x|\n';
      // Far more than the limit allows to be held: 20,000 replies owed is ~100 KB of ERROR-sized slots.
      const lines = 20_000;
      client.write(line.repeat(lines));
      // The server stops reading once it holds more than the limit's worth of replies.
      while (server.server.stats.bytesIn < 1024) await new Promise((r) => setImmediate(r));
      // A negative check: give the server a tenth of a second in which it would read the rest if it did not pause.
      await new Promise((r) => setTimeout(r, 100));
      const readWhileHeld = server.server.stats.bytesIn;
      assert.ok(readWhileHeld < line.length * lines, `read ${readWhileHeld} of ${line.length * lines} bytes`);
      store.release();
      const replies = await client.read(lines);
      assert.ok(replies.every((r) => r === 'FAIL'));
      client.close();
    } finally {
      await server.close();
    }
  });
});
