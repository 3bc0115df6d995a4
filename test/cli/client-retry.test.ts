/**
 * `pkgindex client` does not lose work (issue 12): after a lost connection it reconnects with
 * backoff and jitter (--retries, --retry-max-delay-ms) and sends again the lines whose replies
 * were lost. Real CLI, real servers (a child process killed -9 and restarted on the same port),
 * and a proxy that swallows replies the server did send, so lines are applied and their replies
 * lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { newDataDir, removeDataDir } from '../../tools/support/data-dir.js';
import { spawnServer, startServer, type ServerProcess } from '../support/servers.js';
import { until } from '../support/until.js';
import { runCli, startCli } from './processes.js';

const FAST = ['--retries', '50', '--retry-max-delay-ms', '200'];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server, sockets: Iterable<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
}

/** Bytes waiting unread in the receive queue of a socket on local `port` (/proc/net/tcp). */
function unreadBytesOn(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let unread = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (fields.length < 5 || !fields[1]!.endsWith(`:${hexPort}`)) continue;
      unread += parseInt(fields[4]!.split(':')[1]!, 16);
    }
  }
  return unread;
}

test('piped: the server killed -9 and restarted mid-session → every line answered, the lost one resent, exit 0', async () => {
  const dir = newDataDir('pkgindex-client-retry-');
  let first: ServerProcess | null = await spawnServer({ storage: 'disk', dataDir: dir });
  let second: ServerProcess | null = null;
  const port = first.port;
  const session = startCli(['client', '--port', String(port), ...FAST]);
  try {
    session.send('INDEX|a|');
    session.send('INDEX|b|a');
    await session.waitFor('stdout', /^OK$/m, { count: 2 });

    // Frozen, so the next line waits unread in its socket when it dies: its reply is lost.
    first.child.kill('SIGSTOP');
    session.send('INDEX|c|b');
    await until('INDEX|c|b waiting in the stopped server', () => unreadBytesOn(port) > 0);
    await first.kill9();
    first = null;
    session.send('QUERY|c|'); // sent while the server is down
    second = await spawnServer({ storage: 'disk', dataDir: dir, args: ['--port', String(port)] });
    session.send('REMOVE|c|');
    session.send('QUERY|b|');

    assert.equal(await session.end(), 0, session.stderr());
    assert.deepEqual(session.stdout().split('\n'), ['OK', 'OK', 'OK', 'OK', 'OK', 'OK', '']);
    assert.match(
      session.stderr(),
      /reconnecting in \d+ ms \(attempt 1 of 50\), then resending the line whose reply was lost/,
    );
    assert.match(session.stderr(), /reconnected to 127\.0\.0\.1:\d+/);
    const after = await runCli(['client', '--port', String(port)], {
      input: 'QUERY|a|\nQUERY|b|\nQUERY|c|\n',
    });
    assert.equal(after.stdout, 'OK\nOK\nFAIL\n');
  } finally {
    await session.end();
    await first?.kill9();
    await second?.stop();
    removeDataDir(dir);
  }
});

test('piped, --retries 0: the same kill → the lost reply is an error, exit 2, nothing resent', async () => {
  const server = await spawnServer();
  const port = server.port;
  const session = startCli(['client', '--port', String(port), '--retries', '0']);
  try {
    session.send('INDEX|a|');
    await session.waitFor('stdout', /^OK$/m);
    server.child.kill('SIGSTOP');
    session.send('INDEX|b|a');
    await until('INDEX|b|a waiting in the stopped server', () => unreadBytesOn(port) > 0);
    await server.kill9();
    assert.equal(await session.exited(), 2);
    assert.equal(session.stdout(), 'OK\n');
    assert.match(session.stderr(), /the command may or may not have been applied.*\[E_REPLY_LOST\]/);
    assert.doesNotMatch(session.stderr(), /reconnecting/);
  } finally {
    await session.end();
    await server.kill9();
  }
});

/**
 * A proxy to `port` that swallows every other reply it relays (the 1st, 3rd, ...): when one
 * arrives from the server it closes both sides instead. The server applied the line; the client
 * never hears of it.
 */
async function replySwallowingProxy(port: number): Promise<{
  port: number;
  lines: () => number;
  close: () => Promise<void>;
}> {
  let replies = 0;
  let lines = 0;
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const server = connect(port, '127.0.0.1');
    sockets.add(client).add(server);
    client.on('error', () => undefined);
    server.on('error', () => undefined);
    const cut = (): void => {
      client.destroy();
      server.destroy();
    };
    client.on('close', cut);
    server.on('close', cut);
    client.on('data', (chunk: Buffer) => {
      lines += chunk.toString('latin1').split('\n').length - 1;
      server.write(chunk);
    });
    let partial = '';
    server.setEncoding('latin1').on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop()!;
      for (const reply of parts) {
        if (++replies % 2 === 1) {
          cut();
          return;
        }
        client.write(`${reply}\n`);
      }
    });
  });
  return {
    port: await listen(proxy),
    lines: () => lines,
    close: () => close(proxy, sockets),
  };
}

