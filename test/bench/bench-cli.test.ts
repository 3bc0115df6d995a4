import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { runBench } from '../../src/bench/run-bench.js';
import { DEFAULT_PREFIX, parseMix } from '../../src/bench/workload.js';
import type { BenchResult } from '../../src/bench/run-bench.js';
import { Reply } from '../../src/protocol/reply.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { stateOf } from '../../tools/crash/workload.js';
import { buildCeiling } from '../../tools/matrix/ceiling.js';
import { freePort, startServer as startChild } from '../../tools/support/child-server.js';
import { newDataDir, removeDataDir } from '../../tools/support/data-dir.js';
import { runCli } from '../cli/processes.js';
import { spawnServer, startServer } from '../support/servers.js';

const DATA = defaultDataFile();

const MAIN = 'dist/src/cli/main.js';

/** `pkgindex bench ARGS --no-validate` against the matrix's C ceiling, which answers OK to every line. */
async function benchCeiling(args: readonly string[]): Promise<SpawnSyncReturns<string>> {
  const port = await freePort();
  const ceiling = await startChild(buildCeiling(), [String(port)], port);
  try {
    const at = ['--port', String(port), '--server-pid', String(ceiling.pid)];
    return spawnSync(process.execPath, [MAIN, 'bench', ...at, '--no-validate', ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
  } finally {
    await ceiling.stop();
  }
}

test('pkgindex bench --no-validate measures a server that answers OK to everything, and reports JSON', async () => {
  const run = await benchCeiling(['--ops', '5000', '--connections', '4', '--in-flight', '8', '--json']);
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as BenchResult;
  assert.equal(result.answered, 5000);
  assert.equal(result.counts.ok, 5000);
  assert.equal(result.protocolErrors, 0);
  assert.equal(result.config.validate, false);
  assert.equal(result.config.prefix, 'bench:');
  assert.equal(result.cleanup?.packages, result.warmup.packages);
  assert.ok(result.server !== null && result.server.peakRssBytes > 0);
  // The main thread's CPU is a part of the process's (one clock tick apart at most: the two
  // files are read one after the other).
  const main = result.server.mainUserSeconds + result.server.mainSystemSeconds;
  assert.ok(main >= 0 && main <= result.server.cpuSeconds + 0.011, JSON.stringify(result.server));
  assert.ok(result.opsPerSec > 0 && result.latencyUs.max >= result.latencyUs.p50);
});

test('pkgindex bench prints a summary table; a usage error or no server exits 2 with a message', async () => {
  const run = await benchCeiling(['--ops', '500']);
  assert.equal(run.status, 0, run.stderr);
  for (const row of [
    'throughput',
    'latency',
    'replies by class',
    'protocol errors   0',
    'server peak RSS',
    'index owner',
    'clean-up',
  ])
    assert.ok(run.stdout.includes(row), `no "${row}" in:\n${run.stdout}`);
  const bad = spawnSync(process.execPath, [MAIN, 'bench', '--duration', '1', '--ops', '5'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /exclusive/);
  const badPrefix = spawnSync(process.execPath, [MAIN, 'bench', '--prefix', 'a|b', '--ops', '5'], {
    encoding: 'utf8',
  });
  assert.equal(badPrefix.status, 2);
  assert.match(badPrefix.stderr, /--prefix must be the start of a package name .*got "a\|b"/);
});

test('pkgindex bench --help says that it namespaces its packages and removes them afterwards', () => {
  const help = spawnSync(process.execPath, [MAIN, 'bench', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--prefix <TEXT>\n.*\n\s+default "bench:"/);
  assert.match(help.stdout, /--no-cleanup/);
  assert.match(help.stdout, /removes what it indexed/);
});

test('against a server holding the real Homebrew packages, bench reports no error and leaves the server as it was', async (t) => {
  const dir = newDataDir('pkgindex-bench-real-');
  t.after(() => {
    removeDataDir(dir);
  });
  const held = async (): Promise<string[]> =>
    stateOf((await recover(new NodeFs(), dir, { repair: false })).graph);
  let server = await spawnServer({ storage: 'disk', dataDir: dir, admin: false });
  try {
    // The same names the benchmark's data set has: the collision the namespace is for.
    const imported = await runCli(['import', '--host', '127.0.0.1', '--port', String(server.port), DATA]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(await server.stop(), 0);
    const before = await held();
    assert.ok(before.length > 3000, `${before.length} packages imported`);

    server = await spawnServer({ storage: 'disk', dataDir: dir, admin: false });
    const load = ['--ops', '5000', '--connections', '4', '--in-flight', '16'];
    const mix = ['--mix', 'query=40,index=20,remove=20,malformed=20'];
    const bench = await runCli(['bench', '--port', String(server.port), ...load, ...mix, '--json'], {
      timeoutMs: 120_000,
    });
    assert.equal(bench.code, 0, bench.stderr);
    const result = JSON.parse(bench.stdout) as BenchResult;
    assert.equal(result.protocolErrors + result.warmup.protocolErrors, 0, JSON.stringify(result.counts));
    assert.deepEqual(result.cleanup && [result.cleanup.packages, result.cleanup.protocolErrors], [
      result.warmup.packages,
      0,
    ]);
    assert.equal(await server.stop(), 0);
    assert.deepEqual(await held(), before);
  } finally {
    await server.stop();
  }
});

test('pkgindex bench --data with a file that does not exist: "file not found", exit 2, no stack trace', () => {
  const run = spawnSync(process.execPath, [MAIN, 'bench', '--data', '/nonexistent', '--ops', '5'], {
    encoding: 'utf8',
  });
  assert.deepEqual(
    [run.status, run.stdout, run.stderr],
    [2, '', 'pkgindex: file not found: /nonexistent (--data); check the path [E_FILE_NOT_FOUND]\n'],
  );
});

test('against the real server on port 0, the mixed workload gets every reply it expects', async () => {
  const { port, server, close } = await startServer();
  try {
    const r = await runBench({
      host: '127.0.0.1',
      port,
      connections: 4,
      inFlight: 16,
      durationS: null,
      ops: 20_000,
      mix: parseMix('query=40,index=20,remove=20,malformed=20'),
      seed: 9,
      dataFile: DATA,
      prefix: DEFAULT_PREFIX,
      cleanup: true,
      serverPid: null,
      threads: 2,
      validate: true,
      scriptLength: 8192,
    });
    assert.equal(r.warmup.protocolErrors, 0);
    assert.equal(r.protocolErrors, 0, JSON.stringify(r.counts));
    assert.equal(r.answered, 20_000);
    assert.ok(r.counts.fail > 0 && r.counts.error > 0);
    assert.equal(server.stats.count('INVALID', Reply.ERROR), r.counts.error);
  } finally {
    await close();
  }
});
