/**
 * Writes a golden data directory with the storage format of this build, for the fixtures
 * under test/fixtures/data-dirs/v<N> (see docs/adr/0008-storage-guarantees.md, "Versioning").
 * Each released format keeps one, made by the build that wrote that format, and tests open
 * every one of them with the current build.
 *
 *   npx tsx scripts/golden-data-dir.ts test/fixtures/data-dirs/v2
 *
 * The directory holds a snapshot, two log segments after it (INDEX and REMOVE records) and
 * `expected.json`: the index those files hold, as sorted [name, sorted deps] pairs.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Verb, type Command } from '../src/protocol/command.js';
import { Reply, REPLY_NAMES } from '../src/protocol/reply.js';
import { DiskStore } from '../src/store/disk-store.js';
import { foldSnapshot } from '../src/store/compaction.js';
import { NodeFs } from '../src/store/fs/node-fs.js';
import { recover } from '../src/store/recover.js';
import type { IndexStore } from '../src/store/store.js';

const dir = process.argv[2];
if (dir === undefined) throw new TypeError('usage: golden-data-dir.ts DIR');
const fs = new NodeFs();

async function send(store: IndexStore, command: Command): Promise<void> {
  const reply = store.execute(command);
  await store.barrier();
  if (reply !== Reply.OK)
    throw new TypeError(`${JSON.stringify(command)} was answered ${REPLY_NAMES[reply as Reply]}`);
}

async function run(store: IndexStore, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const deps =
      i === 0 ? [] : [`pkg-${Math.floor(i / 2)}`, `pkg-${i - 1}`].filter((d, k, a) => a.indexOf(d) === k);
    await send(store, { verb: Verb.INDEX, name: `pkg-${i}`, deps });
    // A pause now and then: the v1 build rotated only when its writer was idle.
    if (i % 10 === 9) await new Promise(setImmediate);
  }
}

await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
// Phase 1: a small threshold, so that segments rotate and are folded into a snapshot.
const first = new DiskStore({
  dataDir: dir,
  compactAfterBytes: 4096,
  compactor: (job) => foldSnapshot(fs, job),
});
await first.open();
await run(first, 0, 200);
await first.close();
// Phase 2: a large threshold, so the log after the snapshot stays as segments.
for (let round = 0; round < 2; round++) {
  const store = new DiskStore({
    dataDir: dir,
    compactAfterBytes: 1 << 30,
    compactor: (job) => foldSnapshot(fs, job),
  });
  await store.open();
  await run(store, 200 + round * 20, 220 + round * 20);
  await send(store, { verb: Verb.INDEX, name: `leaf-${round}-a`, deps: ['pkg-0'] });
  await send(store, { verb: Verb.INDEX, name: `leaf-${round}-b`, deps: ['pkg-1'] });
  await send(store, { verb: Verb.REMOVE, name: `leaf-${round}-a` });
  // A re-index that changes the dependencies.
  await send(store, { verb: Verb.INDEX, name: `leaf-${round}-b`, deps: ['pkg-2', 'pkg-3'] });
  await store.close();
}
await rm(join(dir, 'LOCK'), { force: true });
const { graph } = await recover(fs, dir, { repair: false });
const state = [...graph.topological()]
  .map(([name, deps]) => [name, [...deps].sort()] as const)
  .sort(([a], [b]) => (a < b ? -1 : 1));
await writeFile(join(dir, 'expected.json'), JSON.stringify(state) + '\n');
console.log(`${dir}: ${(await readdir(dir)).sort().join(' ')}; ${state.length} packages`);
