import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import diagnostics_channel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { FaultFs, type Hold } from '../support/fault-fs.js';
import { chainLines } from '../support/chains.js';
import { LineClient } from '../support/line-client.js';
import { SERVINGS, startServer, type Serving } from '../support/servers.js';
import { newDataDir } from './support/tmp-dir.js';
import { faultStore, SUSPENDING_CHECKS } from './support/fault-store.js';
import { answersAfterRestart } from './support/restart.js';
import { SUSPENDED } from '../../src/store/store.js';
import { StoreChannel, type StateEvent, type SyncEvent } from '../../src/store/store-events.js';
import { prng } from '../../tools/stress/harness.js';

// Randomized, seeded: several clients pipeline INDEX, REMOVE and QUERY lines, some of them
// cycle checks long enough to be suspended (ADR 0012), while the disk fails, tears and hangs at
// random points. Every reply is checked against a sequential model of what the client was
// told (README, "What an answer means"): each client owns its names (nobody else's line
// changes them or depends on them), so its own lines decide them in its order. OK and FAIL
// must be the model's answers; an ERROR mutation must not have happened (the server stays up
// and closes cleanly, so it took back what it answered ERROR); a QUERY must answer the model's
// state or ERROR; a restart must find the model's final state. Shared names, touched by every
// client, are only checked loosely (present after the restart only if some INDEX was OK).
//
// A seed fixes every client's lines and the faults chosen; which group commit a fault lands in
// depends on timing, so a failure names its seed and the client's history, and is run again
// with the knobs below (environment variables, defaults in parentheses): FUZZ_SEEDS (1,2),
// FUZZ_ROUNDS (12 rounds of 1-3 pipelined writes per client), FUZZ_CLIENTS (6), FUZZ_GAP (20
// ms between the driver's faults, about), FUZZ_AIM (0.5 of suspended checks get a fault aimed
// at them), FUZZ_COMPACT (compactAfterBytes, for rotations), FUZZ_EXTRA (failed renames and
// directory syncs too), FUZZ_NO_FAULTS, and FUZZ_TRACE (the store's lines and barriers, also
// written to $TMPDIR/fuzz-SEED-IO-THREADS.txt). FUZZ_ROUNDS=40 with a few seeds
// found the native layer's answering ERROR to lines run between two suspended checks of one
// client (native-disk-faults.test.ts) in 5 of 36 runs.
//
// FUZZ_TRUNCATE: after a write or sync fault, the log's cut-back (LogWriter.abandon, and
// recovery's repair) fails too, with EIO or ENOSPC once or twice, or hangs (0-800 ms, past the
// 500 ms storage deadline or not) and then fails. The contract does not change: the store
// stays unwritable (mutations ERROR, QUERYs served, health not writable) while the cut fails,
// retries it, and takes back to the last sync meanwhile; it never rebuilds over an uncut log.
// (The README's one exception, an ERROR'd mutation found by the next start when even the cut
// failed, needs the cut to fail at shutdown; here the faults are healed before the close.)
//
// FUZZ_RELAXED (the sync interval in ms; 1: 20 ms): relaxed sync mode. OK means written, not
// synced, and a failure that ends the log may take back OK mutations since the last sync
// (README, "What an answer means" and "When the disk fails": a failed write keeps them, a
// failed or hung sync, or a cut-back that fails, does not), as a power loss would. The model
// then keeps every state a client's names may be in: a failure (the store's state events:
// from not writable to writable again) that began before a reply and ended after the client's
// previous checked line was sent may take back a suffix of the client's OK mutations: those
// sent before it ended that no sync begun after their reply (the store's sync events), nor an
// earlier reopen, made durable before it began. A reply must match one of the states; ERROR'd
// mutations never happen; the preload is synced before faults start. At the end, once
// writable, each client queries its names, and the restart of the cleanly closed store must
// answer the same. A client whose states pass MAX_STATES is no longer checked (`untracked`).
// Without the take-backs every relaxed seed fails (acknowledged mutations are taken back).
//
// Campaign of 2026-12-04, 40 rounds, each seed on the four servings, FUZZ_TRACE on:
// FUZZ_TRUNCATE seeds 1-10 and 21-30; FUZZ_RELAXED seeds 1-10; both, seeds 10-28; both with
// FUZZ_COMPACT=8192 FUZZ_EXTRA, seeds 21-30; FUZZ_TRUNCATE FUZZ_COMPACT=8192 FUZZ_EXTRA, seeds
// 11-20. 280 runs, 118,302 replies checked (243,024 ERROR), 10,906 faults, 4,009 of them on
// truncates (3,892 cut-backs failed in the 240 runs that counted them), 1,063 failures of the
// store in the relaxed runs, 2 clients untracked: no defect found in src/. What failed was the
// relaxed model (states told apart by their last state only; the unsynced preload; a race in
// waiting for its sync: 2 runs, seeds 10 and 11 then passed), fixed here.

