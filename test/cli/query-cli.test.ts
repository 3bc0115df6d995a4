import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exchange } from '../admin/harness.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { runCli } from './processes.js';

const TOKEN = 'query-cli-token-0123456789abcdef';
const FEED = ['INDEX|a|', 'INDEX|b|a', 'INDEX|c|a,b', 'INDEX|x/y|c', 'INDEX|d|'];

describe('pkgindex ls, deps, why, order, info against a real server', () => {
  let server: ServerProcess;
  const env = { ...process.env, PKGINDEX_ADMIN_TOKEN: TOKEN };
  const at = (): string[] => ['--admin-port', String(server.adminPort)];
  const cli = (...args: string[]) => runCli([...args, ...at()], { env });

  before(async () => {
    server = await spawnServer({ env: { PKGINDEX_ADMIN_TOKEN: TOKEN } });
    assert.deepEqual(
      await exchange(server.port, FEED),
      FEED.map(() => 'OK'),
    );
  });
  after(async () => {
    await server.stop();
  });

  test('ls: a table by name with counts; a prefix; --leaves, --roots; --json', async () => {
    const all = await cli('ls');
    assert.equal(all.code, 0, all.stderr);
    assert.equal(
      all.stdout,
      'NAME  DEPS  DEPENDENTS\na        0           2\nb        1           1\nc        2           1\nd        0           0\nx/y      1           0\n',
    );
    assert.equal(all.stderr, '5 packages\n');
    assert.match((await cli('ls', 'x/')).stdout, /^NAME {2}DEPS {2}DEPENDENTS\nx\/y {6}1 {11}0\n$/);
    assert.deepEqual(
      (JSON.parse((await cli('ls', '--leaves', '--json')).stdout) as { name: string }[]).map((i) => i.name),
      ['d', 'x/y'],
    );
    assert.deepEqual(JSON.parse((await cli('ls', '--roots', '--json')).stdout), [
      { name: 'a', dependencies: 0, dependents: 2 },
      { name: 'd', dependencies: 0, dependents: 0 },
    ]);
    assert.deepEqual(JSON.parse((await cli('ls', 'zz', '--json')).stdout), []);
    const both = await cli('ls', '--leaves', '--roots');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exclude each other; pass one of them \[E_USAGE\]/);
  });

  test('deps: direct, transitive, reverse, and trees', async () => {
    assert.equal((await cli('deps', 'c')).stdout, 'a\nb\n');
    assert.equal((await cli('deps', '--transitive', 'x/y')).stdout, 'a\nb\nc\n');
    assert.equal((await cli('deps', '-r', 'a')).stdout, 'b\nc\n');
    assert.equal((await cli('deps', '-r', '-a', 'a')).stdout, 'b\nc\nx/y\n');
    assert.equal(
      (await cli('deps', '--tree', 'x/y')).stdout,
      'x/y\n└── c\n    ├── a\n    └── b\n        └── a\n',
    );
    assert.equal(
      (await cli('deps', '--tree', '--reverse', 'a')).stdout,
      'a\n├── b\n│   └── c\n│       └── x/y\n└── c (*)\n',
    );
    assert.equal((await cli('deps', '--tree', '--depth', '1', 'x/y')).stdout, 'x/y\n└── c …\n');
    const json = JSON.parse((await cli('deps', '--json', 'c')).stdout) as unknown;
    assert.deepEqual(json, { name: 'c', items: ['a', 'b'], truncated: false });
  });

  test('deps --tree --max-nodes: a larger or smaller tree, and advice that fits the cut', async () => {
    const cut = await cli('deps', '--tree', '--max-nodes', '2', 'x/y');
    assert.equal(cut.code, 0, cut.stderr);
    assert.equal(cut.stdout, 'x/y\n└── c …\n');
    assert.equal(
      cut.stderr,
      '(cut at 2 packages, the --max-nodes bound; ask for a larger --max-nodes (at most 10000) or a smaller --depth, ' +
        'or list them without a tree: pkgindex deps -a x/y)\n',
    );
    // At --depth 1 a smaller depth cannot help, and -r is kept in the listing offered.
    const shallow = await cli('deps', '--tree', '-r', '--depth', '1', '--max-nodes', '2', 'a');
    assert.equal(
      shallow.stderr,
      '(cut at 2 packages, the --max-nodes bound; ask for a larger --max-nodes (at most 10000), ' +
        'or list them without a tree: pkgindex deps -r a)\n',
    );
    const whole = await cli('deps', '--tree', '--max-nodes', '5', 'x/y');
    assert.deepEqual([whole.stdout, whole.stderr], ['x/y\n└── c\n    ├── a\n    └── b\n        └── a\n', '']);
    assert.equal((await cli('deps', '--tree', '--max-nodes', '10001', 'a')).code, 2);
  });

  test('deps: --depth and --max-nodes without --tree, and -a with it, are refused (exit 2)', async () => {
    for (const [args, message] of [
      [['--depth', '1'], /--depth shapes a tree: add --tree, or leave it out/],
      [['--max-nodes', '5'], /--max-nodes shapes a tree: add --tree, or leave it out/],
      [
        ['--tree', '-a'],
        /--transitive lists every level by name and --tree draws --depth levels; pass one of them/,
      ],
    ] as const) {
      const r = await cli('deps', ...args, 'a');
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\[E_USAGE\]\n$/);
      assert.equal(r.stdout, '');
    }
  });

  test('why: the chain holding a package (exit 1), a removable one (exit 0), a refused INDEX', async () => {
    const held = await cli('why', 'a');
    assert.equal(held.code, 1);
    assert.equal(held.stdout, 'a is needed by c: x/y → c → a\n');
    const free = await cli('why', 'd');
    assert.equal(free.code, 0);
    assert.equal(free.stdout, 'd can be removed: nothing depends on it\n');
    const cycle = await cli('why', '--deps', 'x/y', 'a');
    assert.equal(cycle.code, 1);
    assert.equal(cycle.stdout, 'it would close a cycle: a → x/y → c → a\n');
    const missing = await cli('why', '--deps', 'a,q', 'new');
    assert.equal(missing.stdout, 'not indexed yet: q (index it first)\n');
    const fine = await cli('why', '--deps', '', 'new');
    assert.equal(fine.code, 0);
    // What the protocol answers ERROR is refused (exit 1), whatever is indexed.
    for (const [deps, name, code] of [
      ['a,,b', 'new', 'E_EMPTY_DEPENDENCY'],
      ['a,', 'new', 'E_EMPTY_DEPENDENCY'],
      ['bad name', 'new', 'E_INVALID_DEPENDENCY'],
      ['a', 'bad name', 'E_INVALID_NAME'],
      ['a', 'x'.repeat(300), 'E_NAME_TOO_LONG'],
    ]) {
      const malformed = await cli('why', '--deps', deps!, name!);
      assert.equal(malformed.code, 1, `${deps} ${name}: ${malformed.stdout}${malformed.stderr}`);
      assert.match(
        malformed.stdout,
        /^the line is malformed: the server answers it ERROR whatever it holds \(/,
      );
      assert.ok(malformed.stdout.includes(`(${code!}: `), malformed.stdout);
    }
    assert.equal(
      (JSON.parse((await cli('why', '--json', 'a')).stdout) as { chain: string[] }).chain.join(' '),
      'x/y c a',
    );
  });

  test('why --deps with thousands of dependencies (more than a URL holds) is answered', async () => {
    const fine = await cli('why', '--deps', Array.from({ length: 2000 }, () => 'x/y').join(','), 'new');
    assert.equal(fine.code, 0, fine.stderr);
    assert.equal(fine.stdout, 'new can be indexed with these dependencies\n');
    const names = Array.from({ length: 2000 }, (_, i) => `not-indexed-${i}`);
    const missing = await cli('why', '--deps', ['a', ...names].join(','), 'new');
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(missing.stdout, `not indexed yet: ${names.join(', ')} (index them first)\n`);
  });

  test('order: install order, removal order', async () => {
    assert.equal((await cli('order', 'x/y')).stdout, 'a\nb\nc\nx/y\n');
    assert.equal((await cli('order', '--removal', 'a')).stdout, 'x/y\nc\nb\na\n');
    assert.deepEqual(JSON.parse((await cli('order', '--json', 'c')).stdout), {
      name: 'c',
      items: ['a', 'b', 'c'],
      truncated: false,
      maxVisits: 25_000,
    });
  });

  test('info: a table, or JSON', async () => {
    const info = await cli('info');
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^packages +5$/m);
    assert.match(info.stdout, /^dependencies +4$/m);
    assert.match(info.stdout, /^storage +memory, writable$/m);
    assert.match(info.stdout, /^longest chain +3 dependencies$/m);
    const json = JSON.parse((await cli('info', '--json')).stdout) as { packages: number };
    assert.equal(json.packages, 5);
  });

  test('exit codes: 1 not indexed, 2 without the token, a bad argument or no server', async () => {
    const missing = await cli('deps', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /"nope" is not indexed.*\[E_PACKAGE_NOT_FOUND\]/);
    const noToken = await runCli(['info', ...at()], { env: { PATH: process.env.PATH ?? '' } });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /\[E_ADMIN_UNAUTHORIZED\]/);
    const badDepth = await cli('deps', '--tree', '--depth', '99', 'a');
    assert.equal(badDepth.code, 2);
    const nobody = await runCli(['ls', '--admin-port', String(server.port + 1)], { env });
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /cannot reach the query API.*\[E_CONNECT\]/);
    // A question too long for a URL is the user's to shorten (exit 2), not an internal error (70).
    const long = await cli('deps', 'n'.repeat(20_000));
    assert.equal(long.code, 2, long.stderr);
    assert.match(
      long.stderr,
      /the request is too long for the admin port .*: ask about fewer or shorter names \[E_USAGE\]\n$/,
    );
    assert.equal((await runCli(['ls', '--help'])).code, 0);
  });

  test('the interactive client explains a FAIL by asking the API', async () => {
    const session = await runCli(['client', '--port', String(server.port), ...at(), '-i'], {
      env,
      input: 'remove a\nindex z q r\nindex a x/y\nquery nope\nquit\n',
    });
    assert.equal(session.code, 0, session.stderr);
    assert.match(session.stdout, /FAIL \(a is needed by c: x\/y → c → a\)/);
    assert.match(session.stdout, /FAIL \(not indexed yet: q, r \(index them first\)\)/);
    assert.match(session.stdout, /FAIL \(it would close a cycle: a → x\/y → c → a\)/);
    assert.match(session.stdout, /FAIL \(not indexed\)/);
  });

  test('without the API, the interactive client gives the general reason', async () => {
    const session = await runCli(
      ['client', '--port', String(server.port), '--admin-port', String(server.port), '-i'],
      {
        env,
        input: 'remove a\nquit\n',
      },
    );
    assert.equal(session.code, 0, session.stderr);
    assert.match(session.stdout, /FAIL \(other indexed packages depend on it\)/);
  });
});
