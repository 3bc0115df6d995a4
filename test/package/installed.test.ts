/**
 * What ships is the product: the tarball `npm pack` makes holds the server, client, importer
 * and load generator and what they need, and nothing of the tooling; installed offline into
 * an empty prefix (dependencies from this checkout's node_modules), every command works there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants, cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import type { BenchResult } from '../../src/bench/run-bench.js';
import { CLI } from '../support/servers.js';

const REPO = process.cwd();

/**
 * Without the test run's NODE_V8_COVERAGE: npm is not ours, and the installed copy's files
 * lie outside the checkout that the coverage report covers.
 */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_V8_COVERAGE'));

function run(command: string, args: readonly string[], cwd: string, input = ''): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, input, env: ENV, encoding: 'utf8', timeout: 120_000 });
}

test('the build leaves the pkgindex command executable (npm install -g links to it)', () => {
  accessSync(CLI, constants.X_OK);
  // Run as the shell runs an installed bin: the file itself, through its #! line.
  const help = run(CLI, ['--help'], REPO);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: pkgindex <command>/);
});

test(
  'the packed package installs offline and serves, answers clients and benchmarks',
  { timeout: 180_000 },
  async (t) => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pkgindex-installed-')));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    const pack = run('npm', ['pack', '--json', '--pack-destination', dir], REPO);
    assert.equal(pack.status, 0, pack.stderr);
    const [packed] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
    const shipped = packed.files.map((f) => f.path);
    assert.ok(shipped.includes('bench/brew-dependencies.txt'), 'the bench data set ships');
    assert.ok(shipped.includes('dist/src/cli/main.js'));
    // The dashboard works offline: its page and the libraries it draws with ship built.
    for (const file of ['index.html', 'main.js', 'vendor/uPlot.iife.min.js', 'vendor/cytoscape.esm.min.mjs'])
      assert.ok(shipped.includes(`dist/src/admin/dashboard/web/${file}`), `the dashboard's ${file} ships`);
    const tooling = shipped.filter((p) => !p.startsWith('dist/src/') && !p.startsWith('bench/'));
    assert.deepEqual(tooling.sort(), ['README.md', 'package.json'], 'nothing of tests or tools ships');

    // The production dependencies, as npm resolved them here, so the install needs no network.
    const prefix = join(dir, 'prefix');
    mkdirSync(prefix);
    const ls = run('npm', ['ls', '--omit=dev', '--all', '--parseable'], REPO);
    assert.equal(ls.status, 0, ls.stderr);
    for (const path of ls.stdout.trim().split('\n').slice(1))
      cpSync(path, join(prefix, 'node_modules', relative(join(REPO, 'node_modules'), path)), {
        recursive: true,
      });
    const install = run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, join(dir, packed.filename)],
      dir,
    );
    assert.equal(install.status, 0, install.stderr);
    const bin = join(prefix, 'node_modules', '.bin', 'pkgindex');

    const help = run(bin, ['--help'], dir);
    assert.equal(help.status, 0, help.stderr);
    for (const command of ['serve', 'client', 'import', 'bench'])
      assert.match(help.stdout, new RegExp(command));

    const server = spawn(
      bin,
      ['serve', '--storage', 'memory', '--host', '127.0.0.1', '--port', '0', '--admin=false'],
      { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise((resolve) => server.once('exit', resolve));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        createInterface({ input: server.stdout }).on('line', (line) => {
          const event = JSON.parse(line) as { msg?: string; port?: number };
          if (event.msg === 'listening' && event.port !== undefined) resolve(event.port);
        });
        server.once('exit', (code) => {
          reject(new Error(`the installed server exited with ${String(code)} before listening`));
        });
      });
      const at = ['--host', '127.0.0.1', '--port', String(port)];
      const client = run(bin, ['client', ...at], dir, 'INDEX|a|\nINDEX|b|a\nQUERY|b|\n');
      assert.equal(client.status, 0, client.stderr);
      assert.equal(client.stdout, 'OK\nOK\nOK\n');

      const bench = run(bin, ['bench', ...at, '--ops', '2000', '--connections', '2', '--json'], dir);
      assert.equal(bench.status, 0, bench.stderr);
      const result = JSON.parse(bench.stdout) as BenchResult;
      assert.equal(result.protocolErrors, 0);
      assert.ok(
        result.config.dataFile.startsWith(prefix),
        `the data set comes from the package: ${result.config.dataFile}`,
      );
      assert.equal(result.cleanup?.packages, result.warmup.packages);

      // The bench worked in its own namespace: the packages indexed before are still there.
      const left = run(bin, ['client', ...at], dir, 'QUERY|a|\nQUERY|b|\n');
      assert.equal(left.stdout, 'OK\nOK\n');
    } finally {
      server.kill('SIGTERM');
      await exited;
    }
  },
);
