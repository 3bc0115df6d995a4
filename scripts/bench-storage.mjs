#!/usr/bin/env node
// Storage benchmarks for docs/benchmarks.md "## Storage":
//  1. mutation throughput through the real server over TCP, 1 and 100 concurrent clients,
//     each waiting for its reply before sending the next, for --storage memory, disk durable
//     and disk relaxed, on the same run;
//  2. recovery time and peak RSS of `pkgindex serve` on a data dir of N synthetic packages,
//     from the log alone and after compaction into a snapshot; disk bytes per package.
//
//   npm run build && node scripts/bench-storage.mjs [--seconds 3] [--sizes 100000,1000000]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { DiskStore } from '../dist/src/store/disk-store.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '100000,1000000' },
    skip: { type: 'string', default: '' },
  },
});
const SECONDS = Number(values.seconds);
const MAIN = new URL('../dist/src/cli/main.js', import.meta.url).pathname;

/** Starts `pkgindex serve`; resolves with the port, the process and its log lines. */
function startServer(args) {
  const child = spawn(
    process.execPath,
    [MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--admin=false', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const events = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line);
      events.push(event);
      if (event.msg === 'listening') resolve({ child, port: event.port, events });
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/** One client in request/response lock-step; returns how many mutations it got OK for. */
function client(port, id, deadline) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let n = 0;
    let buffered = '';
    const sendNext = () => {
      if (performance.now() >= deadline) {
        socket.end();
        return resolve(n);
      }
      const deps = n > 0 ? `c${id}-${n - 1}` : '';
      socket.write(`INDEX|c${id}-${n}|${deps}\n`);
    };
    socket.setEncoding('latin1');
    socket.on('connect', sendNext);
    socket.on('error', reject);
    socket.on('data', (data) => {
      buffered += data;
      while (buffered.includes('\n')) {
        const reply = buffered.slice(0, buffered.indexOf('\n'));
        buffered = buffered.slice(buffered.indexOf('\n') + 1);
        if (reply !== 'OK') return reject(new Error(`reply ${reply}`));
        n++;
        sendNext();
      }
    });
  });
}

async function throughput(label, args, clients) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-store-'));
  const { child, port } = await startServer([...args, '--data-dir', dir]);
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: clients }, (_, i) => client(port, i, deadline)));
  const seconds = (performance.now() - started) / 1000;
  await stop(child);
  rmSync(dir, { recursive: true });
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(`| ${label} | ${clients} | ${Math.round(total / seconds).toLocaleString('en')} |`);
}

function dirBytes(dir) {
  return readdirSync(dir)
    .filter((f) => f !== 'LOCK')
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** Package i depends on up to 3 earlier ones. */
function depsOf(i) {
  const deps = new Set();
  for (let k = 0; k < i % 4 && i > 0; k++) deps.add(`pkg-${(i * 7919 + k * 104729) % i}`);
  return [...deps];
}

async function buildDataDir(dir, packages) {
  const store = new DiskStore({ dataDir: dir, compactAfterBytes: 1 << 30 });
  await store.open();
  for (let i = 0; i < packages; i++) {
    store.execute({ verb: 'INDEX', name: `pkg-${i}`, deps: depsOf(i) });
    if (i % 10_000 === 9_999) await store.barrier();
  }
  await store.barrier();
  await store.close();
}

/** Starts the server on `dir`; returns its own recovery duration and its peak RSS (VmHWM). */
async function startup(dir, extra = []) {
  const started = performance.now();
  const { child, events } = await startServer(['--data-dir', dir, ...extra]);
  const wall = performance.now() - started;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'latin1'))[1];
  const opened = events.find((e) => e.msg === 'store opened');
  return { child, wall, openMs: opened.durationMs, peakMiB: Number(hwm) / 1024 };
}

if (!values.skip.includes('throughput')) {
  console.log(`\n${SECONDS} s per row, clients in lock-step (each waits for its reply).\n`);
  console.log('| storage | clients | mutations/s |');
  console.log('| --- | --- | --- |');
  for (const clients of [1, 100]) {
    await throughput('memory', ['--storage', 'memory'], clients);
    await throughput('disk, durable', ['--storage', 'disk', '--sync-mode', 'durable'], clients);
    await throughput('disk, relaxed (100 ms)', ['--storage', 'disk', '--sync-mode', 'relaxed'], clients);
  }
}

if (!values.skip.includes('recovery')) {
  console.log(
    '\n| packages | data dir | bytes/package | server start to listening | store open | peak RSS |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const packages of values.sizes.split(',').map(Number)) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-recovery-'));
    await buildDataDir(dir, packages);
    const row = (what, r) =>
      console.log(
        `| ${packages.toLocaleString('en')} | ${what} | ${(dirBytes(dir) / packages).toFixed(1)} | ${Math.round(r.wall)} ms | ${r.openMs} ms | ${Math.round(r.peakMiB)} MiB |`,
      );
    const fromLog = await startup(dir);
    await stop(fromLog.child);
    row('log only', fromLog);
    // Small threshold: the server folds the log into a snapshot in its worker at startup.
    const compacting = await startup(dir, ['--compact-after-bytes', '4096']);
    while (!readdirSync(dir).some((f) => f.endsWith('.snap'))) await new Promise((r) => setTimeout(r, 50));
    await stop(compacting.child);
    const fromSnapshot = await startup(dir);
    await stop(fromSnapshot.child);
    row('snapshot', fromSnapshot);
    rmSync(dir, { recursive: true });
  }
}
