import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { LineClient } from '../support/line-client.js';
import { denyingLauncher } from '../support/seccomp.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { newDataDir } from './support/tmp-dir.js';

// --compaction-nice (stop 46): the compaction thread folds the log at a low priority, so that
// it takes the CPU the threads serving clients leave idle. A server started under a seccomp
// filter that refuses setpriority(2) says so, and compacts at its own priority.

/** A durable server that rotates its log every 4 KiB, so that a few hundred INDEX lines compact it. */
async function compactingServer(t: TestContext, args: string[], launcher?: string): Promise<ServerProcess> {
  const server = await spawnServer({
    storage: 'disk',
    dataDir: await newDataDir(t),
    args: ['--compact-after-bytes=4096', ...args],
    ...(launcher === undefined ? {} : { launcher: [launcher] }),
  });
  t.after(() => server.stop('SIGKILL'));
  return server;
}

/** Indexes packages until the server logs a compaction; returns that event. */
async function firstCompaction(server: ServerProcess): Promise<Record<string, unknown>> {
  const client = await LineClient.open(server.port);
  try {
    for (let i = 0; i < 20_000; i++) {
      const compacted = server.events.find((e) => e.msg === 'storage compacted');
      if (compacted !== undefined) {
        assert.deepEqual(await client.request('QUERY|package-with-a-long-name-0|'), ['OK']);
        return compacted;
      }
      assert.deepEqual(await client.request(`INDEX|package-with-a-long-name-${i}|`), ['OK']);
    }
  } finally {
    client.close();
  }
  return assert.fail('no compaction after 20,000 INDEX lines');
}

function priorityWarning(server: ServerProcess): Record<string, unknown> | undefined {
  return server.events.find((e) => e.event === 'store.compaction.priority');
}

function linuxOnly(t: TestContext): boolean {
  if (process.platform === 'linux') return true;
  t.skip(`--compaction-nice applies on Linux only; this is ${process.platform}`);
  return false;
}

test('the compaction thread runs at nice 19 by default, and at the server priority with --compaction-nice 0', async (t) => {
  if (!linuxOnly(t)) return;
  const own = getPriority();
  const lowered = await compactingServer(t, []);
  const compacted = await firstCompaction(lowered);
  assert.equal(compacted.threadNice, 19);
  assert.equal(compacted.priorityError, undefined);
  assert.equal(priorityWarning(lowered), undefined);
  assert.equal(await lowered.stop('SIGTERM'), 0);

  const plain = await compactingServer(t, ['--compaction-nice=0']);
  assert.equal((await firstCompaction(plain)).threadNice, own);
  assert.equal(priorityWarning(plain), undefined);
  assert.equal(await plain.stop('SIGTERM'), 0);
});

test('where seccomp refuses setpriority, the server warns once what to do, and compacts all the same', async (t) => {
  if (!linuxOnly(t)) return;
  const deny = await denyingLauncher(t, 'setpriority');
  if (deny === null) return;
  const server = await compactingServer(t, [], deny);
  const compacted = await firstCompaction(server);
  assert.equal(compacted.threadNice, getPriority(), 'it compacted at the priority it had');
  assert.match(String(compacted.priorityError), /EPERM|not permitted/i);
  const warning = priorityWarning(server);
  assert.ok(warning !== undefined, 'a warning says the priority could not be lowered');
  assert.equal(warning.level, 40, 'at level warn');
  assert.match(String(warning.msg), /--compaction-nice 0/);
  assert.equal(await server.stop('SIGTERM'), 0);
  // The kept thread answers every later compaction too; only its first answer carries the error.
  assert.equal(server.events.filter((e) => e.event === 'store.compaction.priority').length, 1);
});
