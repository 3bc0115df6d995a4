import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadNativeIo, NATIVE_ADDON_ENV } from '../../src/native/addon.js';
import { memoryLogger } from '../admin/harness.js';
import { LineClient } from '../support/line-client.js';
import { spawnServer, startServer, type InProcessServer } from '../support/servers.js';
import { until } from '../support/until.js';
import { newDataDir, tempDir } from '../store/support/tmp-dir.js';
import { createTestCa } from '../support/test-ca.js';
import { COMMAND_ROWS } from '../../src/server/stats.js';
import { Reply } from '../../src/protocol/reply.js';

// The native connection layer (ADR 0019, --io native). The protocol, limits, crash, disk-full
// and conformance tests run with it too (test/support/servers.ts SERVINGS); these are the
// parts that are its own.

const loaded = loadNativeIo();
/** Whether this kernel lets the process set up an io_uring ring (in CI it must). */
const ringWorks = loaded.ok && loaded.addon.ringError() === null;

test('the native connection layer is built and loads (in CI it must be)', (t) => {
  if (loaded.ok) return;
  // npm run build compiles it with g++ and Node's headers; .ci/run installs g++.
  if (process.env.CI === 'true') assert.fail(`CI must test --io native: ${loaded.reason}`);
  t.skip(`--io native is not built here: ${loaded.reason}`);
});

test('this kernel lets the native layer use io_uring (in CI it must)', (t) => {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return;
  }
  const refused = loaded.addon.ringError();
  if (refused === null) return;
  if (process.env.CI === 'true') assert.fail(`CI must test the io_uring path: ${refused}`);
  t.skip(`the kernel refuses io_uring here (${refused}): only the plain calls are tested`);
});

