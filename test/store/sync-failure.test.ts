import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { Verb, type Command } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { FaultFs, type FaultRule } from '../support/fault-fs.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { recover } from '../../src/store/recover.js';
import { StoreChannel, type StateEvent } from '../../src/store/store-events.js';
import { newDataDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';
import { until } from '../support/until.js';
import { exchange, get, sample, startInProcess, type LogEvent } from '../admin/harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A durable store on the fault-injecting `fs`, compacting inline, retrying a failed log soon. */
async function openStore(dir: string, fs: FaultFs, retryMaxMs?: number): Promise<DiskStore> {
  const store = new DiskStore({
    dataDir: dir,
    fs,
    compactor: inlineCompactor(fs),
    retryMinMs: 5,
    ...(retryMaxMs === undefined ? {} : { retryMaxMs }),
  });
  await store.open();
  return store;
}

/**
 * Clients index fresh packages (each on the previous one of the same client), so every
 * acknowledged INDEX must be in the index for good. Returns the acknowledged names.
 */
async function indexFresh(
  store: DiskStore,
  clients: number,
  perClient: number,
  tag: string,
): Promise<{ acked: string[]; errors: number }> {
  const acked: string[] = [];
  let errors = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let previous: string | null = null;
      for (let i = 0; i < perClient; i++) {
        const name = `${tag}-c${c}-${i}`;
        const deps =
          previous !== null && store.execute({ verb: Verb.QUERY, name: previous }) === Reply.OK
            ? [previous]
            : [];
        const command: Command = { verb: Verb.INDEX, name, deps };
        const reply = await send(store, command);
        if (reply === Reply.OK) {
          acked.push(name);
          previous = name;
        } else if (reply === Reply.ERROR) errors++;
        else assert.fail(`unexpected ${reply} for ${name}`);
      }
    }),
  );
  return { acked, errors };
}

const faults: [string, FaultRule][] = [
  ['EIO on fdatasync', { op: 'datasync', after: 5, path: '.log' }],
  ['EIO on a short write', { op: 'write', after: 5, path: '.log', partial: true }],
  ['EIO on fdatasync twice, then on the truncate that follows', { op: 'datasync', after: 5, times: 2 }],
];

for (const [what, rule] of faults) {
  test(
    `${what}: nothing acknowledged after the failure is lost, and the store reopens by itself`,
    { timeout: 60_000 },
    async (t) => {
      const dir = await newDataDir(t);
      const fs = new FaultFs();
      const states: StateEvent[] = [];
      const onState = (m: unknown): void => void states.push(m as StateEvent);
      diagnostics_channel.subscribe(StoreChannel.STATE, onState);
      t.after(() => diagnostics_channel.unsubscribe(StoreChannel.STATE, onState));
      const store = await openStore(dir, fs);
      fs.inject(rule);
      if (what.includes('truncate')) fs.inject({ op: 'truncate', times: 1 });

      const first = await indexFresh(store, 8, 20, 'a');
      assert.ok(first.errors > 0, 'the fault was answered ERROR');
      assert.ok(
        states.some((s) => !s.writable && /EIO/.test(s.detail ?? '')),
        JSON.stringify(states),
      );
      await until('writable again', () => store.health().writable);
      const second = await indexFresh(store, 4, 10, 'b');
      assert.equal(second.errors, 0);

      // The power goes after all that: bytes whose sync failed are zeroed by FaultFs, so an
      // acknowledgement given after retrying a failed fsync would show up as a lost package.
      await fs.crash('drop');
      await store.close().catch(() => undefined);
      const { graph } = await recover(new NodeFs(), dir, { repair: false });
      for (const name of [...first.acked, ...second.acked])
        assert.ok(graph.has(name), `${name} was acknowledged`);
    },
  );
}

test(
  'disk full: mutations are ERROR, queries still answered, writable again when space returns',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    const store = await openStore(dir, fs, 20);
    const before = await indexFresh(store, 4, 10, 'a');
    assert.equal(before.errors, 0);
    fs.inject({ op: 'write', code: 'ENOSPC', times: Infinity, partial: true });

    assert.equal(await send(store, { verb: Verb.INDEX, name: 'full', deps: [] }), Reply.ERROR);
    await until('unwritable', () => !store.health().writable);
    await sleep(50);
    assert.match(store.health().detail ?? '', /ENOSPC/);
    assert.equal(await send(store, { verb: Verb.INDEX, name: 'full2', deps: [] }), Reply.ERROR);
    assert.equal(await send(store, { verb: Verb.QUERY, name: before.acked[0]! }), Reply.OK);
    assert.equal(
      await send(store, { verb: Verb.QUERY, name: 'full' }),
      Reply.FAIL,
      'state rebuilt from disk',
    );

    fs.heal();
    await until('writable again', () => store.health().writable);
    const after = await indexFresh(store, 4, 10, 'b');
    assert.equal(after.errors, 0);
    await store.close();
    const { graph } = await recover(new NodeFs(), dir, { repair: false });
    for (const name of [...before.acked, ...after.acked]) assert.ok(graph.has(name), name);
    assert.equal(graph.has('full'), false);
  },
);

