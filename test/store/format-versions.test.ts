import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPkgIndexError } from '../../src/errors.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { CONTROL_FILE } from '../../src/store/data-dir-files.js';
import { crc32 } from '../../src/store/format/crc32.js';
import { FORMAT_VERSION, FORMAT_VERSIONS } from '../../src/store/format/file-header.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { tempDir } from './support/tmp-dir.js';

const fs = new NodeFs();
/** Golden data dirs, one per released format, each written by the build of that format. */
const FIXTURES = new URL('../../../test/fixtures/data-dirs/', import.meta.url).pathname;

type State = [string, string[]][];

async function expected(dir: string): Promise<State> {
  return JSON.parse(await readFile(join(dir, 'expected.json'), 'utf8')) as State;
}

function stateOf(graph: { topological(): Iterable<readonly [string, readonly string[]]> }): State {
  return [...graph.topological()]
    .map(([name, deps]): [string, string[]] => [name, [...deps].sort()])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

/** Format versions in the headers of the data files of `dir`. */
async function headerVersions(dir: string): Promise<Map<string, number>> {
  const versions = new Map<string, number>();
  for (const name of await readdir(dir))
    if (/\.(log|snap)$/.test(name) || name === CONTROL_FILE)
      versions.set(name, (await readFile(join(dir, name))).readUInt32LE(4));
  return versions;
}

test('a golden data dir is kept for every format version this build reads', async () => {
  const kept = (await readdir(FIXTURES)).sort();
  assert.deepEqual(
    kept,
    Object.keys(FORMAT_VERSIONS).map((v) => `v${v}`),
  );
  assert.equal(Math.max(...Object.keys(FORMAT_VERSIONS).map(Number)), FORMAT_VERSION);
});

for (const version of Object.keys(FORMAT_VERSIONS)) {
  test(`the golden v${version} data dir opens with the index it holds, read-only and as a server`, async (t) => {
    const golden = join(FIXTURES, `v${version}`);
    const read = await recover(fs, golden, { repair: false });
    assert.deepEqual(read.versions, [Number(version)]);
    assert.equal(read.control === null, !FORMAT_VERSIONS[Number(version)]!.control);
    assert.deepEqual(stateOf(read.graph), await expected(golden));

    const dir = await tempDir(t);
    await cp(golden, dir, { recursive: true });
    const store = new DiskStore({ dataDir: dir, compactAfterBytes: 4096, compactor: inlineCompactor(fs) });
    await store.open();
    await store.close();
    // Compaction folded the old segments: every data file is now of the newest format.
    const versions = await headerVersions(dir);
    assert.ok(versions.has(CONTROL_FILE), 'no control record after the first open');
    assert.deepEqual(new Set(versions.values()), new Set([FORMAT_VERSION]), JSON.stringify([...versions]));
    const again = await recover(fs, dir, { repair: false });
    assert.deepEqual(stateOf(again.graph), await expected(golden));
  });
}

test('a data file of a newer format is refused, not misread', async (t) => {
  const dir = await tempDir(t);
  await cp(join(FIXTURES, `v${FORMAT_VERSION}`), dir, { recursive: true });
  const name = (await readdir(dir)).find((n) => n.endsWith('.log'))!;
  const bytes = await readFile(join(dir, name));
  bytes.writeUInt32LE(FORMAT_VERSION + 1, 4);
  bytes.writeUInt32LE(crc32(bytes.subarray(0, 12)), 12);
  await writeFile(join(dir, name), bytes);
  await assert.rejects(recover(fs, dir, { repair: false }), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_VERSION'), String(err));
    assert.match(err.message, /run a newer pkgindex/);
    return true;
  });
});
