/**
 * Issue 12, limits per client: connections per address, a token bucket of mutations, caps on
 * packages and on dependencies per line, each counted and logged at most once per offender
 * per interval; and accepts that fail for want of file descriptors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, spawnServer, startServer, TEST_CONFIG } from '../support/servers.js';
import { Composition } from '../../src/root.js';
import { until } from '../support/until.js';

/** A logger at warn whose JSON lines land in `lines`. */
function capturedLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'warn' }, stream), lines };
}

/** Connects from `localAddress` (any of 127/8 on Linux): another peer on loopback. */
async function connectFrom(port: number, localAddress: string): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  return socket;
}

async function closedByServer(socket: Socket): Promise<void> {
  if (socket.readableEnded || socket.destroyed) return;
  socket.resume();
  await Promise.race([once(socket, 'end'), once(socket, 'close')]);
}

test('--max-connections-per-peer refuses a peer over its limit, not another peer; logged once per interval', async () => {
  const { log, lines } = capturedLog();
  const s = await startServer({ maxConnectionsPerPeer: 2 }, { log });
  try {
    const held = [await connectFrom(s.port, '127.0.0.2'), await connectFrom(s.port, '127.0.0.2')];
    const refused = [];
    for (let i = 0; i < 20; i++) refused.push(await connectFrom(s.port, '127.0.0.2'));
    await Promise.all(refused.map(closedByServer));
    assert.equal(s.server.stats.connectionsRefusedPerPeer, 20);
    const other = await LineClient.open(s.port);
    assert.deepEqual(await other.request('QUERY|a|'), ['FAIL'], 'another address is served');
    const logged = lines.filter((l) => l.code === 'E_PEER_CONNECTIONS');
    assert.equal(logged.length, 1, 'one line for the offender, not one per refusal');
    assert.equal(logged[0]!.peer, '127.0.0.2');
    // Closing one of its connections makes room for the peer again.
    held[0]!.destroy();
    while (s.server.connectionCount > 2) await new Promise((r) => setImmediate(r));
    const again = await connectFrom(s.port, '127.0.0.2');
    again.write('QUERY|a|\n');
    const [reply] = (await once(again, 'data')) as [Buffer];
    assert.equal(reply.toString(), 'FAIL\n');
    for (const socket of [...held, again]) socket.destroy();
    other.close();
  } finally {
    await s.close();
  }
});

test('--mutation-rate-per-peer answers mutations beyond the burst ERROR; queries are not limited', async () => {
  const { log, lines } = capturedLog();
  // One token a second: the test runs in far less than a second, so the bucket does not refill.
  const s = await startServer({ mutationRatePerPeer: 1, mutationBurst: 3 }, { log });
  try {
    const c = await LineClient.open(s.port);
    const replies = await c.request('INDEX|a|', 'INDEX|b|', 'REMOVE|b|', 'INDEX|c|', 'REMOVE|a|', 'QUERY|a|');
    assert.deepEqual(replies, ['OK', 'OK', 'OK', 'ERROR', 'ERROR', 'OK']);
    assert.equal(s.server.stats.commandsRateLimited, 2);
    assert.equal(s.server.stats.count('INDEX', 2), 1, 'counted as INDEX answered ERROR');
    assert.equal(lines.filter((l) => l.code === 'E_RATE_LIMITED').length, 1, 'logged once');
    // The bucket belongs to the address: a second connection does not get a fresh one.
    const d = await LineClient.open(s.port);
    assert.deepEqual(await d.request('INDEX|d|'), ['ERROR']);
    c.close();
    d.close();
  } finally {
    await s.close();
  }
});

test('--max-dependencies and --max-packages answer ERROR past the cap; REMOVE makes room', async () => {
  const s = await startServer({ maxDependencies: 2, maxPackages: 3 });
  try {
    const c = await LineClient.open(s.port);
    assert.deepEqual(await c.request('INDEX|a|', 'INDEX|b|', 'INDEX|x|a,b'), ['OK', 'OK', 'OK']);
    assert.deepEqual(await c.request('INDEX|y|a,b,x'), ['ERROR'], 'three dependencies');
    assert.deepEqual(await c.request('INDEX|z|'), ['ERROR'], 'a fourth package');
    assert.deepEqual(await c.request('REMOVE|x|', 'INDEX|z|', 'QUERY|z|'), ['OK', 'OK', 'OK']);
    assert.equal(s.server.stats.commandsOverDependencyCap, 1);
    assert.equal(s.server.stats.commandsOverPackageCap, 1);
    c.close();
  } finally {
    await s.close();
  }
});

