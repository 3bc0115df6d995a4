/**
 * The load workers' failure paths (`pkgindex bench --threads N`): a worker that cannot connect
 * reports why, and the run fails with that error, not a hang or an anonymous worker exit; the
 * worker's entry refuses to run outside a worker thread.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { runBench, type BenchOptions } from '../../src/bench/run-bench.js';
import { DEFAULT_PREFIX, parseMix } from '../../src/bench/workload.js';
import { isPkgIndexError } from '../../src/errors.js';
import { startReferenceServer } from './reference-server.js';

const BASE: BenchOptions = {
  host: '127.0.0.1',
  port: 0,
  connections: 4,
  inFlight: 4,
  durationS: null,
  ops: 1000,
  mix: parseMix('query=100'),
  seed: 5,
  dataFile: defaultDataFile(),
  prefix: DEFAULT_PREFIX,
  cleanup: true,
  serverPid: null,
  threads: 2,
  validate: true,
  scriptLength: 4096,
};

/**
 * A listener in front of a reference server that stops accepting once the warm-up's connection
 * has closed: the warm-up (main thread) runs, the load workers' connections are refused.
 */
async function acceptingOnlyTheWarmUp(): Promise<{ port: number; close: () => Promise<void> }> {
  const { server: reference, port: target } = await startReferenceServer();
  const sockets = new Set<Socket>();
  const front = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.pipe(upstream).pipe(client);
    client.once('close', () => {
      upstream.destroy();
      front.close();
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    port: (front.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      if (front.listening) await new Promise((resolve) => front.close(resolve));
      await new Promise((resolve) => reference.close(resolve));
    },
  };
}

test('load workers that cannot connect: the run fails with the reason a worker reported', async () => {
  const server = await acceptingOnlyTheWarmUp();
  try {
    await assert.rejects(runBench({ ...BASE, port: server.port }), (err: unknown) => {
      assert.ok(isPkgIndexError(err, 'E_BENCH'), String(err));
      assert.match(
        err.message,
        new RegExp(`cannot connect to 127\\.0\\.0\\.1:${server.port} \\(ECONNREFUSED\\)`),
      );
      return true;
    });
  } finally {
    await server.close();
  }
});

test('load-worker.js run on its own says it is a worker thread of pkgindex bench', () => {
  const file = new URL('../../src/bench/load-worker.js', import.meta.url);
  assert.ok(readFileSync(file).length > 0);
  const r = spawnSync(process.execPath, [file.pathname], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /load-worker\.js runs only as a worker thread of pkgindex bench/);
});