const CHAIN = 10_000;
const OWN_CHAIN = 1000;
const CLIENTS = Number(process.env.FUZZ_CLIENTS ?? 6);
const SHARED = ['s0', 's1', 's2'];

/** A client's names: its packages, and the head and tail of its chain (kept present). */
function namesOf(k: number) {
  const p = `c${k}`;
  return {
    names: [0, 1, 2, 3].map((i) => `${p}n${i}`),
    head: `${p}k0`,
    tail: `${p}k${OWN_CHAIN - 1}`,
    chain: Array.from({ length: OWN_CHAIN }, (_, i) => `${p}k${i}`),
  };
}

/** The sequential state of the names one client owns (and, for client 0, a0 and b0). */
class Model {
  readonly deps = new Map<string, readonly string[]>();

  /** Whether `target` is reachable from `from` through dependencies (or is it). */
  reaches(from: string, target: string): boolean {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n === target) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const d of this.depsOf(n)) stack.push(d);
    }
    return false;
  }

  /** Chains' packages past their first never change, so they are not in `deps`. */
  depsOf(n: string): readonly string[] {
    const chain = /^([ab]|c\d+k)(\d+)$/.exec(n);
    if (chain !== null && chain[2] !== '0') return [`${chain[1]}${Number(chain[2]) - 1}`];
    return this.deps.get(n) ?? [];
  }

  has(n: string): boolean {
    return /^([ab]\d+|c\d+k[1-9]\d*)$/.test(n) || n === 'z' || this.deps.has(n);
  }

  clone(): Model {
    const m = new Model();
    for (const [n, deps] of this.deps) m.deps.set(n, deps);
    return m;
  }

  key(): string {
    return [...this.deps]
      .map(([n, deps]) => `${n}:${deps.join(',')}`)
      .sort()
      .join(' ');
  }

  /** The reply the protocol's rules give now, applying it. */
  apply(line: string): string {
    const [verb, name, list] = line.split('|') as [string, string, string];
    if (verb === 'QUERY') return this.has(name) ? 'OK' : 'FAIL';
    if (verb === 'REMOVE') {
      if (!this.deps.has(name)) return /^[ab]\d+$/.test(name) ? 'FAIL' : 'OK';
      for (const [n, deps] of this.deps) if (n !== name && deps.includes(name)) return 'FAIL';
      // Chains: a package with a successor in its chain has a dependent.
      if (/^c\dk/.test(name) && !name.endsWith(`k${OWN_CHAIN - 1}`)) return 'FAIL';
      this.deps.delete(name);
      return 'OK';
    }
    const deps = list === '' ? [] : [...new Set(list.split(','))];
    if (!deps.every((d) => this.has(d))) return 'FAIL';
    if (deps.some((d) => this.reaches(d, name))) return 'FAIL';
    this.deps.set(name, deps);
    return 'OK';
  }
}

