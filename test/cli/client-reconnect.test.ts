/**
 * The interactive prompt outlives its connections: a connection the server closed (idle
 * timeout, restart) is reported once and reopened by the next command; with --retries 0 a
 * command whose reply was lost is reported, never resent (with retries: client-retry.test.ts).
 * Real CLI, real servers, stdin fed line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { spawnServer } from '../support/servers.js';
import { until } from '../support/until.js';
import { startCli } from './processes.js';

const at = (port: number): string[] => ['--host', '127.0.0.1', '--port', String(port)];
const NOTICE =
  /closed the connection \(idle too long, or the server stopped\); reconnecting on the next command/;

test('interactive: after the server closes an idle connection, the next command reconnects', async () => {
  const server = await spawnServer({ args: ['--idle-timeout-ms', '300'] });
  try {
    const session = startCli(['client', ...at(server.port), '-i']);
    session.send('index a');
    await session.waitFor('stdout', /> OK$/m);
    // Said once, as it happens, not when the next command is typed.
    await session.waitFor('stderr', NOTICE);
    session.send('query a');
    await session.waitFor('stdout', /> OK$/m, { count: 2 });
    session.send('quit');
    assert.equal(await session.exited(), 0);
    assert.equal(session.stderr().match(new RegExp(NOTICE.source, 'g'))?.length, 1, session.stderr());
    // Logged as it happens with Node's sockets; with the native layer (--io auto's choice where
    // it is built) within a quarter of a second.
    await until('the idle connection logged', () =>
      server.events.some((e) => e.msg === 'closing idle connection'),
    );
  } finally {
    await server.stop();
  }
});

test('interactive, --retries 0: server stopped → the error, prompt stays open; restarted on the same port → works again', async () => {
  const first = await spawnServer();
  const port = first.port;
  const session = startCli(['client', ...at(port), '--retries', '0', '-i']);
  let second: Awaited<ReturnType<typeof spawnServer>> | undefined;
  try {
    session.send('index a');
    await session.waitFor('stdout', /> OK$/m);
    assert.equal(await first.stop(), 0);
    await session.waitFor('stderr', NOTICE);

    // Unreachable: the one-shot mode's message, not sent, and the prompt still answers.
    session.send('query a');
    await session.waitFor(
      'stderr',
      /not sent: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\).*\[E_CONNECT\]/,
    );
    session.send('help');
    await session.waitFor('stdout', /> Commands:/);

    second = await spawnServer({ args: ['--port', String(port)] });
    assert.equal(second.port, port);
    session.send('index b'); // a fresh memory server: b has no dependencies, so OK
    await session.waitFor('stdout', /> OK$/m, { count: 2 });
    // EOF ends the session; 2 because a command did not reach the server.
    assert.equal(await session.end(), 2);
    assert.doesNotMatch(session.stderr(), /E_REPLY_LOST/);
  } finally {
    await first.stop();
    await second?.stop();
    await session.end();
  }
});

test('interactive, --retries 0: a reply lost mid-flight is reported as such and the command is not resent', async () => {
  // A server that reads each line and drops the connection without answering.
  const received: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const raw = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.setEncoding('latin1').on('data', (text: string) => {
      // Protocol lines only: a connection closed without a reply is followed by a TLS probe.
      const lines = text.split('\n').filter((l) => /^(INDEX|QUERY|REMOVE)\|/.test(l));
      if (lines.length > 0) connections++;
      received.push(...lines);
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  try {
    const session = startCli(['client', ...at((raw.address() as AddressInfo).port), '--retries', '0', '-i']);
    session.send('index x');
    await session.waitFor(
      'stderr',
      /connection lost before the reply; the command may or may not have been applied.*\[E_REPLY_LOST\]/,
    );
    // A QUERY changes nothing, and the message does not say it may have.
    session.send('query y');
    await session.waitFor('stderr', /nothing was changed by this line: send it again.*\[E_REPLY_LOST\]/);
    assert.equal(await session.end(), 2);
    assert.deepEqual(received, ['INDEX|x|', 'QUERY|y|']);
    assert.equal(connections, 2);
    // The lost reply speaks for the closed connection: no second notice about it.
    assert.doesNotMatch(session.stderr(), /reconnecting on the next command/);
    assert.equal(session.stdout().includes('OK'), false);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => raw.close(resolve));
  }
});
