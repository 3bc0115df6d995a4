#!/usr/bin/env node
// The server's per-message cost without the kernel: feeds the benchmark's workload, in chunks
// of --batch lines, through a real Connection (framer, parser, store, stats, reply rendering)
// whose socket is a stub. Reports CPU nanoseconds per message, the minimum of --rounds rounds
// (the minimum is the figure least disturbed by other processes on a shared machine).
// Usage: node scripts/hot-path-bench.mjs [--dist DIR] [--mix SPEC] [--batch 32] [--seconds 2] [--rounds 5]
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';

const { values } = parseArgs({
  options: {
    dist: { type: 'string' },
    mix: { type: 'string' },
    batch: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const dist = pathToFileURL(resolve(values.dist ?? 'dist')).href;
const batch = Number(values.batch ?? 32);
const seconds = Number(values.seconds ?? 2);
const rounds = Number(values.rounds ?? 5);

// The workload always comes from this checkout's bench modules; the server code from --dist.
const wl = await import(pathToFileURL(resolve('dist/src/bench/workload.js')).href);
const { Connection } = await import(`${dist}/src/server/connection.js`);
const { ServerStats } = await import(`${dist}/src/server/stats.js`);
const { ReplyScratch } = await import(`${dist}/src/server/reply-scratch.js`);
const { MemoryStore } = await import(`${dist}/src/store/memory-store.js`);
const { createLogger } = await import(`${dist}/src/observability/logger.js`);

class StubSocket extends EventEmitter {
  writableLength = 0;
  bytes = 0;
  setNoDelay() {}
  setTimeout() {}
  pause() {}
  resume() {}
  end() {}
  destroy() {}
  write(buf) {
    this.bytes += buf.length;
    return true;
  }
}

const plan = wl.planWorkload(
  wl.parseDataFile(readFileSync('test/fixtures/brew-dependencies.txt', 'utf8')),
  1,
);
const mix = values.mix === undefined ? wl.DEFAULT_MIX : wl.parseMix(values.mix);
const script = wl.buildScript(plan, mix, 1, 65_536);
const warm = wl.buildWarmupScript(plan);
const chunksOf = (s) => {
  const out = [];
  for (let i = 0; i < s.length; i += batch) {
    const end = Math.min(i + batch, s.length);
    out.push(Buffer.from(s.bytes.subarray(s.offsets[i], s.offsets[end])));
  }
  return out;
};
const log = createLogger(
  { level: 'info', quiet: true, pretty: false },
  new Writable({ write: (_c, _e, cb) => cb() }),
);
const store = new MemoryStore();
await store.open();
const socket = new StubSocket();
const limits = { maxLineBytes: 65_536, idleTimeoutMs: 0, outputHighWaterBytes: 1 << 30 };
const connection = new Connection(
  1,
  socket,
  store,
  new ServerStats(),
  limits,
  log,
  new ReplyScratch(),
  () => {},
);
// Builds from before `receive()` took their bytes from the socket's 'data' events.
const feed =
  typeof connection.receive === 'function'
    ? (c) => connection.receive(c, c.length)
    : (c) => socket.emit('data', c);
for (const c of chunksOf(warm)) feed(c);
const chunks = chunksOf(script);
const perChunk = script.length / chunks.length;

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
  `${values.dist ?? 'dist'} mix ${wl.formatMix(mix)} batch ${batch}: min ${results[0].toFixed(0)} ns/msg, median ${results[Math.floor(rounds / 2)].toFixed(0)} ns/msg (${rounds} rounds of ${seconds} s)`,
);