interface Sent {
  readonly client: number;
  readonly line: string;
  /** Which write of the client carried it, and when it was sent (ms since start). */
  readonly write: number;
  readonly at: number;
  /** Sent and its reply read, in ms since the start, unrounded (relaxed mode's model). */
  readonly sentAt: number;
  recvAt?: number;
  /** Its place in `sent`, once checked. */
  id?: number;
  reply?: string;
  mark?: string;
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)]!;
}

/** A random line of client `k`: mostly its own names, sometimes shared ones, sometimes long checks. */
function lineOf(k: number, rnd: () => number): string {
  const { names, head, tail } = namesOf(k);
  const r = rnd();
  if (k === 0 && r < 0.3)
    return pick(rnd, ['INDEX|a0|b9999', 'INDEX|a0|', 'INDEX|b0|a9999', 'INDEX|b0|', 'QUERY|a0|']);
  if (r < 0.3) {
    const s = pick(rnd, SHARED);
    const v = rnd();
    if (v < 0.4) return `INDEX|${s}|${pick(rnd, ['', 'z', ...SHARED.filter((x) => x !== s)])}`;
    if (v < 0.7) return `REMOVE|${s}|`;
    return `QUERY|${s}|`;
  }
  if (r < 0.42)
    return pick(rnd, [`INDEX|${head}|${tail}`, `INDEX|${head}|${pick(rnd, names)}`, `INDEX|${head}|`]);
  const n = pick(rnd, names);
  const v = rnd();
  if (v < 0.45) {
    const deps = names.filter(() => rnd() < 0.25);
    if (rnd() < 0.2) deps.push(rnd() < 0.5 ? 'z' : tail);
    return `INDEX|${n}|${deps.join(',')}`;
  }
  if (v < 0.7) return `REMOVE|${n}|`;
  return `QUERY|${pick(rnd, [...names, head])}|`;
}

interface Outcome {
  checked: number;
  suspended: number;
  faults: number;
  /** Of `faults`: truncates failed or held (FUZZ_TRUNCATE). */
  truncates: number;
  /** Truncates of the log run, and failed by a fault. */
  cuts?: number;
  cutsFailed?: number;
  errors: number;
  /** Relaxed mode: the most states a client's model had at once, and the store's failures. */
  states?: number;
  failures?: number;
  /** Clients no longer checked, their models past MAX_STATES states. */
  untracked?: number;
}

/**
 * Relaxed mode's timeline (README, "What an answer means" and "When the disk fails"): an OK
 * mutation is written, not synced, and a failure that ends the log (a failed or hung sync, or a
 * cut-back that fails) may take it back until a sync that began after it has completed, or a
 * reopen rebuilt the state from the data dir.
 */
interface Timeline {
  /** Each successful sync of the log: when it began and ended. */
  readonly syncs: { start: number; end: number }[];
  /** Each time the store was not writable: from the failure to the reopen (Infinity: none). */
  readonly down: { start: number; end: number }[];
}

/** A mutation that was answered OK, as a state of its client's model may take it back. */
interface Entry {
  readonly sent: Sent;
  /** The model's state before it. */
  readonly before: Model;
}

/** One state a client's names may be in, and the OK mutations that a failure may yet take back. */
interface Candidate {
  model: Model;
  lineage: Entry[];
}

/** Whether `s` (answered OK) was made durable by a sync or a reopen, or was ERROR'd no longer, by `at`. */
function safeAt(tl: Timeline, s: Sent, at: number): boolean {
  const recv = s.recvAt ?? Infinity;
  return (
    tl.syncs.some((y) => y.start >= recv && y.end <= at) || tl.down.some((d) => d.end >= recv && d.end <= at)
  );
}

/** Whether the failure `d` may have taken back `s`: appended before it ended, not durable when it began. */
function takesBack(tl: Timeline, d: { start: number; end: number }, s: Sent): boolean {
  return s.sentAt < d.end && !safeAt(tl, s, d.start);
}

/** Most states a client's model keeps; past it the client is no longer checked. */
const MAX_STATES = 2000;

