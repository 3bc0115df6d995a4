/**
 * `pkgindex serve --compaction-keep-ms`, end to end: a real server on a real data dir, loaded
 * until it has compacted, its threads counted in /proc. With the default the compaction thread
 * stays after a compaction (the next one starts warm); with 0 it ends with each compaction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer } from '../support/servers.js';
import { LineClient } from '../support/line-client.js';
import { until } from '../support/until.js';

const threadsOf = (pid: number): number => readdirSync(`/proc/${pid}/task`).length;

for (const keepMs of [60_000, 0])
  test(`pkgindex serve --compaction-keep-ms ${keepMs}: the compaction thread ${keepMs > 0 ? 'stays after a compaction' : 'ends with each compaction'}`, async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'pkgindex-keep-'));
    t.after(() => rm(base, { recursive: true, force: true }));
    const server = await spawnServer({
      storage: 'disk',
      dataDir: join(base, 'data'),
      threads: 1,
      admin: false,
      args: ['--compact-after-bytes', '4096', '--compaction-keep-ms', String(keepMs)],
    });
    t.after(() => server.stop());
    const client = await LineClient.open(server.port);
    t.after(() => {
      client.close();
    });
    assert.equal(await client.send('INDEX|first|'), 'OK');
    const before = threadsOf(server.pid);
    const compactions = (): number => server.events.filter((e) => e.msg === 'storage compacted').length;
    // Every line changes the index (each package's list alternates every 50 lines), so every
    // line is a record and the 4 KiB segments rotate and compact within a few hundred lines.
    for (let i = 0; compactions() < 2; i++) {
      assert.ok(i < 100_000, 'two compactions within 100,000 lines');
      assert.equal(
        await client.send(
          `INDEX|package-with-a-long-name-${i % 50}|${Math.floor(i / 50) % 2 === 0 ? 'first' : ''}`,
        ),
        'OK',
      );
    }
    // Whatever the thread does now, it does it within a few hundred ms of the last compaction.
    if (keepMs > 0) {
      await until('the compaction thread waiting', () => threadsOf(server.pid) === before + 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(threadsOf(server.pid), before + 1, 'it is still there');
    } else await until('back to the threads before any compaction', () => threadsOf(server.pid) === before);
  });
