import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { runCli } from './processes.js';

let server: ServerProcess;
before(async () => {
  server = await spawnServer();
});
after(async () => {
  await server.stop();
});

const at = (): string[] => ['--host', '127.0.0.1', '--port', String(server.port)];

test('one-shot commands: exit 0 on OK, 1 on FAIL, 2 on ERROR, reply on stdout', async () => {
  assert.deepEqual(await runCli(['client', ...at(), 'index', 'glib']), {
    code: 0,
    stdout: 'OK\n',
    stderr: '',
  });
  assert.deepEqual(await runCli(['client', ...at(), 'index', 'gtk+3', 'glib', 'cairo']), {
    code: 1,
    stdout: 'FAIL\n',
    stderr: '',
  });
  assert.equal((await runCli(['client', ...at(), 'index', 'cairo'])).code, 0);
  assert.equal((await runCli(['client', ...at(), 'index', 'gtk+3', 'glib,cairo'])).code, 0);
  assert.equal((await runCli(['client', ...at(), 'query', 'gtk+3'])).code, 0);
  assert.equal((await runCli(['client', ...at(), 'remove', 'glib'])).code, 1);
  assert.equal((await runCli(['client', ...at(), 'remove', 'gtk+3'])).code, 0);
  assert.equal((await runCli(['client', ...at(), 'query', 'gtk+3'])).code, 1);
  assert.equal((await runCli(['client', ...at(), 'remove', 'never-was'])).code, 0);

  // Well-formed, but longer than the server's 64 KiB line limit: the server's own ERROR.
  const deps = Array.from({ length: 3000 }, (_, i) => `a-rather-long-dependency-${i}`);
  const long = await runCli(['client', ...at(), 'index', 'big', ...deps]);
  assert.equal(long.code, 2);
  assert.equal(long.stdout, 'ERROR\n');
  assert.match(long.stderr, /server answered ERROR to a well-formed line.*--max-line-bytes/);

  const bad = await runCli(['client', ...at(), 'index', 'no spaces allowed']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, 'ERROR\n');
  assert.match(bad.stderr, /letters, digits/);
});

test('usage mistakes and an unreachable server exit 2 with the reason on stderr', async () => {
  const usage = await runCli(['client', ...at(), 'frobnicate', 'x']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /is not a command.*\[E_USAGE\]/);
  const flag = await runCli(['client', '--bogus']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--bogus/);
  // What is missing, and the usage of that command; not "is not a command".
  assert.deepEqual(await runCli(['client', ...at(), 'query']), {
    code: 2,
    stdout: '',
    stderr: 'pkgindex: query needs NAME; usage: pkgindex client [options] query NAME [E_USAGE]\n',
  });
  const tooMany = await runCli(['client', ...at(), 'remove', 'a', 'b']);
  assert.equal(tooMany.code, 2);
  assert.match(
    tooMany.stderr,
    /remove takes one NAME, got 2: a b; usage: pkgindex client \[options\] remove NAME/,
  );
  // A package whose name starts with - goes after --.
  assert.equal((await runCli(['client', ...at(), 'query', '--', '-dash'])).stdout, 'FAIL\n');

  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const down = await runCli(['client', '--host', '127.0.0.1', '--port', String(closedPort), 'query', 'x']);
  assert.equal(down.code, 2);
  assert.equal(down.stdout, '');
  assert.match(down.stderr, /cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\).*\[E_CONNECT\]/);

  // The port may also come from the environment, as for `pkgindex serve`; the address from
  // PKGINDEX_SERVER_HOST, not from serve's bind address PKGINDEX_HOST.
  const viaEnv = await runCli(['client', 'query', 'x'], {
    env: { ...process.env, PKGINDEX_PORT: String(closedPort), PKGINDEX_HOST: '0.0.0.0' },
  });
  assert.match(viaEnv.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${closedPort}`));
  const hostEnv = await runCli(['client', 'query', 'x'], {
    env: { ...process.env, PKGINDEX_PORT: String(closedPort), PKGINDEX_SERVER_HOST: '127.0.0.2' },
  });
  assert.match(hostEnv.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.2:${closedPort}`));
});

test('the admin port is recognised by its HTTP answer, and the protocol port suggested', async () => {
  assert.ok(server.adminPort > 0);
  const admin = ['--host', '127.0.0.1', '--port', String(server.adminPort)];
  const oneShot = await runCli(['client', ...admin, 'query', 'x']);
  assert.equal(oneShot.code, 2);
  assert.equal(oneShot.stdout, '');
  assert.match(
    oneShot.stderr,
    /^pkgindex: 127\.0\.0\.1:\d+ answered in HTTP, not the pkgindex protocol: it is probably the admin port .*protocol port \(its --port\) instead \[E_BAD_REPLY\]\n$/,
  );
  // At the prompt: said the same way (not as a lost reply), and the prompt goes on.
  const prompt = await runCli(['client', ...admin, '-i'], { input: 'query x\nquit\n' });
  assert.equal(prompt.code, 2);
  assert.match(prompt.stderr, /answered in HTTP.*\[E_BAD_REPLY\]/);
  assert.doesNotMatch(prompt.stderr, /E_REPLY_LOST/);
});

test('raw protocol lines from a pipe: one reply each, in order; exit status is the worst', async () => {
  const ok = await runCli(['client', ...at()], { input: 'INDEX|p1|\nINDEX|p2|p1\nQUERY|p2|\n' });
  assert.deepEqual(ok, { code: 0, stdout: 'OK\nOK\nOK\n', stderr: '' });
  const fail = await runCli(['client', ...at()], { input: 'QUERY|p2|\nREMOVE|p1|\n' });
  assert.deepEqual(fail, { code: 1, stdout: 'OK\nFAIL\n', stderr: '' });
  const error = await runCli(['client', ...at()], { input: 'QUERY|p2|\nHELLO|p1|\nQUERY|nope|\n' });
  assert.deepEqual(error, { code: 2, stdout: 'OK\nERROR\nFAIL\n', stderr: '' });

  const many = Array.from({ length: 3000 }, (_, i) => `INDEX|bulk${i}|${i > 0 ? `bulk${i - 1}` : ''}\n`).join(
    '',
  );
  const bulk = await runCli(['client', ...at()], { input: many });
  assert.equal(bulk.code, 0);
  assert.equal(bulk.stdout, 'OK\n'.repeat(3000));
});

test('interactive mode (forced with -i on a pipe): words or raw lines, replies with reasons', async () => {
  const session = await runCli(['client', ...at(), '-i'], {
    input:
      'help\nindex i1\nindex i2 i1 missing\nquery i2\nremove i1\nINDEX|i3|i1\nbad input\nquery\nquit\nquery i1\n',
  });
  assert.equal(session.code, 0);
  const replies = session.stdout
    .split('pkgindex> ')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  assert.match(replies[0]!, /^Commands:/);
  assert.deepEqual(replies.slice(1), [
    'OK',
    'FAIL (a dependency is not indexed, or the new dependencies would make a cycle)',
    'FAIL (not indexed)',
    'OK',
    'FAIL (a dependency is not indexed, or the new dependencies would make a cycle)',
    `not a command: bad input\n${replies[0]!}`,
    'query needs NAME; usage: query NAME',
  ]);
});
