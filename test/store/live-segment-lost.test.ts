import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate, unlink } from 'node:fs/promises';
import { DiskStore } from '../../src/store/disk-store.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
import { exchange, get, startInProcess } from '../admin/harness.js';
import { until } from '../support/until.js';
import { newDataDir } from './support/tmp-dir.js';

const cases = [
  {
    what: 'deleted',
    preallocateBytes: undefined,
    damage: (path: string) => unlink(path),
    reason: /segment-0000000001\.log was deleted while the server was writing it/,
  },
  {
    what: 'truncated',
    preallocateBytes: 0,
    damage: (path: string) => truncate(path, 40),
    reason:
      /segment-0000000001\.log was truncated to 40 bytes .* below the \d+ bytes of records it had acknowledged/,
  },
];

for (const { what, preallocateBytes, damage, reason } of cases)
  test(
    `a live segment ${what} under a running server: mutations ERROR, not ready with the reason, an error logged, no reopen`,
    { timeout: 30_000 },
    async (t) => {
      const dir = await newDataDir(t);
      // The watchdog ticks every storageTimeoutMs / 4: 100 ms here.
      const store = new DiskStore({
        dataDir: dir,
        storageTimeoutMs: 400,
        retryMinMs: 5,
        ...(preallocateBytes === undefined ? {} : { preallocateBytes }),
      });
      const s = await startInProcess({ store });
      t.after(() => s.close());
      assert.deepEqual(await exchange(s.port, ['INDEX|a1|', 'INDEX|a2|', 'INDEX|a3|']), ['OK', 'OK', 'OK']);
      await damage(segmentPath(dir, 1));
      await until('not writable', () => !store.health().writable);
      assert.deepEqual(await exchange(s.port, ['INDEX|a4|', 'QUERY|a1|']), ['ERROR', 'OK']);
      const readyz = await get(s.adminPort, '/readyz');
      assert.equal(readyz.status, 503);
      const body = JSON.parse(readyz.text) as { reason: string };
      assert.match(body.reason, reason);
      assert.match(body.reason, /restore it from a backup/);
      const logged = s.events.find((e) => e.event === 'store.state' && e.level === 50);
      assert.match(String(logged?.detail), reason);
      // It stays so: no reopen adopts the dir without the records.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(store.health().writable, false);
      assert.deepEqual(await exchange(s.port, ['REMOVE|a2|']), ['ERROR']);
    },
  );
