/**
 * TLS on the protocol port (issue 12): the same line protocol inside, mutual TLS refusing
 * clients without a certificate, and a SIGHUP reload served to new connections while an open
 * one keeps working. Against a CA made for the run (test/support/test-ca.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { PkgIndexClient } from '../../src/client/client.js';
import { isPkgIndexError } from '../../src/errors.js';
import { Reply } from '../../src/protocol/reply.js';
import { memoryLogger, spawnServe } from '../admin/harness.js';
import { runCli } from '../cli/processes.js';
import { startServer } from '../support/servers.js';
import { createTestCa, type KeyPair, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
let server: KeyPair;
let client: KeyPair;
before(() => {
  ca = createTestCa();
  server = ca.issue('server');
  client = ca.issue('client', { server: false });
});
after(() => {
  ca.remove();
});

describe('TLS on the protocol port', () => {
  test('the line protocol inside TLS; a client without the CA or without TLS gets nothing served', async () => {
    const { log, events } = memoryLogger();
    const s = await startServer({ tlsCert: server.cert, tlsKey: server.key }, { log });
    try {
      assert.equal(events.find((e) => e.msg === 'listening')?.tls, true);
      const c = await PkgIndexClient.connect({
        host: '127.0.0.1',
        port: s.port,
        tls: { ca: ca.read(ca.caFile) },
      });
      assert.equal(await c.sendLine('INDEX|a|'), Reply.OK);
      assert.equal(await c.sendLine('INDEX|b|a'), Reply.OK);
      assert.equal(await c.sendLine('QUERY|b|'), Reply.OK);
      assert.equal(await c.sendLine('REMOVE|a|'), Reply.FAIL);
      await c.close();

      // Lines then the client's close: every reply still comes (half-close, as over TCP).
      const halfClosed = tlsConnect({ host: '127.0.0.1', port: s.port, ca: ca.read(ca.caFile) });
      await once(halfClosed, 'secureConnect');
      let replies = '';
      halfClosed.on('data', (chunk: Buffer) => (replies += chunk.toString('latin1')));
      halfClosed.end('INDEX|x|\nQUERY|x|\n');
      await once(halfClosed, 'close');
      assert.equal(replies, 'OK\nOK\n');

      // The system's CAs do not know this one: refused before anything is sent, saying why.
      await assert.rejects(
        PkgIndexClient.connect({ host: '127.0.0.1', port: s.port, tls: {} }),
        (err: unknown) => isPkgIndexError(err, 'E_CONNECT') && /--ca/.test(err.message),
      );

      // Plain text to a TLS port is never read as protocol lines.
      const plain = netConnect({ host: '127.0.0.1', port: s.port });
      let answered = '';
      plain.on('data', (chunk: Buffer) => (answered += chunk.toString('latin1')));
      plain.on('error', () => undefined);
      plain.write('QUERY|b|\n');
      await once(plain, 'close');
      assert.doesNotMatch(answered, /OK|FAIL|ERROR/);
      assert.equal(s.server.stats.connectionsTotal, 2, 'only the TLS clients reached the protocol');
    } finally {
      await s.close();
    }
  });

  test('mutual TLS: a client without a certificate is refused in the handshake, one with it is served', async () => {
    const { log, events } = memoryLogger();
    const s = await startServer({ tlsCert: server.cert, tlsKey: server.key, tlsCa: ca.caFile }, { log });
    try {
      const caPem = ca.read(ca.caFile);
      // TLS 1.3 finishes the client's side of the handshake before the server has checked it:
      // the refusal arrives as an alert, failing the first reply (or the connect itself).
      const refused = await PkgIndexClient.connect({ host: '127.0.0.1', port: s.port, tls: { ca: caPem } })
        .then((c) => c.sendLine('QUERY|a|'))
        .then(
          (reply) => reply,
          (err: unknown) => err,
        );
      assert.ok(
        isPkgIndexError(refused, 'E_CONNECTION_CLOSED') || isPkgIndexError(refused, 'E_CONNECT'),
        String(refused),
      );
      const warned = events.find((e) => e.msg.startsWith('TLS handshakes failed'));
      assert.ok(warned, 'the refusal is logged');
      assert.match(String(warned.reason), /certificate/i);

      const c = await PkgIndexClient.connect({
        host: '127.0.0.1',
        port: s.port,
        tls: { ca: caPem, cert: ca.read(client.cert), key: ca.read(client.key) },
      });
      assert.equal(await c.sendLine('INDEX|a|'), Reply.OK);
      await c.close();
      assert.equal(s.server.stats.connectionsTotal, 1);
    } finally {
      await s.close();
    }
  });

  test('half a configuration or an unusable key is refused at construction', async () => {
    const other = ca.issue('other');
    await assert.rejects(
      startServer({ tlsCert: server.cert }, { log: pino({ level: 'silent' }) }),
      (err: unknown) =>
        isPkgIndexError(err, 'E_CONFIG') && /--tls-cert and --tls-key go together/.test(err.message),
    );
    await assert.rejects(
      startServer({ tlsCert: server.cert, tlsKey: other.key }, { log: pino({ level: 'silent' }) }),
      (err: unknown) => isPkgIndexError(err, 'E_TLS') && err.message.includes(server.cert),
    );
  });
});

/** The serial number of the certificate a new TLS connection to `port` is served. */
async function servedSerial(port: number): Promise<string> {
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca: ca.read(ca.caFile) });
  await once(socket, 'secureConnect');
  const serial = socket.getPeerCertificate().serialNumber;
  socket.destroy();
  return serial;
}

