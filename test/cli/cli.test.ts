import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { CLI } from '../support/servers.js';

function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('`pkgindex` with no command prints usage', () => {
  const r = run([]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: pkgindex <command>/);
  assert.match(r.stdout, /serve/);
});

test('`pkgindex serve --help` lists every option with its variable', () => {
  const r = run(['serve', '--help']);
  assert.equal(r.code, 0);
  for (const s of ['--port', 'PKGINDEX_PORT', '--max-line-bytes', '--idle-timeout-ms', '--max-connections'])
    assert.ok(r.stdout.includes(s), s);
});

test('an unknown command exits 2 with usage', () => {
  const r = run(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});

test('bad configuration exits 2 naming the flag or variable and what is allowed', () => {
  let r = run(['serve', '--port', '99999']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--port must be a whole number from 0 to 65535, got "99999" \[E_CONFIG\]/);
  r = run(['serve'], { PKGINDEX_MAX_CONNECTIONS: 'lots' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /environment variable PKGINDEX_MAX_CONNECTIONS must be a whole number/);
  r = run(['serve', '--no-such-flag']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option --no-such-flag/);
});

test('a port in use is a clear startup error', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  const r = run(['serve', '--host', '127.0.0.1', '--port', String(port)]);
  blocker.close();
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+.*another process holds this port/);
});
