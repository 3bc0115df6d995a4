import { Socket } from 'node:net';

/** Where a connection's bytes go: `chunk[0, length)`, valid only during the call. */
export type OnBytes = (chunk: Buffer, length: number) => void;

/** Size of the buffer every read lands in: libuv's own suggestion for one stream read. */
export const SHARED_READ_BYTES = 64 * 1024;

/**
 * The parts of Node's TCP handle that reading into a caller's buffer relies on. Checked at run
 * time, since `socket._handle` is not a documented API.
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

/** The private keys under which `net.Socket` keeps its `onread` option. */
interface OnreadKeys {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/**
 * Found once by their names on a socket of our own making (never on an accepted one, which
 * a test may have tampered with), then reused; null if this Node has none.
 */
let onreadKeys: OnreadKeys | null | undefined;

function findOnreadKeys(): OnreadKeys | null {
  if (onreadKeys !== undefined) return onreadKeys;
  const named = new Map(Object.getOwnPropertySymbols(new Socket()).map((key) => [key.description, key]));
  const buffer = named.get('kBuffer');
  const callback = named.get('kBufferCb');
  const generator = named.get('kBufferGen');
  onreadKeys =
    buffer !== undefined && callback !== undefined && generator !== undefined
      ? { buffer, callback, generator }
      : null;
  return onreadKeys;
}

/**
 * Starts reading an accepted socket, delivering its bytes to `onBytes`.
 *
 * With `buffer`, reads land in that one buffer, shared by every connection of the server, and
 * `onBytes` is called straight from the read callback. Node's default read path allocates a
 * Buffer per read and passes it through the Readable stream machinery (push, a tick to read
 * more, a 'data' event): a fixed cost per read that dominates a client waiting for each reply
 * (see docs/adr/0004-shared-read-buffer.md). Node offers this mode as the `onread` option of
 * `net.Socket`, but not for sockets a server accepts; so the accepted socket gets what that
 * option would have set: its buffer and callback under the socket's private keys, and the
 * buffer handed to its TCP handle. The server must accept with `pauseOnConnect`, so that
 * nothing is read before.
 *
 * Without `buffer`, or if this Node's sockets are not built the way this relies on, the
 * socket is read the ordinary way, with 'data' events. Returns true when reads go to `buffer`.
 * That the keys exist does not prove they still mean what they did: the server calls
 * `proveSharedReads()` (shared-reads-proof.ts) once before it uses this mode.
 */
export function startReading(accepted: Socket, onBytes: OnBytes, buffer: Buffer | null): boolean {
  const handle: unknown = (accepted as unknown as { _handle: unknown })._handle;
  const keys = buffer === null ? null : findOnreadKeys();
  const fields = accepted as unknown as Record<symbol, unknown>;
  if (
    buffer === null ||
    keys === null ||
    !isStreamHandle(handle) ||
    fields[keys.buffer] !== null ||
    fields[keys.generator] !== null
  ) {
    accepted.on('data', (chunk: Buffer) => {
      onBytes(chunk, chunk.length);
    });
    accepted.resume();
    return false;
  }
  fields[keys.buffer] = buffer;
  fields[keys.callback] = (length: number, chunk: Uint8Array) => {
    onBytes(chunk as Buffer, length);
  };
  handle.useUserBuffer(buffer);
  // Starts the handle reading, and makes the stream flowing so that its end is still
  // announced by an 'end' event.
  accepted.resume();
  return true;
}
