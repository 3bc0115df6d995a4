#!/usr/bin/env node
// The durable store's per-message cost without the kernel's network stack: like
// hot-path-bench.mjs, but over a DiskStore in a temporary data dir. Each turn feeds one chunk
// of --batch lines to each of --connections real Connections (stub sockets), then waits for the
// store's barrier (the group commit) before the next turn, so every turn is one write (and, in
// durable mode, one fdatasync). Reports CPU nanoseconds per message (the process's user+system
// time, thread pool and compaction worker included), the minimum of --rounds rounds.
// Usage: node scripts/durable-hot-path-bench.mjs [--dist DIR] [--mix SPEC] [--batch 32]
//   [--connections 100] [--sync-mode durable|relaxed] [--compact-after-bytes N]
//   [--seconds 2] [--rounds 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StubSocket, importServer, loadWorkload, silentLogger } from './lib/hot-path-harness.mjs';

const { values } = parseArgs({
  options: {
    dist: { type: 'string' },
    mix: { type: 'string' },
    batch: { type: 'string' },
    connections: { type: 'string' },
    'sync-mode': { type: 'string' },
    'compact-after-bytes': { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const batch = Number(values.batch ?? 32);
const connections = Number(values.connections ?? 100);
const syncMode = values['sync-mode'] ?? 'durable';
// Default: no compaction during the measurement (its worker would add its own CPU).
const compactAfterBytes = Number(values['compact-after-bytes'] ?? 1024 * 1024 * 1024);
const seconds = Number(values.seconds ?? 2);
const rounds = Number(values.rounds ?? 5);

const { newConnection, ServerStats, ReplyScratch, DiskStore, createLogger } = await importServer(
  values.dist ?? 'dist',
);
const workload = await loadWorkload({ mix: values.mix, defaultMix: 'index=50,remove=50', batch });
const log = silentLogger(createLogger);
const dir = mkdtempSync(join(tmpdir(), 'pkgindex-durable-bench-'));
const store = new DiskStore({ dataDir: dir, syncMode, compactAfterBytes });
await store.open();
const limits = { maxLineBytes: 65_536, idleTimeoutMs: 0, outputHighWaterBytes: 1 << 30 };
const stats = new ServerStats();
const scratch = new ReplyScratch();
const conns = [];
for (let i = 0; i < connections; i++) {
  const socket = new StubSocket();
  const connection = newConnection(i + 1, socket, { store, stats, limits, log, scratch });
  conns.push((c) => connection.receive(c, c.length));
}
const settle = async () => {
  const barrier = store.barrier();
  if (barrier !== null) await barrier;
  // Let the connections' release callbacks run.
  await new Promise((r) => setImmediate(r));
};
for (const c of workload.warmup) conns[0](c);
await settle();
const chunks = workload.chunks;
const perChunk = workload.linesPerChunk;

const results = [];
let next = 0;
for (let r = 0; r < rounds; r++) {
  let messages = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const until = started + seconds * 1000;
  while (performance.now() < until) {
    for (const feed of conns) {
      feed(chunks[next]);
      next = next + 1 === chunks.length ? 0 : next + 1;
    }
    messages += connections * perChunk;
    await settle();
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - started;
  results.push({ ns: ((cpu.user + cpu.system) * 1000) / messages, rate: messages / (wall / 1000) });
}
await store.close();
rmSync(dir, { recursive: true, force: true });
const all = results.map((x) => x.ns.toFixed(0)).join(' ');
results.sort((a, b) => a.ns - b.ns);
console.log(
  `${values.dist ?? 'dist'} ${syncMode} mix ${workload.mixLabel} ${connections}×${batch}: min ${results[0].ns.toFixed(0)} ns/msg, median ${results[Math.floor(rounds / 2)].ns.toFixed(0)} ns/msg [${all}] (${rounds} rounds of ${seconds} s, ${Math.round(results[0].rate)} msg/s wall)`,
);
