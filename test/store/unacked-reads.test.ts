import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Verb, type Command } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { UnackedNames, unackedBucket } from '../../src/store/unacked-names.js';
import { nameHashOf } from '../../src/protocol/name-cache.js';
import { writerAndReader } from '../support/line-client.js';
import { newDataDir } from './support/tmp-dir.js';
import { faultServer, openFaultStore } from './support/fault-store.js';
import { send } from './support/workload.js';
import { SERVINGS } from '../support/servers.js';
import { answersAfterRestart } from './support/restart.js';

// A QUERY used to wait for whatever group commit was in flight, so on a strict load a QUERY
// of a package nobody touched waited for the disk whenever another client wrote (issue 13:
// the durable strict cells). It now waits only when a record not yet acknowledged changed
// its package.

const query = (name: string): Command => ({ verb: Verb.QUERY, name });
const index = (name: string, deps: string[] = []): Command => ({ verb: Verb.INDEX, name, deps });
const remove = (name: string): Command => ({ verb: Verb.REMOVE, name });

/** Executes `command` alone in a batch; its reply, and whether the batch had to wait. */
function alone(store: DiskStore, command: Command): { reply: unknown; barrier: Promise<unknown> | null } {
  const reply = store.execute(command);
  const barrier = store.barrier();
  barrier?.catch(() => undefined);
  return { reply, barrier };
}

/** `count` names, each in a bucket of its own, and for each of the first two a name that shares its bucket. */
function namesByBucket(count: number): { apart: string[]; twins: [string, string][] } {
  const seen = new Map<number, string>();
  const apart: string[] = [];
  for (let i = 0; apart.length < count; i++) {
    const name = `n${i}`;
    if (seen.has(unackedBucket(name))) continue;
    seen.set(unackedBucket(name), name);
    apart.push(name);
  }
  const twins: [string, string][] = [];
  for (const first of apart.slice(0, 2)) {
    let i = 0;
    while (`t${i}` === first || unackedBucket(`t${i}`) !== unackedBucket(first)) i++;
    twins.push([first, `t${i}`]);
  }
  return { apart, twins };
}

test('UnackedNames finds every pending name pending, and others only when they share its bucket', () => {
  const { apart, twins } = namesByBucket(5);
  const names = [...apart, ...twins.map(([, twin]) => twin)];
  const key = (name: string, parsed: boolean): number | undefined => (parsed ? nameHashOf(name) : undefined);
  const step = fc.oneof(
    fc.record({ append: fc.constantFrom(...names), parsed: fc.boolean() }),
    fc.record({ acknowledge: fc.nat(4) }),
    fc.record({ ask: fc.constantFrom(...names), parsed: fc.boolean() }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
      const unacked = new UnackedNames();
      // The model: every record, by number, and how many are acknowledged.
      const records: string[] = [];
      let acknowledged = 0;
      for (const s of steps) {
        if ('append' in s) {
          records.push(s.append);
          unacked.add(s.append, key(s.append, s.parsed), records.length - 1);
        } else if ('acknowledge' in s) acknowledged = Math.min(records.length, acknowledged + s.acknowledge);
        else {
          const unackedRecords = records.slice(acknowledged);
          const pending = unackedRecords.includes(s.ask);
          const sharing = unackedRecords.some((r) => unackedBucket(r) === unackedBucket(s.ask));
          const found = unacked.has(s.ask, key(s.ask, s.parsed), acknowledged);
          // Never a pending name found acknowledged: its reply would go out before the disk has it.
          if (pending) assert.equal(found, true, `${s.ask} at ${acknowledged}/${records.length}`);
          // Names alone in their bucket exactly; the others while a pending name shares it.
          assert.equal(found, sharing, `${s.ask} at ${acknowledged}/${records.length}`);
        }
      }
    }),
  );
});

test('UnackedNames: a name added by its key is found by its string, and the other way round', () => {
  const unacked = new UnackedNames();
  const [first, twin] = namesByBucket(2).twins[1]!;
  unacked.add('zlib', nameHashOf('zlib'), 0);
  unacked.add('openssl@3', undefined, 1);
  assert.equal(unacked.has('zlib', undefined, 0), true);
  assert.equal(unacked.has('openssl@3', nameHashOf('openssl@3'), 1), true);
  assert.equal(unacked.has('openssl@3', undefined, 2), false, 'acknowledged');
  // A change of one name makes its bucket's other names wait too, until it is acknowledged.
  unacked.add(first, undefined, 2);
  assert.equal(unacked.has(twin, undefined, 2), true);
  assert.equal(unacked.has(twin, undefined, 3), false);
  // Record numbers past 2^31, which a writer reaches in hours of sustained mutations.
  unacked.add('zlib', undefined, 2 ** 33);
  assert.equal(unacked.has('zlib', undefined, 2 ** 33), true);
  assert.equal(unacked.has('zlib', undefined, 2 ** 33 + 1), false);
});

