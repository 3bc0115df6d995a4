/**
 * `pkgindex client` and `import` against a server that speaks TLS when they do not, and the
 * reverse: the mismatch is named at once (what to add or drop), never retried, and never
 * reported as a lost command; a --ca that is no certificate is a usage error naming the file.
 * Real servers in child processes, with a CA made for the run (test/support/test-ca.ts).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { createTestCa, type KeyPair, type TestCa } from '../support/test-ca.js';
import { runCli } from './processes.js';

describe('pkgindex client and TLS that does not match the server', () => {
  let ca: TestCa;
  let cert: KeyPair;
  let tlsServer: ServerProcess;
  let plainServer: ServerProcess;
  before(async () => {
    ca = createTestCa();
    cert = ca.issue('server');
    [tlsServer, plainServer] = await Promise.all([
      spawnServer({ args: ['--tls-cert', cert.cert, '--tls-key', cert.key] }),
      spawnServer(),
    ]);
  });
  after(async () => {
    await Promise.all([tlsServer.stop(), plainServer.stop()]);
    ca.remove();
  });

  test('plain text to a TLS server: "add --tls", at once, for a QUERY and for a piped INDEX', async () => {
    const query = await runCli(['client', '--port', String(tlsServer.port), 'query', 'a']);
    assert.equal(query.code, 2);
    assert.match(
      query.stderr,
      /speaks TLS and closed this plain connection: add --tls .*--ca.*\[E_TLS_MISMATCH\]/,
    );
    assert.doesNotMatch(query.stderr, /reconnecting|may or may not have been applied/);
    const piped = await runCli(['client', '--port', String(tlsServer.port)], { input: 'INDEX|a|\n' });
    assert.equal(piped.code, 2);
    assert.match(piped.stderr, /add --tls.*\[E_TLS_MISMATCH\]/);
    assert.doesNotMatch(piped.stderr, /reconnecting|may or may not have been applied/);
    const imported = await runCli([
      'import',
      '--no-progress',
      '--port',
      String(tlsServer.port),
      'bench/brew-dependencies.txt',
    ]);
    assert.equal(imported.code, 2);
    assert.match(imported.stderr, /add --tls.*\[E_TLS_MISMATCH\]/);
    assert.doesNotMatch(imported.stderr, /reconnecting/);
    // With --tls and the CA, the same server answers.
    const right = await runCli(['client', '--ca', ca.caFile, '--port', String(tlsServer.port), 'query', 'a']);
    assert.equal(right.code, 1, right.stderr);
    assert.equal(right.stdout, 'FAIL\n');
  });

  test('TLS to a plain server: "drop --tls", at once, not "is pkgindex serve running there?"', async () => {
    const started = Date.now();
    const result = await runCli([
      'client',
      '--tls',
      '--ca',
      ca.caFile,
      '--port',
      String(plainServer.port),
      'query',
      'a',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /does not speak TLS.*drop --tls.*\[E_TLS_MISMATCH\]/);
    assert.doesNotMatch(result.stderr, /reconnecting|is `pkgindex serve` running/);
    assert.ok(Date.now() - started < 2000, 'no backoff');
  });

  test('a --ca that is no certificate is refused at start, naming the file', async () => {
    const notPem = join(ca.dir, 'hostname');
    writeFileSync(notPem, 'buildhost\n');
    for (const [file, what] of [
      [notPem, 'holds no PEM certificate'],
      [cert.key, 'is a private key, not a certificate'],
    ] as const) {
      const result = await runCli(['client', '--ca', file, '--port', String(tlsServer.port), 'query', 'a']);
      assert.equal(result.code, 2);
      assert.ok(result.stderr.includes(`--ca ${file} ${what}`), result.stderr);
      assert.match(result.stderr, /\[E_CONFIG\]/);
      assert.doesNotMatch(result.stderr, /reconnecting/);
      const imported = await runCli([
        'import',
        '--ca',
        file,
        '--port',
        String(tlsServer.port),
        'bench/brew-dependencies.txt',
      ]);
      assert.equal(imported.code, 2);
      assert.ok(imported.stderr.includes(`--ca ${file} ${what}`), imported.stderr);
      assert.doesNotMatch(imported.stderr, /^reading/m, 'refused before reading the source');
    }
  });
});