// With one thread the owner's event loop does the I/O itself; with two, I/O threads do. Each
// turn's reads and writes go through an io_uring ring by default (ADR 0023); with
// --io-uring=false, one system call per connection.
for (const [threads, ioUring, label] of [
  [1, true, 'on the owner'],
  [2, true, '2 I/O threads'],
  [1, false, 'on the owner, no io_uring'],
  [2, false, '2 I/O threads, no io_uring'],
] as const) {
  /** A server on the native I/O threads; the test is skipped (saying why) where there are none. */
  async function nativeServer(
    t: { skip: (why: string) => void; after: (fn: () => Promise<void>) => void },
    config: Parameters<typeof startServer>[0] = {},
  ): Promise<InProcessServer | null> {
    if (!loaded.ok) {
      t.skip(`--io native is not built here: ${loaded.reason}`);
      return null;
    }
    const server = await startServer({ io: 'native', threads, ioUring, ...config });
    t.after(() => server.close());
    assert.equal(server.pkgindex.io, 'native', 'the server serves on the native I/O threads');
    return server;
  }

  test(`many connections, lines split anywhere across writes: each gets its replies, in order (${label})`, async (t) => {
    const server = await nativeServer(t);
    if (server === null) return;
    const clients = await Promise.all(Array.from({ length: 20 }, () => LineClient.open(server.port)));
    const expected: string[][] = [];
    const text = clients.map((_, c) => {
      const lines: string[] = [];
      const replies: string[] = [];
      for (let i = 0; i < 50; i++) {
        lines.push(
          `INDEX|p${c}-${i}|${i > 0 ? `p${c}-${i - 1}` : ''}`,
          `QUERY|p${c}-${i}|`,
          `REMOVE|p${c}-${i - 1}|`,
          'BAD LINE',
        );
        // REMOVE of a package p${c}-${i} depends on fails; of one nobody has (i = 0) succeeds.
        replies.push('OK', 'OK', i > 0 ? 'FAIL' : 'OK', 'ERROR');
      }
      expected.push(replies);
      return Buffer.from(lines.map((l) => `${l}\n`).join(''));
    });
    // Every client writes its bytes in pieces of 1 to 13 bytes, interleaved with the others.
    const at = clients.map(() => 0);
    for (let round = 0, left = true; left; round++) {
      left = false;
      clients.forEach((client, c) => {
        const bytes = text[c]!;
        if (at[c]! >= bytes.length) return;
        const n = 1 + ((round * 7 + c) % 13);
        client.write(bytes.subarray(at[c], at[c]! + n));
        at[c]! += n;
        left = true;
      });
      if (round % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const got = await Promise.all(clients.map((client, c) => client.read(expected[c]!.length)));
    assert.deepEqual(got, expected);
    const stats = await server.stats();
    const count = (row: string, reply: number): number =>
      stats.commands[COMMAND_ROWS.indexOf(row as never) * 3 + reply]!;
    assert.equal(count('INDEX', Reply.OK), 20 * 50);
    assert.equal(count('QUERY', Reply.OK), 20 * 50);
    assert.equal(count('REMOVE', Reply.FAIL), 20 * 49);
    assert.equal(count('INVALID', Reply.ERROR), 20 * 50);
    assert.equal(stats.connectionsTotal, 20);
    assert.equal(stats.connectionsOpen, 20);
    // Twenty clients writing at once: turns with two or more connections ready, read (and
    // answered) in one submission each, unless the ring is off.
    if (ioUring && ringWorks) {
      assert.ok(server.pkgindex.ioRingCalls > 0, 'the turns went through the ring');
      // The metrics' pkgindex_io_ring_submissions_total counts the same.
      assert.ok(stats.ioRingSubmissions > 0 && stats.ioRingSubmissions <= server.pkgindex.ioRingCalls);
    } else {
      assert.equal(server.pkgindex.ioRingCalls, 0);
      assert.equal(stats.ioRingSubmissions, 0);
    }
    for (const client of clients) client.close();
    await until('connections closed', async () => (await server.stats()).connectionsOpen === 0);
  });

  test(`batches past the layer's reused buffer (1 MiB) arrive whole, and so do the small ones after them (${label})`, async (t) => {
    const server = await nativeServer(t);
    if (server === null) return;
    // 300 dependencies, then 24 clients at once with 100 KB each of lines that list them all:
    // a turn reads up to 64 KiB of each, so its batch is over 1 MiB and goes out in a buffer
    // of its own; a byte lost or moved would turn an OK into ERROR or FAIL.
    const deps = Array.from({ length: 300 }, (_, i) => `dep-${i}`);
    const setup = await LineClient.open(server.port);
    setup.write(deps.map((d) => `INDEX|${d}|\n`).join(''));
    assert.deepEqual(
      await setup.read(deps.length),
      deps.map(() => 'OK'),
    );
    const clients = await Promise.all(Array.from({ length: 24 }, () => LineClient.open(server.port)));
    const perClient = 40;
    for (const [c, client] of clients.entries())
      client.write(
        Array.from(
          { length: perClient },
          (_, i) => `INDEX|big-${c}-${i}|${deps.join(',')}\nQUERY|big-${c}-${i}|\n`,
        ).join(''),
      );
    const got = await Promise.all(clients.map((client) => client.read(2 * perClient, 30_000)));
    for (const replies of got)
      assert.deepEqual(
        replies,
        Array.from({ length: 2 * perClient }, () => 'OK'),
      );
    // The reused buffer serves the next, small batches.
    assert.deepEqual(await setup.request('QUERY|big-0-0|', 'REMOVE|dep-0|', 'QUERY|nothing|'), [
      'OK',
      'FAIL',
      'FAIL',
    ]);
    for (const client of [setup, ...clients]) client.close();
  });

  test(`a line over --max-line-bytes is answered ERROR once, and the next line is served (${label})`, async (t) => {
    const server = await nativeServer(t, { maxLineBytes: 64 });
    if (server === null) return;
    const client = await LineClient.open(server.port);
    // Over the limit in one write, then over it across two writes (carried, then too long).
    client.write(`INDEX|${'a'.repeat(100)}|\nQUERY|x|\n`);
    client.write(`INDEX|${'b'.repeat(40)}`);
    await until('the partial line read', async () => (await server.stats()).bytesIn >= 160);
    client.write(`${'c'.repeat(40)}|\nINDEX|ok|\n`);
    assert.deepEqual(await client.read(4), ['ERROR', 'FAIL', 'ERROR', 'OK']);
    assert.equal((await server.stats()).linesTooLong, 2);
    client.close();
  });

  test(`whole lines in one read go to the owner in order around an overlong or a carried line (${label})`, async (t) => {
    const server = await nativeServer(t, { maxLineBytes: 64 });
    if (server === null) return;
    const client = await LineClient.open(server.port);
    const run = (from: number): string => {
      let text = '';
      for (let i = from; i < from + 30; i++) text += `INDEX|r${i}|${i > from ? `r${i - 1}` : ''}\n`;
      return text;
    };
    const oks = (n: number): string[] => Array.from({ length: n }, () => 'OK');
    // One write: a run, an overlong line, a run, then a line cut short (carried). Then the
    // carried line ends, a run follows, and a line that is overlong before its end (discarded
    // up to its newline in the third write), which another run follows.
    const writes = [
      `${run(0)}INDEX|${'a'.repeat(100)}|\n${run(30)}QUERY|r2`,
      `9|\n${run(60)}INDEX|${'b'.repeat(70)}`,
      `${'c'.repeat(10)}|\n${run(90)}`,
    ];
    let sent = 0;
    for (const text of writes) {
      client.write(text);
      sent += text.length;
      await until('the write read', async () => (await server.stats()).bytesIn >= sent);
    }
    const replies = await client.read(30 + 1 + 30 + 1 + 30 + 1 + 30);
    assert.deepEqual(replies, [...oks(30), 'ERROR', ...oks(30), 'OK', ...oks(30), 'ERROR', ...oks(30)]);
    assert.equal((await server.stats()).linesTooLong, 2);
    client.close();
  });

  test(`clients that read nothing fill their sockets while the others' replies, written in the same turns, all arrive (${label})`, async (t) => {
    const server = await nativeServer(t, { outputHighWaterBytes: 16 * 1024 });
    if (server === null) return;
    // Two hogs pipeline empty lines (1 byte in, `ERROR\n` out) and never read: their replies
    // are written in the same turns (one submission with the ring), until a write comes back
    // partial and the next would block.
    const block = Buffer.alloc(64 * 1024, '\n');
    let pumping = true;
    const hogs = await Promise.all(
      [0, 1].map(async () => {
        const hog = connect({ port: server.port, host: '127.0.0.1' });
        await once(hog, 'connect');
        hog.pause();
        hog.on('error', () => undefined);
        const pump = (): void => {
          while (pumping && hog.write(block));
        };
        hog.on('drain', pump);
        pump();
        return hog;
      }),
    );
    await until('the hogs are being read', async () => (await server.stats()).bytesIn > 512 * 1024);
    // Meanwhile eight clients pipeline in step: their replies share turns with the hogs'.
    const clients = await Promise.all(Array.from({ length: 8 }, () => LineClient.open(server.port)));
    let otherBytes = 0;
    for (let round = 0; round < 20; round++) {
      const replies = await Promise.all(
        clients.map((client, c) => {
          const lines = [
            ...Array.from({ length: 10 }, (_, i) => `INDEX|r${c}-${round}-${i}|`),
            `QUERY|r${c}-${round}-9|`,
          ];
          for (const line of lines) otherBytes += line.length + 1;
          return client.request(...lines);
        }),
      );
      for (const r of replies) assert.deepEqual(r, Array<string>(11).fill('OK'));
    }
    for (const client of clients) client.close();
    // The hogs' replies back up: the server stops reading them.
    let last = -1;
    for (let i = 0; i < 20 && (await server.stats()).bytesIn !== last; i++) {
      last = (await server.stats()).bytesIn;
      await sleep(500);
    }
    assert.equal((await server.stats()).bytesIn, last, 'the server stops reading clients that read nothing');
    // Once they read, they get a reply for every line the server read from them: every reply
    // they can get is ERROR (an empty line), so their newlines count them.
    pumping = false;
    let errors = 0;
    for (const hog of hogs) {
      hog.on('data', (chunk: Buffer) => {
        for (const byte of chunk) if (byte === 0x0a) errors++;
      });
      hog.resume();
    }
    await until(
      'every reply of the hogs',
      async () => errors > 0 && errors === (await server.stats()).bytesIn - otherBytes,
      20_000,
    );
    for (const hog of hogs) hog.destroy();
  });

  test(`a client that half-closes gets every reply, then the server closes (${label})`, async (t) => {
    const server = await nativeServer(t);
    if (server === null) return;
    const socket = connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.end('INDEX|a|\nQUERY|a|\nQUERY|b|\n');
    await once(socket, 'end');
    assert.equal(text, 'OK\nOK\nFAIL\n');
    socket.destroy();
  });

  test(`--max-connections-per-peer refuses the address over its limit, and admits it again once under (${label})`, async (t) => {
    const server = await nativeServer(t, { maxConnectionsPerPeer: 2 });
    if (server === null) return;
    const a = await LineClient.open(server.port);
    const b = await LineClient.open(server.port);
    assert.deepEqual(await a.request('INDEX|x|'), ['OK']);
    // Both answered, so both are admitted: with two I/O threads, a connection made after them
    // can otherwise be accepted by one thread before the other accepts b.
    assert.deepEqual(await b.request('QUERY|x|'), ['OK']);
    const refused = await LineClient.open(server.port);
    await refused.closedByServer();
    assert.equal((await server.stats()).connectionsRefusedPerPeer, 1);
    assert.deepEqual(await b.request('QUERY|x|'), ['OK']);
    a.close();
    await until('the freed place', async () => (await server.stats()).connectionsOpen === 1);
    const c = await LineClient.open(server.port);
    assert.deepEqual(await c.request('QUERY|x|'), ['OK']);
    b.close();
    c.close();
  });

  test(`--max-dependencies and --max-packages are applied by the owner: ERROR, counted (${label})`, async (t) => {
    const server = await nativeServer(t, { maxDependencies: 2, maxPackages: 3 });
    if (server === null) return;
    const client = await LineClient.open(server.port);
    assert.deepEqual(
      await client.request('INDEX|a|', 'INDEX|b|', 'INDEX|c|a,b', 'INDEX|d|a,b,c', 'INDEX|e|', 'QUERY|c|'),
      ['OK', 'OK', 'OK', 'ERROR', 'ERROR', 'OK'],
    );
    const stats = await server.stats();
    assert.equal(stats.commandsOverDependencyCap, 1);
    assert.equal(stats.commandsOverPackageCap, 1);
    client.close();
  });

  test(`shutdown answers what was read, closes every connection, and stops accepting (${label})`, async (t) => {
    if (!loaded.ok) {
      t.skip(`--io native is not built here: ${loaded.reason}`);
      return;
    }
    const server = await startServer({ io: 'native', threads });
    const idle = await LineClient.open(server.port);
    const busy = await LineClient.open(server.port);
    // Many lines in flight while the drain begins: every one is answered before the close.
    const lines = Array.from({ length: 2000 }, (_, i) => `INDEX|s${i}|`);
    busy.write(lines.map((l) => `${l}\n`).join(''));
    await until('the lines read', async () => (await server.stats()).bytesIn > 100);
    const closed = server.close();
    assert.deepEqual(await busy.read(2000), Array<string>(2000).fill('OK'));
    await busy.closedByServer();
    await idle.closedByServer();
    await closed;
    await assert.rejects(LineClient.open(server.port), /ECONNREFUSED/);
  });

  test(`shutdown: a client that keeps sending while replies wait for it gets them all, then the server's FIN, no reset (${label})`, async (t) => {
    if (!loaded.ok) {
      t.skip(`--io native is not built here: ${loaded.reason}`);
      return;
    }
    const { log, events } = memoryLogger();
    const server = await startServer({ io: 'native', threads, ioUring }, { log });
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    // Replies pile up in the kernel's buffers while the client reads nothing; the server
    // answers what it read, stops reading past --output-high-water-bytes, and drains.
    socket.pause();
    const line = 'QUERY|nothing-here|\n';
    socket.write(line.repeat(40_000));
    await until(
      'the server blocked on its unread replies',
      async () => (await server.stats()).bytesIn > 100_000,
    );
    const closed = server.close();
    await sleep(50);
    // Sent after the drain began: never read. A close with them unread would reset the
    // connection, and the kernel would drop the replies still queued for this client.
    socket.write(line.repeat(100));
    let replies = 0;
    let error: Error | null = null;
    socket.on('error', (err) => (error = err));
    socket.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 10) replies++;
    });
    socket.resume();
    await once(socket, 'end');
    socket.end();
    await closed;
    const stopped = events.find((e) => e.msg === 'native I/O threads stopped');
    assert.equal(error, null, 'no reset');
    assert.ok(replies > 0);
    assert.equal(replies, stopped?.batchedCommands, 'a reply for every line the server took');
  });

  test(`durable: a reply leaves only after its group commit, and what was acknowledged is there after a restart (${label})`, async (t) => {
    if (!loaded.ok) {
      t.skip(`--io native is not built here: ${loaded.reason}`);
      return;
    }
    const dataDir = await newDataDir(t);
    const first = await startServer({ io: 'native', threads, storage: 'disk', dataDir });
    const client = await LineClient.open(first.port);
    assert.deepEqual(await client.request('INDEX|base|', 'INDEX|top|base', 'REMOVE|base|'), [
      'OK',
      'OK',
      'FAIL',
    ]);
    client.close();
    await first.close();
    const second = await startServer({ io: 'native', threads, storage: 'disk', dataDir });
    t.after(() => second.close());
    const again = await LineClient.open(second.port);
    assert.deepEqual(await again.request('QUERY|base|', 'QUERY|top|'), ['OK', 'OK']);
    again.close();
  });
}

