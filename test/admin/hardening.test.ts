/**
 * The admin port cannot be used against the server (issue 12): debug endpoints off without a
 * token, one heap snapshot at a time and only when memory allows, no open admin port beyond
 * loopback, slow or piled-up connections bounded, /readyz details behind the token, weak tokens
 * refused.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { adminTokenFromEnv, estimateTokenBits, MIN_TOKEN_BITS } from '../../src/admin/auth.js';
import { checkSnapshotBudget, type MemoryProbe } from '../../src/admin/snapshot-budget.js';
import { isPkgIndexError } from '../../src/errors.js';
import { createPkgIndex } from '../../src/index.js';
import { get, openClient, spawnServe, startInProcess, until } from './harness.js';

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

  test('with a token they are served, to requests carrying it; --admin-debug=off turns them off', async () => {
    const on = await startInProcess({ token: TOKEN });
    try {
      assert.equal((await get(on.adminPort, '/debug/cpu-profile?seconds=1')).status, 401);
      assert.equal((await get(on.adminPort, '/debug/cpu-profile?seconds=1', AUTH)).status, 200);
    } finally {
      await on.close();
    }
    const off = await startInProcess({ token: TOKEN, config: { adminDebug: 'off' } });
    try {
      const r = await get(off.adminPort, '/debug/cpu-profile?seconds=1', AUTH);
      assert.equal(r.status, 403);
      assert.equal(errorCode(r.text), 'E_ADMIN_DEBUG_OFF');
    } finally {
      await off.close();
    }
  });
});

/** A GET whose response body is not read until `drain()` is called. */
function unreadGet(
  port: number,
  path: string,
): Promise<{ response: IncomingMessage; drain: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: AUTH }, (response) => {
      response.pause();
      resolve({
        response,
        drain: () =>
          new Promise((done, failed) => {
            const chunks: Buffer[] = [];
            response.on('data', (c: Buffer) => chunks.push(c));
            response.once('end', () => {
              done(Buffer.concat(chunks).toString('utf8'));
            });
            response.once('error', failed);
            response.resume();
          }),
      });
    });
    req.once('error', reject);
    req.end();
  });
}

function snapshotFiles(): string[] {
  return readdirSync(tmpdir()).filter((f) => f.startsWith(`pkgindex-${process.pid}-`));
}

describe('heap snapshots', () => {
  test('one at a time until its file is sent: 409 meanwhile, 200 after; no file left behind', async () => {
    const s = await startInProcess({ token: TOKEN });
    try {
      const first = await unreadGet(s.adminPort, '/debug/heap-snapshot');
      assert.equal(first.response.statusCode, 200);
      // The old code released the profiler once the snapshot was taken, before sending it.
      const second = await get(s.adminPort, '/debug/heap-snapshot', AUTH);
      assert.equal(second.status, 409);
      assert.equal(errorCode(second.text), 'E_PROFILER_BUSY');
      assert.equal((await get(s.adminPort, '/debug/cpu-profile?seconds=1', AUTH)).status, 409);
      assert.deepEqual(snapshotFiles(), [], 'the file is unlinked as soon as it is open');
      const snapshot = JSON.parse(await first.drain()) as { snapshot: { node_count: number } };
      assert.ok(snapshot.snapshot.node_count > 0);
      await until(() => s.events.filter((e) => e.msg === 'heap snapshot taken').length === 1);
      // Released once sent (the stream's close comes just after the response's end).
      let third = await get(s.adminPort, '/debug/heap-snapshot', AUTH);
      while (third.status === 409) third = await get(s.adminPort, '/debug/heap-snapshot', AUTH);
      assert.equal(third.status, 200);
    } finally {
      await s.close();
    }
  });

  test('refused with 503 and a clear message over --admin-heap-snapshot-max-heap-bytes', async () => {
    const s = await startInProcess({ token: TOKEN, config: { adminHeapSnapshotMaxHeapBytes: 1_000_000 } });
    try {
      const r = await get(s.adminPort, '/debug/heap-snapshot', AUTH);
      assert.equal(r.status, 503);
      assert.equal(errorCode(r.text), 'E_ADMIN_HEAP_TOO_LARGE');
      assert.match(r.text, /heap in use \(\d+ MB\) is over --admin-heap-snapshot-max-heap-bytes \(1 MB\)/);
      assert.equal(s.events.filter((e) => e.msg === 'heap snapshot started').length, 0);
    } finally {
      await s.close();
    }
  });

  test('the budget: refused when 10 × the heap is more than the memory left, or 2 × more than the disk', async () => {
    const probe = (heap: number, memory: number, disk: number): MemoryProbe => ({
      heapUsed: () => heap,
      availableMemory: () => memory,
      diskFree: () => Promise.resolve(disk),
    });
    const MB = 1e6;
    await checkSnapshotBudget(probe(100 * MB, 1001 * MB, 201 * MB), '/tmp', 0);
    await assert.rejects(
      checkSnapshotBudget(probe(200 * MB, 1500 * MB, 10_000 * MB), '/tmp', 0),
      (err: unknown) =>
        isPkgIndexError(err, 'E_ADMIN_HEAP_TOO_LARGE') &&
        /heap in use \(200 MB\) needs about 2000 MB to snapshot, and 1500 MB of memory is left/.test(
          err.message,
        ),
    );
    await assert.rejects(
      checkSnapshotBudget(probe(100 * MB, 10_000 * MB, 150 * MB), '/tmp', 0),
      (err: unknown) =>
        isPkgIndexError(err, 'E_ADMIN_HEAP_TOO_LARGE') && /150 MB is free there/.test(err.message),
    );
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
