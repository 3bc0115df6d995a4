import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { proveSharedReads } from '../../src/server/shared-reads-proof.js';
import { get, memoryLogger, sample } from '../admin/harness.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';

/** What a Node release without the `onread` keys would accept: a socket that lacks them. */
function removeOnreadKeys(socket: Socket): void {
  for (const key of Object.getOwnPropertySymbols(socket))
    if (['kBuffer', 'kBufferCb', 'kBufferGen'].includes(key.description ?? ''))
      Reflect.deleteProperty(socket, key);
}

test('on this Node, reads into the shared buffer pause, resume and arrive intact', async () => {
  assert.deepEqual(await proveSharedReads(), { ok: true });
});

test('the proof fails on a socket without the private keys', async () => {
  const proof = await proveSharedReads({ tamper: removeOnreadKeys });
  assert.equal(proof.ok, false);
  assert.match(proof.reason, /^reading into the shared buffer: the socket lacks the private keys/);
});

test('the proof fails when pause() does not stop reads, though the keys are there', async () => {
  const proof = await proveSharedReads({
    tamper: (socket) => {
      socket.pause = () => socket;
    },
  });
  assert.deepEqual(proof, { ok: false, reason: 'pausing: pause() did not stop reads' });
});

test('the proof fails when resume() does not restart reads', async () => {
  const proof = await proveSharedReads({
    timeoutMs: 1000,
    tamper: (socket) => {
      // The first resume() is the one that starts reading; the ones after it do nothing.
      const resume = socket.resume.bind(socket);
      let calls = 0;
      socket.resume = () => (++calls === 1 ? resume() : socket);
    },
  });
  assert.deepEqual(proof, { ok: false, reason: 'resuming: nothing happened within 1000 ms' });
});

test('when the proof fails, the server reads the ordinary way, serves correctly, and says so', async () => {
  const { log, events } = memoryLogger();
  const s = await startServer(
    { sharedReadBuffer: true, admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { log, proveSharedReads: () => proveSharedReads({ tamper: removeOnreadKeys }) },
  );
  try {
    const warnings = events.filter((e) =>
      e.msg.startsWith("this Node's sockets cannot read into the shared buffer"),
    );
    assert.equal(warnings.length, 1, 'warned once, at startup');
    assert.equal(warnings[0]!.level, 40);
    assert.match(warnings[0]!.reason as string, /lacks the private keys/);

    const clients = await Promise.all([LineClient.open(s.port), LineClient.open(s.port)]);
    assert.deepEqual(await clients[0].request('INDEX|a|', 'INDEX|b|a', 'QUERY|b|'), ['OK', 'OK', 'OK']);
    assert.deepEqual(await clients[1].request('REMOVE|a|', 'QUERY|a|', 'bad'), ['FAIL', 'OK', 'ERROR']);
    for (const c of clients) c.close();

    assert.equal(s.server.stats.connectionsTotal, 2);
    assert.equal(s.server.stats.connectionsSharedReads, 0);
    const metrics = (await get(s.pkgindex.addresses!.admin!.port, '/metrics')).text;
    assert.equal(sample(metrics, 'pkgindex_shared_read_buffer'), 1, 'the setting is on');
    assert.equal(sample(metrics, 'pkgindex_connections_shared_reads_total'), 0, 'but no connection used it');
    assert.equal(events.filter((e) => e.level >= 40).length, 1, 'and nothing else went wrong');
  } finally {
    await s.close();
  }
});