test('connections go to the threads in turn, whichever thread accepts them (the owner and an I/O thread)', async (t) => {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return;
  }
  const { log, events } = memoryLogger();
  const server = await startServer({ io: 'native', threads: 2 }, { log });
  // Opened at once: the thread the kernel wakes for the listener accepts the whole burst.
  const clients = await Promise.all(Array.from({ length: 10 }, () => LineClient.open(server.port)));
  for (const client of clients) assert.deepEqual(await client.request('QUERY|nothing|'), ['FAIL']);
  // The owner serves on this process's main thread; the other thread is named for operators.
  const names = readdirSync('/proc/self/task').map((tid) =>
    readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(),
  );
  assert.deepEqual(
    names.filter((n) => n.startsWith('pkgindex-io')),
    ['pkgindex-io-1'],
  );
  for (const client of clients) client.close();
  await server.close();
  const stopped = events.find((e) => e.msg === 'native I/O threads stopped');
  assert.deepEqual(stopped?.connectionsPerThread, [5, 5]);
});

test('on an I/O thread, a client adds at most its share of lines to each batch, however long the batch waits for the owner', async (t) => {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return;
  }
  const { log, events } = memoryLogger();
  // --slice-us 10: a share of 25 lines (linesPerTurn).
  const server = await startServer({ io: 'native', threads: 2, sliceUs: 10 }, { log });
  // Connections go to the threads in turn: the first to the owner, the second to the I/O thread.
  const idle = await LineClient.open(server.port);
  const flood = await LineClient.open(server.port);
  const lines = 10_000;
  flood.write('QUERY|nothing|\n'.repeat(lines));
  assert.deepEqual(await flood.read(lines), Array<string>(lines).fill('FAIL'));
  idle.close();
  flood.close();
  await server.close();
  const stopped = events.find((e) => e.msg === 'native I/O threads stopped');
  assert.equal(stopped?.batchedCommands, lines);
  // The thread runs turn after turn while a batch waits for its answer; with a share per turn
  // the waiting batch took a share at each (a few batches of hundreds of lines).
  assert.ok(Number(stopped.batches) >= lines / 25, `${String(stopped.batches)} batches`);
});

