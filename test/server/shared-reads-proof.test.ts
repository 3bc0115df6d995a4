import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { proveSharedReads } from '../../src/server/shared-reads-proof.js';

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
