#!/usr/bin/env node
// The server's per-message cost without the kernel: feeds the benchmark's workload, in chunks
// of --batch lines, through a real Connection (framer, parser, store, stats, reply rendering)
// whose socket is a stub. Reports CPU nanoseconds per message, the minimum of --rounds rounds
// (the minimum is the figure least disturbed by other processes on a shared machine).
// Usage: node scripts/hot-path-bench.mjs [--dist DIR] [--mix SPEC] [--batch 32] [--seconds 2] [--rounds 5]
import { parseArgs } from 'node:util';
import { StubSocket, importServer, loadWorkload, silentLogger } from './lib/hot-path-harness.mjs';

const { values } = parseArgs({
  options: {
    dist: { type: 'string' },
    mix: { type: 'string' },
    batch: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const batch = Number(values.batch ?? 32);
const seconds = Number(values.seconds ?? 2);
const rounds = Number(values.rounds ?? 5);

const { newConnection, ServerStats, ReplyScratch, MemoryStore, createLogger } = await importServer(
  values.dist ?? 'dist',
);
const workload = await loadWorkload({ mix: values.mix, batch });
const store = new MemoryStore();
await store.open();
const socket = new StubSocket();
const limits = { maxLineBytes: 65_536, idleTimeoutMs: 0, outputHighWaterBytes: 1 << 30 };
const connection = newConnection(1, socket, {
  store,
  stats: new ServerStats(),
  limits,
  log: silentLogger(createLogger),
  scratch: new ReplyScratch(),
});
// Builds from before `receive()` took their bytes from the socket's 'data' events.
const feed =
  typeof connection.receive === 'function'
    ? (c) => connection.receive(c, c.length)
    : (c) => socket.emit('data', c);
for (const c of workload.warmup) feed(c);
const chunks = workload.chunks;
const perChunk = workload.linesPerChunk;

const results = [];
for (let r = 0; r < rounds; r++) {
  let messages = 0;
  const cpu0 = process.cpuUsage();
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    for (const c of chunks) feed(c);
    messages += chunks.length * perChunk;
  }
  const cpu = process.cpuUsage(cpu0);
  results.push(((cpu.user + cpu.system) * 1000) / messages);
}
results.sort((a, b) => a - b);
console.log(
  `${values.dist ?? 'dist'} mix ${workload.mixLabel} batch ${batch}: min ${results[0].toFixed(0)} ns/msg, median ${results[Math.floor(rounds / 2)].toFixed(0)} ns/msg (${rounds} rounds of ${seconds} s)`,
);
