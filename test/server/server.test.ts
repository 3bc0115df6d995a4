import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, startServer } from '../support/servers.js';
import { until } from '../support/until.js';
import { chainLines } from '../support/chains.js';

// Every test runs with both ways of reading sockets (see src/server/shared-reads.ts), on one
// thread and on several (ADR 0010), and on the native I/O threads (ADR 0019), which read
// their own way.
for (const { threads, io, label } of SERVINGS)
  for (const sharedReadBuffer of io === 'native' ? [true] : [true, false])
    describe(`${sharedReadBuffer ? 'reads into the shared buffer' : "reads with Node's buffer per read"}, ${label}`, () => {
      test('answers pipelined lines in order, many lines in one write', async () => {
        const { port, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        const lines = [
          'INDEX|a|',
          'INDEX|b|a',
          'QUERY|b|',
          'REMOVE|a|',
          'bad',
          'REMOVE|b|',
          'REMOVE|a|',
          'QUERY|a|',
          'QUERY|b|',
        ];
        assert.deepEqual(await c.request(...lines), [
          'OK',
          'OK',
          'OK',
          'FAIL',
          'ERROR',
          'OK',
          'OK',
          'FAIL',
          'FAIL',
        ]);
        c.close();
        await close();
      });

      test('a line split across many TCP writes is one command', async () => {
        const { port, stats, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        let sent = 0;
        for (const byte of Buffer.from('INDEX|gtk+3|\nQUERY|gtk+3|\n')) {
          c.write(Buffer.from([byte]));
          sent++;
          await until('the byte read', async () => (await stats()).bytesIn >= sent); // one read per byte
        }
        assert.deepEqual(await c.read(2), ['OK', 'OK']);
        c.close();
        await close();
      });

      test('\\r\\n line endings are accepted', async () => {
        const { port, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        c.write('INDEX|a|\r\nQUERY|a|\r\nQUERY|a|\r\r\n');
        assert.deepEqual(await c.read(3), ['OK', 'OK', 'ERROR']);
        c.close();
        await close();
      });

      test('an over-long line gets one ERROR and the connection keeps serving', async () => {
        const { port, close } = await startServer({ threads, io, sharedReadBuffer, maxLineBytes: 1024 });
        const c = await LineClient.open(port);
        c.write(`INDEX|a|${'b,'.repeat(5000)}b\nINDEX|ok|\nQUERY|ok|\n`);
        assert.deepEqual(await c.read(3), ['ERROR', 'OK', 'OK']);
        // The same, with the long line arriving in pieces.
        for (let i = 0; i < 20; i++) c.write('x'.repeat(200));
        c.write('\nQUERY|ok|\n');
        assert.deepEqual(await c.read(2), ['ERROR', 'OK']);
        c.close();
        await close();
      });

      test('a connection closed in the middle of a line executes nothing of it', async () => {
        const { port, stats, close } = await startServer({ threads, io, sharedReadBuffer });
        const a = await LineClient.open(port);
        a.write('INDEX|half|');
        await until('the partial line read', async () => (await stats()).bytesIn >= 'INDEX|half|'.length);
        a.socket.end();
        await a.closedByServer();
        const b = await LineClient.open(port);
        assert.deepEqual(await b.request('QUERY|half|'), ['FAIL']);
        b.close();
        await close();
      });

      test('a client that half-closes still receives all its replies', async () => {
        const { port, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        c.socket.end('INDEX|a|\nQUERY|a|\n');
        assert.deepEqual(await c.read(2), ['OK', 'OK']);
        await c.closedByServer();
        await close();
      });

      test('a cycle check run over several turns is counted as suspended, whichever thread read it', async () => {
        const { port, stats, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        // Two chains of 20,000: making a0 depend on the end of the other is a check of about
        // 400,000 units, past the 20,000 a line may run inline.
        const lines = [...chainLines('a', 20_000), ...chainLines('b', 20_000)];
        assert.ok((await c.request(...lines)).every((reply) => reply === 'OK'));
        assert.equal((await stats()).commandsSuspended, 0);
        assert.deepEqual(await c.request('INDEX|a0|b19999', 'QUERY|a0|'), ['OK', 'OK']);
        assert.equal((await stats()).commandsSuspended, 1);
        c.close();
        await close();
      });

      test('beyond --max-connections new connections are closed, existing ones keep working', async () => {
        const { port, stats, close } = await startServer({
          threads,
          io,
          sharedReadBuffer,
          maxConnections: 2,
        });
        const a = await LineClient.open(port);
        const b = await LineClient.open(port);
        assert.deepEqual(await a.request('INDEX|a|'), ['OK']);
        // Both answered, so both hold their slots: with two threads, a connection made after
        // them can otherwise be accepted by one thread before the other accepts b.
        assert.deepEqual(await b.request('QUERY|a|'), ['OK']);
        const refused = await LineClient.open(port);
        await refused.closedByServer();
        assert.equal((await stats()).connectionsRefused, 1);
        assert.deepEqual(await b.request('QUERY|a|'), ['OK']);
        a.close();
        // Once a slot frees up, a new connection is served.
        await until('the freed slot', async () => (await stats()).connectionsOpen <= 1);
        const c = await LineClient.open(port);
        assert.deepEqual(await c.request('QUERY|a|'), ['OK']);
        b.close();
        c.close();
        await close();
      });

      test('an idle connection is closed after the idle timeout; an active one is not', async () => {
        const { port, stats, close } = await startServer({
          threads,
          io,
          sharedReadBuffer,
          idleTimeoutMs: 300,
        });
        const idle = await LineClient.open(port);
        const active = await LineClient.open(port);
        for (let i = 0; i < 6; i++) {
          assert.deepEqual(await active.request('QUERY|a|'), ['FAIL']);
          await sleep(100);
        }
        await idle.closedByServer(2000);
        assert.equal(active.ended, false);
        assert.equal((await stats()).connectionsIdleClosed, 1);
        active.close();
        await close();
      });

      test('graceful close answers what was sent, then closes clients and stops accepting', async () => {
        const { port, server, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        c.write('INDEX|a|\nQUERY|a|\n');
        assert.deepEqual(await c.read(2), ['OK', 'OK']);
        const closing = close();
        assert.equal(server.draining, true);
        await c.closedByServer();
        await closing;
        // Not a connect attempt: on a busy machine another test's server may get the port at once.
        assert.equal(server.listening, false);
      });

      test('counts commands by verb and reply, and bytes both ways', async () => {
        const { port, stats, close } = await startServer({ threads, io, sharedReadBuffer });
        const c = await LineClient.open(port);
        await c.request('INDEX|a|', 'INDEX|b|a', 'INDEX|c|x', 'QUERY|a|', 'nonsense');
        const s = await stats();
        assert.equal(s.count('INDEX', 0), 2);
        assert.equal(s.count('INDEX', 1), 1);
        assert.equal(s.count('QUERY', 0), 1);
        assert.equal(s.count('INVALID', 2), 1);
        assert.equal(s.bytesOut, 'OK\nOK\nFAIL\nOK\nERROR\n'.length);
        assert.equal(s.bytesIn, 'INDEX|a|\nINDEX|b|a\nINDEX|c|x\nQUERY|a|\nnonsense\n'.length);
        c.close();
        await close();
      });

      test('backpressure: the server stops reading from a client that does not read its replies', async (t) => {
        const { port, stats, close } = await startServer({
          sharedReadBuffer,
          outputHighWaterBytes: 64 * 1024,
        });
        const socket = connect({ port, host: '127.0.0.1' });
        await once(socket, 'connect');
        socket.pause(); // never read
        socket.on('error', () => undefined);
        // Empty lines are the worst case: 1 byte in, `ERROR\n` (6 bytes) out. Keep the client's
        // own queue full; it only drains as fast as the server reads.
        const block = Buffer.alloc(256 * 1024, '\n');
        let writing = true;
        const pump = (): void => {
          while (writing && socket.write(block));
        };
        socket.on('drain', pump);
        pump();
        // The server reads until its replies back up, then reads again only as the kernel's socket
        // buffers between the two grow (bounded by net.ipv4.tcp_rmem/tcp_wmem). Wait until it stops:
        // the same count four times over 1.5 s (a 2 s wait per look cost 4 s of every serving).
        let last = -1;
        for (let same = 0, i = 0; same < 4 && i < 60; i++) {
          const now = (await stats()).bytesIn;
          same = now === last ? same + 1 : 1;
          last = now;
          if (same < 4) await sleep(500);
        }
        assert.equal(
          (await stats()).bytesIn,
          last,
          'the server must stop reading while its replies are not read',
        );
        // Without backpressure it would read all the client offers; with it, only as many lines as
        // their replies (6 bytes each) fit in the kernel's buffers, plus the 64 KiB high-water mark.
        const kernelMax = (file: string): number => Number(readFileSync(file, 'utf8').trim().split(/\s+/)[2]);
        const bound =
          (kernelMax('/proc/sys/net/ipv4/tcp_rmem') + kernelMax('/proc/sys/net/ipv4/tcp_wmem')) / 6 +
          1024 * 1024;
        assert.ok(
          last < bound,
          `server read ${last} bytes (bound ${bound}) from a client that reads nothing`,
        );
        const plateau = last;
        t.diagnostic(`server stopped reading after ${plateau} bytes`);

        // Other clients are served meanwhile.
        const other = await LineClient.open(port);
        assert.deepEqual(await other.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
        other.close();

        // Once the client reads, everything it sent is answered, in order.
        writing = false;
        let replies = 0;
        socket.on('data', (chunk: Buffer) => {
          for (const byte of chunk) if (byte === 0x0a) replies++;
        });
        socket.resume();
        // Every byte the server ever read was one line; each gets its reply (the client's kernel
        // buffer still held lines when it stopped writing, so the server reads past the plateau).
        const otherBytes = 'INDEX|a|\nQUERY|a|\n'.length;
        await until('every reply', async () => replies === (await stats()).bytesIn - otherBytes, 20_000);
        assert.equal(replies, (await stats()).bytesIn - otherBytes);
        assert.ok(replies >= plateau);
        socket.destroy();
        await close();
      });

      test('partial lines of two connections interleaved through the one read buffer stay apart', async () => {
        const { port, stats, close } = await startServer({ threads, io, sharedReadBuffer });
        const a = connect({ port, host: '127.0.0.1' });
        await once(a, 'connect');
        const b = await LineClient.open(port);
        a.write('INDEX|from-a');
        // a's partial line is read before b's line lands in the same buffer
        await until("a's partial line read", async () => (await stats()).bytesIn >= 'INDEX|from-a'.length);
        assert.deepEqual(await b.request('INDEX|from-b|'), ['OK']);
        a.write('|\n');
        const [reply] = (await once(a, 'data')) as [Buffer];
        assert.equal(reply.toString(), 'OK\n');
        assert.deepEqual(await b.request('QUERY|from-a|', 'QUERY|from-b|', 'QUERY|from-b|from-a|'), [
          'OK',
          'OK',
          'ERROR',
        ]);
        // The mode under test is the one in effect (no silent fallback on this Node); the native
        // I/O threads read into buffers of their own.
        assert.equal((await stats()).connectionsSharedReads, sharedReadBuffer && io === 'node' ? 2 : 0);
        a.destroy();
        b.close();
        await close();
      });
    });
