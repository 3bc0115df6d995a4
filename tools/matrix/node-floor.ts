/**
 * The Node floor of the matrix: what any server written for Node can do on this machine with
 * this protocol. It answers "OK\n" to every line and does nothing else, like the C ceiling
 * (ceiling.c), but on one Node event loop and with the fastest read path Node offers: every
 * connection read into one shared buffer (src/server/shared-reads.ts, as pkgindex reads), one
 * write per read chunk, Nagle off. pkgindex against it is what the index, the protocol's
 * parsing and the server's bookkeeping cost; it against the C ceiling is what Node's event
 * loop and socket layer cost, which no TypeScript server on one thread can get back (issue 13).
 *
 * Usage: node dist/tools/matrix/node-floor.js PORT [HOST] (started and stopped by the matrix,
 * run-matrix.ts, like the ceiling).
 */
import { createServer, type Socket } from 'node:net';
import { SHARED_READ_BYTES, startReading } from '../../src/server/shared-reads.js';

const NEWLINE = 0x0a;
/** "OK\n" repeated: the replies to any read chunk are one slice of it. */
const OKS = Buffer.from('OK\n'.repeat(SHARED_READ_BYTES));

function serve(port: number, host: string): void {
  const shared = Buffer.allocUnsafe(SHARED_READ_BYTES);
  const server = createServer({ pauseOnConnect: true, noDelay: true }, (socket: Socket) => {
    socket.on('error', () => undefined);
    startReading(
      socket,
      (chunk, length) => {
        let lines = 0;
        for (let i = 0; i < length; i++) if (chunk[i] === NEWLINE) lines++;
        if (lines > 0) socket.write(OKS.subarray(0, 3 * lines));
      },
      shared,
    );
  });
  server.listen(port, host, () => {
    process.stdout.write(`listening on port ${String((server.address() as { port: number }).port)}\n`);
  });
}

serve(Number(process.argv[2] ?? 0), process.argv[3] ?? '127.0.0.1');
