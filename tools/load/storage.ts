/**
 * `measure storage`: the storage figures of docs/benchmarks.md, "Storage".
 *  1. mutation throughput through the real server over TCP, 1 and 100 concurrent clients,
 *     each waiting for its reply before sending the next, for --storage memory, disk durable
 *     and disk relaxed, in the same run;
 *  2. recovery time and peak RSS of `pkgindex serve` on a data dir of N synthetic packages,
 *     from the log alone and after compaction into a snapshot; disk bytes per package.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { ToolError } from '../support/errors.js';
import { parseToolArgs, positiveOption } from '../support/options.js';
import { spawnServer, type ServerProcess } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js storage [--seconds 3] [--sizes 100000,1000000] [--skip throughput|recovery]`;

/** One client in request/response lock-step; resolves with how many mutations it got OK for. */
function lockStepClient(port: number, id: number, deadline: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let n = 0;
    let buffered = '';
    const sendNext = (): void => {
      if (performance.now() >= deadline) {
        socket.end();
        resolve(n);
        return;
      }
      const deps = n > 0 ? `c${id}-${n - 1}` : '';
      socket.write(`INDEX|c${id}-${n}|${deps}\n`);
    };
    socket.setEncoding('latin1');
    socket.on('connect', sendNext);
    socket.on('error', reject);
    socket.on('data', (data: string) => {
      buffered += data;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const reply = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (reply !== 'OK') {
          reject(new ToolError(`reply ${reply}`));
          return;
        }
        n++;
        sendNext();
      }
    });
  });
}

async function throughput(label: string, args: string[], clients: number, seconds: number): Promise<void> {
  const dir = newDataDir('bench-store-');
  const server = await spawnServer({ admin: false, args: [...args, '--data-dir', dir] });
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: clients }, (_, i) => lockStepClient(server.port, i, deadline)),
  );
  const elapsed = (performance.now() - started) / 1000;
  await server.stop();
  removeDataDir(dir);
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(`| ${label} | ${clients} | ${Math.round(total / elapsed).toLocaleString('en')} |`);
}

function dirBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f !== 'LOCK')
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** Package i depends on up to 3 earlier ones. */
function depsOf(i: number): string[] {
  const deps = new Set<string>();
  for (let k = 0; k < i % 4 && i > 0; k++) deps.add(`pkg-${(i * 7919 + k * 104729) % i}`);
  return [...deps];
}

async function buildDataDir(dir: string, packages: number): Promise<void> {
  const store = new DiskStore({ dataDir: dir, compactAfterBytes: 1 << 30 });
  await store.open();
  for (let i = 0; i < packages; i++) {
    store.execute({ verb: 'INDEX', name: `pkg-${i}`, deps: depsOf(i) });
    if (i % 10_000 === 9_999) await store.barrier();
  }
  await store.barrier();
  await store.close();
}

/** Starts the server on `dir`; returns it, its start-up wall time, its own recovery time and its peak RSS. */
async function startup(
  dir: string,
  extra: string[] = [],
): Promise<{ server: ServerProcess; wall: number; openMs: number; peakMiB: number }> {
  const started = performance.now();
  // Recovery of a million packages takes seconds on a quiet machine, and many times that on a
  // loaded one: wait long enough to measure it rather than fail.
  const server = await spawnServer({
    storage: 'disk',
    dataDir: dir,
    admin: false,
    args: extra,
    listenTimeoutMs: 120_000,
  });
  const wall = performance.now() - started;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'latin1'))?.[1];
  const opened = server.events.find((e) => e.msg === 'store opened');
  if (hwm === undefined || typeof opened?.durationMs !== 'number')
    throw new ToolError('no VmHWM or no "store opened" event with durationMs');
  return { server, wall, openMs: opened.durationMs, peakMiB: Number(hwm) / 1024 };
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    { seconds: { type: 'string' }, sizes: { type: 'string' }, skip: { type: 'string' } },
    usage,
  );
  const seconds = positiveOption('--seconds', values.seconds, 3);
  const skip = values.skip ?? '';
  if (!skip.includes('throughput')) {
    console.log(`\n${seconds} s per row, clients in lock-step (each waits for its reply).\n`);
    console.log('| storage | clients | mutations/s |');
    console.log('| --- | --- | --- |');
    for (const clients of [1, 100]) {
      await throughput('memory', ['--storage', 'memory'], clients, seconds);
      await throughput('disk, durable', ['--storage', 'disk', '--sync-mode', 'durable'], clients, seconds);
      await throughput(
        'disk, relaxed (100 ms)',
        ['--storage', 'disk', '--sync-mode', 'relaxed'],
        clients,
        seconds,
      );
    }
  }
  if (!skip.includes('recovery')) {
    console.log(
      '\n| packages | data dir | bytes/package | server start to listening | store open | peak RSS | load average (1 min) |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const packages of (values.sizes ?? '100000,1000000').split(',').map(Number)) {
      const dir = newDataDir('bench-recovery-');
      await buildDataDir(dir, packages);
      const row = (what: string, r: { wall: number; openMs: number; peakMiB: number }): void => {
        console.log(
          `| ${packages.toLocaleString('en')} | ${what} | ${(dirBytes(dir) / packages).toFixed(1)} | ${Math.round(r.wall)} ms | ${r.openMs} ms | ${Math.round(r.peakMiB)} MiB | ${loadavg()[0]!.toFixed(1)} |`,
        );
      };
      const fromLog = await startup(dir);
      await fromLog.server.stop();
      row('log only', fromLog);
      // Small threshold: the server folds the log into a snapshot in its worker at startup.
      const compacting = await startup(dir, ['--compact-after-bytes', '4096']);
      while (!readdirSync(dir).some((f) => f.endsWith('.snap'))) await sleep(50);
      await compacting.server.stop();
      const fromSnapshot = await startup(dir);
      await fromSnapshot.server.stop();
      row('snapshot', fromSnapshot);
      removeDataDir(dir);
    }
  }
  return 0;
}
