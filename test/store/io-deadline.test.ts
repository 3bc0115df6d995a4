import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiskStore } from '../../src/store/disk-store.js';
import { FaultFs } from '../support/fault-fs.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';
import { until } from '../support/until.js';
import { get, sample, startInProcess } from '../admin/harness.js';
import { tempDir } from './support/tmp-dir.js';

const TIMEOUT_MS = 300;

function storeOn(dir: string, fs: FaultFs): DiskStore {
  return new DiskStore({
    dataDir: dir,
    fs,
    compactor: inlineCompactor(fs),
    retryMinMs: 5,
    retryMaxMs: 20,
    storageTimeoutMs: TIMEOUT_MS,
  });
}

// Issue 11, defect 6: with fdatasync blocked (a hung disk, NFS), replies waited forever,
// /readyz stayed ready and no metric moved, since latency was recorded only on release.
for (const [op, then] of [
  ['datasync', 'succeeds'],
  ['write', 'succeeds'],
  ['datasync', 'fails'],
] as const) {
  test(
    `a ${op} hung past --storage-timeout-ms: held replies ERROR, not ready, gauge grows; the store recovers once it ${then}`,
    { timeout: 60_000 },
    async (t) => {
      const dir = await tempDir(t);
      const fs = new FaultFs();
      const store = storeOn(dir, fs);
      const s = await startInProcess({ store });
      t.after(() => s.close());
      const writer = await LineClient.open(s.port);
      const reader = await LineClient.open(s.port);
      t.after(() => {
        writer.close();
        reader.close();
      });
      assert.deepEqual(await writer.request('INDEX|base|'), ['OK']);

      const hold = fs.hold(op, '.log');
      if (then === 'fails') fs.inject({ op: 'datasync', path: '.log' });
      const stuck = writer.request('INDEX|stuck|base');
      await hold.reached;
      // Observes the stuck INDEX, so it is held behind the same sync.
      const observed = reader.request('QUERY|stuck|');
      assert.deepEqual(await stuck, ['ERROR'], 'answered at the deadline, not when the disk returns');
      assert.deepEqual(await observed, ['ERROR']);

      // Still hung: not ready, the gauge shows the age, the log says what is stuck.
      const ready = await get(s.adminPort, '/readyz');
      assert.equal(ready.status, 503);
      assert.match(
        ready.text,
        new RegExp(`has not completed after \\d+ ms \\(--storage-timeout-ms ${TIMEOUT_MS}\\)`),
      );
      const metrics = (await get(s.adminPort, '/metrics')).text;
      assert.ok(sample(metrics, 'pkgindex_store_inflight_io_age_seconds')! >= TIMEOUT_MS / 1000, metrics);
      assert.equal(sample(metrics, 'pkgindex_store_io_stuck_total'), 1);
      assert.equal(sample(metrics, 'pkgindex_store_writable'), 0);
      assert.ok(
        s.events.some(
          (e) =>
            e.msg.startsWith('storage operation stuck') && e.op === (op === 'write' ? 'write' : 'fdatasync'),
        ),
      );
      // Reads are answered from the last durable state; mutations are refused.
      assert.deepEqual(await reader.request('QUERY|stuck|', 'QUERY|base|'), ['FAIL', 'OK']);
      assert.deepEqual(await writer.request('INDEX|other|'), ['ERROR']);

      hold.release();
      await until('writable again', () => store.health().writable);
      assert.ok(
        s.events.some(
          (e) => e.msg === 'stuck storage operation completed' && e.failed === (then === 'fails'),
        ),
      );
      assert.equal((await get(s.adminPort, '/readyz')).status, 200);
      assert.equal(
        sample((await get(s.adminPort, '/metrics')).text, 'pkgindex_store_inflight_io_age_seconds'),
        0,
      );
      // Whatever the late operation did, the mutation answered ERROR did not happen.
      assert.deepEqual(await reader.request('QUERY|stuck|'), ['FAIL']);
      assert.deepEqual(await writer.request('INDEX|after|base'), ['OK']);

      writer.close();
      reader.close();
      await s.close();
      const restarted = await startServer({ storage: 'disk', dataDir: dir });
      t.after(() => restarted.close());
      const again = await LineClient.open(restarted.port);
      t.after(() => {
        again.close();
      });
      assert.deepEqual(await again.request('QUERY|stuck|', 'QUERY|base|', 'QUERY|after|'), [
        'FAIL',
        'OK',
        'OK',
      ]);
    },
  );
}

test('an operation quicker than the deadline changes nothing, and the gauge is 0 when idle', async (t) => {
  const dir = await tempDir(t);
  const fs = new FaultFs();
  const store = storeOn(dir, fs);
  const client = await startServer({ storage: 'disk', dataDir: dir }, { store });
  t.after(() => client.close());
  const hold = fs.hold('datasync');
  const line = await LineClient.open(client.port);
  t.after(() => {
    line.close();
  });
  const reply = line.request('INDEX|a|');
  await hold.reached;
  assert.ok(store.health().inflightIoMs! >= 0, 'in flight while held');
  hold.release();
  assert.deepEqual(await reply, ['OK']);
  assert.equal(store.health().inflightIoMs, undefined);
  assert.equal(store.health().writable, true);
});
