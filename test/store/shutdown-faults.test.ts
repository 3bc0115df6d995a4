/**
 * Faults while the store closes. The randomized fault test heals every fault before it closes;
 * these tests fail the log's last writes as the store shuts down and start it again on a healthy
 * file system, holding the README's promise: a mutation answered ERROR is never found by the
 * next start, unless even cutting the log back failed.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Verb } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { FaultFs, type FaultRule } from '../support/fault-fs.js';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, startServer } from '../support/servers.js';
import { faultStore } from './support/fault-store.js';
import { answersAfterRestart } from './support/restart.js';
import { newDataDir } from './support/tmp-dir.js';
import { seededRandom, send } from './support/workload.js';
import { until } from '../support/until.js';

interface Shutdown {
  /** The reply to the mutation whose group commit was in flight as the store closed. */
  readonly reply: Reply;
  /** How close() ended. */
  readonly closed: 'resolved' | Error;
  /** The packages the next start finds, on a healthy file system. */
  readonly recovered: ReadonlySet<string>;
  /** Cuts of the log that were tried (and failed, injected). */
  readonly truncates: number;
  readonly truncateFailures: number;
}

/**
 * A durable store logs `kept`; then the group commit of `lost` is held in its `held` call, the
 * store starts closing, `faults` are injected and the call let go. Returns what each side saw.
 */