test('SIGHUP reloads the certificate for new connections; an open connection keeps working', async () => {
  const renewed = ca.issue('renewed');
  const live = ca.issue('live');
  copyFileSync(server.cert, live.cert);
  copyFileSync(server.key, live.key);
  const child = spawnServe([
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--admin=false',
    '--tls-cert',
    live.cert,
    '--tls-key',
    live.key,
  ]);
  try {
    const port = (await child.waitFor((e) => e.msg === 'listening')).port as number;
    const before = await servedSerial(port);
    const old = await PkgIndexClient.connect({ host: '127.0.0.1', port, tls: { ca: ca.read(ca.caFile) } });
    assert.equal(await old.sendLine('INDEX|a|'), Reply.OK);

    copyFileSync(renewed.cert, live.cert);
    copyFileSync(renewed.key, live.key);
    child.process.kill('SIGHUP');
    await child.waitFor((e) => e.msg === 'TLS certificate reloaded');

    const afterReload = await servedSerial(port);
    assert.notEqual(afterReload, before);
    assert.equal(afterReload, await servedSerial(port));
    assert.equal(await old.sendLine('QUERY|a|'), Reply.OK, 'the open connection was not dropped');
    assert.equal(await old.sendLine('INDEX|b|a'), Reply.OK);

    // A broken file on reload: logged, and the last good certificate stays in service.
    copyFileSync(ca.caFile, live.key);
    child.process.kill('SIGHUP');
    await child.waitFor((e) => e.msg.startsWith('TLS reload failed'));
    assert.equal(await servedSerial(port), afterReload);
    await old.close();

    // The CLI speaks TLS with --ca.
    const run = await runCli(['client', '--port', String(port), '--ca', ca.caFile, 'query', 'b']);
    assert.equal(run.code, 0, run.stderr);
    const plain = await runCli(['client', '--port', String(port), '--timeout-ms', '2000', 'query', 'b']);
    assert.equal(plain.code, 2, 'without --tls the reply never comes');
  } finally {
    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  }
});

test('pkgindex client under mutual TLS: --cert and --key present the certificate; one without the other is refused', async () => {
  const s = await startServer(
    { tlsCert: server.cert, tlsKey: server.key, tlsCa: ca.caFile },
    { log: pino({ level: 'silent' }) },
  );
  try {
    const at = ['--port', String(s.port), '--ca', ca.caFile, '--timeout-ms', '5000'];
    const served = await runCli(['client', ...at, '--cert', client.cert, '--key', client.key, 'index', 'a']);
    assert.equal(served.code, 0, served.stderr);
    assert.match(served.stdout, /OK/);
    for (const half of [
      ['--cert', client.cert],
      ['--key', client.key],
    ]) {
      const r = await runCli(['client', ...at, ...half, 'query', 'a']);
      assert.equal(r.code, 2, half[0]);
      assert.match(
        r.stderr,
        /--cert and --key go together: pass the client certificate and its key.*E_CONFIG/s,
      );
    }
    assert.equal(s.server.stats.connectionsTotal, 1, 'the refused ones never dialled');
  } finally {
    await s.close();
  }
});
