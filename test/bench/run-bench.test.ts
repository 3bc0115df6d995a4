import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:net';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { runBench, type BenchOptions } from '../../src/bench/run-bench.js';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';
import { DEFAULT_PREFIX, parseDataFile, parseMix, planWorkload } from '../../src/bench/workload.js';
import { buildCeiling, ceilingArgs } from '../../tools/matrix/ceiling.js';
import { freePort, startServer } from '../../tools/support/child-server.js';
import { startReferenceServer, type Misbehaviour } from './reference-server.js';

const BASE: BenchOptions = {
  host: '127.0.0.1',
  port: 0,
  connections: 3,
  inFlight: 4,
  durationS: null,
  ops: 3000,
  mix: parseMix('query=40,index=20,remove=20,malformed=20'),
  seed: 5,
  dataFile: defaultDataFile(),
  prefix: DEFAULT_PREFIX,
  cleanup: true,
  serverPid: null,
  threads: 1,
  validate: true,
  scriptLength: 4096,
};

/** Lines the warm-up sends before the measured workload starts. */
const WARMUP = planWorkload(parseDataFile(readFileSync(BASE.dataFile, 'utf8')), BASE.seed).warmup.length;

async function withReference<T>(misbehave: Misbehaviour, run: (port: number) => Promise<T>): Promise<T> {
  const { server, port } = await startReferenceServer(misbehave);
  try {
    return await run(port);
  } finally {
    await close(server);
  }
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

test('against a server with the real semantics, every reply is the expected one', async () => {
  const r = await withReference({}, (port) => runBench({ ...BASE, port }));
  assert.equal(r.warmup.protocolErrors, 0);
  assert.ok(r.warmup.packages > 3000);
  assert.equal(r.protocolErrors, 0, JSON.stringify(r.counts));
  assert.equal(r.answered, 3000);
  assert.equal(r.counts.sent, 3000);
  assert.equal(r.counts.ok + r.counts.fail + r.counts.error, 3000);
  assert.ok(r.counts.fail > 0 && r.counts.error > 0);
  assert.ok(r.latencyUs.p50 > 0 && r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.max);
  assert.equal(r.cleanup?.packages, r.warmup.packages);
  assert.equal(r.cleanup.protocolErrors, 0);
});

test('worker threads drive the same workload to the same counts', async () => {
  const one = await withReference({}, (port) => runBench({ ...BASE, port, connections: 4 }));
  const two = await withReference({}, (port) => runBench({ ...BASE, port, connections: 4, threads: 2 }));
  assert.equal(two.protocolErrors, 0);
  assert.deepEqual(two.counts, one.counts);
});

test('a reply that is not a protocol word is a protocol error', async () => {
  const r = await withReference({ replaceReply: { at: WARMUP + 10, bytes: 'HELLO\n' } }, (port) =>
    runBench({ ...BASE, port }),
  );
  assert.equal(r.counts.bad, 1);
  assert.equal(r.protocolErrors, 1);
});

test('a wrong reply class is a protocol error when validating, and only counted when not', async () => {
  // The ceiling answers OK to everything: the FAILs and ERRORs the workload requires are missing.
  const binary = buildCeiling();
  const port = await freePort();
  const ceiling = await startServer(binary, [String(port)], port);
  try {
    const validated = await runBench({ ...BASE, port, serverPid: ceiling.pid });
    assert.ok(validated.counts.unexpected > 0, JSON.stringify(validated.counts));
    assert.equal(validated.protocolErrors, validated.counts.unexpected);
    const unvalidated = await runBench({ ...BASE, port, validate: false, serverPid: ceiling.pid });
    assert.equal(unvalidated.protocolErrors, 0);
    assert.equal(unvalidated.counts.ok, 3000);
    assert.ok(unvalidated.server !== null && unvalidated.server.peakRssBytes > 0);
  } finally {
    await ceiling.stop();
  }
});

test('the ceiling runs one epoll loop per core, and ceiling-1t one thread in all', async () => {
  const binary = buildCeiling();
  for (const [threads, expected] of [
    [undefined, cpus().length], // sysconf(_SC_NPROCESSORS_ONLN)
    [1, 1],
  ] as const) {
    const port = await freePort();
    const ceiling = await startServer(binary, ceilingArgs(port, threads), port);
    try {
      const r = await runBench({ ...BASE, port, validate: false, serverPid: ceiling.pid });
      assert.equal(r.counts.ok, 3000);
      // Counted once it has served: every thread is started before it prints that it listens.
      assert.equal(readdirSync(`/proc/${ceiling.pid}/task`).length, expected, `threads ${String(threads)}`);
    } finally {
      await ceiling.stop();
    }
  }
});

test('the ring ceiling answers every line, its reads and writes through an io_uring ring', async () => {
  const binary = buildCeiling();
  const port = await freePort();
  const ceiling = await startServer(binary, ceilingArgs(port, 1, true), port);
  try {
    // Twelve connections at once: turns with more than one ready, which go through the ring.
    const r = await runBench({ ...BASE, port, connections: 12, validate: false, serverPid: ceiling.pid });
    assert.equal(r.counts.ok, 3000);
    assert.equal(r.protocolErrors, 0);
    const descriptors = readdirSync(`/proc/${ceiling.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${ceiling.pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    assert.ok(descriptors.includes('anon_inode:[io_uring]'), descriptors.join(' '));
  } finally {
    await ceiling.stop();
  }
});

test('a connection closed with requests outstanding counts them missing, and the run still ends', async () => {
  const r = await withReference({ closeAt: WARMUP + 100 }, (port) =>
    runBench({ ...BASE, port, connections: 1, durationS: 30, ops: null }),
  );
  assert.ok(r.counts.missing > 0, JSON.stringify(r.counts));
  assert.ok(r.protocolErrors > 0);
  assert.ok(r.elapsedS < 30);
});

test('a script shorter than the run wraps around, the window straddling its end, and every reply is still expected', async () => {
  // 7 lines, 4 in flight: windows keep crossing the end of the script and starting it again.
  const r = await withReference({}, (port) =>
    runBench({ ...BASE, port, connections: 1, inFlight: 4, scriptLength: 7, ops: 1000 }),
  );
  assert.equal(r.answered, 1000);
  assert.equal(r.counts.sent, 1000);
  assert.equal(r.protocolErrors, 0, JSON.stringify(r.counts));
});

test('a reply to no request is counted unsolicited, a protocol error', async () => {
  // One request in flight: the second reply to the same line arrives when none is outstanding.
  const r = await withReference({ replaceReply: { at: WARMUP + 10, bytes: 'ERROR\nERROR\n' } }, (port) =>
    runBench({ ...BASE, port, connections: 1, inFlight: 1, ops: 100, mix: parseMix('malformed=100') }),
  );
  assert.equal(r.counts.unsolicited, 1, JSON.stringify(r.counts));
  assert.equal(r.protocolErrors, 1);
});