async function run(t: TestContext, serving: Serving, seed: number): Promise<Outcome> {
  const rnd = prng(seed);
  const started = performance.now();
  const dir = await newDataDir(t);
  const { store, fs } = faultStore(dir, new FaultFs(), {
    ...SUSPENDING_CHECKS,
    storageTimeoutMs: 500,
    ...(RELAXED === null ? {} : { syncMode: 'relaxed' as const, syncIntervalMs: RELAXED }),
    ...(process.env.FUZZ_COMPACT === undefined
      ? {}
      : { compactAfterBytes: Number(process.env.FUZZ_COMPACT) }),
  });
  let suspended = 0;
  let faults = 0;
  let truncates = 0;
  const holds: Hold[] = [];
  // Relaxed mode's timeline, from the store's own events.
  const timeline: Timeline = { syncs: [], down: [] };
  const now = () => performance.now() - started;
  const onSync = (message: unknown) => {
    const e = message as SyncEvent;
    if (e.storeId === store.id) timeline.syncs.push({ start: now() - e.durationMs, end: now() });
  };
  const onState = (message: unknown) => {
    const e = message as StateEvent;
    if (e.storeId !== store.id || e.changed === false) return;
    const last = timeline.down.at(-1);
    if (!e.writable && (last === undefined || last.end !== Infinity))
      timeline.down.push({ start: now(), end: Infinity });
    else if (e.writable && last?.end === Infinity) last.end = now();
  };
  if (RELAXED !== null) {
    diagnostics_channel.subscribe(StoreChannel.SYNC, onSync);
    diagnostics_channel.subscribe(StoreChannel.STATE, onState);
    t.after(() => {
      diagnostics_channel.unsubscribe(StoreChannel.SYNC, onSync);
      diagnostics_channel.unsubscribe(StoreChannel.STATE, onState);
    });
  }
  /**
   * FUZZ_TRUNCATE: the log's cut-back after a failure fails too (EIO or ENOSPC, once or twice),
   * or hangs (past the storage deadline or not) and then fails. Own random numbers, so the
   * other faults of a seed stay those of a run without it.
   */
  const cut = prng(seed * 13 + 5);
  const failTruncate = () => {
    if (!TRUNCATE) return;
    const code = cut() < 0.5 ? 'EIO' : 'ENOSPC';
    const f = cut();
    if (f < 0.5) fs.inject({ op: 'truncate', path: '.log', code, times: 1 + Math.floor(cut() * 2) });
    else if (f < 0.8) {
      const hold = fs.hold('truncate', '.log');
      holds.push(hold);
      const ms = Math.floor(cut() * (cut() < 0.7 ? 100 : 800));
      void hold.reached
        .then(() => delay(ms))
        .then(() => {
          fs.inject({ op: 'truncate', path: '.log', code });
          hold.release();
        });
    } else return;
    truncates++;
    faults++;
  };
  /** A hold that lets its operation go on after `ms` (past the storage deadline or not). */
  const holdFor = (rndOf: () => number) => {
    const hold = fs.hold(rndOf() < 0.5 ? 'write' : 'datasync', '.log');
    holds.push(hold);
    const ms = Math.floor(rndOf() * (rndOf() < 0.8 ? 100 : 800));
    void hold.reached
      .then(() => delay(ms))
      .then(() => {
        hold.release();
      });
  };
  // Faults aimed at the interplay: the group commits around a check as it is suspended.
  const aimed = prng(seed * 7 + 3);
  const trace: string[] = [];
  const tracing = process.env.FUZZ_TRACE !== undefined;
  let segment: string[] = [];
  let barriers = 0;
  let wasWritable = true;
  if (tracing) {
    const barrier = store.barrier.bind(store);
    store.barrier = () => {
      const b = barrier();
      const lines = segment.join(' ');
      segment = [];
      if (b === null) trace.push(`${Math.round(performance.now() - started)} barrier null: ${lines}`);
      else {
        const n = ++barriers;
        trace.push(`${Math.round(performance.now() - started)} barrier #${n}: ${lines}`);
        b.then(
          (v) =>
            trace.push(
              `${Math.round(performance.now() - started)} barrier #${n} passed ${JSON.stringify(v ?? null)}`,
            ),
          (e: unknown) =>
            trace.push(
              `${Math.round(performance.now() - started)} barrier #${n} FAILED ${String(e).slice(0, 80)}`,
            ),
        );
      }
      return b;
    };
  }
  const execute = store.execute.bind(store);
  store.execute = (command) => {
    const reply = execute(command);
    if (tracing) {
      const writable = store.health().writable;
      if (writable !== wasWritable)
        trace.push(`${Math.round(performance.now() - started)} writable ${writable}`);
      wasWritable = writable;
      segment.push(
        `${command.verb}|${command.name}|${command.verb === 'INDEX' ? command.deps.join(',') : ''}=${reply}`,
      );
    }
    if (reply === SUSPENDED) {
      suspended++;
      const f = aimed();
      if (process.env.FUZZ_NO_FAULTS !== undefined || f > AIM || !store.health().writable) return reply;
      faults++;
      if (f < AIM * 0.4) fs.inject({ op: 'write', path: '.log', after: Math.floor(aimed() * 3) });
      else if (f < AIM * 0.6) fs.inject({ op: 'datasync', path: '.log', after: Math.floor(aimed() * 3) });
      else holdFor(aimed);
      failTruncate();
    }
    return reply;
  };
  const server = await startServer(
    { storage: 'disk', dataDir: dir, io: serving.io, threads: serving.threads },
    { store },
  );
  t.after(() => server.close());
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => LineClient.open(server.port)));
  t.after(() => {
    for (const c of clients) c.close();
  });
  const preload = [
    ...chainLines('a', CHAIN),
    ...chainLines('b', CHAIN),
    'INDEX|z|',
    ...clients.flatMap((_, k) => chainLines(`c${k}k`, OWN_CHAIN)),
  ];
  const loaded = await clients[0]!.request(...preload);
  const notOk = loaded.flatMap((reply, i) => (reply === 'OK' ? [] : [`${preload[i]} ${reply} (line ${i})`]));
  assert.deepEqual(notOk, [], 'the preload');
  if (RELAXED !== null) {
    // A failure could take back the preload too, which the model takes as given: wait for a
    // sync of it, one begun after its replies (one more write, so that a sync is due).
    const loadedAt = now();
    assert.deepEqual(await clients[0]!.request('INDEX|loaded|'), ['OK']);
    for (let i = 0; i < 500 && !timeline.syncs.some((y) => y.start >= loadedAt); i++) await delay(5);
    assert.ok(
      timeline.syncs.some((y) => y.start >= loadedAt),
      'relaxed mode: no sync after the preload',
    );
  }

  const sent: Sent[] = [];
  let running = CLIENTS;
  const driver = (async () => {
    while (running > 0) {
      await delay(GAP + Math.floor(rnd() * 4 * GAP));
      if (process.env.FUZZ_NO_FAULTS !== undefined || !store.health().writable) continue;
      const f = rnd();
      const after = Math.floor(rnd() * 3);
      if (f < 0.25) fs.inject({ op: 'write', path: '.log', after, partial: rnd() < 0.5 });
      else if (f < 0.45) fs.inject({ op: 'datasync', path: '.log', after });
      else if (f < 0.7) holdFor(rnd);
      else if (f < 0.75) fs.inject({ op: 'open', path: '.log', after });
      else if (f < 0.82 && process.env.FUZZ_EXTRA !== undefined) fs.inject({ op: 'rename', after });
      else if (f < 0.88 && process.env.FUZZ_EXTRA !== undefined) fs.inject({ op: 'syncDir', after });
      else continue;
      faults++;
      if (f < 0.7) failTruncate();
    }
  })();
  const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 12);
  await Promise.all(
    clients.map(async (client, k) => {
      const crnd = prng(seed * 31 + k + 1);
      let writeNo = 0;
      for (let round = 0; round < ROUNDS; round++) {
        // One to three writes back to back, replies read after: pipelined across batches.
        const writes = 1 + Math.floor(crnd() * 3);
        const batches: Sent[][] = [];
        for (let w = 0; w < writes; w++) {
          const lines = Array.from({ length: 1 + Math.floor(crnd() * 6) }, () => lineOf(k, crnd));
          const sentAt = now();
          const at = Math.round(sentAt);
          const batch: Sent[] = lines.map((line) => ({ client: k, line, write: writeNo, at, sentAt }));
          writeNo++;
          sent.push(...batch);
          batches.push(batch);
          client.write(lines.map((l) => `${l}\n`).join(''));
        }
        let refused = false;
        for (const batch of batches) {
          const replies = await client.read(batch.length, 20_000);
          const recvAt = now();
          batch.forEach((s, i) => {
            s.reply = replies[i];
            s.recvAt = recvAt;
          });
          refused ||= replies.includes('ERROR');
        }
        await delay(Math.floor(crnd() * 10));
        // Mostly not while the store reopens: its mutations would all be refused.
        while (refused && !store.health().writable && crnd() < 0.9) await delay(5);
      }
      running--;
    }),
  );
  await driver;
  fs.heal();
  for (const hold of holds) hold.release();
  if (RELAXED !== null) {
    // What the clients see last, once the store is writable again: a restart must find it.
    for (let i = 0; i < 1500 && !store.health().writable; i++) await delay(10);
    await Promise.all(
      clients.map(async (client, k) => {
        const { names, head } = namesOf(k);
        const lines = [...names, head].map((n) => `QUERY|${n}|`);
        const sentAt = now();
        const batch: Sent[] = lines.map((line) => ({
          client: k,
          line,
          write: -1,
          at: Math.round(sentAt),
          sentAt,
        }));
        sent.push(...batch);
        const replies = await client.request(...lines);
        const recvAt = now();
        batch.forEach((s, i) => {
          s.reply = replies[i];
          s.recvAt = recvAt;
        });
      }),
    );
  }
  for (const c of clients) c.close();
  await server.close();

  // Each client's own names, by its own lines in its order. Durable mode: one state per
  // client, the model's. Relaxed mode: every state a failure may have left (see Timeline).
  const failures: string[] = [];
  const cands: Candidate[][] = clients.map((_, k) => {
    const model = new Model();
    model.apply(`INDEX|${namesOf(k).head}|`);
    return [{ model, lineage: [] }];
  });
  let checked = 0;
  let errors = 0;
  let states = 1;
  const history = (k: number) =>
    sent
      .filter((s) => s.client === k && !/^\w+\|s\d/.test(s.line))
      .map((s) => `${s.write}@${s.at} ${s.line} ${s.reply}${s.mark ?? ''}`)
      .join('\n');
  // The states a lineage may go back to follow from the first one and its mutations.
  const keyOf = (c: Candidate) =>
    `${c.model.key()}|${c.lineage[0]?.before.key() ?? ''}|${c.lineage.map((e) => e.sent.id).join(',')}`;
  /**
   * Clients whose model had more than MAX_STATES states (relaxed mode, many failures and few
   * replies telling them apart): no longer checked, but for the restart against their last replies.
   */
  const untracked = new Set<number>();
  const dedupe = (list: Candidate[]) => {
    const seen = new Map<string, Candidate>();
    for (const c of list) {
      const key = keyOf(c);
      if (!seen.has(key)) seen.set(key, c);
    }
    return [...seen.values()];
  };
  /** When each client's previous line the model checked was sent: it ran after that. */
  const previous = clients.map(() => 0);
  sent.forEach((s, i) => (s.id = i));
  for (const s of sent) {
    if (/^\w+\|s\d/.test(s.line) || untracked.has(s.client)) continue;
    if (s.reply === 'ERROR') {
      errors++;
      continue;
    }
    const since = previous[s.client]!;
    previous[s.client] = s.sentAt;
    let list = cands[s.client]!;
    if (RELAXED !== null) {
      // A failure may have taken back OK mutations between the client's previous line and
      // this one: one that began before this reply and ended after that line was sent.
      const between = timeline.down.filter((d) => d.start < (s.recvAt ?? Infinity) && d.end > since);
      // Failures that may still come between two of its lines: none that ended before this one.
      const later = timeline.down.filter((d) => d.end > since);
      const grown: Candidate[] = [];
      for (const c of list) {
        // A mutation none of those can take back ends the lineage: none before it can be.
        let from = c.lineage.length;
        while (from > 0 && later.some((d) => takesBack(timeline, d, c.lineage[from - 1]!.sent))) from--;
        c.lineage = c.lineage.slice(from);
        grown.push(c);
        for (const d of between)
          for (let j = c.lineage.length - 1; j >= 0 && takesBack(timeline, d, c.lineage[j]!.sent); j--)
            grown.push({ model: c.lineage[j]!.before.clone(), lineage: c.lineage.slice(0, j) });
      }
      list = dedupe(grown);
      if (list.length > MAX_STATES) {
        untracked.add(s.client);
        continue;
      }
    }
    const mutation = !s.line.startsWith('QUERY');
    const answers = list.map((c) => {
      const before = RELAXED !== null && mutation ? c.model.clone() : null;
      const answer = c.model.apply(s.line);
      if (before !== null && answer === 'OK') {
        // Nothing before a mutation no failure can take back can be taken back either.
        const kept = timeline.down.some((d) => takesBack(timeline, d, s));
        c.lineage = kept ? [...c.lineage, { sent: s, before }] : [];
      }
      return answer;
    });
    const matching = list.filter((_, i) => answers[i] === s.reply);
    checked++;
    if (matching.length === 0) {
      const expected = answers[0]!;
      s.mark = `   <<< the model says ${expected}`;
      if (failures.length < 5)
        failures.push(`client ${s.client}: ${s.line} answered ${s.reply}, the model says ${expected}`);
      list = [list[0]!];
    } else list = matching;
    cands[s.client] = RELAXED !== null ? dedupe(list) : list;
    states = Math.max(states, cands[s.client]!.length);
  }
  // What a restart finds: each own name's presence, a0 -> b9999 and b0 -> a9999, shared names.
  const ownNames = clients.flatMap((_, k) => [...namesOf(k).names, namesOf(k).head]);
  const lines = [
    ...ownNames.map((n) => `QUERY|${n}|`),
    ...SHARED.map((n) => `QUERY|${n}|`),
    'REMOVE|b9999|',
    'REMOVE|a9999|',
  ];
  const after = await answersAfterRestart(t, dir, lines);
  ownNames.forEach((n, i) => {
    const k = Number(/^c(\d+)/.exec(n)![1]);
    const found = after[i];
    const list = cands[k]!;
    const matching = list.filter((c) => (c.model.has(n) ? 'OK' : 'FAIL') === found);
    checked++;
    if (untracked.has(k)) checked--;
    else if (matching.length === 0)
      failures.push(
        `after the restart QUERY ${n} answered ${found}, the model of client ${k} says ${list[0]!.model.has(n) ? 'OK' : 'FAIL'}`,
      );
    else cands[k] = matching;
    // Relaxed mode: the store closed cleanly, so it keeps what it answered last.
    const last = sent.findLast((x) => x.client === k && x.line === `QUERY|${n}|` && x.write === -1);
    if (last !== undefined && last.reply !== found)
      failures.push(`after the restart QUERY ${n} answered ${found}, before the close ${last.reply}`);
  });
  SHARED.forEach((n, j) => {
    const found = after[ownNames.length + j];
    const indexed = sent.some((s) => s.line.startsWith(`INDEX|${n}|`) && s.reply === 'OK');
    checked++;
    if (found === 'OK' && !indexed) failures.push(`shared ${n} present after the restart, never indexed OK`);
  });
  const [removeB, removeA] = after.slice(-2);
  const a0 = cands[0]!.filter((c) => c.model.depsOf('a0').includes('b9999') === (removeB === 'FAIL'));
  const b0 = a0.filter((c) => c.model.depsOf('b0').includes('a9999') === (removeA === 'FAIL'));
  const dependsOnB = cands[0]![0]!.model.depsOf('a0').includes('b9999');
  const dependsOnA = cands[0]![0]!.model.depsOf('b0').includes('a9999');
  if (!untracked.has(0)) checked += 2;
  if (untracked.has(0)) {
    // Not checked: see untracked.
  } else if (a0.length === 0 || (removeB !== 'OK' && removeB !== 'FAIL'))
    failures.push(
      `after the restart a0 ${dependsOnB ? 'should' : 'should not'} depend on b9999 (REMOVE ${removeB})`,
    );
  else if (b0.length === 0 || (removeA !== 'OK' && removeA !== 'FAIL'))
    failures.push(
      `after the restart b0 ${dependsOnA ? 'should' : 'should not'} depend on a9999 (REMOVE ${removeA})`,
    );
  if (failures.length > 0 && tracing) {
    const { writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const all = sent.map(
      (s) => `c${s.client} ${s.write}@${s.at}-${s.recvAt?.toFixed(1)} ${s.line} ${s.reply}${s.mark ?? ''}`,
    );
    const times = (list: { start: number; end: number }[]) =>
      list.map((x) => `${x.start.toFixed(1)}-${x.end.toFixed(1)}`).join(' ');
    writeFileSync(
      `${tmpdir()}/fuzz-${seed}-${serving.io}-${serving.threads}.txt`,
      `${failures.join('\n')}\n--- sent:\n${all.join('\n')}\n--- trace:\n${trace.join('\n')}\n` +
        `--- down: ${times(timeline.down)}\n--- syncs: ${times(timeline.syncs)}\n`,
    );
  }
  if (failures.length > 0) {
    const involved = new Set(failures.map((f) => Number(/c(?:lient )?(\d+)/.exec(f)?.[1] ?? 0)));
    assert.fail(
      `seed ${seed}, ${serving.label}:\n${failures.join('\n')}\n` +
        [...involved].map((k) => `--- client ${k}:\n${history(k)}`).join('\n') +
        (tracing
          ? `\n--- trace:\n${trace.filter((l) => [...involved].some((k) => l.includes(`c${k}n`)) || !l.includes('|')).join('\n')}`
          : ''),
    );
  }
  return {
    checked,
    suspended,
    faults,
    truncates,
    ...(TRUNCATE ? { cuts: fs.count('truncate'), cutsFailed: fs.failures('truncate') } : {}),
    errors,
    ...(RELAXED === null ? {} : { states, failures: timeline.down.length, untracked: untracked.size }),
  };
}

/** Share of suspended checks a fault is aimed at. */
const AIM = Number(process.env.FUZZ_AIM ?? 0.5);
/** Mean time between the driver's faults is about 3 × this, in ms. */
const GAP = Number(process.env.FUZZ_GAP ?? 20);
const SEEDS = (process.env.FUZZ_SEEDS ?? '1,2').split(',').map(Number);
/** FUZZ_TRUNCATE: the log's cut-back fails or hangs too. */
const TRUNCATE = process.env.FUZZ_TRUNCATE !== undefined;
/** FUZZ_RELAXED: relaxed sync mode, syncing every this many ms (1: 20 ms); null: durable. */
const RELAXED =
  process.env.FUZZ_RELAXED === undefined
    ? null
    : Math.max(Number(process.env.FUZZ_RELAXED), 1) === 1
      ? 20
      : Number(process.env.FUZZ_RELAXED);
for (const serving of SERVINGS)
  for (const seed of SEEDS)
    test(`${serving.label}, seed ${seed}: replies under random disk faults match a sequential model`, async (t) => {
      const outcome = await run(t, serving, seed);
      t.diagnostic(JSON.stringify(outcome));
      assert.ok(outcome.checked > 0);
    });
