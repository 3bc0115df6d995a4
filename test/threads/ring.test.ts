import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createRing, Ring, ringCapacity } from '../../src/threads/ring.js';
import { RingChannel } from '../../src/threads/ring-channel.js';

function drainAll(ring: Ring): { text: string; tag: number }[] {
  const out: { text: string; tag: number }[] = [];
  ring.drain((payload, tag) => out.push({ text: payload.toString('latin1'), tag }));
  return out;
}

test('ring: records come out whole and in order, across the end of the buffer, until it is full', () => {
  const memory = createRing(64);
  const producer = new Ring(memory, 'producer');
  const consumer = new Ring(memory, 'consumer');
  assert.equal(producer.maxPayload, 24);
  assert.throws(() => producer.tryWrite(new Uint8Array(25), 0), { code: 'E_INTERNAL' });
  assert.throws(() => createRing(100), { code: 'E_INTERNAL' });
  // 8-byte header + payload padded to 4: 'abcde' takes 16 bytes, four of them fill 64.
  for (let round = 0; round < 5; round++) {
    const written: string[] = [];
    for (let i = 0; ; i++) {
      const text = `${round}${'x'.repeat(i % 7)}`;
      if (!producer.tryWrite(Buffer.from(text, 'latin1'), i)) break;
      written.push(text);
    }
    assert.ok(written.length >= 2, 'a ring of 64 bytes holds at least two small records');
    const read = drainAll(consumer);
    assert.deepEqual(
      read.map((r) => r.text),
      written,
    );
    assert.deepEqual(
      read.map((r) => r.tag),
      written.map((_, i) => i),
    );
    // Shift the start so that records straddle the end on the next round.
    assert.ok(producer.tryWrite(Buffer.from('s'.repeat(1 + round), 'latin1'), -1));
    assert.deepEqual(drainAll(consumer), [{ text: 's'.repeat(1 + round), tag: -1 }]);
  }
  assert.deepEqual(drainAll(consumer), []);
  assert.equal(ringCapacity(1), 4096);
  assert.equal(ringCapacity(5000), 8192);
});

test('ring: a consumer gone idle is woken once; a busy one costs its producer no wake-up', () => {
  const memory = createRing(1024);
  const producer = new Ring(memory, 'producer');
  const consumer = new Ring(memory, 'consumer');
  assert.ok(producer.tryWrite(Buffer.from('a'), 1));
  assert.equal(producer.claimWake(), false, 'the consumer has not gone idle');
  assert.equal(consumer.sleep(), false, 'a record is waiting: stay awake');
  assert.equal(drainAll(consumer).length, 1);
  assert.equal(consumer.sleep(), true);
  assert.ok(producer.tryWrite(Buffer.from('b'), 2));
  assert.equal(producer.claimWake(), true);
  assert.equal(producer.claimWake(), false, 'one wake-up per idle spell');
  // Idle declared, a record arrives, its producer claims the wake-up: sleep says a wake-up comes.
  assert.equal(drainAll(consumer).length, 1);
  const seq = consumer.wakeSeq;
  assert.equal(consumer.sleep(), true);
  assert.ok(producer.tryWrite(Buffer.from('c'), 3));
  assert.equal(producer.claimWake(), true);
  producer.notify();
  assert.equal(consumer.waitAsync(seq), null, 'notified before waiting: no wait');
});

for (const mode of ['doorbell', 'wait'] as const)
  test(`ring channel (${mode}): 20,000 records to a worker and back, in order, through a ring that fills`, async () => {
    const toEcho = createRing(4096);
    const fromEcho = createRing(4096);
    const worker = new Worker(new URL('../../tools/threads/hop-echo.js', import.meta.url), {
      workerData: { mode, toEcho, fromEcho },
    });
    const received: number[] = [];
    const total = 20_000;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const channel: RingChannel = new RingChannel(
      toEcho,
      fromEcho,
      mode,
      () => {
        worker.postMessage(0);
      },
      (payload, tag) => {
        assert.equal(payload.readUInt32LE(0), tag);
        received.push(tag);
        if (received.length === total) done();
      },
    );
    worker.on('message', () => {
      channel.doorbell();
    });
    channel.start();
    let sawQueue = false;
    for (let i = 0; i < total; i++) {
      const payload = Buffer.alloc(4 + (i % 200));
      payload.writeUInt32LE(i, 0);
      channel.send(payload, i);
      if (channel.queued > 0) sawQueue = true;
    }
    assert.ok(sawQueue, 'the ring filled and records were queued');
    await finished;
    assert.deepEqual(
      received,
      Array.from({ length: total }, (_, i) => i),
    );
    channel.close();
    worker.postMessage('stop');
    await new Promise((resolve) => worker.once('exit', resolve));
  });
