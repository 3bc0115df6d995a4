import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync } from 'node:fs';
import { memoryLogger } from '../admin/harness.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';
import { tempDir } from '../store/support/tmp-dir.js';

/** Opens connections one at a time until one lands on a socket thread (the kernel picks). */
async function connectionOnSocketThread(
  port: number,
  stats: () => Promise<{ connectionsTotal: number }>,
  mainTotal: () => number,
): Promise<LineClient[]> {
  const clients: LineClient[] = [];
  for (let i = 0; i < 400; i++) {
    const c = await LineClient.open(port);
    clients.push(c);
    await c.request('QUERY|x|');
    if ((await stats()).connectionsTotal > mainTotal()) return clients;
  }
  assert.fail('no connection reached a socket thread in 400 tries');
}

for (const threadHop of ['ring', 'ring-doorbell', 'message'] as const)
  test(`--threads 2 --thread-hop ${threadHop}: connections on the socket thread see the same index, in one order, and are counted`, async () => {
    const server = await startServer({ threads: 2, threadHop });
    try {
      assert.equal(server.pkgindex.threads, 2);
      const clients = await connectionOnSocketThread(
        server.port,
        server.stats,
        () => server.server.stats.connectionsTotal,
      );
      // The last client is served by the socket thread, the first ones (probably) by the main one.
      const remote = clients.at(-1)!;
      assert.deepEqual(await remote.request('INDEX|a|', 'INDEX|b|a', 'QUERY|b|', 'REMOVE|a|', 'nonsense'), [
        'OK',
        'OK',
        'OK',
        'FAIL',
        'ERROR',
      ]);
      for (const c of clients) assert.deepEqual(await c.request('QUERY|b|', 'REMOVE|a|'), ['OK', 'FAIL']);
      // Batches larger than one ring record (64 KiB of lines) are sent in parts, answered in order.
      const many = Array.from({ length: 30_000 }, (_, i) => (i % 3 === 2 ? 'QUERY|zz|' : `INDEX|p${i}|b`));
      const replies = await remote.request(...many);
      assert.equal(replies.length, many.length);
      assert.deepEqual(
        replies.filter((r, i) => r !== (i % 3 === 2 ? 'FAIL' : 'OK')),
        [],
      );
      const stats = await server.stats();
      assert.ok(stats.count('INDEX', 0) >= 20_002);
      assert.equal(stats.count('INVALID', 2), 1);
      assert.equal(stats.connectionsOpen, clients.length);
      for (const c of clients) c.close();
    } finally {
      await server.close();
    }
  });

test('without the listening socket descriptor, serves on one thread with a warning', async () => {
  const { log, events } = memoryLogger();
  const server = await startServer({ threads: 4 }, { log, listenerFd: () => null });
  try {
    assert.equal(server.pkgindex.threads, 1);
    assert.ok(events.some((e) => e.level === 40 && e.msg.includes('serving on one thread')));
    const c = await LineClient.open(server.port);
    assert.deepEqual(await c.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
    c.close();
  } finally {
    await server.close();
  }
});

test('a socket thread that cannot copy the listener is left out with a warning; the others serve', async (t) => {
  const { log, events } = memoryLogger();
  // A descriptor that is not a socket: the copy helper fails.
  const fd = openSync(`${await tempDir(t)}/not-a-socket`, 'w');
  try {
    const server = await startServer({ threads: 2 }, { log, listenerFd: () => fd });
    try {
      assert.equal(server.pkgindex.threads, 1);
      assert.ok(events.some((e) => e.level === 40 && e.msg.includes('could not start')));
      const c = await LineClient.open(server.port);
      assert.deepEqual(await c.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
      c.close();
    } finally {
      await server.close();
    }
  } finally {
    closeSync(fd);
  }
});

test('--threads 2 on disk: replies sent from the socket thread survive a restart', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startServer({ threads: 2, storage: 'disk', dataDir });
  const clients = await connectionOnSocketThread(
    first.port,
    first.stats,
    () => first.server.stats.connectionsTotal,
  );
  const remote = clients.at(-1)!;
  assert.deepEqual(await remote.request('INDEX|a|', 'INDEX|b|a', 'INDEX|c|b', 'REMOVE|c|'), [
    'OK',
    'OK',
    'OK',
    'OK',
  ]);
  for (const c of clients) c.close();
  await first.close();
  const second = await startServer({ threads: 1, storage: 'disk', dataDir });
  try {
    const c = await LineClient.open(second.port);
    assert.deepEqual(await c.request('QUERY|a|', 'QUERY|b|', 'QUERY|c|'), ['OK', 'OK', 'FAIL']);
    c.close();
  } finally {
    await second.close();
  }
});