// Every command with each of its replies, and INDEX|a|b (FAIL) then INDEX|b| (OK): sent again as
// a pair after both were applied, the first would turn OK.
const SCRIPT = [
  'INDEX|a|b',
  'INDEX|b|',
  'QUERY|a|',
  'INDEX|a|b',
  'QUERY|a|',
  'INDEX|b|a',
  'REMOVE|b|',
  'QUERY|b|',
  'REMOVE|a|',
  'REMOVE|a|',
  'QUERY|a|',
  'INDEX|c|b',
  'INDEX|c|a',
  'REMOVE|b|',
  'INDEX|c|',
  'REMOVE|b|',
  'QUERY|b|',
  'QUERY|c|',
  'index|x|',
].map((line) => `${line}\n`);

test('piped: every other reply swallowed after the server applied the line → the same replies and index as without faults', async () => {
  const faulty = await startServer();
  const clean = await startServer();
  const proxy = await replySwallowingProxy(faulty.port);
  try {
    const reference = await runCli(['client', '--port', String(clean.port)], { input: SCRIPT.join('') });
    assert.equal(
      reference.stdout,
      'FAIL\nOK\nFAIL\nOK\nOK\nFAIL\nFAIL\nOK\nOK\nOK\nFAIL\nOK\nFAIL\nFAIL\nOK\nOK\nFAIL\nOK\nERROR\n',
    );
    const faults = await runCli(['client', '--port', String(proxy.port), ...FAST], {
      input: SCRIPT.join(''),
    });
    assert.equal(faults.stdout, reference.stdout, faults.stderr);
    assert.equal(faults.code, reference.code);
    // Lines were lost and sent again: the server received more than the script.
    assert.ok(proxy.lines() > SCRIPT.length, `${proxy.lines()} lines received`);
    assert.match(faults.stderr, /then resending the line whose reply was lost/);
    const state = (port: number): Promise<string> =>
      runCli(['client', '--port', String(port)], { input: 'QUERY|a|\nQUERY|b|\nQUERY|c|\n' }).then(
        (r) => r.stdout,
      );
    assert.equal(await state(faulty.port), await state(clean.port));
  } finally {
    await proxy.close();
    await faulty.close();
    await clean.close();
  }
});

test('one command: the server not up yet → waits with backoff and gets its answer once it listens', async () => {
  // A port free a moment ago, where nothing listens.
  const probe = createServer();
  const port = await listen(probe);
  await close(probe, []);
  const running = runCli(['client', '--port', String(port), ...FAST, 'index', 'a']);
  let server: ServerProcess | null = null;
  try {
    server = await spawnServer({ args: ['--port', String(port)] });
    const result = await running;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'OK\n');
    assert.match(result.stderr, /ECONNREFUSED.*; reconnecting in \d+ ms \(attempt 1 of 50\)\n/);
  } finally {
    await running;
    await server?.stop();
  }
});

test('retries are bounded: a server that drops every connection gets the line 1 + --retries times, then exit 2', async () => {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const raw = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.setEncoding('utf8').on('data', (text: string) => {
      // Protocol lines only: a connection closed without a reply is followed by a TLS probe.
      received.push(...text.split('\n').filter((l) => l.startsWith('QUERY|')));
      socket.destroy();
    });
  });
  const port = await listen(raw);
  try {
    const result = await runCli([
      'client',
      '--port',
      String(port),
      '--retries',
      '2',
      '--retry-max-delay-ms',
      '50',
      'query',
      'x',
    ]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.deepEqual(received, ['QUERY|x|', 'QUERY|x|', 'QUERY|x|']);
    assert.match(result.stderr, /attempt 1 of 2/);
    assert.match(result.stderr, /attempt 2 of 2/);
    assert.doesNotMatch(result.stderr, /attempt 3/);
    // A QUERY changes nothing: the message does not send the user to check whether it did.
    assert.match(
      result.stderr,
      /connection lost before the reply .*nothing was changed by this line: send it again/,
    );
    assert.doesNotMatch(result.stderr, /may or may not have been applied/);
  } finally {
    await close(raw, sockets);
  }
});

test('interactive: the server killed -9 and restarted while a command waits → it gets its answer', async () => {
  const dir = newDataDir('pkgindex-client-retry-');
  let first: ServerProcess | null = await spawnServer({ storage: 'disk', dataDir: dir });
  let second: ServerProcess | null = null;
  const port = first.port;
  const session = startCli(['client', '--port', String(port), ...FAST, '-i']);
  try {
    session.send('index a');
    await session.waitFor('stdout', /> OK$/m);
    first.child.kill('SIGSTOP');
    session.send('index b a');
    await until('index b waiting in the stopped server', () => unreadBytesOn(port) > 0);
    await first.kill9();
    first = null;
    second = await spawnServer({ storage: 'disk', dataDir: dir, args: ['--port', String(port)] });
    await session.waitFor('stdout', /> OK$/m, { count: 2 });
    session.send('query b');
    await session.waitFor('stdout', /> OK$/m, { count: 3 });
    assert.equal(await session.end(), 0, session.stderr());
    assert.match(session.stderr(), /then resending the line whose reply was lost/);
  } finally {
    await session.end();
    await first?.kill9();
    await second?.stop();
    removeDataDir(dir);
  }
});