test(
  'with a group commit stuck, a QUERY waits only if a record in it changed its package',
  { timeout: 30_000 },
  async (t) => {
    const names = ['base', 'gone', 'kept', 'new', 'never'];
    assert.equal(new Set(names.map(unackedBucket)).size, names.length, 'names in buckets of their own');
    const dir = await newDataDir(t);
    const { store, fs } = await openFaultStore(t, dir);
    for (const command of [index('base'), index('gone'), index('kept', ['base'])])
      assert.equal(await send(store, command), Reply.OK);
    assert.equal(alone(store, query('base')).barrier, null, 'nothing pending: answered at once');

    const hold = fs.hold('datasync', '.log');
    const added = alone(store, index('new', ['base']));
    assert.equal(added.reply, Reply.OK);
    assert.notEqual(added.barrier, null);
    await hold.reached;
    // Queued behind the stuck group, in the next one.
    const removed = alone(store, remove('gone'));
    assert.equal(removed.reply, Reply.OK);
    assert.notEqual(removed.barrier, null);

    // Packages no pending record changed: answered now, present or not.
    for (const [name, reply] of [
      ['base', Reply.OK],
      ['kept', Reply.OK],
      ['never', Reply.FAIL],
    ] as const) {
      const q = alone(store, query(name));
      assert.equal(q.reply, reply, name);
      assert.equal(q.barrier, null, `QUERY ${name} waits for nothing`);
    }
    // Packages a pending record changed: added or removed, the reply waits for the log.
    const waitsForAdd = alone(store, query('new'));
    const waitsForRemove = alone(store, query('gone'));
    assert.deepEqual([waitsForAdd.reply, waitsForRemove.reply], [Reply.OK, Reply.FAIL]);
    assert.notEqual(waitsForAdd.barrier, null);
    assert.notEqual(waitsForRemove.barrier, null);
    // A batch that reads a pending package waits, whatever else it reads.
    store.execute(query('base'));
    store.execute(query('new'));
    assert.notEqual(store.barrier(), null);
    // Any mutation waits, even one that changes nothing.
    assert.notEqual(alone(store, index('base')).barrier, null);

    let settled = false;
    void Promise.all([waitsForAdd.barrier, waitsForRemove.barrier]).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'still waiting for the stuck commit');
    hold.release();
    await Promise.all([added.barrier, removed.barrier, waitsForAdd.barrier, waitsForRemove.barrier]);
    // Both groups acknowledged: nothing waits any more.
    assert.equal(alone(store, query('new')).barrier, null);
    assert.equal(alone(store, query('gone')).barrier, null);
  },
);

test(
  'when the stuck commit fails, the QUERY that waited for it fails, and the others stand',
  { timeout: 30_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const { store, fs } = await openFaultStore(t, dir);
    assert.equal(await send(store, index('base')), Reply.OK);

    const hold = fs.hold('datasync', '.log');
    fs.inject({ op: 'datasync', path: '.log' });
    const added = alone(store, index('lost', ['base']));
    await hold.reached;
    const observed = alone(store, query('lost'));
    const unrelated = alone(store, query('base'));
    assert.equal(unrelated.reply, Reply.OK);
    assert.equal(unrelated.barrier, null);
    hold.release();
    await assert.rejects(added.barrier!);
    await assert.rejects(observed.barrier!);
    // The failed group was taken back: the package is not there, and nothing waits.
    const after = alone(store, query('lost'));
    assert.deepEqual([after.reply, after.barrier], [Reply.FAIL, null]);
    await store.close();
    assert.deepEqual(await answersAfterRestart(t, dir, ['QUERY|base|', 'QUERY|lost|']), ['OK', 'FAIL']);
  },
);

for (const serving of SERVINGS)
  test(
    `${serving.label}: a strict client's QUERY is answered while another client's commit is stuck`,
    { timeout: 30_000 },
    async (t) => {
      const dir = await newDataDir(t);
      const { server, fs } = await faultServer(dir, undefined, serving);
      t.after(() => server.close());
      const { writer, reader } = await writerAndReader(t, server.port);
      assert.deepEqual(await writer.request('INDEX|base|'), ['OK']);
      const hold = fs.hold('datasync', '.log');
      const stuck = writer.request('INDEX|new|base');
      await hold.reached;
      // Before this change, these waited for the stuck commit: the test would time out here.
      assert.deepEqual(await reader.request('QUERY|base|'), ['OK']);
      assert.deepEqual(await reader.request('QUERY|other|'), ['FAIL']);
      hold.release();
      assert.deepEqual(await stuck, ['OK']);
      assert.deepEqual(await reader.request('QUERY|new|'), ['OK']);
    },
  );
