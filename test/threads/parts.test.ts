import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { ConnectionSlots } from '../../src/server/connection-slots.js';
import { listenerFd } from '../../src/server/listener-fd.js';
import { RemoteStore } from '../../src/threads/remote-store.js';
import { Verb } from '../../src/protocol/command.js';
import { PENDING } from '../../src/store/store.js';

test('connection slots: the limit holds across holders of one shared counter', () => {
  const shared = new Int32Array(new SharedArrayBuffer(4));
  const a = new ConnectionSlots(2, shared);
  const b = new ConnectionSlots(2, shared);
  assert.equal(a.tryAcquire(), true);
  assert.equal(b.tryAcquire(), true);
  assert.equal(a.tryAcquire(), false, 'the third is refused whichever thread asks');
  assert.equal(b.open, 2);
  a.release();
  assert.equal(b.tryAcquire(), true);
  assert.equal(new ConnectionSlots(1).tryAcquire(), true);
});

test("listenerFd finds a listening server's descriptor and answers null for anything else", async () => {
  const server = createServer();
  assert.equal(listenerFd(server), null, 'not listening: no handle');
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const fd = listenerFd(server);
    assert.ok(fd !== null && fd > 2);
    const fake = (handle: unknown): ReturnType<typeof listenerFd> =>
      listenerFd({ _handle: handle } as unknown as Parameters<typeof listenerFd>[0]);
    assert.equal(fake({ fd: 'x' }), null);
    assert.equal(fake({ fd: 1 }), null, 'never a standard stream');
    assert.equal(fake(null), null);
  } finally {
    server.close();
  }
});

test('remote store: one batch per turn, one barrier for its connection batches, each at its offset; failures reject in order', async () => {
  const sent: { lines: string; count: number }[] = [];
  const store = new RemoteStore('t', (lines, count) => {
    sent.push({ lines: Buffer.from(lines).toString('latin1'), count });
  });
  await store.open();
  assert.deepEqual(store.health(), { recovered: true, writable: true });
  assert.deepEqual(store.stats(), { packages: 0, edges: 0 });
  assert.equal(store.execute({ verb: Verb.INDEX, name: 'a', deps: ['b', 'c'] }), PENDING);
  const first = store.barrier();
  assert.equal(store.barrierOffset, 0);
  assert.equal(store.execute({ verb: Verb.QUERY, name: 'a' }), PENDING);
  assert.equal(store.execute({ verb: Verb.REMOVE, name: 'a' }), PENDING);
  const second = store.barrier();
  assert.equal(store.barrierOffset, 1, "the second batch's replies start after the first's");
  assert.equal(second, first, 'one promise for the whole turn');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(sent, [{ lines: 'INDEX|a|b,c\nQUERY|a|\nREMOVE|a|\n', count: 3 }]);
  store.settle(Uint8Array.from([0, 1, 2]));
  assert.deepEqual(Array.from(await first), [0, 1, 2]);

  // Two turns in flight; the owner fails the first and then goes away.
  store.execute({ verb: Verb.QUERY, name: 'x'.repeat(20_000) });
  const third = store.barrier();
  await new Promise((resolve) => setImmediate(resolve));
  store.execute({ verb: Verb.QUERY, name: 'y' });
  const fourth = store.barrier();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sent.length, 3);
  store.fail();
  await assert.rejects(third, { code: 'E_THREAD' });
  store.failAll();
  await assert.rejects(fourth, { code: 'E_THREAD' });
  store.fail(); // nothing in flight: no-op
  await store.close();
});

test('remote store: a batch past its size limit is sent at once; a connection batch across two gets both slices', async () => {
  const sent: { lines: string; count: number }[] = [];
  const store = new RemoteStore(
    't',
    (lines, count) => {
      sent.push({ lines: Buffer.from(lines).toString('latin1'), count });
    },
    20,
  );
  store.execute({ verb: Verb.QUERY, name: 'a' });
  const first = store.barrier();
  store.execute({ verb: Verb.QUERY, name: 'bbbbbbbbbb' }); // 9 + 17 bytes: past 20
  store.execute({ verb: Verb.QUERY, name: 'c' }); // sent before this one is appended
  store.execute({ verb: Verb.QUERY, name: 'd' });
  const second = store.barrier();
  assert.equal(store.barrierOffset, 0, 'a batch joined from parts gets a promise, and replies, of its own');
  assert.deepEqual(sent, [{ lines: 'QUERY|a|\nQUERY|bbbbbbbbbb|\n', count: 2 }]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(sent[1], { lines: 'QUERY|c|\nQUERY|d|\n', count: 2 });
  store.settle(Uint8Array.from([0, 1]));
  store.settle(Uint8Array.from([2, 0]));
  assert.deepEqual(Array.from(await first), [0, 1]);
  assert.deepEqual(Array.from(await second), [1, 2, 0]);
});
