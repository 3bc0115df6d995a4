import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load-config.js';
import { spawnServe } from '../admin/harness.js';

describe('admin configuration', () => {
  test('defaults: admin on, loopback, port 9090', () => {
    const c = loadConfig([], {});
    assert.equal(c.admin, true);
    assert.equal(c.adminHost, '127.0.0.1');
    assert.equal(c.adminPort, 9090);
  });

  test('flags win over environment variables', () => {
    const env = { PKGINDEX_ADMIN: 'false', PKGINDEX_ADMIN_PORT: '9100', PKGINDEX_ADMIN_HOST: '::1' };
    assert.deepEqual(
      (({ admin, adminHost, adminPort }) => ({ admin, adminHost, adminPort }))(loadConfig([], env)),
      { admin: false, adminHost: '::1', adminPort: 9100 },
    );
    const c = loadConfig(['--admin', '--admin-port=0', '--admin-host', 'localhost'], env);
    assert.deepEqual([c.admin, c.adminHost, c.adminPort], [true, 'localhost', 0]);
    assert.equal(loadConfig(['--admin=false'], {}).admin, false);
  });

  test('invalid values name the flag or variable and the accepted range', () => {
    assert.throws(
      () => loadConfig(['--admin-port', '70000'], {}),
      /--admin-port must be a whole number from 0 to 65535/,
    );
    assert.throws(() => loadConfig([], { PKGINDEX_ADMIN: 'maybe' }), /PKGINDEX_ADMIN must be true or false/);
    assert.throws(() => loadConfig(['--admin-host', ' '], {}), { code: 'E_CONFIG' });
  });

  test('pkgindex serve exits 2 with an actionable message on bad admin settings', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--port', '7000', '--admin-port', '7000'], {}, /--admin-port and --port are both 7000/],
      [
        ['--port', '0'],
        { PKGINDEX_ADMIN_TOKEN: 'short' },
        /PKGINDEX_ADMIN_TOKEN must be at least 16 characters/,
      ],
    ];
    for (const [args, env, message] of cases) {
      const child = spawnServe(args, env);
      assert.equal(await child.exited, 2);
      assert.match(child.stderr(), message);
      assert.match(child.stderr(), /\[E_CONFIG\]/);
    }
  });

  test('--admin=false serves no admin port', async () => {
    const child = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin=false']);
    try {
      await child.waitFor((e) => e.msg === 'listening');
      assert.equal(
        child.events.some((e) => e.msg === 'admin listening'),
        false,
      );
    } finally {
      child.process.kill('SIGTERM');
      assert.equal(await child.exited, 0);
    }
  });

  test('a busy admin port fails startup naming the port and what to do', async () => {
    const first = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0']);
    try {
      const admin = await first.waitFor((e) => e.msg === 'admin listening');
      const second = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin-port', String(admin.port)]);
      assert.equal(await second.exited, 2);
      assert.match(
        second.stderr(),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${String(admin.port)} \\(admin HTTP\\)`),
      );
      assert.match(second.stderr(), /--admin-port/);
    } finally {
      first.process.kill('SIGTERM');
      await first.exited;
    }
  });
});

test('a failed start after the admin server is up still exits (protocol port busy)', async () => {
  const first = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin=false']);
  try {
    const listening = await first.waitFor((e) => e.msg === 'listening');
    const second = spawnServe(['--host', '127.0.0.1', '--port', String(listening.port), '--admin-port', '0']);
    await second.waitFor((e) => e.msg === 'admin listening');
    assert.equal(await second.exited, 2);
    assert.match(second.stderr(), /another process holds this port/);
  } finally {
    first.process.kill('SIGTERM');
    await first.exited;
  }
});

describe('database and tracing settings', () => {
  test('a database URL in a flag may not carry a password (ps shows flags); the variable may', () => {
    assert.throws(
      () => loadConfig(['--database-url', 'postgres://app:secret@db:5432/pkgindex'], {}),
      /--database-url holds a password, which `ps` would show: put the URL in PKGINDEX_DATABASE_URL/,
    );
    const url = 'postgresql://app:secret@db:5432/pkgindex';
    assert.equal(loadConfig([], { PKGINDEX_DATABASE_URL: url }).databaseUrl, url);
    assert.equal(
      loadConfig(['--database-url', 'postgres://app@db/pkgindex'], {}).databaseUrl,
      'postgres://app@db/pkgindex',
    );
  });

  test('a database URL must be a postgres:// URL, naming the flag or variable at fault', () => {
    assert.throws(
      () => loadConfig(['--database-url', 'db.example:5432'], {}),
      /--database-url must start with postgres:\/\/ or postgresql:\/\/, got db\.example:\/\//,
    );
    assert.throws(
      () => loadConfig([], { PKGINDEX_DATABASE_URL: 'not a url' }),
      (err: Error & { code?: string }) =>
        err.code === 'E_CONFIG' &&
        /PKGINDEX_DATABASE_URL must be a URL like postgres:\/\/user@host:5432\/database/.test(err.message),
    );
    assert.throws(() => loadConfig([], { PKGINDEX_DATABASE_URL: 'mysql://db/x' }), /got mysql:\/\//);
  });

  test('the trace sample ratio is a number from 0 to 1', () => {
    assert.equal(loadConfig([], {}).traceSampleRatio, 0.01);
    assert.equal(loadConfig(['--trace-sample-ratio', '1'], {}).traceSampleRatio, 1);
    assert.equal(loadConfig([], { PKGINDEX_TRACE_SAMPLE_RATIO: '0' }).traceSampleRatio, 0);
    for (const raw of ['1.5', '-0.1', 'half', ' ', 'Infinity'])
      assert.throws(
        () => loadConfig(['--trace-sample-ratio', raw], {}),
        new RegExp(`--trace-sample-ratio must be a number from 0 to 1, got "${raw.replace('.', '\\.')}"`),
        raw,
      );
  });

  test('--help is refused: loadConfig reads settings only', () => {
    assert.throws(() => loadConfig(['--help'], {}), /--help is not a setting/);
  });
});
