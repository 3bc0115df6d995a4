import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Verb, type Command } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { UnackedNames } from '../../src/store/unacked-names.js';
import { writerAndReader } from '../support/line-client.js';
import { newDataDir } from './support/tmp-dir.js';
import { faultServer, openFaultStore } from './support/fault-store.js';
import { send } from './support/workload.js';
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

test('UnackedNames says a name is pending exactly while its last change is unacknowledged', () => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  const step = fc.oneof(
    fc.record({ append: fc.constantFrom(...names) }),
    fc.record({ acknowledge: fc.nat(4) }),
    fc.record({ ask: fc.constantFrom(...names) }),
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
          unacked.add(s.append, records.length - 1, acknowledged);
        } else if ('acknowledge' in s) acknowledged = Math.min(records.length, acknowledged + s.acknowledge);
        else {
          const pending = records.slice(acknowledged).includes(s.ask);
          assert.equal(
            unacked.has(s.ask, acknowledged),
            pending,
            `${s.ask} at ${acknowledged}/${records.length}`,
          );
        }
      }
    }),
  );
});

test('UnackedNames forgets acknowledged names: a steady stream of new names does not grow it', () => {
  const unacked = new UnackedNames();
  const lag = 10;
  let most = 0;
  for (let record = 0; record < 100_000; record++) {
    const acknowledged = Math.max(0, record - lag);
    unacked.add(`p${record}`, record, acknowledged);
    most = Math.max(most, unacked.size);
    // Still exact across the passes that drop names.
    assert.equal(unacked.has(`p${record}`, acknowledged), true);
    if (record > lag) assert.equal(unacked.has(`p${record - lag - 1}`, acknowledged), false);
  }
  assert.ok(most <= 4096 + lag, `held ${most} names`);
});

test(
  'with a group commit stuck, a QUERY waits only if a record in it changed its package',
  { timeout: 30_000 },
  async (t) => {
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

test(
  "a strict client's QUERY is answered while another client's commit is stuck",
  { timeout: 30_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const { server, fs } = await faultServer(dir);
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