for (const serving of SERVINGS)
  test(`--max-packages holds for every connection, whichever thread serves it (${serving.label})`, async () => {
    const s = await startServer({ maxPackages: 2, threads: serving.threads, io: serving.io });
    try {
      // One connection after another: the threads race to accept each. With Node's socket
      // threads, at least one must have been served by a socket thread; on a loaded machine the
      // main thread can win eight in a row, so more connections are made until one was.
      const viaSocketThread = serving.threads > 1 && serving.io === 'node';
      const servedBySocketThreads = async (): Promise<number[]> => {
        await s.stats(); // refreshes the socket threads' reports
        return s.pkgindex.socketThreads?.reports().map((r) => r?.connectionsTotal ?? 0) ?? [];
      };
      const replies: string[] = [];
      let connections = 0;
      let served: number[] = [];
      while (connections < 8 || (viaSocketThread && !served.some((n) => n > 0) && connections < 200)) {
        const c = connections++;
        const client = await LineClient.open(s.port);
        replies.push(...(await client.request(...Array.from({ length: 5 }, (_, i) => `INDEX|k${c}_${i}|`))));
        client.close();
        if (viaSocketThread) served = await servedBySocketThreads();
      }
      assert.equal(replies.filter((r) => r === 'OK').length, 2, replies.join(' '));
      assert.equal(replies.filter((r) => r === 'ERROR').length, 5 * connections - 2);
      assert.equal((await s.stats()).commandsOverPackageCap, 5 * connections - 2);
      if (viaSocketThread)
        assert.ok(
          served.some((n) => n > 0),
          `a socket thread served some of ${connections} connections: ${served.join(', ')}`,
        );
    } finally {
      await s.close();
    }
  });

test('--max-packages is refused with --storage postgres, whose count is seconds late and shared', () => {
  assert.throws(
    () =>
      new Composition(
        { ...TEST_CONFIG, storage: 'postgres', databaseUrl: 'postgres://127.0.0.1:1/none', maxPackages: 5 },
        { log: pino({ level: 'silent' }) },
      ),
    (err: Error & { code?: string }) =>
      err.code === 'E_DATABASE_CONFIG' && /--max-packages 5 cannot be kept/.test(err.message),
  );
});

test('out of file descriptors: the server refuses connections itself, counted and logged once, instead of resets', async () => {
  const server = await spawnServer({ launcher: ['prlimit', '--nofile=100:100', '--'] });
  try {
    assert.equal(
      server.events.filter((e) => typeof e.msg === 'string' && e.msg.includes('raise LimitNOFILE')).length,
      1,
      'warned at startup that the limit is below --max-connections',
    );
    const clients = await Promise.all(Array.from({ length: 60 }, () => LineClient.open(server.port)));
    const answered = await Promise.all(
      clients.map((c) =>
        c.request('QUERY|a|').then(
          (r) => r[0],
          () => 'closed',
        ),
      ),
    );
    const served = answered.filter((r) => r === 'FAIL').length;
    assert.ok(served > 0 && served < 60, `${served} of 60 served`);
    assert.equal(answered.filter((r) => r === 'closed').length, 60 - served, 'the others were refused');
    const metrics = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
    const refused = Number(/^pkgindex_connections_refused_descriptors_total (\d+)/m.exec(metrics)?.[1]);
    assert.equal(refused, 60 - served);
    const refusals = (): number =>
      server.events.filter(
        (e) =>
          e.msg ===
          'connection refused: out of file descriptors for connections; raise LimitNOFILE (ulimit -n)',
      ).length;
    // The native layer (--io auto's choice where it is built) logs within a quarter of a second.
    await until('the refusal logged', () => refusals() > 0);
    assert.equal(refusals(), 1, 'one log line for all of them');
    for (const c of clients) c.close();
    // Room again once clients leave.
    let again: string[] = [];
    while (again[0] !== 'FAIL') {
      const c = await LineClient.open(server.port);
      again = await c.request('QUERY|a|').catch(() => []);
      c.close();
    }
  } finally {
    await server.stop();
  }
});
