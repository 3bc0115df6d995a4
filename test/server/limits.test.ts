import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, memoryOf, spawnServer } from '../support/servers.js';

const MiB = 1024 * 1024;

/**
 * Writes `line` repeatedly, never reading, until `limit` bytes are taken or the socket has
 * accepted nothing for `stallMs` (the server stopped reading). Returns the bytes taken.
 */
async function floodWithoutReading(
  port: number,
  line: string,
  limit: number,
  stallMs = 1000,
): Promise<{ sent: number; destroy: () => void }> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  socket.pause(); // never read the replies
  const block = Buffer.from(line.repeat(Math.ceil((256 * 1024) / line.length)));
  let written = 0;
  while (written < limit) {
    written += block.length;
    if (socket.write(block)) continue;
    const drained = await Promise.race([
      once(socket, 'drain').then(() => true),
      sleep(stallMs).then(() => false),
    ]);
    if (!drained) break;
  }
  return { sent: written - socket.writableLength, destroy: () => socket.destroy() };
}

for (const { threads, io, label } of SERVINGS)
  test(`a client that never reads cannot grow server memory; other clients are unaffected (${label})`, async (t) => {
    const server = await spawnServer({ threads, io });
    try {
      const warm = await LineClient.open(server.port);
      await warm.request('INDEX|a|');
      const before = memoryOf(server.child.pid!);

      // Empty lines are the worst case: 1 byte in, `ERROR\n` (6 bytes) out.
      const flooders = await Promise.all([0, 1].map(() => floodWithoutReading(server.port, '\n', 128 * MiB)));
      const after = memoryOf(server.child.pid!);
      // The kernel buffers a few MiB per socket; the server stops reading once its replies back up.
      const totalSent = flooders.reduce((n, f) => n + f.sent, 0);
      t.diagnostic(
        `server accepted ${(totalSent / MiB).toFixed(1)} MiB; RSS ${(before.rss / MiB).toFixed(0)} -> ${(after.rss / MiB).toFixed(0)} MiB`,
      );
      assert.ok(totalSent < 32 * MiB, `server kept reading ${totalSent} bytes from clients that never read`);
      assert.ok(after.rss - before.rss < 64 * MiB, `RSS grew by ${(after.rss - before.rss) / MiB} MiB`);

      assert.deepEqual(await warm.request('QUERY|a|', 'INDEX|b|a'), ['OK', 'OK']);
      warm.close();
      for (const f of flooders) f.destroy();
    } finally {
      await server.stop();
    }
  });

for (const { threads, io, label } of SERVINGS)
  test(`an endless line without a newline cannot grow server memory (${label})`, async () => {
    const server = await spawnServer({ threads, io, args: ['--max-line-bytes', '65536'] });
    try {
      const c = await LineClient.open(server.port);
      const before = memoryOf(server.child.pid!);
      const block = Buffer.alloc(1024 * 1024, 'x');
      // 256 MiB through a 64 KiB line limit: retaining any of it would show; garbage awaiting GC
      // is what the margin allows for.
      for (let i = 0; i < 256; i++) {
        if (!c.socket.write(block)) await once(c.socket, 'drain');
      }
      assert.deepEqual(await c.read(1), ['ERROR'], 'one ERROR for the over-long line');
      const after = memoryOf(server.child.pid!);
      assert.ok(after.rss - before.rss < 96 * MiB, `RSS grew by ${(after.rss - before.rss) / MiB} MiB`);
      c.write('\nQUERY|x|\n');
      assert.deepEqual(await c.read(1), ['FAIL'], 'the connection keeps serving after the newline');
      c.close();
    } finally {
      await server.stop();
    }
  });

for (const { threads, io, label } of SERVINGS)
  test(`SIGTERM: stops accepting, answers in-flight lines, closes clients, exits 0 (${label})`, async () => {
    const server = await spawnServer({ threads, io });
    const c = await LineClient.open(server.port);
    assert.deepEqual(await c.request('INDEX|a|'), ['OK']);
    const code = server.stop('SIGTERM');
    await c.closedByServer();
    assert.equal(await code, 0);
    const messages = server.events.map((e) => e.msg);
    for (const m of ['signal received', 'shutting down', 'stopped']) assert.ok(messages.includes(m), m);
    await assert.rejects(LineClient.open(server.port));
  });

for (const { threads, io, label } of SERVINGS)
  test(`SIGTERM with a client that never reads: exits 0 within the shutdown timeout (${label})`, async () => {
    const server = await spawnServer({ threads, io, args: ['--shutdown-timeout-ms', '500'] });
    const flooder = await floodWithoutReading(server.port, 'QUERY|a|\n', 64 * MiB, 300);
    const started = Date.now();
    assert.equal(await server.stop('SIGTERM'), 0);
    assert.ok(Date.now() - started < 5000);
    flooder.destroy();
  });
