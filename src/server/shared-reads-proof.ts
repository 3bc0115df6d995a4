import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { SHARED_READ_BYTES, startReading } from './shared-reads.js';

/** Whether reading into one shared buffer behaves, on this Node, as the server relies on. */
export type SharedReadsProof = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface SharedReadsProofOptions {
  /** Called with the accepted socket before it starts reading: tests break it here. */
  readonly tamper?: (accepted: Socket) => void;
  /** Longest the whole proof may take before it counts as failed. Default 5000 ms. */
  readonly timeoutMs?: number;
}

/** Several reads' worth, so that the one buffer is reused from read to read. */
const STREAMED_BYTES = 3 * SHARED_READ_BYTES + 123;
/** Sent while reading is paused: small enough for the kernel's buffers to hold it all. */
const PAUSED_BYTES = 4096;
const MARK = Buffer.from('mark');

/** Bytes that differ from one offset to the next and from one step to the next. */
function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}

function write(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(bytes, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

/**
 * Proves, over a real loopback connection, that an accepted socket read into a shared buffer
 * (shared-reads.ts, ADR 0004) does what the server relies on: its bytes arrive intact in that
 * buffer across several reads; `pause()` stops reads (the data stays in the kernel, as a
 * second, ordinary connection that receives later data shows); `resume()` restarts them and
 * the bytes sent meanwhile arrive intact; the client's end is still announced by 'end'.
 * The private keys existing is not enough: a Node release could keep the names and change
 * what they mean. Never throws; a failure says which step failed.
 */
export async function proveSharedReads(options: SharedReadsProofOptions = {}): Promise<SharedReadsProof> {
  const sockets: Socket[] = [];
  const accepted: Socket[] = [];
  const waiters = new Set<() => void>();
  const poke = (): void => {
    for (const check of [...waiters]) check();
  };
  const until = (condition: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!condition()) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    sockets.push(socket);
    accepted.push(socket);
    poke();
  });
  let step = 'listening on 127.0.0.1';
  const fail = (reason: string): SharedReadsProof => ({ ok: false, reason: `${step}: ${reason}` });

  const run = async (): Promise<SharedReadsProof> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, resolve);
    });
    const { port } = server.address() as AddressInfo;
    const pair = async (): Promise<[client: Socket, accepted: Socket]> => {
      const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      client.on('error', () => undefined);
      sockets.push(client);
      await until(() => accepted.length > 0);
      return [client, accepted.shift()!];
    };
    step = 'connecting over loopback';
    const [subjectClient, subject] = await pair();
    const [controlClient, control] = await pair();

    options.tamper?.(subject);
    const buffer = Buffer.allocUnsafe(SHARED_READ_BYTES);
    const received: Buffer[] = [];
    let receivedBytes = 0;
    /** Reads that landed anywhere but `buffer` (a number: flags set in callbacks defeat narrowing). */
    let elsewhere = 0;
    let ended = false;
    const shared = startReading(
      subject,
      (chunk, length) => {
        if (chunk !== buffer) elsewhere++;
        received.push(Buffer.from(chunk.subarray(0, length)));
        receivedBytes += length;
        poke();
      },
      buffer,
    );
    subject.on('end', () => {
      ended = true;
      poke();
    });
    let controlBytes = 0;
    startReading(
      control,
      (_chunk, length) => {
        controlBytes += length;
        poke();
      },
      null,
    );
    const arrived = (from: number, expected: Buffer): boolean =>
      Buffer.concat(received).subarray(from).equals(expected);

    step = 'reading into the shared buffer';
    if (!shared) return fail('the socket lacks the private keys or handle methods this mode sets');
    const streamed = pattern(STREAMED_BYTES, 1);
    await write(subjectClient, streamed);
    await until(() => receivedBytes >= streamed.length);
    if (elsewhere > 0) return fail('reads did not land in the shared buffer');
    if (!arrived(0, streamed)) return fail('the bytes arrived altered');

    step = 'pausing';
    subject.pause();
    const before = receivedBytes;
    const paused = pattern(PAUSED_BYTES, 2);
    await write(subjectClient, paused);
    // Sent after the paused bytes, over the same loopback: once it has been read, a socket
    // that still read would have read the paused bytes too (in this poll phase at the latest).
    await write(controlClient, MARK);
    await until(() => controlBytes >= MARK.length);
    await nextTurn();
    if (receivedBytes !== before) return fail('pause() did not stop reads');

    step = 'resuming';
    subject.resume();
    await until(() => receivedBytes >= before + paused.length);
    if (!arrived(before, paused)) return fail('the bytes sent while paused arrived altered');

    step = "waiting for the client's end";
    subjectClient.end();
    await until(() => ended);
    return { ok: true };
  };

  const timeoutMs = options.timeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err))),
      new Promise<SharedReadsProof>((resolve) => {
        timer = setTimeout(() => {
          resolve(fail(`nothing happened within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    server.close();
  }
}

let proven: Promise<SharedReadsProof> | undefined;

/** `proveSharedReads()`, run once per process: its answer is a fact about this Node. */
export function proveSharedReadsOnce(): Promise<SharedReadsProof> {
  proven ??= proveSharedReads();
  return proven;
}
