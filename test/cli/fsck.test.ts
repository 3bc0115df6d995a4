import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Verb } from '../../src/protocol/command.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
import type { FsckReport } from '../../src/store/fsck.js';
import { newDataDir, tempDir } from '../store/support/tmp-dir.js';
import { send } from '../store/support/workload.js';
import { runCli } from './processes.js';

const FIXTURES = new URL('../../../test/fixtures/data-dirs/', import.meta.url);

async function twoRuns(dir: string): Promise<void> {
  for (let run = 0; run < 2; run++) {
    const store = new DiskStore({ dataDir: dir });
    await store.open();
    for (let i = 0; i < 100; i++) await send(store, { verb: Verb.INDEX, name: `r${run}-p${i}`, deps: [] });
    await store.close();
  }
}

async function fsck(dir: string): Promise<{ code: number | null; text: string; report: FsckReport }> {
  const text = await runCli(['fsck', '--data-dir', dir]);
  const json = await runCli(['fsck', '--data-dir', dir, '--json']);
  assert.equal(text.code, json.code);
  return { code: text.code, text: text.stdout, report: JSON.parse(json.stdout) as FsckReport };
}

test('fsck of a clean data dir: exit 0, what it holds', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  const { code, text, report } = await fsck(dir);
  assert.equal(code, 0, text);
  assert.match(text, /200 packages/);
  assert.match(text, /stopped cleanly/);
  assert.match(text, /^clean:/m);
  assert.equal(report.packages, 200);
  assert.deepEqual(report.versions, [2]);
  assert.equal(report.control?.clean, true);
});

test('fsck finds lost data and damage: exit 1, naming the file', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  const bytes = await readFile(segmentPath(dir, 1));
  await unlink(segmentPath(dir, 2));
  let found = await fsck(dir);
  assert.equal(found.code, 1, found.text);
  assert.match(found.text, /DATA LOSS: .*segment-0000000002\.log is missing/);
  assert.equal(found.report.packages, 100);
  // A flipped byte in the middle of a sealed segment.
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  await writeFile(segmentPath(dir, 1), bytes);
  found = await fsck(dir);
  assert.equal(found.code, 1, found.text);
  assert.equal(found.report.damage?.code, 'E_STORAGE_CORRUPT');
  assert.match(found.text, /DAMAGED \[E_STORAGE_CORRUPT\]: .*segment-0000000001\.log/);
});

test('fsck of a golden v1 data dir (no control record) is clean', async () => {
  const dir = new URL('v1', FIXTURES).pathname;
  const { code, text, report } = await fsck(dir);
  assert.equal(code, 0, text);
  assert.deepEqual(report.versions, [1]);
  assert.equal(report.control, null);
  const expected = JSON.parse(await readFile(join(dir, 'expected.json'), 'utf8')) as unknown[];
  assert.equal(report.packages, expected.length);
});

test('fsck of an existing dir without an index: exit 1, the server would refuse it', async (t) => {
  const dir = await tempDir(t);
  const { code, text, report } = await fsck(dir);
  assert.equal(code, 1, text);
  assert.equal(report.damage?.code, 'E_STORAGE_NO_INDEX');
  assert.match(text, /exists but holds no index.*pkgindex init --data-dir/s);
  assert.match(text, /^no index: the server refuses to start on this dir/m);
});

test('fsck of a missing dir is a usage error: exit 2', async (t) => {
  const result = await runCli(['fsck', '--data-dir', join(await tempDir(t), 'nowhere')]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /is not a directory/);
});
