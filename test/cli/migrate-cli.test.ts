import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { runCli } from './processes.js';

/** The environment without any database setting, so that only the test's own count. */
function envWithout(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PKGINDEX_DATABASE_URL;
  delete env.PKGINDEX_DATABASE_PASSWORD_FILE;
  return env;
}

test('pkgindex migrate without a database says which variable to set, exit 2', async () => {
  const r = await runCli(['migrate'], { env: envWithout() });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /pkgindex migrate needs the database: set PKGINDEX_DATABASE_URL.*E_DATABASE_CONFIG/s,
  );
  assert.equal(r.stdout, '');
});

test('pkgindex migrate that cannot connect names the database (password redacted), exit 2', async (t) => {
  // A port that was just free: nothing answers there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) =>
    probe.close(() => {
      resolve();
    }),
  );
  t.diagnostic(`dialling 127.0.0.1:${port}`);
  const r = await runCli(['migrate'], {
    env: { ...envWithout(), PKGINDEX_DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${port}/pkgindex` },
  });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    new RegExp(`cannot connect to postgres://app:\\S*@127\\.0\\.0\\.1:${port}/pkgindex: .*ECONNREFUSED`),
  );
  assert.match(r.stderr, /E_DATABASE_UNAVAILABLE/);
  assert.doesNotMatch(r.stderr, /hunter2/, 'the password is never printed');
});
