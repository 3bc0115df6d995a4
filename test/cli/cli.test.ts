import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { COMMANDS } from '../../src/cli/commands.js';
import { CLI } from '../support/servers.js';

function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, PKGINDEX_STORAGE: 'memory', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('`pkgindex` with no command, --help, -h or help lists every subcommand', () => {
  for (const args of [[], ['--help'], ['-h'], ['help']]) {
    const r = run(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Usage: pkgindex <command>/);
    for (const [name, { summary }] of Object.entries(COMMANDS))
      assert.ok(
        r.stdout
          .split('\n')
          .some((line) => line.trimStart().startsWith(`${name} `) && line.endsWith(summary)),
        `${name} in ${r.stdout}`,
      );
  }
});

test('every subcommand prints its generated help with -h and with --help, and `pkgindex help NAME`', () => {
  for (const name of Object.keys(COMMANDS)) {
    const long = run([name, '--help']);
    assert.equal(long.code, 0, `${name} --help: ${long.stderr}`);
    assert.match(long.stdout, new RegExp(`^Usage: pkgindex ${name} \\[options\\]`));
    assert.match(long.stdout, /\n {2}-h, --help\n/);
    assert.deepEqual(run([name, '-h']), long, `${name} -h`);
    assert.deepEqual(run(['help', name]), long, `help ${name}`);
  }
});

test('--version, -V and version print the version in package.json', () => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  for (const flag of ['--version', '-V', 'version'])
    assert.deepEqual(run([flag]), { code: 0, stdout: `${version}\n`, stderr: '' }, flag);
});

test('client, import and bench read the server from PKGINDEX_SERVER_HOST and PKGINDEX_PORT alike', () => {
  // Port 1 on another loopback address: nothing listens, and the message names where it dialled.
  const env = { PKGINDEX_SERVER_HOST: '127.0.0.2', PKGINDEX_PORT: '1', PKGINDEX_HOST: '0.0.0.0' };
  for (const args of [
    ['client', 'query', 'a'],
    ['import', '--no-progress', 'bench/brew-dependencies.txt'],
    ['bench', '--ops', '5'],
  ]) {
    const r = run(args, env);
    assert.equal(r.code, 2, `${args[0]!}: ${r.stderr}`);
    assert.match(r.stderr, /cannot connect to 127\.0\.0\.2:1 \(ECONNREFUSED\)/, args[0]);
  }
});

test('client, import and bench check flags and variables like serve: exit 2 naming them', () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      ['client', '--port', '70000', 'query', 'a'],
      {},
      /--port must be a whole number from 1 to 65535, got "70000" \[E_CONFIG\]/,
    ],
    [
      ['client', 'query', 'a'],
      { PKGINDEX_PORT: 'abc' },
      /environment variable PKGINDEX_PORT must be a whole number/,
    ],
    [['client', '--timeout-ms'], {}, /--timeout-ms needs a value; run `pkgindex client --help`/],
    [['import', '--window', '0', 'f'], {}, /--window must be a whole number from 1 to 1000000, got "0"/],
    [['import', '--format', 'rpm', 'f'], {}, /--format must be one of auto, brew, debian, got "rpm"/],
    [['import', '--dry-run'], {}, /missing FILE; usage: pkgindex import \[options\] FILE \.\.\. \[E_USAGE\]/],
    [['bench', '-c', '0'], {}, /-c must be a whole number from 1 to 100000, got "0"/],
    [['bench', '--duration', '-1'], {}, /--duration must be a number above 0, got "-1"/],
    [['bench', 'extra'], {}, /unexpected argument "extra"; usage: pkgindex bench \[options\]/],
    [
      ['fsck', '/var/lib/pkgindex'],
      {},
      /unexpected argument "\/var\/lib\/pkgindex"; did you mean --data-dir "\/var\/lib\/pkgindex"\? usage: pkgindex fsck \[options\]; run `pkgindex fsck --help` for the options \[E_USAGE\]/,
    ],
    [['bench', '--bogus'], {}, /unknown option --bogus; run `pkgindex bench --help` for the list/],
  ];
  for (const [args, env, message] of cases) {
    const r = run(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
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
  const r = run(['serve', '--host', '127.0.0.1', '--port', String(port), '--admin=false']);
  blocker.close();
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+.*another process holds this port/);
});
