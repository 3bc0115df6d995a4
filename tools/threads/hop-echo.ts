/**
 * The far end of `measure hop`: a worker that answers every record (or message) it gets with
 * the same bytes, over the channel under test. Not part of the product.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingChannel, type WakeMode } from '../../src/threads/ring-channel.js';

interface EchoData {
  readonly mode: 'message' | WakeMode;
  readonly toEcho: SharedArrayBuffer;
  readonly fromEcho: SharedArrayBuffer;
}

const port = parentPort!;
const data = workerData as EchoData;

if (data.mode === 'message') {
  port.on('message', (message: Uint8Array) => {
    port.postMessage(message, [message.buffer as ArrayBuffer]);
  });
} else {
  const channel: RingChannel = new RingChannel(
    data.fromEcho,
    data.toEcho,
    data.mode,
    () => {
      port.postMessage(0);
    },
    (payload, tag) => {
      channel.send(payload, tag);
    },
  );
  // A listener keeps the worker alive (a pending waitAsync does not), and is the doorbell.
  port.on('message', (message: unknown) => {
    if (message === 'stop') port.close();
    else channel.doorbell();
  });
  channel.start();
}
