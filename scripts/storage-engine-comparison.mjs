#!/usr/bin/env node
// Measures the two storage engines considered in docs/adr/0001-storage-engine.md on the same
// synthetic workload, in-process (no TCP): group-committed INDEX throughput with 1 and 100
// concurrent writers, and disk bytes per package.
//
//   npm run build
//   mkdir /tmp/sqlite-bench && cd /tmp/sqlite-bench && npm init -y && npm i better-sqlite3@12
//   (approve its install script: npm install-scripts approve better-sqlite3 && npm rebuild)
//   node scripts/storage-engine-comparison.mjs --sqlite-dir /tmp/sqlite-bench [--packages 100000]
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DiskStore } from '../dist/src/store/disk-store.js';
import { inlineCompactor } from '../dist/src/store/compaction.js';
import { NodeFs } from '../dist/src/store/fs/node-fs.js';
import { DependencyGraph } from '../dist/src/graph/dependency-graph.js';

const { values } = parseArgs({
  options: {
    'sqlite-dir': { type: 'string' },
    packages: { type: 'string', default: '100000' },
    'single-writer-ops': { type: 'string', default: '2000' },
  },
});
const PACKAGES = Number(values.packages);
const SINGLE = Number(values['single-writer-ops']);

/** Package i depends on up to 3 earlier ones: a DAG shaped like real dependency trees. */
function packageAt(i) {
  const deps = [];
  for (let k = 0; k < i % 4 && i > 0; k++) deps.push(`pkg-${(i * 7919 + k * 104729) % i}`);
  return { name: `pkg-${i}`, deps: [...new Set(deps)] };
}

function dirBytes(dir) {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/**
 * Runs `ops` INDEX mutations from `writers` concurrent loops; returns ops/s and the longest
 * event-loop stall seen meanwhile (what a QUERY arriving then would wait).
 */
async function drive(writers, ops, offset, indexOne) {
  let next = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < ops) await indexOne(packageAt(offset + next++));
    }),
  );
  delay.disable();
  const rate = ops / ((performance.now() - started) / 1000);
  return `${rate.toFixed(0)} ops/s (event loop stalls: p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms)`;
}

async function measureLog() {
  const dir = mkdtempSync(join(tmpdir(), 'cmp-log-'));
  const fs = new NodeFs();
  const store = new DiskStore({
    dataDir: dir,
    fs,
    compactor: inlineCompactor(fs),
    compactAfterBytes: 1 << 30,
  });
  await store.open();
  const indexOne = async ({ name, deps }) => {
    store.execute({ verb: 'INDEX', name, deps });
    await store.barrier();
  };
  const one = await drive(1, SINGLE, 0, indexOne);
  const hundred = await drive(100, PACKAGES - SINGLE, SINGLE, indexOne);
  await store.close();
  const logBytes = dirBytes(dir);
  // Fold the log into a snapshot (a compaction), the steady state of the data dir.
  const started = performance.now();
  const compacting = new DiskStore({
    dataDir: dir,
    fs,
    compactor: inlineCompactor(fs),
    compactAfterBytes: 4096,
  });
  await compacting.open();
  while (readdirSync(dir).filter((f) => f.endsWith('.snap')).length === 0)
    await new Promise((r) => setTimeout(r, 10));
  await compacting.close();
  const compactMs = performance.now() - started;
  const snapshotBytes = dirBytes(dir);
  rmSync(dir, { recursive: true });
  return { one, hundred, logBytes, snapshotBytes, compactMs };
}

function measureSqlite() {
  const require = createRequire(join(values['sqlite-dir'], 'node_modules', 'x.js'));
  const Database = require('better-sqlite3');
  const dir = mkdtempSync(join(tmpdir(), 'cmp-sqlite-'));
  const db = new Database(join(dir, 'index.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE package (name TEXT PRIMARY KEY, deps TEXT NOT NULL) WITHOUT ROWID');
  const upsert = db.prepare(
    'INSERT INTO package (name, deps) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET deps = excluded.deps',
  );
  // Group commit by hand: mutations arriving while the event loop was busy share one
  // transaction; better-sqlite3 is synchronous, so COMMIT's fsync blocks the event loop.
  let pending = [];
  let scheduled = false;
  const commit = db.transaction((batch) => {
    for (const p of batch) upsert.run(p.name, p.deps.join(','));
  });
  // The in-memory graph stays the serving structure with either engine: keep its cost here too.
  const graph = new DependencyGraph();
  const indexOne = (p) =>
    new Promise((resolve) => {
      graph.index(p.name, p.deps);
      pending.push({ ...p, resolve });
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          const batch = pending;
          pending = [];
          commit(batch);
          for (const p of batch) p.resolve();
        });
      }
    });
  return (async () => {
    const one = await drive(1, SINGLE, 0, indexOne);
    const hundred = await drive(100, PACKAGES - SINGLE, SINGLE, indexOne);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const bytes = dirBytes(dir);
    rmSync(dir, { recursive: true });
    return { one, hundred, bytes, version: require('better-sqlite3/package.json').version };
  })();
}

const log = await measureLog();
console.log(
  `log+snapshot: 1 writer ${log.one}, 100 writers ${log.hundred}, ` +
    `log ${(log.logBytes / PACKAGES).toFixed(1)} B/package, snapshot ${(log.snapshotBytes / PACKAGES).toFixed(1)} B/package ` +
    `(compaction of ${PACKAGES} packages ${log.compactMs.toFixed(0)} ms)`,
);
if (values['sqlite-dir'] !== undefined) {
  const sq = await measureSqlite();
  console.log(
    `sqlite ${sq.version} (WAL, synchronous=FULL): 1 writer ${sq.one}, 100 writers ${sq.hundred}, ` +
      `${(sq.bytes / PACKAGES).toFixed(1)} B/package`,
  );
}
