import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Readable } from 'node:stream';
import { SignalStream } from '../../src/admin/dashboard/signal-stream.js';
import type { SignalSample } from '../../src/observability/live-signals.js';

/** Everything a stream has buffered so far, as text. */
function drain(stream: Readable): string {
  let text = '';
  let chunk: Buffer | string | null;
  while ((chunk = stream.read() as Buffer | string | null) !== null) text += chunk.toString();
  return text;
}

test('a new stream starts with the last historySize samples only, oldest first', () => {
  let n = 0;
  const stream = new SignalStream(() => ({ n: ++n }) as unknown as SignalSample, { historySize: 3 });
  for (let i = 0; i < 5; i++) stream.tick();
  const client = stream.open();
  assert.match(drain(client), /event: history\ndata: \[\{"n":3\},\{"n":4\},\{"n":5\}\]\n\n/);
  stream.tick();
  assert.equal(drain(client), 'event: sample\ndata: {"n":6}\n\n');
  stream.stop();
});

test('start() twice keeps one timer; stop() before start() and twice is harmless and ends every stream', () => {
  const stream = new SignalStream(() => ({}) as SignalSample, { intervalMs: 60_000 });
  stream.stop();
  stream.start();
  stream.start();
  const client = stream.open();
  assert.equal(stream.clientCount, 1);
  stream.stop();
  stream.stop();
  assert.equal(stream.clientCount, 0);
  drain(client);
  assert.equal(client.readableEnded || client.read() === null, true);
});
