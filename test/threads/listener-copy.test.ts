import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { copyListeners } from '../../src/threads/listener-copy.js';
import { listenerFd } from '../../src/server/listener-fd.js';

function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? err.message);
    });
  });
}

// The helper process that copies the listening socket used to be waited for only until its
// last copy arrived. It held the socket until it exited, so a server closed right after
// start-up could still complete connections into a socket nobody accepted on (seen in CI:
// test/index.test.ts, "the listener is closed"). Repeated, since the helper's exit races.
test('once the copies are made, closing them and the server closes the socket: no other process holds it', async () => {
  for (let round = 0; round < 10; round++) {
    const server: Server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const fd = listenerFd(server);
    assert.ok(fd !== null, 'this Node exposes the listening descriptor');
    const copies = await copyListeners(fd, 3);
    assert.equal(copies.length, 3);
    for (const copy of copies) (copy as { close(): void }).close();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    assert.equal(await refused(port), 'ECONNREFUSED', `round ${round}`);
  }
});
