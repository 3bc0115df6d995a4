/**
 * The admin port cannot be used against the server (issue 12): debug endpoints off without a
 * token, no open admin port beyond loopback, slow or piled-up connections bounded, /readyz
 * details behind the token, weak tokens refused. Heap snapshots, one at a time and only when
 * memory allows: heap-snapshot.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { adminTokenFromEnv, estimateTokenBits, MIN_TOKEN_BITS } from '../../src/admin/auth.js';
import { isPkgIndexError } from '../../src/errors.js';
import { createPkgIndex } from '../../src/index.js';
import { get, openClient, spawnServe, startInProcess } from './harness.js';

const TOKEN = 'correct-horse-battery-staple-42';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function errorCode(text: string): string {
  return (JSON.parse(text) as { error: string }).error;
}

describe('debug endpoints are off unless a token is set or --admin-debug=on', () => {
  test('no token: 403 E_ADMIN_DEBUG_OFF saying how to turn them on', async () => {
    const s = await startInProcess();
    try {
      for (const path of ['/debug/heap-snapshot', '/debug/cpu-profile?seconds=1']) {
        const r = await get(s.adminPort, path);
        assert.equal(r.status, 403, path);
        assert.equal(errorCode(r.text), 'E_ADMIN_DEBUG_OFF');
        assert.match(r.text, /PKGINDEX_ADMIN_TOKEN.*--admin-debug=on/);
      }
      assert.equal(s.events.filter((e) => e.msg.endsWith('started')).length, 0);
    } finally {
      await s.close();
    }
  });
});

describe('no open admin port beyond loopback', () => {
  test('a non-loopback admin host without a token refuses to start: exit 2, E_ADMIN_UNPROTECTED', async () => {
    const child = spawnServe([
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--admin-host',
      '0.0.0.0',
      '--admin-port',
      '0',
    ]);
    assert.equal(await child.exited, 2);
    assert.match(child.stderr(), /\[E_ADMIN_UNPROTECTED\]/);
    assert.match(child.stderr(), /--admin-host 0\.0\.0\.0 .*PKGINDEX_ADMIN_TOKEN/);
    assert.equal(
      child.events.some((e) => e.msg === 'admin listening'),
      false,
    );
  });

  test('the library refuses the same configuration; loopback, --admin=false or a token are accepted', () => {
    assert.throws(
      () => createPkgIndex({ admin: true, adminHost: '::' }),
      (err: unknown) => isPkgIndexError(err, 'E_ADMIN_UNPROTECTED'),
    );
    for (const [config, adminToken] of [
      [{ adminHost: '127.0.0.1' }, null],
      [{ adminHost: 'localhost' }, null],
      [{ adminHost: '0.0.0.0', admin: false }, null],
      [{ adminHost: '0.0.0.0' }, TOKEN],
    ] as const)
      void createPkgIndex({ storage: 'memory', ...config }, { adminToken }).close();
  });
});

describe('slow and piled-up admin connections', () => {
  test(
    'headers sent one line at a time are cut off after the request timeout',
    { timeout: 8000 },
    async () => {
      // Before: node:http checked timeouts every 30 s, and a client that never closed kept the
      // descriptor after the 408 for as long as it kept sending.
      const s = await startInProcess({ config: { adminRequestTimeoutMs: 500 } });
      try {
        const socket = connect({ host: '127.0.0.1', port: s.adminPort, allowHalfOpen: true });
        await once(socket, 'connect');
        let received = '';
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
        });
        socket.on('error', () => undefined);
        const closed = new Promise<void>((resolve) =>
          socket.once('close', () => {
            resolve();
          }),
        );
        socket.write('GET /healthz HTTP/1.1\r\n');
        const drip = setInterval(() => {
          if (!socket.destroyed) socket.write('x-slow: 1\r\n');
        }, 100);
        await closed;
        clearInterval(drip);
        assert.match(received, /^HTTP\/1\.1 408 /);
        assert.match(received, /E_ADMIN_REQUEST_TIMEOUT/);
      } finally {
        await s.close();
      }
    },
  );

  test('connections over --admin-max-connections are closed at once, logged once per interval', async () => {
    const s = await startInProcess({ config: { adminMaxConnections: 3 } });
    try {
      const held = await Promise.all([1, 2, 3].map(() => openClient(s.adminPort)));
      // Wait until the server has accepted all three (a health request on each is answered).
      for (const socket of held) {
        const answered = new Promise<void>((resolve) =>
          socket.once('data', () => {
            resolve();
          }),
        );
        socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
        await answered;
      }
      for (let i = 0; i < 2; i++) {
        const extra = await openClient(s.adminPort);
        extra.on('error', () => undefined);
        await new Promise<void>((resolve) =>
          extra.once('close', () => {
            resolve();
          }),
        );
      }
      const refused = s.events.filter((e) => e.msg.startsWith('admin connections refused'));
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.max, 3);
      held[0]!.destroy();
      // Retried until the server has seen that close (a refused connection rejects the fetch).
      let r: { status: number } | null = null;
      while (r === null) r = await get(s.adminPort, '/healthz').catch(() => null);
      assert.equal(r.status, 200);
      for (const socket of held) socket.destroy();
    } finally {
      await s.close();
    }
  });
});

describe('/readyz details behind the token', () => {
  test('without the token only the status; with it the checks', async () => {
    const s = await startInProcess({ token: TOKEN });
    try {
      const open = await get(s.adminPort, '/readyz');
      assert.equal(open.status, 200);
      assert.deepEqual(JSON.parse(open.text), { status: 'ready' });
      const wrong = await get(s.adminPort, '/readyz', { authorization: `Bearer ${TOKEN}x` });
      assert.deepEqual(JSON.parse(wrong.text), { status: 'ready' });
      const full = JSON.parse((await get(s.adminPort, '/readyz', AUTH)).text) as Record<string, unknown>;
      assert.equal(full.status, 'ready');
      assert.deepEqual(full.checks, { recovered: true, writable: true, listening: true, draining: false });
    } finally {
      await s.close();
    }
  });
});

describe('admin tokens', () => {
  test('too little entropy is refused: 16 × a, a short alphabet, a word and digits', () => {
    for (const weak of ['a'.repeat(16), 'abababababababababab', 'password12345678', 'a'.repeat(64)])
      assert.throws(
        () => adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN: weak }),
        (err: unknown) =>
          isPkgIndexError(err, 'E_CONFIG') && /too easy to guess: about \d+ bits/.test(err.message),
        weak,
      );
  });

  test('random tokens pass: openssl rand -hex 32 scores about 250 bits', () => {
    const hex = 'b2a2d7c4af8e7438d52b7c82529f280b715c8970594bb1d47284ade516b8fcd7';
    assert.ok(estimateTokenBits(hex) > 200);
    assert.equal(estimateTokenBits('a'.repeat(16)), 0);
    assert.equal(estimateTokenBits('0123456789abcdef'), MIN_TOKEN_BITS);
    assert.equal(adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN: hex }), hex);
  });

  test('PKGINDEX_ADMIN_TOKEN_FILE: read from a secret file, newline dropped; not with the variable too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkgindex-token-'));
    try {
      const file = join(dir, 'token');
      writeFileSync(file, `${TOKEN}\n`);
      assert.equal(adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN_FILE: file }), TOKEN);
      assert.throws(
        () => adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN_FILE: file, PKGINDEX_ADMIN_TOKEN: TOKEN }),
        /not both/,
      );
      assert.throws(
        () => adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN_FILE: join(dir, 'missing') }),
        (err: unknown) => isPkgIndexError(err, 'E_CONFIG') && /cannot read/.test(err.message),
      );
      writeFileSync(file, 'a'.repeat(20));
      assert.throws(() => adminTokenFromEnv({ PKGINDEX_ADMIN_TOKEN_FILE: file }), /too easy to guess/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
