import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiskStore } from '../../src/store/disk-store.js';
import { spawnServer } from '../support/servers.js';
import { LineClient } from '../support/line-client.js';
import { tempDir } from './support/tmp-dir.js';

test(
  'a second store on the same data dir is refused, naming the pid; free again after close',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const first = new DiskStore({ dataDir: dir });
    await first.open();
    const second = new DiskStore({ dataDir: `${dir}/.` });
    await assert.rejects(second.open(), {
      code: 'E_STORAGE_LOCKED',
      message: `data dir ${dir}/. is locked by pid ${process.pid}; stop that process or pass another --data-dir`,
    });
    await first.close();
    await second.open();
    await second.close();
  },
);

test('a second server process is refused; a kill -9 leaves no stale lock', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const options = { storage: 'disk', dataDir: dir, admin: false } as const;
  const first = await spawnServer(options);
  t.after(() => first.kill9());
  await assert.rejects(spawnServer(options), (err: Error) => {
    assert.match(err.message, new RegExp(`code 2\\b.*locked by pid ${first.pid}; stop that process`, 's'));
    assert.match(err.message, /E_STORAGE_LOCKED/);
    return true;
  });
  const client = await LineClient.open(first.port);
  assert.equal(await client.send('INDEX|kept|'), 'OK');
  client.close();
  await first.kill9();

  const restarted = await spawnServer(options);
  t.after(() => restarted.kill9());
  const again = await LineClient.open(restarted.port);
  assert.equal(await again.send('QUERY|kept|'), 'OK');
  again.close();
});
