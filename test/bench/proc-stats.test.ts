import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import {
  parseIoCount,
  parseMachineStat,
  parseStatCpuTicks,
  parseStatUserSystemTicks,
  parseStatusKb,
  sampleMachine,
  sampleProcess,
} from '../../src/bench/proc-stats.js';

test('utime and stime are read after the last parenthesis, whatever the command name holds', () => {
  const fields = [
    'S',
    '1',
    '2',
    '3',
    '0',
    '-1',
    '4194304',
    '120',
    '0',
    '0',
    '0',
    '250',
    '17',
    '0',
    '0',
    '20',
  ];
  assert.equal(parseStatCpuTicks(`42 (node) ${fields.join(' ')}`), 267);
  assert.equal(parseStatCpuTicks(`42 (a) (b c) ${fields.join(' ')}`), 267);
});

test('utime and stime are also given apart: user space and kernel', () => {
  const fields = ['S', '1', '2', '3', '0', '-1', '4194304', '120', '0', '0', '0', '250', '17', '0'];
  assert.deepEqual(parseStatUserSystemTicks(`42 (a) (b c) ${fields.join(' ')}`), { user: 250, system: 17 });
});

test('status lines are read in bytes', () => {
  const status = 'Name:\tnode\nVmHWM:\t   2096 kB\nVmRSS:\t   1024 kB\n';
  assert.equal(parseStatusKb(status, 'VmHWM'), 2096 * 1024);
  assert.equal(parseStatusKb(status, 'VmRSS'), 1024 * 1024);
  assert.equal(parseStatusKb(status, 'VmSwap'), 0);
});

test('system call counts are read from /proc/<pid>/io', () => {
  const io = 'rchar: 6976\nwchar: 0\nsyscr: 10\nsyscw: 3\n';
  assert.equal(parseIoCount(io, 'syscr'), 10);
  assert.equal(parseIoCount(io, 'syscw'), 3);
  assert.equal(parseIoCount(io, 'nothing'), 0);
});

test('this process can be sampled on Linux; a process that does not exist cannot', () => {
  const sample = sampleProcess(process.pid);
  assert.ok(sample !== null);
  assert.ok(sample.peakRssBytes >= sample.rssBytes && sample.rssBytes > 0);
  assert.ok(sample.cpuSeconds >= 0);
  assert.ok(sample.readCalls > 0);
  assert.equal(sampleProcess(2 ** 22 + 1), null);
});

/**
 * Spins until the process has used `ms` of CPU, which is the spinning thread's while the others
 * sleep: on a loaded machine (the suite runs beside ESLint) a spin timed by the clock got less
 * CPU than the 200 ms asserted below. Also run in a worker, from its source.
 */
function spinCpu(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

test("a process's main thread is sampled apart: CPU another thread burns is the process's, not the main thread's", () => {
  const before = sampleProcess(process.pid)!;
  // Another thread spins while this one sleeps in Atomics.wait.
  const done = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { workerData } = require("node:worker_threads"); (${spinCpu.toString()})(300); Atomics.store(workerData, 0, 1); Atomics.notify(workerData, 0);`,
    { eval: true, workerData: done },
  );
  assert.equal(Atomics.wait(done, 0, 0, 60_000), 'ok', 'the worker finished its spin');
  const middle = sampleProcess(process.pid)!;
  // Then this thread spins.
  spinCpu(300);
  const after = sampleProcess(process.pid)!;
  void worker.terminate();
  const main = (s: typeof before): number => s.mainUserSeconds + s.mainSystemSeconds;
  assert.ok(middle.cpuSeconds - before.cpuSeconds >= 0.2, 'the worker spun: the process used CPU');
  assert.ok(main(middle) - main(before) < 0.1, 'the main thread slept meanwhile');
  assert.ok(main(after) - main(middle) >= 0.2, "the main thread's own spin is counted");
  assert.ok(main(after) <= after.cpuSeconds);
});

test('the machine-wide CPU line counts everything but idle and iowait as busy', () => {
  const stat = 'cpu  100 5 50 800 40 1 4 0 0 0\ncpu0 50 2 25 400 20 1 2 0 0 0\n';
  assert.deepEqual(parseMachineStat(stat), { busyTicks: 160, totalTicks: 1000 });
  const live = sampleMachine();
  assert.ok(live !== null && live.totalTicks >= live.busyTicks && live.busyTicks > 0);
});
