/**
 * Issue 12: idle means no byte in or out for --idle-timeout-ms, and a connection with input
 * not yet answered is never idle, however long the process stalled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';

/** A long synchronous step of the whole process (a heap snapshot, a huge check, SIGSTOP). */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

for (const sharedReadBuffer of [true, false]) {
  test(`after a stall longer than the idle timeout, a request waiting is answered, not closed (shared reads ${String(sharedReadBuffer)})`, async () => {
    const s = await startServer({ idleTimeoutMs: 200, sharedReadBuffer });
    try {
      const waiting = await LineClient.open(s.port);
      const idle = await LineClient.open(s.port);
      assert.deepEqual(await waiting.request('INDEX|a|'), ['OK']);
      // The request reaches the server's socket buffer, then the whole process stalls past the
      // timeout: the server's timer fires before it has read the request.
      waiting.write('QUERY|a|\n');
      stall(600);
      assert.deepEqual(await waiting.read(1), ['OK']);
      await idle.closedByServer();
      assert.equal(waiting.ended, false, 'the answered connection stays open');
      assert.equal(s.server.stats.connectionsIdleClosed, 1, 'only the idle connection was closed');
      await waiting.closedByServer();
      assert.equal(s.server.stats.connectionsIdleClosed, 2, 'and it is closed once idle in turn');
    } finally {
      await s.close();
    }
  });
}

test('an idle connection is closed no sooner than one timeout after its last byte', async () => {
  const timeoutMs = 400;
  const s = await startServer({ idleTimeoutMs: timeoutMs });
  try {
    const c = await LineClient.open(s.port);
    // Activity at different points of the server's sweep period: the sweep must time
    // idleness from the last byte, not from when the connection opened or a sweep ran.
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await c.request('QUERY|a|'), ['FAIL']);
      await new Promise((resolve) => setTimeout(resolve, 170));
    }
    assert.deepEqual(await c.request('QUERY|a|'), ['FAIL']);
    const lastByte = performance.now();
    await c.closedByServer(5000);
    const idleFor = performance.now() - lastByte;
    // The reply left the server before it reached the client, so a few ms of slack below.
    assert.ok(idleFor >= timeoutMs - 20, `closed ${idleFor.toFixed(0)} ms after the last byte`);
    assert.equal(s.server.stats.connectionsIdleClosed, 1);
  } finally {
    await s.close();
  }
});
