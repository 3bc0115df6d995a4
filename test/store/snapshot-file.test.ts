import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DependencyGraph } from '../../src/graph/dependency-graph.js';
import { isPkgIndexError } from '../../src/errors.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { encodeFileHeader, Magic } from '../../src/store/format/file-header.js';
import { RecordBuffer } from '../../src/store/format/record-buffer.js';
import { readSnapshot, writeSnapshot } from '../../src/store/snapshot-file.js';
import { tempDir } from './support/tmp-dir.js';

/** A snapshot file holding the header and the records `fill` appends, sealed as the writer seals them. */
function snapshotBytes(fill: (records: RecordBuffer) => void): Buffer {
  const records = new RecordBuffer();
  fill(records);
  return Buffer.concat([encodeFileHeader(Magic.SNAPSHOT, 7), Buffer.from(records.seal(0))]);
}

const damaged: [string, (records: RecordBuffer) => void, RegExp][] = [
  [
    'a record after the END record',
    (r) => {
      r.appendIndex('a', []);
      r.appendEnd(1, 0);
      r.appendIndex('b', []);
    },
    /record after the END record/,
  ],
  [
    'a REMOVE record',
    (r) => {
      r.appendRemove('a');
    },
    /invalid snapshot record/,
  ],
  [
    'a package indexed before its dependency',
    (r) => {
      r.appendIndex('a', ['b']);
      r.appendEnd(1, 1);
    },
    /invalid snapshot record/,
  ],
  [
    'no END record',
    (r) => {
      r.appendIndex('a', []);
    },
    /missing END record/,
  ],
  [
    'counts that differ from the END record',
    (r) => {
      r.appendIndex('a', []);
      r.appendEnd(2, 0);
    },
    /package or edge count differs/,
  ],
];

for (const [what, fill, reason] of damaged)
  test(`a snapshot with ${what} is refused as corrupt`, async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'snapshot');
    await writeFile(path, snapshotBytes(fill));
    await assert.rejects(
      readSnapshot(new NodeFs(), path, new DependencyGraph()),
      (err) => isPkgIndexError(err, 'E_STORAGE_CORRUPT') && reason.test(err.message),
    );
  });

test('a snapshot cut inside its file header is refused as corrupt', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'snapshot');
  await writeFile(path, encodeFileHeader(Magic.SNAPSHOT, 7).subarray(0, 5));
  await assert.rejects(
    readSnapshot(new NodeFs(), path, new DependencyGraph()),
    (err) => isPkgIndexError(err, 'E_STORAGE_CORRUPT') && /incomplete file header/.test(err.message),
  );
});

test('a snapshot larger than one write chunk round-trips', async (t) => {
  const dir = await tempDir(t);
  const entries: [string, string[]][] = [];
  for (let i = 0; i < 40_000; i++)
    entries.push([`package-with-a-long-name-${i}`, i === 0 ? [] : ['package-with-a-long-name-0']]);
  const size = await writeSnapshot(new NodeFs(), dir, 3, entries);
  assert.ok(size > 1024 * 1024, `${size} bytes`);
  const graph = new DependencyGraph();
  const files = await readdir(dir);
  assert.equal(files.length, 1);
  const header = await readSnapshot(new NodeFs(), join(dir, files[0]!), graph);
  assert.equal(header.seq, 3);
  assert.equal(graph.size, 40_000);
  assert.equal(graph.edgeCount, 39_999);
});
