import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeIo } from '../../src/native/addon.js';
import { LineClient } from '../support/line-client.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { denyingLauncher } from '../support/seccomp.js';

// The native layer's io_uring path (ADR 0023) where the kernel refuses a ring: a real seccomp
// filter (test/support/deny-syscall.c, built here with cc) makes io_uring_setup fail with EPERM, as
// Docker's default profile does, and the server must say so and serve with plain calls.

const loaded = loadNativeIo();

/** The seccomp launcher, where the native layer is built (else the test is skipped, saying why). */
async function denyLauncher(t: TestContext): Promise<string | null> {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return null;
  }
  return denyingLauncher(t, 'io_uring_setup');
}

/** Ten clients at once, each in lock step: the turns that would have gone through the ring. */
async function serveTenClients(server: ServerProcess): Promise<void> {
  const clients = await Promise.all(Array.from({ length: 10 }, () => LineClient.open(server.port)));
  try {
    for (let round = 0; round < 20; round++) {
      const replies = await Promise.all(
        clients.map((client, c) =>
          client.request(`INDEX|p${c}-${round}|${round > 0 ? `p${c}-${round - 1}` : ''}`),
        ),
      );
      assert.deepEqual(replies, Array<string[]>(10).fill(['OK']));
    }
    assert.deepEqual(await clients[3]!.request('REMOVE|p3-0|'), ['FAIL']);
    assert.deepEqual(await clients[3]!.request('QUERY|p3-19|'), ['OK']);
  } finally {
    for (const client of clients) client.close();
  }
}

function ringCallsAtStop(server: ServerProcess): unknown {
  return server.events.find((e) => e.msg === 'native I/O threads stopped')?.ringCalls;
}

for (const threads of [1, 2]) {
  test(`where seccomp refuses io_uring, the native layer warns why and serves with plain calls (--threads ${threads})`, async (t) => {
    const deny = await denyLauncher(t);
    if (deny === null) return;
    const server = await spawnServer({ io: 'native', threads, launcher: [deny] });
    t.after(() => server.stop('SIGKILL'));
    const warning = server.events.find(
      (e) => typeof e.msg === 'string' && e.msg.includes('refuses io_uring'),
    );
    assert.ok(warning !== undefined, 'a warning says the kernel refused io_uring');
    assert.match(String(warning.reason), /^EPERM: /);
    assert.match(String(warning.msg), /--io-uring=false/);
    assert.ok(
      server.events.some((e) => e.msg === 'listening' && e.io === 'native'),
      'it serves with the native layer all the same',
    );
    await serveTenClients(server);
    const metrics = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
    assert.match(metrics, /^pkgindex_io_ring_submissions_total 0$/m);
    assert.equal(await server.stop('SIGTERM'), 0);
    assert.equal(ringCallsAtStop(server), 0);
  });
}

test('by default (--io auto) a refused ring is an info line, not a warning: the server chose the layer', async (t) => {
  const deny = await denyLauncher(t);
  if (deny === null) return;
  const server = await spawnServer({ threads: 1, launcher: [deny] });
  t.after(() => server.stop('SIGKILL'));
  const line = server.events.find((e) => typeof e.msg === 'string' && e.msg.includes('refuses io_uring'));
  assert.equal(line?.level, 30, 'an info line says the kernel refused io_uring');
  assert.deepEqual(
    server.events.filter((e) => Number(e.level) >= 40),
    [],
    'no warning',
  );
  assert.ok(server.events.some((e) => e.msg === 'listening' && e.io === 'native'));
  await serveTenClients(server);
  assert.equal(await server.stop('SIGTERM'), 0);
});

test('with --io-uring=false the kernel is not asked: no warning, and no ring calls', async (t) => {
  if (!loaded.ok) {
    t.skip(`--io native is not built here: ${loaded.reason}`);
    return;
  }
  const server = await spawnServer({ io: 'native', threads: 1, args: ['--io-uring=false'] });
  t.after(() => server.stop('SIGKILL'));
  await serveTenClients(server);
  assert.equal(await server.stop('SIGTERM'), 0);
  assert.equal(ringCallsAtStop(server), 0);
  assert.ok(!server.events.some((e) => typeof e.msg === 'string' && e.msg.includes('io_uring')));
});
