import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';

const BURST = 64;

/**
 * Opens BURST connections to `port` from a child process and returns once the kernel has
 * completed every handshake. It blocks this thread meanwhile, so this process's server accepts
 * none of them yet: they wait in the listening socket's queue, as they do behind a busy turn of
 * the event loop. The child exits, closing them; each must still be accepted.
 */
function queueConnections(port: number): void {
  const script = `
    const net = require('node:net');
    let open = 0;
    for (let i = 0; i < ${BURST}; i++)
      net.connect(${port}, '127.0.0.1').on('connect', () => { if (++open === ${BURST}) process.exit(0); });
    setTimeout(() => process.exit(2), 20000);
  `;
  const child = spawnSync(process.execPath, ['-e', script], { stdio: 'inherit' });
  assert.equal(child.status, 0, 'the child could not open its connections');
}

/** Turns of the event loop (check phases) until `done()` holds. */
async function turnsUntil(done: () => boolean): Promise<number> {
  let turns = 0;
  while (!done()) {
    await new Promise((resolve) => setImmediate(resolve));
    if (++turns > 100_000) throw new Error('never done');
  }
  return turns;
}

describe('accept lanes (ADR 0018)', () => {
  test('a burst of queued connections is accepted in a few turns of the loop, not one turn each', async () => {
    const { server, port, close } = await startServer({ acceptLanes: 16 });
    assert.equal(server.listeners, 16);
    queueConnections(port);
    const turns = await turnsUntil(() => server.stats.connectionsTotal === BURST);
    // libuv accepts one connection per listener per turn: 64 queued take 4 turns with 16
    // listeners, and 64 with one. Slack for connections the kernel queues a turn late.
    assert.ok(turns <= BURST / 4, `${BURST} connections took ${turns} turns to accept`);
    await close();
  });

  test('one listener (--accept-lanes 1) accepts one queued connection per turn', async () => {
    // What the lanes are for: if this fails, libuv accepts in a loop again and the lanes can go.
    const { server, port, close } = await startServer({ acceptLanes: 1 });
    assert.equal(server.listeners, 1);
    queueConnections(port);
    const turns = await turnsUntil(() => server.stats.connectionsTotal === BURST);
    assert.ok(turns >= BURST, `${BURST} connections took only ${turns} turns to accept`);
    await close();
  });

  test('every lane serves the protocol, and all of them close with the server', async () => {
    const { server, port, close } = await startServer({ acceptLanes: 4 });
    const clients = await Promise.all(Array.from({ length: 32 }, () => LineClient.open(port)));
    const replies = await Promise.all(clients.map((c, i) => c.request(`INDEX|p${i}|`, `QUERY|p${i}|`)));
    assert.deepEqual(new Set(replies.flat()), new Set(['OK']));
    for (const c of clients) c.close();
    await close();
    assert.equal(server.listeners, 0);
  });

  test('with socket threads, each thread has its lanes', async () => {
    const { pkgindex, port, close } = await startServer({ acceptLanes: 3, threads: 2 });
    assert.equal(pkgindex.threads, 2);
    assert.equal(pkgindex.server.listeners, 3);
    const clients = await Promise.all(Array.from({ length: 16 }, () => LineClient.open(port)));
    const replies = await Promise.all(clients.map((c, i) => c.request(`INDEX|t${i}|`)));
    assert.deepEqual(new Set(replies.flat()), new Set(['OK']));
    for (const c of clients) c.close();
    await close();
  });
});
