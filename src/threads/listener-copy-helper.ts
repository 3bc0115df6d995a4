/**
 * A child process that exists for a moment at start-up, once per thread that wants copies: it
 * was started with the server's listening socket as its fd 4 (inherited, so a duplicate of the
 * server's descriptor) and sends it back over its IPC channel as many times as its argument
 * says. Node passes each with SCM_RIGHTS, so the thread that started this child receives
 * descriptors of its own for the same socket, which it listens on and may close without
 * closing anyone else's (ADR 0010; several: the accept lanes of ADR 0018).
 * It never accepts: the socket is wrapped without reading and sent at once.
 */
import { Socket } from 'node:net';

const INHERITED_FD = 4;
const copies = Number(process.argv[2] ?? '1');

function fail(reason: string): void {
  process.stderr.write(`${reason}\n`);
  process.exit(1);
}

try {
  const socket = new Socket({ fd: INHERITED_FD, readable: false, writable: false });
  // The private handle is what Node's IPC can send as a bare handle ('net.Native'), which the
  // receiver can listen on; a socket or server would be read or listened on here first.
  const handle: unknown = (socket as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== 'object' || handle === null || process.send === undefined)
    fail('no handle to send: this Node keeps a socket differently');
  else if (!Number.isInteger(copies) || copies < 1) fail(`cannot send ${process.argv[2]} copies`);
  else {
    // Each send after the first waits for the parent's acknowledgement of the one before,
    // read on the IPC channel, which a child with no 'message' listener does not keep open.
    process.channel?.ref();
    send(handle, copies);
  }
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

/** Sends `handle` `left` times, one message each; the last send closes it, then the process exits. */
function send(handle: object, left: number): void {
  process.send!('listener', handle as never, { keepOpen: left > 1 }, (err: Error | null) => {
    if (err !== null) fail(err.message);
    else if (left > 1) send(handle, left - 1);
    else process.exit(0);
  });
}