test('clients that send without pause do not keep the event loop from its other work (admin HTTP answers)', async (t) => {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return;
  }
  // On one thread the layer runs on the owner's event loop, and a connection that sent more
  // than its share of a turn is framed on the next iterations. Those were once driven by a
  // 0 ms timer re-armed from its own callback, which libuv runs again in the same timer
  // phase: the loop never reached its poll, so nothing else on it (the admin server, IPC) was
  // served while the flood lasted.
  const server = await spawnServer({ io: 'native', threads: 1, admin: true });
  t.after(() => server.stop('SIGKILL'));
  // The flood runs in a process of its own, which reads and drops the replies: this process
  // only asks the admin server and the protocol, as an operator and another client would.
  const flood = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import net from 'node:net';
       import { once } from 'node:events';
       const block = Buffer.from('QUERY|q0|\\n'.repeat(6000));
       for (let i = 0; i < 8; i++) {
         const s = net.connect(${server.port}, '127.0.0.1');
         s.on('data', () => {});
         s.on('error', () => {});
         (async () => {
           await once(s, 'connect');
           while (!s.destroyed) if (!s.write(block)) await once(s, 'drain').catch(() => {});
         })();
       }
       setTimeout(() => process.exit(0), 20000);`,
    ],
    { stdio: 'ignore' },
  );
  t.after(() => flood.kill('SIGKILL'));
  await until('the flood', async () => (await fetchStats(server.adminPort)) > 1_000_000, 10_000);
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const response = await fetch(`http://127.0.0.1:${server.adminPort}/healthz`, {
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(response.status, 200);
  }
  const victim = await LineClient.open(server.port);
  assert.deepEqual(await victim.request('QUERY|q0|'), ['FAIL']);
  victim.close();
});

