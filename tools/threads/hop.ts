/**
 * `measure hop`: what one batch's trip to another thread and back costs, per hop mechanism of
 * ADR 0010: `postMessage` with a transferred buffer each way (the socket threads' first
 * design), and a SharedArrayBuffer ring each way woken by a `postMessage` doorbell only when
 * the far side is idle, or by `Atomics.waitAsync`/`notify`. A worker echoes every batch;
 * `--in-flight` batches are kept outstanding (1: strict, every batch finds the far side
 * idle; more: the far side is often busy and its wake-ups are skipped). Reports the process's
 * user and kernel CPU per round trip (both threads), which does not depend on the machine's
 * other load as much as the wall time does.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createRing, ringCapacity } from '../../src/threads/ring.js';
import { RingChannel } from '../../src/threads/ring-channel.js';
import { intOption, parseToolArgs } from '../support/options.js';

export const usage = `Usage: node dist/tools/measure.js hop [--trips 50000] [--bytes 64] [--in-flight 1] [--rounds 3]`;

const MODES = ['message', 'doorbell', 'wait'] as const;
type Mode = (typeof MODES)[number];

interface Result {
  readonly userUs: number;
  readonly systemUs: number;
  readonly wallUs: number;
}

async function run(mode: Mode, trips: number, bytes: number, inFlight: number): Promise<Result> {
  const toEcho = createRing(ringCapacity(1 << 20));
  const fromEcho = createRing(ringCapacity(1 << 20));
  const worker = new Worker(new URL('./hop-echo.js', import.meta.url), {
    workerData: { mode, toEcho, fromEcho },
  });
  await new Promise((resolve) => worker.once('online', resolve));
  const payload = new Uint8Array(bytes).fill(0x61);
  let sent = 0;
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let send: () => void;
  if (mode === 'message') {
    send = () => {
      const copy = payload.slice();
      worker.postMessage(copy, [copy.buffer]);
    };
    worker.on('message', () => {
      if (++received === trips) done();
      else if (sent < trips) {
        sent++;
        send();
      }
    });
  } else {
    const channel: RingChannel = new RingChannel(
      toEcho,
      fromEcho,
      mode,
      () => {
        worker.postMessage(0);
      },
      () => {
        if (++received === trips) done();
        else if (sent < trips) {
          sent++;
          channel.send(payload, 1);
        }
      },
    );
    worker.on('message', () => {
      channel.doorbell();
    });
    send = () => {
      channel.send(payload, 1);
    };
    channel.start();
  }
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < inFlight && sent < trips; i++) {
    sent++;
    send();
  }
  await finished;
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  if (mode === 'message') await worker.terminate();
  else {
    worker.postMessage('stop');
    await new Promise((resolve) => worker.once('exit', resolve));
  }
  return { userUs: used.user / trips, systemUs: used.system / trips, wallUs: (wall * 1000) / trips };
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      trips: { type: 'string' },
      bytes: { type: 'string' },
      'in-flight': { type: 'string' },
      rounds: { type: 'string' },
    },
    usage,
  );
  const trips = intOption('--trips', values.trips, 50_000);
  const bytes = intOption('--bytes', values.bytes, 64);
  const inFlight = intOption('--in-flight', values['in-flight'], 1);
  const rounds = intOption('--rounds', values.rounds, 3);
  process.stdout.write(
    `hop: ${trips} round trips of ${bytes} bytes, ${inFlight} in flight, ${rounds} rounds (interleaved); per round trip, both threads\n`,
  );
  process.stdout.write('round  mode      user µs  kernel µs  wall µs\n');
  for (let round = 1; round <= rounds; round++)
    for (const mode of MODES) {
      const r = await run(mode, trips, bytes, inFlight);
      process.stdout.write(
        `${String(round).padEnd(6)} ${mode.padEnd(9)} ${r.userUs.toFixed(2).padStart(7)}  ${r.systemUs.toFixed(2).padStart(9)}  ${r.wallUs.toFixed(2).padStart(7)}\n`,
      );
    }
  return 0;
}
