/**
 * The protocol client against peers that break the protocol, and the resending connection's
 * limits: what is never retried (a reply that is not the protocol, a reply timeout) and how it
 * refuses to be misused. Raw TCP servers stand in for peers the real server cannot be made to be.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PkgIndexClient } from '../../src/client/client.js';
import { ResendingConnection } from '../../src/client/resending.js';
import { isPkgIndexError } from '../../src/errors.js';
import { Reply } from '../../src/protocol/reply.js';
import { startServer } from '../support/servers.js';

/** A TCP server that answers each chunk it reads with `answer(text)` (null: say nothing). */
async function withPeer(
  answer: (text: string, socket: Socket) => string | null,
  fn: (port: number, connections: () => number) => Promise<void>,
): Promise<void> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.setEncoding('latin1').on('data', (text: string) => {
      const reply = answer(text, socket);
      if (reply !== null) socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as AddressInfo).port, () => connections);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const connectTo =
  (port: number, replyTimeoutMs = 10_000) =>
  () =>
    PkgIndexClient.connect({ host: '127.0.0.1', port, replyTimeoutMs });

test('an over-long reply line is not this protocol: E_BAD_REPLY', () =>
  withPeer(
    () => `${'X'.repeat(100)}\n`,
    async (port) => {
      const client = await connectTo(port)();
      await assert.rejects(client.sendLine('QUERY|a|'), (err: unknown) => {
        assert.ok(isPkgIndexError(err, 'E_BAD_REPLY'));
        assert.match(err.message, /over-long reply line; is it a pkgindex server\?/);
        return true;
      });
    },
  ));

test('a reply to nothing (sent before any request) fails the connection: E_BAD_REPLY', async () => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.write('OK\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const client = await connectTo((server.address() as AddressInfo).port)();
    const reason = await client.closed;
    assert.ok(isPkgIndexError(reason, 'E_BAD_REPLY'));
    assert.match(reason.message, /sent a reply to nothing: "OK"/);
    await assert.rejects(client.sendLine('QUERY|a|'), /reply to nothing/);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a line holding a newline is refused before sending: it would be two lines', async () => {
  const s = await startServer();
  try {
    const client = await connectTo(s.port)();
    await assert.rejects(client.sendLine('QUERY|a|\nQUERY|b|'), (err: unknown) =>
      isPkgIndexError(err, 'E_INVALID_ARGUMENT'),
    );
    assert.equal(await client.sendLine('QUERY|a|'), Reply.FAIL);
    await client.close();
  } finally {
    await s.close();
  }
});

test('resending: a reply that is not the protocol is not retried, and nothing is resent', () =>
  withPeer(
    () => 'HELLO\n',
    async (port, connections) => {
      const retries: number[] = [];
      const c = new ResendingConnection({
        connect: connectTo(port),
        retries: 5,
        backoff: { baseMs: 1, maxMs: 1 },
        mutationBarrier: true,
        onRetry: (attempt) => retries.push(attempt),
      });
      await assert.rejects(c.sendLine('QUERY|a|'), (err: unknown) => isPkgIndexError(err, 'E_BAD_REPLY'));
      assert.deepEqual(retries, []);
      assert.equal(connections(), 1);
      assert.equal(c.pending, 0);
      c.destroy();
    },
  ));

test('resending: a reply timeout is not retried (the line may still run later), E_REPLY_TIMEOUT', () =>
  withPeer(
    () => null,
    async (port, connections) => {
      const c = new ResendingConnection({
        connect: connectTo(port, 200),
        retries: 5,
        backoff: { baseMs: 1, maxMs: 1 },
        mutationBarrier: true,
      });
      await assert.rejects(c.sendLine('INDEX|a|'), (err: unknown) => isPkgIndexError(err, 'E_REPLY_TIMEOUT'));
      assert.equal(connections(), 1);
      c.destroy();
    },
  ));

test('resending: misuse is refused — a mutation behind unanswered lines, next() with none', async () => {
  const s = await startServer();
  try {
    const c = new ResendingConnection({
      connect: connectTo(s.port),
      retries: 1,
      backoff: { baseMs: 1, maxMs: 1 },
      mutationBarrier: true,
    });
    await assert.rejects(c.next(), (err: unknown) => isPkgIndexError(err, 'E_INVALID_ARGUMENT'));
    await c.send('QUERY|a|');
    await c.send('QUERY|b|'); // queries pipeline
    await assert.rejects(c.send('INDEX|a|'), /waits for every earlier reply/);
    assert.deepEqual([await c.next(), await c.next()], [Reply.FAIL, Reply.FAIL]);
    await c.send('INDEX|a|');
    assert.equal(await c.next(), Reply.OK);
    await c.close();
    // Closed here: no reconnecting.
    await assert.rejects(c.sendLine('QUERY|a|'), (err: unknown) =>
      isPkgIndexError(err, 'E_CONNECTION_CLOSED'),
    );
  } finally {
    await s.close();
  }
});