test('without the native layer, --io native warns and serves with Node sockets', async (t) => {
  const dir = await tempDir(t);
  for (const [what, path] of [
    ['a missing file', join(dir, 'missing.node')],
    ['a file that is no addon', join(dir, 'garbage.node')],
  ] as const) {
    if (what === 'a file that is no addon') writeFileSync(path, 'not a shared object');
    const server = await spawnServer({ io: 'native', threads: 2, env: { [NATIVE_ADDON_ENV]: path } });
    try {
      const warning = server.events.find((e) => String(e.msg).startsWith('--io native cannot serve'));
      assert.ok(warning !== undefined, `${what}: a warning says why`);
      assert.match(String(warning.msg), what === 'a missing file' ? /does not exist/ : /cannot load/);
      const listening = server.events.find((e) => e.msg === 'listening');
      assert.equal(listening?.io, 'node', `${what}: serves with --io node`);
      const client = await LineClient.open(server.port);
      assert.deepEqual(await client.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
      client.close();
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }
  }
});

test('with --tls-cert, --io native warns and serves TLS with Node sockets', async (t) => {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return;
  }
  const ca = createTestCa();
  t.after(() => {
    ca.remove();
  });
  const pair = ca.issue('server');
  const server = await spawnServer({
    io: 'native',
    threads: 2,
    args: ['--tls-cert', pair.cert, '--tls-key', pair.key],
  });
  try {
    const warning = server.events.find((e) => String(e.msg).startsWith('--io native cannot serve'));
    assert.match(String(warning?.msg), /--tls-cert/);
    const listening = server.events.find((e) => e.msg === 'listening');
    assert.equal(listening?.io, 'node');
    assert.equal(listening.tls, true);
  } finally {
    assert.equal(await server.stop('SIGTERM'), 0);
  }
});