test(
  'a disk-full outage counts one transition each way, whatever the reopen retries; the retries are logged sparingly',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    const store = new DiskStore({
      dataDir: dir,
      fs,
      compactor: inlineCompactor(fs),
      retryMinMs: 5,
      retryMaxMs: 320,
    });
    const s = await startInProcess({ store, logLevel: 'debug' });
    t.after(() => s.close());
    assert.deepEqual(await exchange(s.port, ['INDEX|a|']), ['OK']);
    fs.inject({ op: 'write', code: 'ENOSPC', times: Infinity, partial: true });
    assert.deepEqual(await exchange(s.port, ['INDEX|full|']), ['ERROR']);
    // Each retry's reason differs ("retrying in 5 ms", "10 ms", ... "320 ms"): 7 of them.
    const retries = (): LogEvent[] =>
      s.events.filter((e) => e.event === 'store.state' && e.changed === false);
    const published = (): number => s.events.filter((e) => e.event === 'store.state').length;
    await until('the loss and seven failed reopens', () => published() >= 8);
    fs.heal();
    await until('writable again', () => store.health().writable);
    assert.deepEqual(await exchange(s.port, ['INDEX|b|a']), ['OK']);

    const metrics = (await get(s.adminPort, '/metrics')).text;
    assert.equal(sample(metrics, 'pkgindex_store_state_changes_total{writable="false"}'), 1);
    assert.equal(sample(metrics, 'pkgindex_store_state_changes_total{writable="true"}'), 1);
    const state = s.events.filter((e) => e.event === 'store.state');
    assert.equal(state.filter((e) => e.level === 50).length, 1, 'one error line for the outage');
    assert.match(String(state.find((e) => e.level === 50)?.detail), /ENOSPC/);
    assert.deepEqual(
      retries().map((e) => e.attempt),
      retries().map((_, i) => i + 1),
    );
    assert.deepEqual(
      retries()
        .filter((e) => e.level === 40)
        .map((e) => e.attempt),
      retries()
        .map((e) => e.attempt as number)
        .filter((n) => (n & (n - 1)) === 0),
    );
  },
);

test(
  'while the failed log cannot even be cut back, queries are answered and mutations are ERROR',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    const store = await openStore(dir, fs, 20);
    assert.equal(await send(store, { verb: Verb.INDEX, name: 'kept', deps: [] }), Reply.OK);
    fs.inject({ op: 'datasync' });
    fs.inject({ op: 'truncate', times: Infinity });
    assert.equal(await send(store, { verb: Verb.INDEX, name: 'lost', deps: [] }), Reply.ERROR);
    await sleep(50);
    assert.ok(fs.count('truncate') > 1, 'retried');
    assert.equal(store.health().writable, false);
    assert.equal(await send(store, { verb: Verb.QUERY, name: 'kept' }), Reply.OK);
    assert.equal(await send(store, { verb: Verb.REMOVE, name: 'kept' }), Reply.ERROR);
    fs.heal();
    await until('writable again', () => store.health().writable);
    assert.equal(await send(store, { verb: Verb.QUERY, name: 'lost' }), Reply.FAIL);
    assert.equal(await send(store, { verb: Verb.INDEX, name: 'after', deps: ['kept'] }), Reply.OK);
    await store.close();
  },
);

/** Descriptors this process holds (Linux), or null where /proc does not list them. */
function openDescriptors(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

/** The descriptors held now; null, with the test skipped saying why, where they cannot be counted. */
function descriptorsOrSkip(t: TestContext): number | null {
  const open = openDescriptors();
  if (open === null) t.skip('/proc/self/fd is not there to count descriptors (not Linux)');
  return open;
}

test(
  'a control record that cannot be saved is retried on the same segment: no descriptor and no segment left per try',
  { timeout: 60_000 },
  async (t) => {
    const before = descriptorsOrSkip(t);
    if (before === null) return;
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    // The data dir is created whole; then twenty tries fail on the control record's sync, the
    // first as open starts the log.
    fs.inject({ op: 'datasync', path: 'CONTROL', after: 1, times: 20 });
    const store = await openStore(dir, fs, 5);
    await until('writable', () => store.health().writable);
    assert.ok(fs.count('datasync') > 20, `the control record was tried ${fs.count('datasync')} times`);
    const segments = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    assert.equal(segments.length, 1, segments.join(' '));
    assert.equal(await send(store, { verb: Verb.INDEX, name: 'a', deps: [] }), Reply.OK);
    await store.close();
    assert.equal(openDescriptors(), before, 'descriptors after close');
    const { graph } = await recover(new NodeFs(), dir, { repair: false });
    assert.ok(graph.has('a'));
  },
);

test('a close whose last sync fails still gives back the segment descriptor, and says so', async (t) => {
  const before = descriptorsOrSkip(t);
  if (before === null) return;
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  // Relaxed with a long interval: the mutation is acknowledged unsynced, and close syncs it.
  const store = new DiskStore({ dataDir: dir, fs, syncMode: 'relaxed', syncIntervalMs: 60_000 });
  await store.open();
  assert.equal(await send(store, { verb: Verb.INDEX, name: 'a', deps: [] }), Reply.OK);
  fs.inject({ op: 'datasync', times: Infinity });
  await assert.rejects(store.close(), /datasync/);
  assert.equal(openDescriptors(), before, 'descriptors after close');
});
