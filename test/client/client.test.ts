import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PkgIndexClient } from '../../src/client/client.js';
import { Verb } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { startServer } from '../support/servers.js';

async function withServer(fn: (port: number) => Promise<void>): Promise<void> {
  const { port, close } = await startServer();
  try {
    await fn(port);
  } finally {
    await close();
  }
}

/** A TCP server that behaves as the test says, for failures the real server cannot be made to show. */
async function withRawServer(onSocket: (socket: Socket) => void, fn: (port: number) => Promise<void>) {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

test('pipelined commands get their own replies, in order, through a small window', () =>
  withServer(async (port) => {
    const client = await PkgIndexClient.connect({ host: '127.0.0.1', port, window: 8 });
    const n = 2000;
    const replies: Promise<Reply>[] = [];
    for (let i = 0; i < n; i++) {
      // Every other INDEX names a dependency that is never indexed, so the replies alternate.
      const deps = i % 2 === 0 ? (i === 0 ? [] : [`p${i - 2}`]) : ['never-indexed'];
      replies.push(client.send({ verb: Verb.INDEX, name: `p${i}`, deps }));
    }
    assert.ok(client.outstanding === n);
    const got = await Promise.all(replies);
    assert.deepEqual(
      got,
      got.map((_, i) => (i % 2 === 0 ? Reply.OK : Reply.FAIL)),
    );
    assert.equal(await client.sendLine('QUERY|p1998|'), Reply.OK);
    assert.equal(await client.sendLine('not a command'), Reply.ERROR);
    // U+010A's low byte is a newline: it must not split the line and shift the replies.
    const tricky = [client.sendLine('QUERY|\u010a|'), client.sendLine('QUERY|p0|')];
    assert.deepEqual(await Promise.all(tricky), [Reply.ERROR, Reply.OK]);
    await client.close();
  }));

test('close() waits for every outstanding reply', () =>
  withServer(async (port) => {
    const client = await PkgIndexClient.connect({ host: '127.0.0.1', port });
    const pending = [client.send({ verb: Verb.INDEX, name: 'a', deps: [] }), client.sendLine('QUERY|a|')];
    await client.close();
    assert.deepEqual(await Promise.all(pending), [Reply.OK, Reply.OK]);
    await assert.rejects(client.sendLine('QUERY|a|'), { code: 'E_CONNECTION_CLOSED' });
  }));

test('no more than `window` lines are on the wire unanswered', () => {
  const received: string[] = [];
  let answered = 0;
  return withRawServer(
    (socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((l) => l !== ''),
        );
      });
      // Answer in bursts, checking each time that the client stopped at its window.
      const timer = setInterval(() => {
        if (received.length - answered > 3) socket.destroy(new Error('window exceeded'));
        const owed = received.length - answered;
        answered += owed;
        socket.write('OK\n'.repeat(owed));
      }, 20);
      socket.on('close', () => {
        clearInterval(timer);
      });
    },
    async (port) => {
      const client = await PkgIndexClient.connect({ host: '127.0.0.1', port, window: 3 });
      const replies = Array.from({ length: 10 }, (_, i) => client.sendLine(`QUERY|p${i}|`));
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(received.length <= 3, true);
      assert.deepEqual(await Promise.all(replies), Array<Reply>(10).fill(Reply.OK));
      assert.equal(received.length, 10);
      await client.close();
    },
  );
});

test('a server that says nothing fails awaited replies after the reply timeout', () =>
  withRawServer(
    () => undefined,
    async (port) => {
      const client = await PkgIndexClient.connect({ host: '127.0.0.1', port, replyTimeoutMs: 100 });
      const started = performance.now();
      await assert.rejects(client.sendLine('QUERY|a|'), {
        name: 'ReplyTimeoutError',
        code: 'E_REPLY_TIMEOUT',
      });
      assert.ok(performance.now() - started >= 90);
    },
  ));

test('a reply that is not OK, FAIL or ERROR fails the connection', () =>
  withRawServer(
    (socket) => {
      socket.once('data', () => socket.write('HELLO\n'));
    },
    async (port) => {
      const client = await PkgIndexClient.connect({ host: '127.0.0.1', port });
      const first = client.sendLine('QUERY|a|');
      const second = client.sendLine('QUERY|b|');
      await assert.rejects(first, { code: 'E_BAD_REPLY', message: /"HELLO"/ });
      await assert.rejects(second, { code: 'E_BAD_REPLY' });
    },
  ));

test('a connection dropped mid-pipeline fails every awaited reply', () =>
  withRawServer(
    (socket) => {
      socket.once('data', () => {
        socket.write('OK\n');
        socket.destroy();
      });
    },
    async (port) => {
      const client = await PkgIndexClient.connect({ host: '127.0.0.1', port });
      const replies = [client.sendLine('QUERY|a|'), client.sendLine('QUERY|b|'), client.sendLine('QUERY|c|')];
      assert.equal(await replies[0], Reply.OK);
      await assert.rejects(replies[1]!, { code: 'E_CONNECTION_CLOSED' });
      await assert.rejects(replies[2]!, { code: 'E_CONNECTION_CLOSED' });
    },
  ));

test('an unreachable server is a ConnectError saying what to do', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  await assert.rejects(PkgIndexClient.connect({ host: '127.0.0.1', port }), {
    name: 'ConnectError',
    code: 'E_CONNECT',
    message: new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*--port`),
  });
});

test('`closed` resolves with the reason when the server closes an idle connection, and sends then fail', async () => {
  const { port, close } = await startServer({ idleTimeoutMs: 300 });
  try {
    const client = await PkgIndexClient.connect({ host: '127.0.0.1', port });
    assert.equal(await client.sendLine('INDEX|a|'), Reply.OK);
    const started = performance.now();
    const reason = await client.closed;
    assert.ok(performance.now() - started >= 250);
    assert.equal(reason.code, 'E_CONNECTION_CLOSED');
    assert.match(reason.message, /closed the connection \(idle too long, or the server stopped\)/);
    await assert.rejects(client.sendLine('QUERY|a|'), { code: 'E_CONNECTION_CLOSED' });
  } finally {
    await close();
  }
});

test('`closed` also resolves when this client closes the connection', () =>
  withServer(async (port) => {
    const client = await PkgIndexClient.connect({ host: '127.0.0.1', port });
    client.destroy();
    assert.match((await client.closed).message, /closed by this client/);
  }));