test('by default (--io auto) the native layer serves where it is built, else Node sockets, an info line saying why and no warning', async (t) => {
  const dir = await tempDir(t);
  const cases = [
    { what: 'built', env: {}, args: [], io: loaded.ok ? 'native' : 'node' },
    { what: 'not built', env: { [NATIVE_ADDON_ENV]: join(dir, 'missing.node') }, args: [], io: 'node' },
    {
      what: 'asked for what it does not apply',
      env: {},
      args: ['--mutation-rate-per-peer', '1000'],
      io: 'node',
    },
  ] as const;
  for (const { what, env, args, io } of cases) {
    const server = await spawnServer({ env, args });
    try {
      const starting = server.events.find((e) => e.msg === 'starting') as
        { config?: { io?: unknown } } | undefined;
      assert.equal(starting?.config?.io, 'auto', `${what}: the default`);
      const listening = server.events.find((e) => e.msg === 'listening');
      assert.equal(listening?.io, io, `${what}: serves with --io ${io}`);
      const warnings = server.events.filter((e) => Number(e.level) >= 40);
      assert.deepEqual(warnings, [], `${what}: no warning`);
      const why = server.events.find((e) => String(e.msg).startsWith('--io auto: serving with'));
      if (io === 'native') assert.equal(why, undefined, `${what}: nothing to explain`);
      else {
        assert.equal(why?.level, 30, `${what}: an info line says why`);
        assert.match(String(why.msg), what === 'not built' ? /does not exist/ : /--mutation-rate-per-peer/);
      }
      const client = await LineClient.open(server.port);
      assert.deepEqual(await client.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
      client.close();
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }
  }
});

/** Commands the server has answered, from its /metrics. */
async function fetchStats(adminPort: number): Promise<number> {
  const text = await (
    await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5_000) })
  ).text();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('pkgindex_commands_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}
