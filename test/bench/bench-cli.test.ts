import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runBench } from '../../src/bench/run-bench.js';
import { parseMix } from '../../src/bench/workload.js';
import type { BenchResult } from '../../src/bench/run-bench.js';
import { Reply } from '../../src/protocol/reply.js';
import { startServer } from '../support/servers.js';

const MAIN = 'dist/src/cli/main.js';

test('pkgindex bench --ceiling builds and measures the C ceiling, and reports JSON', () => {
  const run = spawnSync(
    process.execPath,
    [MAIN, 'bench', '--ceiling', '--ops', '5000', '--connections', '4', '--in-flight', '8', '--json'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as BenchResult;
  assert.equal(result.answered, 5000);
  assert.equal(result.counts.ok, 5000);
  assert.equal(result.protocolErrors, 0);
  assert.equal(result.config.validate, false);
  assert.ok(result.server !== null && result.server.peakRssBytes > 0);
  assert.ok(result.opsPerSec > 0 && result.latencyUs.max >= result.latencyUs.p50);
});

test('pkgindex bench prints a summary table; a usage error or no server exits 2 with a message', () => {
  const run = spawnSync(process.execPath, [MAIN, 'bench', '--ceiling', '--ops', '500'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  for (const row of ['throughput', 'latency', 'replies by class', 'protocol errors   0', 'server peak RSS'])
    assert.ok(run.stdout.includes(row), `no "${row}" in:\n${run.stdout}`);
  const bad = spawnSync(process.execPath, [MAIN, 'bench', '--duration', '1', '--ops', '5'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /exclusive/);
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
      dataFile: 'test/fixtures/brew-dependencies.txt',
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
