/**
 * A minimal server with pkgindex's semantics, built from the project's own framer, parser and
 * MemoryStore, for testing the benchmark's expectations without the real server. It answers
 * each chunk's lines with one write, and can be told to misbehave.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { LineFramer } from '../../src/protocol/framer.js';
import { parseLine } from '../../src/protocol/parse.js';
import { isProtocolError } from '../../src/protocol/command.js';
import { Reply, REPLY_BYTES } from '../../src/protocol/reply.js';
import { MemoryStore } from '../../src/store/memory-store.js';

export interface Misbehaviour {
  /** Answer the n-th line (1-based, counted over all connections) with these bytes instead. */
  readonly replaceReply?: { readonly at: number; readonly bytes: string };
  /** Close the connection, unanswered, on the n-th line. */
  readonly closeAt?: number;
}

export async function startReferenceServer(
  misbehave: Misbehaviour = {},
): Promise<{ server: Server; port: number }> {
  const store = new MemoryStore();
  await store.open();
  let seen = 0;
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    const framer = new LineFramer(4096);
    const out: Buffer[] = [];
    let closed = false;
    const sink = {
      line(buf: Buffer, start: number, end: number): void {
        if (closed) return;
        seen++;
        if (seen === misbehave.closeAt) {
          closed = true;
          return;
        }
        if (seen === misbehave.replaceReply?.at) {
          out.push(Buffer.from(misbehave.replaceReply.bytes));
          return;
        }
        const parsed = parseLine(buf, start, end);
        out.push(REPLY_BYTES[isProtocolError(parsed) ? Reply.ERROR : store.execute(parsed)]!);
      },
      overlong(): void {
        out.push(REPLY_BYTES[Reply.ERROR]!);
      },
    };
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk, sink);
      if (out.length > 0) socket.write(Buffer.concat(out.splice(0)));
      if (closed) socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}
