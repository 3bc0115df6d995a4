import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { FaultFs } from '../support/fault-fs.js';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, startServer, type Serving } from '../support/servers.js';
import { chainLines } from '../support/chains.js';
import { newDataDir } from './support/tmp-dir.js';
import { faultStore, SUSPENDING_CHECKS } from './support/fault-store.js';
import { answersAfterRestart } from './support/restart.js';
import { until } from '../support/until.js';
import { SUSPENDED } from '../../src/store/store.js';
import type { DiskStore } from '../../src/store/disk-store.js';

// A disk that fails while the native connection layer (ADR 0019) serves: its batches hold the
// lines of several clients, each waiting for its own barrier, and are answered in two parts
// (HELD, then the held lines' replies). Every serving is run, so that the native layer is held
// to what Node's sockets do.

/** Busy-waits `ms` on this thread, which is the server's too: what clients send meanwhile is read in one turn. */
function blockThisThread(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

/** Chains a and b of 10,000: making a0 depend on b9999 is a check suspended over many turns. */
const CHAINS = [...chainLines('a', 10_000), ...chainLines('b', 10_000)];

/**
 * Counts the commands `store` answers SUSPENDED: whichever thread reads the lines, the owner
 * executes them against it.
 */
function countSuspended(store: DiskStore): { count: number } {
  const counter = { count: 0 };
  const execute = store.execute.bind(store);
  store.execute = (command) => {
    const reply = execute(command);
    if (reply === SUSPENDED) counter.count++;
    return reply;
  };
  return counter;
}

/**
 * A server served as `serving` on a fault store whose cycle checks suspend, with a client that
 * has loaded the chains a and b (CHAINS); closed when the test ends. `suspended` counts the
 * SUSPENDED answers since the load.
 */
async function loadedFaultServer(t: TestContext, { threads, io }: Serving) {
  const dir = await newDataDir(t);
  const { store, fs } = faultStore(dir, new FaultFs(), SUSPENDING_CHECKS);
  const suspended = countSuspended(store);
  const server = await startServer({ storage: 'disk', dataDir: dir, io, threads }, { store });
  t.after(() => server.close());
  const client = await LineClient.open(server.port);
  t.after(() => {
    client.close();
  });
  assert.ok((await client.request(...CHAINS)).every((reply) => reply === 'OK'));
  suspended.count = 0;
  return { dir, fs, server, client, suspended };
}

/**
 * Clients whose mutations go to different group commits in one batch, the later group's write
 * failing; what a restart finds must be what each client was told (OK kept, ERROR not).
 * `checkFirst` false: four clients index x0..x3 and a fifth, read in the same turn, re-indexes a0
 * with a cycle check over many turns: the INDEXes go into the next group commit, which passes,
 * and the check's record into the one after, which fails. True: the check comes first, and the
 * INDEXes, run once it is decided, go into the group after its, which fails.
 */
async function groupsOfOneBatch(
  t: TestContext,
  { threads, io }: Serving,
  checkFirst: boolean,
): Promise<{ replies: string[]; checked: string }> {
  const dir = await newDataDir(t);
  const { store, fs } = faultStore(dir, new FaultFs(), SUSPENDING_CHECKS);
  const server = await startServer({ storage: 'disk', dataDir: dir, io, threads }, { store });
  t.after(() => server.close());
  const clients = await Promise.all(Array.from({ length: 6 }, () => LineClient.open(server.port)));
  t.after(() => {
    for (const c of clients) c.close();
  });
  const [loader, checker, ...writers] = clients as [LineClient, LineClient, ...LineClient[]];
  assert.ok((await loader.request(...CHAINS)).every((reply) => reply === 'OK'));

  // The first group written from now on passes, the next one fails. Sent together, so that one
  // turn reads them all (one batch of the native layer, or of a socket thread).
  fs.inject({ op: 'write', path: '.log', after: 1 });
  const check = checkFirst ? checker.request('INDEX|a0|b9999') : null;
  const indexed = writers.map((w, k) => w.request(`INDEX|x${k}|`));
  const checkAfter = checkFirst ? null : checker.request('INDEX|a0|b9999');
  blockThisThread(30);
  const replies = (await Promise.all(indexed)).map(([reply]) => reply!);
  const [checked] = await (check ?? checkAfter)!;
  for (const c of clients) c.close();
  await server.close();

  const names = writers.map((_, k) => `x${k}`);
  const after = await answersAfterRestart(t, dir, [...names.map((n) => `QUERY|${n}|`), 'REMOVE|b9999|']);
  assert.deepEqual(
    after,
    [...replies.map((reply) => (reply === 'OK' ? 'OK' : 'FAIL')), checked === 'OK' ? 'FAIL' : 'OK'],
    `replies ${JSON.stringify(replies)}, the check ${checked}: whether a0 depends on b9999`,
  );
  return { replies, checked: checked! };
}

// With Node's socket threads (`--io node --threads 2`), whose batches carry no client
// boundaries (ADR 0010), the INDEXes and the check after them are one segment of the thread's
// batch with one barrier: the check's, which covers the group of the mutations before it
// (ADR 0012) but must not fail them when only its own group fails.
for (const serving of SERVINGS)
  test(`${serving.label}: a mutation made durable is answered OK though another client's later group commit fails`, async (t) => {
    const { checked } = await groupsOfOneBatch(t, serving, false);
    // On one thread the turn's reads are one batch, in this order; with two, which thread reads
    // which client decides the groups, and only the outcome is asserted.
    if (serving.threads === 1)
      assert.equal(checked, 'ERROR', 'the check was decided into the group that failed');
  });

for (const serving of SERVINGS)
  test(`${serving.label}: a check made durable is answered OK though the mutations after it in its batch fail`, async (t) => {
    const { replies, checked } = await groupsOfOneBatch(t, serving, true);
    // Which groups the lines go to depends on the turns (and threads) that read them; the
    // replies must match what a restart finds whatever they are (asserted above). With Node's
    // socket threads the INDEXes ran after the check in the same batch, as its next segment,
    // and their group failing failed the whole batch, the durable check included (3 of 6 runs).
    t.diagnostic(`the check ${checked}, the INDEXes ${replies.join(' ')}`);
  });

// One client, one write: its INDEX goes into the next group commit, which passes, and the
// check after it, decided turns later, into the one after, which fails. The client's batch
// waits for the check, whose barrier covers the INDEX's group too (ADR 0012); only the check
// failed, so only the check is ERROR: answering the INDEX ERROR told the client that a change
// the server kept may not have happened.
for (const serving of SERVINGS)
  test(`${serving.label}: a client's mutation made durable before its own check is answered OK when only the check's group commit fails`, async (t) => {
    const { dir, fs, server, client } = await loadedFaultServer(t, serving);
    fs.inject({ op: 'write', path: '.log', after: 1 });
    const replies = await client.request('INDEX|x|', 'INDEX|a0|b9999');
    assert.equal(replies[1], 'ERROR', "the check's group commit failed");
    client.close();
    await server.close();
    const after = await answersAfterRestart(t, dir, ['QUERY|x|', 'REMOVE|b9999|']);
    assert.deepEqual(after, ['OK', 'OK'], 'x was kept, the check was not');
    assert.deepEqual(replies, ['OK', 'ERROR']);
  });

// A QUERY of a package whose group commit is still in flight waits for that group (README,
// "What an answer means"); before a suspended check in the same batch it waited for the
// check's group instead, and answered OK for a package the failed group took back.
for (const serving of SERVINGS)
  test(`${serving.label}: a QUERY before a suspended check waits for the group it observed, and fails with it`, async (t) => {
    const { dir, fs, server, client: loader, suspended } = await loadedFaultServer(t, serving);
    const [writer, reader] = await Promise.all([0, 1].map(() => LineClient.open(server.port)));
    t.after(() => {
      for (const c of [writer, reader]) c!.close();
    });
    // The group that holds x hangs in its write until the reader's lines have run, then fails.
    fs.inject({ op: 'write', path: '.log' });
    const hold = fs.hold('write', '.log');
    const indexed = writer!.request('INDEX|x|');
    await hold.reached;
    const read = reader!.request('QUERY|x|', 'INDEX|a0|b9999');
    await until("the reader's check suspended", () => Promise.resolve(suspended.count > 0));
    hold.release();
    const [[wrote], [queried, checked]] = await Promise.all([indexed, read]);
    assert.equal(wrote, 'ERROR', "x's group commit failed");
    for (const c of [loader, writer, reader]) c!.close();
    await server.close();
    const [x] = await answersAfterRestart(t, dir, ['QUERY|x|']);
    assert.equal(x, 'FAIL', 'the failed group was taken back');
    assert.notEqual(
      queried,
      'OK',
      `QUERY x answered ${queried} for a package that was never kept (the check ${checked})`,
    );
  });

// One client, one write, two suspended checks: its lines after the first check are deferred
// (the native layer holds the client, split-batches.ts) and run once it is decided, until the
// second check suspends them again. x, run between the checks, goes into the group commit
// after the first check's, which passes; y, after the second check, into the one after, which
// fails. Only y is ERROR: the native layer answered x and the second check ERROR too (their
// barrier passed, but the failed remainder's completion covered every line deferred behind the
// first check), telling the client a change the server kept may not have happened.
for (const serving of SERVINGS)
  test(`${serving.label}: lines between two suspended checks of one write are answered OK when only the group after the second fails`, async (t) => {
    const { dir, fs, server, client, suspended } = await loadedFaultServer(t, serving);
    // a0's group passes, then x's; y's fails. b0 -> a9999 closes a cycle through a0 -> b9999.
    fs.inject({ op: 'write', path: '.log', after: 2 });
    const replies = await client.request('INDEX|a0|b9999', 'INDEX|x|', 'INDEX|b0|a9999', 'INDEX|y|');
    assert.equal(suspended.count, 2, 'both checks were suspended');
    client.close();
    await server.close();
    const after = await answersAfterRestart(t, dir, ['QUERY|x|', 'QUERY|y|', 'REMOVE|b9999|']);
    assert.deepEqual(after, ['OK', 'FAIL', 'FAIL'], 'a0 and x were kept, y was not');
    assert.deepEqual(replies, ['OK', 'OK', 'FAIL', 'ERROR']);
  });

/** Resolves with what `promise` resolves with, or fails saying `what` did not happen within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// SIGTERM while a group commit hangs in the file system (a hung disk or NFS server): the
// clients were cut off at --shutdown-timeout-ms, but the store's close waited for the hung write
// (its log is synced or cut back before it closes), so the server never stopped, whatever the
// connection layer. `pkgindex serve` exits once close() has given up on the store.
for (const { threads, io, label } of SERVINGS)
  test(`${label}: close() while a group commit hangs ends within twice --shutdown-timeout-ms, without the store`, async (t) => {
    const dir = await newDataDir(t);
    // The storage deadline is far: the shutdown must not wait for it.
    const { store, fs } = faultStore(dir, new FaultFs(), { storageTimeoutMs: 60_000 });
    const server = await startServer(
      { storage: 'disk', dataDir: dir, io, threads, shutdownTimeoutMs: 300 },
      { store },
    );
    const clients = await Promise.all(Array.from({ length: 3 }, () => LineClient.open(server.port)));
    let release = (): void => undefined;
    t.after(async () => {
      for (const c of clients) c.close();
      release();
      await server.close();
      // The store goes on closing once the write returns: before the data dir is removed.
      await store.close();
    });
    const [a, b, c] = clients as [LineClient, LineClient, LineClient];
    assert.deepEqual(await a.request('INDEX|base|', 'QUERY|base|'), ['OK', 'OK']);
    const hold = fs.hold('write', '.log');
    release = () => {
      hold.release();
    };
    const stuck = b.request('INDEX|stuck|base', 'QUERY|base|').catch((err: unknown) => String(err));
    await hold.reached;
    const waiting = c.request('QUERY|stuck|', 'INDEX|other|').catch((err: unknown) => String(err));
    await within(server.close(), 10_000, 'close() did not return while the write hung');
    assert.equal(server.pkgindex.storeClosed, false, 'the store did not close');
    // Cut off, not answered: neither the stuck INDEX nor what observed it was decided.
    assert.match(String(await stuck), /connection closed/);
    assert.match(String(await waiting), /connection closed/);

    // Once the write returns, the store closes, and the data dir holds what was acknowledged.
    hold.release();
    await within(store.close(), 10_000, 'the store did not close once the write returned');
    assert.deepEqual(await answersAfterRestart(t, dir, ['QUERY|base|']), ['OK']);
  });

test('a clean close says the store closed', async (t) => {
  const server = await startServer({ storage: 'disk', dataDir: await newDataDir(t) });
  await server.close();
  assert.equal(server.pkgindex.storeClosed, true);
});
