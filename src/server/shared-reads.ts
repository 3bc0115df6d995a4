import { Socket } from 'node:net';

/** Where a connection's bytes go: `chunk[0, length)`, valid only during the call. */
export type OnBytes = (chunk: Buffer, length: number) => void;

/** Size of the buffer every read lands in: libuv's own suggestion for one stream read. */
export const SHARED_READ_BYTES = 64 * 1024;

/**
 * The parts of Node's TCP handle that `net.Socket`'s `onread` option relies on. Checked at
 * run time, since `socket._handle` is not a documented API.
 */
interface StreamHandle {
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
}

function isStreamHandle(handle: unknown): handle is StreamHandle {
  if (typeof handle !== 'object' || handle === null) return false;
  const h = handle as Record<string, unknown>;
  return (
    typeof h['readStart'] === 'function' &&
    typeof h['readStop'] === 'function' &&
    typeof h['useUserBuffer'] === 'function'
  );
}

/**
 * Starts reading an accepted socket, delivering its bytes to `onBytes`; returns the socket to
 * use from then on.
 *
 * With `buffer`, reads land in that one buffer, shared by every connection of the server, and
 * `onBytes` is called straight from the read callback. Node's default read path allocates a
 * Buffer per read and passes it through the Readable stream machinery (push, a tick to read
 * more, a 'data' event): a fixed cost per read that dominates a client waiting for each reply
 * (see docs/performance.md). Node offers this mode only as the `onread` option of a socket it
 * did not accept, so the accepted socket's TCP handle moves to a new `net.Socket` made with
 * that option, and the old one, which never read, is destroyed without its handle. The server
 * must accept with `pauseOnConnect` so that nothing is read before the move.
 *
 * Without `buffer`, or if the handle is not the kind this relies on (another Node version
 * changed it), the socket is read the ordinary way, with 'data' events.
 */
export function startReading(
  accepted: Socket,
  onBytes: OnBytes,
  buffer: Buffer | null,
  allowHalfOpen: boolean,
): Socket {
  const handle: unknown = (accepted as unknown as { _handle: unknown })._handle;
  if (buffer === null || !isStreamHandle(handle)) {
    accepted.on('data', (chunk: Buffer) => {
      onBytes(chunk, chunk.length);
    });
    accepted.resume();
    return accepted;
  }
  (accepted as unknown as { _handle: unknown })._handle = null;
  accepted.destroy();
  const socket = new Socket({
    handle,
    allowHalfOpen,
    onread: {
      buffer,
      callback: (length: number, chunk: Uint8Array) => {
        onBytes(chunk as Buffer, length);
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  // Flowing, so that the end of the stream is still announced by an 'end' event.
  socket.resume();
  return socket;
}
