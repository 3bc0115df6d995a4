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
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';

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
const dist = pathToFileURL(resolve(values.dist ?? 'dist')).href;
const batch = Number(values.batch ?? 32);
const connections = Number(values.connections ?? 100);
const syncMode = values['sync-mode'] ?? 'durable';
// Default: no compaction during the measurement (its worker would add its own CPU).
const compactAfterBytes = Number(values['compact-after-bytes'] ?? 1024 * 1024 * 1024);
const seconds = Number(values.seconds ?? 2);
const rounds = Number(values.rounds ?? 5);

// The workload always comes from this checkout's bench modules; the server code from --dist.
const wl = await import(pathToFileURL(resolve('dist/src/bench/workload.js')).href);
const { Connection } = await import(`${dist}/src/server/connection.js`);
const { ServerStats } = await import(`${dist}/src/server/stats.js`);
const { ReplyScratch } = await import(`${dist}/src/server/reply-scratch.js`);
const { DiskStore } = await import(`${dist}/src/store/disk-store.js`);
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
const mix = values.mix === undefined ? wl.parseMix('index=50,remove=50') : wl.parseMix(values.mix);
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
const dir = mkdtempSync(join(tmpdir(), 'pkgindex-durable-bench-'));
const store = new DiskStore({ dataDir: dir, syncMode, compactAfterBytes });
await store.open();
const limits = { maxLineBytes: 65_536, idleTimeoutMs: 0, outputHighWaterBytes: 1 << 30 };
const stats = new ServerStats();
const scratch = new ReplyScratch();
const conns = [];
for (let i = 0; i < connections; i++) {
  const socket = new StubSocket();
  const connection = new Connection(i + 1, socket, store, stats, limits, log, scratch, () => {});
  conns.push((c) => connection.receive(c, c.length));
}
const settle = async () => {
  const barrier = store.barrier();
  if (barrier !== null) await barrier;
  // Let the connections' release callbacks run.
  await new Promise((r) => setImmediate(r));
};
for (const c of chunksOf(warm)) conns[0](c);
await settle();
const chunks = chunksOf(script);
const perChunk = script.length / chunks.length;

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
  `${values.dist ?? 'dist'} ${syncMode} mix ${wl.formatMix(mix)} ${connections}×${batch}: min ${results[0].ns.toFixed(0)} ns/msg, median ${results[Math.floor(rounds / 2)].ns.toFixed(0)} ns/msg [${all}] (${rounds} rounds of ${seconds} s, ${Math.round(results[0].rate)} msg/s wall)`,
);
