import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiskStore } from '../../src/store/disk-store.js';
import { FaultFs } from '../support/fault-fs.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, startServer } from '../support/servers.js';
import { newDataDir } from './support/tmp-dir.js';
import { answersAfterRestart } from './support/restart.js';

// A disk that fails while the native connection layer (ADR 0019) serves: its batches hold the
// lines of several clients, each waiting for its own barrier, and are answered in two parts
// (HELD, then the held lines' replies). Every serving is run, so that the native layer is held
// to what Node's sockets do.

/** Busy-waits `ms` on this thread, which is the server's too: what clients send meanwhile is read in one turn. */
function blockThisThread(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

// Not with Node's socket threads (`--io node --threads 2`): their batches carry no client
// boundaries (ADR 0010), so a batch of several connections still fails whole there; known, and
// left for a change of the socket threads' messages.
for (const { threads, io, label } of SERVINGS.filter((s) => s.io === 'native' || s.threads === 1))
  test(`${label}: a mutation made durable is answered OK though another client's later group commit fails`, async (t) => {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    // Cycle checks past 1000 units of work are suspended (the default is 20,000).
    const store = new DiskStore({
      dataDir: dir,
      fs,
      compactor: inlineCompactor(fs),
      retryMinMs: 5,
      retryMaxMs: 20,
      slices: { inlineWork: 1000 },
    });
    const server = await startServer({ storage: 'disk', dataDir: dir, io, threads }, { store });
    t.after(() => server.close());
    const clients = await Promise.all(Array.from({ length: 6 }, () => LineClient.open(server.port)));
    t.after(() => {
      for (const c of clients) c.close();
    });
    const [loader, checker, ...writers] = clients as [LineClient, LineClient, ...LineClient[]];
    // Two chains: making a0 depend on b9999 is a check of about 200,000 units, over many turns.
    const chain = (p: string) =>
      Array.from({ length: 10_000 }, (_, i) => `INDEX|${p}${i}|${i === 0 ? '' : `${p}${i - 1}`}`);
    assert.ok((await loader.request(...chain('a'), ...chain('b'))).every((reply) => reply === 'OK'));

    // The first group written from now on passes, the next one fails.
    fs.inject({ op: 'write', path: '.log', after: 1 });
    // Sent together, so that one turn reads them all (one batch of the native layer): the
    // INDEXes go into the next group commit, the re-index of a0 after them is suspended, and
    // its record goes into the group after, whose write fails.
    const indexed = writers.map((w, k) => w.request(`INDEX|x${k}|`));
    const check = checker.request('INDEX|a0|b9999');
    blockThisThread(30);
    const replies = await Promise.all(indexed);
    assert.deepEqual(await check, ['ERROR'], 'the check was decided into the group that failed');
    for (const c of clients) c.close();
    await server.close();

    // What a restart finds is what the clients were told: OK kept, ERROR not.
    const names = writers.map((_, k) => `x${k}`);
    const after = await answersAfterRestart(t, dir, [...names.map((n) => `QUERY|${n}|`), 'REMOVE|b9999|']);
    assert.deepEqual(
      after,
      [...replies.map(([reply]) => (reply === 'OK' ? 'OK' : 'FAIL')), 'OK'],
      `replies ${JSON.stringify(replies)}; a0 does not depend on b9999`,
    );
  });