async function closeDuring(
  t: TestContext,
  held: 'write' | 'datasync',
  faults: FaultRule[],
): Promise<Shutdown> {
  const dir = await newDataDir(t);
  const { store, fs } = faultStore(dir, new FaultFs(), { retryMaxMs: 20 });
  await store.open();
  assert.equal(await send(store, { verb: Verb.INDEX, name: 'kept', deps: [] }), Reply.OK);
  const hold = fs.hold(held, '.log');
  const lost = send(store, { verb: Verb.INDEX, name: 'lost', deps: [] });
  await hold.reached;
  const closing = store.close().then(
    () => 'resolved' as const,
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
  for (const rule of faults) fs.inject(rule);
  hold.release();
  const [reply, closed] = await Promise.all([lost, closing]);
  const { graph } = await recover(new NodeFs(), dir, { repair: false });
  return {
    reply,
    closed,
    recovered: new Set(['kept', 'lost'].filter((name) => graph.has(name))),
    truncates: fs.count('truncate'),
    truncateFailures: fs.failures('truncate'),
  };
}

test('the last group commit fails its sync as the store closes: ERROR, and the next start does not find it', async (t) => {
  const shutdown = await closeDuring(t, 'datasync', [{ op: 'datasync', path: '.log' }]);
  assert.equal(shutdown.reply, Reply.ERROR);
  assert.ok(shutdown.closed instanceof Error, 'close reports the failure');
  assert.match(
    shutdown.closed.message,
    /write and sync of log segment .* failed \(EIO: simulated datasync failure/,
  );
  // Closed uncut (stop 51's code), the log kept the record, written whole, and the next start
  // read it back.
  assert.equal(shutdown.truncates, 1, 'the log was cut back at close');
  assert.deepEqual([...shutdown.recovered], ['kept'], 'what was answered ERROR is gone');
});

test('the last group commit fails in a short write as the store closes: ERROR, and the next start does not find it', async (t) => {
  const shutdown = await closeDuring(t, 'write', [{ op: 'write', path: '.log', partial: true }]);
  assert.equal(shutdown.reply, Reply.ERROR);
  assert.ok(shutdown.closed instanceof Error, 'close reports the failure');
  assert.equal(shutdown.truncates, 1, 'the log was cut back at close');
  assert.deepEqual([...shutdown.recovered], ['kept']);
});

test('the sync fails, and so does the first cut-back: the cut is not retried at close, the next start may find it', async (t) => {
  const shutdown = await closeDuring(t, 'datasync', [
    { op: 'datasync', path: '.log' },
    { op: 'truncate', path: '.log' },
  ]);
  assert.equal(shutdown.reply, Reply.ERROR);
  assert.ok(shutdown.closed instanceof Error, 'close reports the failure');
  assert.equal(shutdown.truncateFailures, 1, 'the cut was tried once, and failed');
  // The README's stated exception: ERROR may or may not have happened; what was acknowledged
  // is there either way, and the data dir opens without repair.
  assert.ok(shutdown.recovered.has('kept'), [...shutdown.recovered].join(' '));
});

test('relaxed mode: a close whose sync fails takes back what it had not synced, as the running store did', async (t) => {
  const dir = await newDataDir(t);
  const { store, fs } = faultStore(dir, new FaultFs(), { syncMode: 'relaxed', syncIntervalMs: 60_000 });
  await store.open();
  assert.equal(await send(store, { verb: Verb.INDEX, name: 'unsynced', deps: [] }), Reply.OK);
  fs.inject({ op: 'datasync', path: '.log' });
  await assert.rejects(store.close(), /datasync/);
  const { graph } = await recover(new NodeFs(), dir, { repair: false });
  // Relaxed mode's contract: a failed sync may take back OK'd mutations since the last sync,
  // as a power loss would; the next start agrees with the rolled-back index, not with a log
  // that still held them.
  assert.equal(graph.has('unsynced'), false);
});

// The same through a server, on every serving: the group commit a client waits on hangs in
// its sync as the server shuts down; the client is cut off unanswered at --shutdown-timeout-ms,
// the store starts closing, and only then does the sync fail. The next start finds what was
// acknowledged and not the mutation whose sync failed.
for (const { threads, io, label } of SERVINGS)
  test(`${label}: a server whose last group commit fails as its store closes: the next start has the acknowledged, not the failed`, async (t) => {
    const dir = await newDataDir(t);
    const { store, fs } = faultStore(dir);
    const server = await startServer(
      {
        storage: 'disk',
        dataDir: dir,
        io,
        threads,
        shutdownTimeoutMs: 300,
        admin: true,
        adminHost: '127.0.0.1',
        adminPort: 0,
      },
      { store },
    );
    const adminPort = server.pkgindex.addresses!.admin!.port;
    const clients = await Promise.all(Array.from({ length: 2 }, () => LineClient.open(server.port)));
    let release = (): void => undefined;
    t.after(async () => {
      for (const c of clients) c.close();
      release();
      // The test's own close failed, as it should: only the other paths out need closing.
      await server.close().catch(() => undefined);
    });
    const [a, b] = clients as [LineClient, LineClient];
    assert.deepEqual(await a.request('INDEX|base|', 'INDEX|other|base'), ['OK', 'OK']);
    const hold = fs.hold('datasync', '.log');
    release = () => {
      hold.release();
    };
    const told = b.request('INDEX|lost|base').then(
      (replies) => replies.join(' '),
      (err: unknown) => String(err),
    );
    await hold.reached;
    const closing = server.close();
    assert.match(await told, /connection closed/, 'cut off unanswered at the shutdown timeout');
    await until('the store is closing', () => store.health().detail === 'closed');
    fs.inject({ op: 'datasync', path: '.log' });
    hold.release();
    await assert.rejects(closing, /write and sync of log segment .* failed/, 'the close reports it');
    // The rest of the shutdown went on: an admin server left listening kept `pkgindex serve`
    // from exiting after the error it printed.
    await assert.rejects(LineClient.open(adminPort), 'the admin server is closed');
    assert.deepEqual(await answersAfterRestart(t, dir, ['QUERY|base|', 'QUERY|other|', 'QUERY|lost|']), [
      'OK',
      'OK',
      'FAIL',
    ]);
  });

/**
 * Randomized: four clients index and remove names of their own, one command at a time, in
 * durable or (a quarter of the seeds) relaxed mode, half of them rotating and compacting; at a random moment the store starts closing
 * while its next write or sync is held, and a random fault falls on that last group commit.
 * A name's state on the next start must be what its OK'd commands made it: an ERROR'd one never
 * counts, unless cutting the log back failed too (the README's exception), and then only for
 * the names it touched. In relaxed mode a failed write or sync may take back OK'd commands
 * since the last sync, so there only "never OK'd, yet present" is checked. On stop 51's
 * LogWriter.close() 11 of the 24 seeds failed.
 */
const SHUTDOWN_FAULTS: readonly (readonly FaultRule[])[] = [
  [],
  [{ op: 'datasync', path: '.log' }],
  [{ op: 'datasync', path: '.log', times: Infinity }],
  [{ op: 'write', path: '.log', partial: true }],
  [{ op: 'write', path: '.log', times: Infinity }],
  [
    { op: 'datasync', path: '.log' },
    { op: 'truncate', path: '.log', times: Infinity },
  ],
];

for (const seed of Array.from({ length: 24 }, (_, i) => i + 1))
  test(`seed ${seed}: a close at a random moment, its last writes failing at random: the next start has every OK and no ERROR`, async (t) => {
    const rnd = seededRandom(seed);
    const dir = await newDataDir(t);
    const relaxed = rnd() < 0.25;
    // Half the seeds rotate the log every 2 KiB and compact it: the last group may be a rotation's.
    const compacting = rnd() < 0.5;
    const { store, fs } = faultStore(dir, new FaultFs(), {
      retryMaxMs: 20,
      ...(relaxed ? { syncMode: 'relaxed' as const, syncIntervalMs: 5 } : {}),
      ...(compacting ? { compactAfterBytes: 2048 } : {}),
    });
    await store.open();
    /** Each name's state as its OK'd commands left it (true: indexed). */
    const expected = new Map<string, boolean>();
    /** Names whose last command was answered ERROR. */
    const doubtful = new Set<string>();
    let closing = false;
    const client = async (k: number): Promise<void> => {
      const crnd = seededRandom(seed * 100 + k);
      for (let i = 0; i < 400 && !closing; i++) {
        const name = `c${k}-${Math.floor(crnd() * 12)}`;
        const remove = expected.get(name) === true && crnd() < 0.4;
        let reply: Reply;
        try {
          reply = await send(store, { verb: remove ? Verb.REMOVE : Verb.INDEX, name, deps: [] });
        } catch {
          reply = Reply.ERROR; // refused once the store is closed
        }
        if (reply === Reply.OK) {
          expected.set(name, !remove);
          doubtful.delete(name);
        } else if (reply === Reply.ERROR) doubtful.add(name);
        else assert.fail(`${remove ? 'REMOVE' : 'INDEX'} ${name}: ${reply}`);
      }
    };
    const clients = Array.from({ length: 4 }, (_, k) => client(k));
    await delay(Math.floor(rnd() * 30));
    // The store starts closing while the log's next write or sync is held, so that the faults
    // fall on the group commit the close waits for.
    const hold = fs.hold(rnd() < 0.5 ? 'write' : 'datasync', '.log');
    await Promise.race([hold.reached, delay(2000)]);
    closing = true;
    const closed = store.close().then(
      () => 'clean',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    const faults = SHUTDOWN_FAULTS[Math.floor(rnd() * SHUTDOWN_FAULTS.length)]!;
    for (const rule of faults) fs.inject(rule);
    hold.release();
    const [closeOutcome] = await Promise.all([closed, ...clients]);
    const { graph } = await recover(new NodeFs(), dir, { repair: false });
    const cutFailed = fs.failures('truncate') > 0;
    const wrong: string[] = [];
    for (const [name, present] of expected) {
      if (graph.has(name) === present) continue;
      // Relaxed mode: a failed sync may take back OK'd mutations since the last sync.
      if (relaxed && (fs.failures('datasync') > 0 || fs.failures('write') > 0)) continue;
      if (cutFailed && doubtful.has(name)) continue;
      wrong.push(`${name}: ${present ? 'OK' : 'removed OK'} but ${graph.has(name) ? 'present' : 'absent'}`);
    }
    for (let k = 0; k < 4; k++)
      for (let n = 0; n < 12; n++) {
        const name = `c${k}-${n}`;
        if (!expected.has(name) && graph.has(name) && !cutFailed) wrong.push(`${name}: never OK but present`);
      }
    assert.deepEqual(
      wrong,
      [],
      `${relaxed ? 'relaxed' : 'durable'}${compacting ? ', compacting' : ''}, faults ${JSON.stringify(faults)}, close: ${closeOutcome}`,
    );
  });
