/**
 * A child process that exists for a moment at start-up, once per socket thread: it was
 * started with the server's listening socket as its fd 4 (inherited, so a duplicate of the
 * server's descriptor) and sends it back over its IPC channel. Node passes it with
 * SCM_RIGHTS, so the thread that started this child receives a descriptor of its own for the
 * same socket, which it listens on and may close without closing anyone else's (ADR 0010).
 * It never accepts: the socket is wrapped without reading and sent at once.
 */
import { Socket } from 'node:net';

const INHERITED_FD = 4;

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
  else
    process.send('listener', handle as never, { keepOpen: false }, (err: Error | null) => {
      if (err !== null) fail(err.message);
      else process.exit(0);
    });
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
