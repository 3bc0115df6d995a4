import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { newDataDir } from './support/tmp-dir.js';

/** This process's descriptors open on `path`, with their open flags (Linux: /proc/self/fdinfo). */
async function descriptorsOf(path: string): Promise<{ fd: number; flags: number }[]> {
  const found: { fd: number; flags: number }[] = [];
  for (const name of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${name}`).catch(() => null);
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${name}`, 'utf8').catch(() => null);
    const flags = info === null ? null : /^flags:\s+([0-7]+)$/m.exec(info);
    if (flags !== null) found.push({ fd: Number(name), flags: parseInt(flags[1]!, 8) });
  }
  return found;
}

const procReason = await readdir('/proc/self/fdinfo').then(
  () => false as const,
  () => 'needs /proc/self/fdinfo (Linux) to see the descriptors a file holds',
);

test(
  'writeDurably writes through a second descriptor opened with O_DSYNC, and close() closes both',
  { skip: procReason },
  async (t) => {
    const dir = await newDataDir(t);
    const path = join(dir, 'segment');
    const fs = new NodeFs();
    await fs.mkdir(dir);
    const file = await fs.open(path, 'create');
    await file.write(Buffer.from('head'), 0);
    assert.deepEqual(
      (await descriptorsOf(path)).map((d) => (d.flags & constants.O_DSYNC) !== 0),
      [false],
      'one plain descriptor before the first durable write',
    );

    await file.writeDurably(Buffer.from('-one'), 4);
    await file.writeDurably(Buffer.from('-two'), 8);
    const open = await descriptorsOf(path);
    assert.equal(open.length, 2, 'the O_DSYNC descriptor is opened once, not per write');
    assert.equal(open.filter((d) => (d.flags & constants.O_DSYNC) !== 0).length, 1);
    // Both descriptors write one file: what either wrote is there, in place.
    assert.equal(await file.size(), 12);
    const reader = await fs.open(path, 'read');
    const buffer = Buffer.alloc(12);
    assert.equal(await reader.read(buffer, 0, 12), 12);
    assert.equal(buffer.toString(), 'head-one-two');
    await reader.close();

    await file.close();
    assert.deepEqual(await descriptorsOf(path), [], 'no descriptor left open');
    await file.close();
    assert.equal(await readFile(path, 'utf8'), 'head-one-two');
  },
);

test('open fails as its mode says (create: EEXIST, read: ENOENT) and a closed file holds no descriptor', async (t) => {
  const dir = await newDataDir(t);
  const fs = new NodeFs();
  await fs.mkdir(dir);
  const path = join(dir, 'snapshot');
  const file = await fs.open(path, 'create');
  await file.write(Buffer.from('x'), 0);
  await file.datasync();
  await file.close();
  if (procReason === false) assert.deepEqual(await descriptorsOf(path), []);
  await assert.rejects(fs.open(path, 'create'), { code: 'EEXIST' });
  await assert.rejects(fs.open(join(dir, 'missing'), 'read'), { code: 'ENOENT' });
  await fs.syncDir(dir);
});
