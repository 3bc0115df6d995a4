import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskStore } from '../../src/store/disk-store.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { formatFsckReport, fsckDataDir } from '../../src/store/fsck.js';
import { Verb } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { send } from './support/workload.js';
import { tempDir } from './support/tmp-dir.js';

test('fsck does not claim a cut tail loses nothing acknowledged: it says what a torn tail can and cannot mean', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'data');
  const store = new DiskStore({ dataDir: dir, preallocateBytes: 0 });
  await store.open();
  for (let i = 0; i < 20; i++)
    assert.equal(await send(store, { verb: Verb.INDEX, name: `p${i}`, deps: [] }), Reply.OK);
  // A copy of the running store's dir (as after a kill -9), its live segment cut mid-record.
  const copy = join(root, 'copy');
  await cp(dir, copy, { recursive: true });
  await store.close();
  const segment = segmentPath(copy, 1);
  await truncate(segment, (await stat(segment)).size - 5);
  const text = formatFsckReport(await fsckDataDir(new NodeFs(), copy));
  assert.match(text, /^torn tail: \d+ bytes/m);
  assert.match(text, /records after the cut are lost, acknowledged or not/);
  assert.doesNotMatch(text, /loses nothing it acknowledged/);
  assert.match(text, /^clean: .*restore from a backup if the segment may have been cut/m);
});
