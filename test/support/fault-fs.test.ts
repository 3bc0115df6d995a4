import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaultFs } from './fault-fs.js';
import { tempDir } from '../store/support/tmp-dir.js';

test('fails the Nth call of an operation, then lets calls through again', async (t) => {
  const dir = await tempDir(t);
  const fs = new FaultFs();
  fs.inject({ op: 'write', after: 2, code: 'ENOSPC' });
  const file = await fs.open(join(dir, 'f'), 'create');
  await file.write(Buffer.from('a'), 0);
  await file.write(Buffer.from('b'), 1);
  await assert.rejects(file.write(Buffer.from('c'), 2), { code: 'ENOSPC' });
  await file.write(Buffer.from('d'), 2);
  await file.close();
  assert.equal(fs.count('write'), 4);
  assert.equal(await readFile(join(dir, 'f'), 'latin1'), 'abd');
});

test('a partial write lands half the bytes before failing', async (t) => {
  const dir = await tempDir(t);
  const fs = new FaultFs();
  fs.inject({ op: 'write', partial: true });
  const file = await fs.open(join(dir, 'f'), 'create');
  await assert.rejects(file.write(Buffer.from('abcdef'), 0), { code: 'EIO' });
  await file.close();
  assert.equal(await readFile(join(dir, 'f'), 'latin1'), 'abc');
});

test('crash drops unsynced bytes and unsynced directory entries, and kills the fs', async (t) => {
  const dir = await tempDir(t);
  const fs = new FaultFs();
  const kept = await fs.open(join(dir, 'kept'), 'create');
  await kept.write(Buffer.from('synced'), 0);
  await kept.datasync();
  await fs.syncDir(dir);
  await kept.write(Buffer.from('-lost'), 6);
  const fresh = await fs.open(join(dir, 'fresh'), 'create');
  await fresh.write(Buffer.from('x'), 0);
  await fresh.datasync();
  await writeFile(join(dir, 'renamed.tmp'), 'r');
  await fs.rename(join(dir, 'renamed.tmp'), join(dir, 'renamed'));
  await fs.crash('drop');
  await assert.rejects(kept.write(Buffer.from('z'), 0), { code: 'ECRASHED' });
  await assert.rejects(fs.readdir(dir), { code: 'ECRASHED' });
  await kept.close();
  await fresh.close();
  assert.equal(await readFile(join(dir, 'kept'), 'latin1'), 'synced');
  assert.deepEqual((await readdir(dir)).sort(), ['kept', 'renamed.tmp']);
});

test('crash with tear keeps a prefix of the unsynced bytes', async (t) => {
  const dir = await tempDir(t);
  const sizes = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const fs = new FaultFs();
    const path = join(dir, `f${i}`);
    await writeFile(path, '');
    const file = await fs.open(path, 'write');
    await file.write(Buffer.from('0123'), 0);
    await file.datasync();
    await file.write(Buffer.alloc(100, 0x61), 4);
    await fs.crash('tear');
    await file.close();
    const after = await readFile(path, 'latin1');
    assert.ok(after.startsWith('0123') && after.length <= 104);
    sizes.add(after.length);
  }
  assert.ok(sizes.size > 1, 'tears at different points');
});

test('bytes whose sync failed are lost at a crash even if a later sync succeeds', async (t) => {
  const dir = await tempDir(t);
  const fs = new FaultFs();
  fs.inject({ op: 'datasync', after: 1 });
  const file = await fs.open(join(dir, 'f'), 'create');
  await fs.syncDir(dir);
  await file.write(Buffer.from('aaaa'), 0);
  await file.datasync();
  await file.write(Buffer.from('bbbb'), 4);
  await assert.rejects(file.datasync(), { code: 'EIO' });
  await file.write(Buffer.from('cccc'), 8);
  await file.datasync();
  await fs.crash('drop');
  await file.close();
  assert.equal(await readFile(join(dir, 'f'), 'latin1'), 'aaaa\0\0\0\0cccc');
});
