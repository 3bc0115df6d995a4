import type { CommandSlot } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import { PENDING, SUSPENDED, type IndexStore } from '../store/store.js';
import {
  afterWaits,
  chain,
  executeNext,
  fillFrom,
  HELD,
  lineEnd,
  type BatchChecks,
  type SplitPeer,
} from './owner-batches.js';

/** A batch of a split peer (the native layer) being executed and answered. */
class SplitRun {
  readonly store: IndexStore;
  readonly slot: CommandSlot;
  readonly peer: SplitPeer;
  readonly checks: BatchChecks | null;
  readonly replies: Uint8Array;
  /** 1 for each line whose reply waits: for its client's barrier, or for its client's check. */
  readonly held: Uint8Array;
  /** What the second part of the answer waits for (see `addRunWait`). */
  readonly waits: Promise<unknown>[] = [];
  /** For each of `waits`, the lines `[from, to)` whose replies it decides, as pairs. */
  readonly ranges: number[] = [];

  constructor(
    store: IndexStore,
    slot: CommandSlot,
    peer: SplitPeer,
    count: number,
    checks: BatchChecks | null,
  ) {
    this.store = store;
    this.slot = slot;
    this.peer = peer;
    this.checks = checks;
    this.replies = new Uint8Array(count);
    this.held = new Uint8Array(count);
  }
}

/**
 * Lines `[line, to)` of a run, sent by a client held behind its own SUSPENDED command: their
 * bytes (copied: the caller's may be reused), and what to call once they have run and their
 * barrier has passed.
 */
export interface Deferred {
  readonly run: SplitRun;
  readonly bytes: Buffer;
  readonly line: number;
  readonly to: number;
  readonly done: () => void;
  readonly fail: (err: unknown) => void;
}

/**
 * The owner's side of a batch of the native layer (ADR 0019): `spans` gives, for each client
 * in the batch, its id and how many lines it sent, in order. Each client's lines are one
 * segment with a barrier of its own, as a connection's read is: a client that waits for
 * nothing is answered at once, in the first part of the answer; the others' lines are HELD
 * there and answered in the second part, in the order of the batches.
 *
 * A SUSPENDED command (a cycle check that outlasts a turn, ADR 0012) holds its client only:
 * the rest of its lines, in this batch and the next ones, wait (their replies HELD) until the
 * command is decided, then run in order; the batch's other clients run now.
 */
export function executeSplit(
  store: IndexStore,
  slot: CommandSlot,
  peer: SplitPeer,
  lines: Uint8Array,
  count: number,
  checks: BatchChecks | null,
  spans: Uint32Array,
): void {
  const run = new SplitRun(store, slot, peer, count, checks);
  const bytes = Buffer.from(lines.buffer, lines.byteOffset, lines.length);
  let line = 0;
  let offset = 0;
  for (let s = 0; s + 1 < spans.length && line < count; s += 2) {
    const client = spans[s]!;
    const to = Math.min(count, line + spans[s + 1]!);
    const queue = peer.clients.get(client);
    if (queue !== undefined) {
      const end = linesEnd(bytes, offset, to - line);
      queue.push(defer(run, Buffer.from(bytes.subarray(offset, end)), line, to));
      offset = end;
    } else {
      const ran = runLines(run, client, bytes, offset, line, to);
      if (ran.wait !== null) addRunWait(run, ran.wait, line, to);
      offset = ran.end;
    }
    line = to;
  }
  // Lines no span claims (the layer never sends any): ERROR.
  for (; line < count; line++) run.replies[line] = 2;
  answer(run);
}

/** Where `n` lines from `start` end (past the last one's newline). */
function linesEnd(bytes: Buffer, start: number, n: number): number {
  let at = start;
  for (let k = 0; k < n && at < bytes.length; k++) at = lineEnd(bytes, at) + 1;
  return Math.min(at, bytes.length);
}

/** Holds lines `[line, to)` of `run` for later: HELD now, and one more wait for the answer. */
function defer(run: SplitRun, bytes: Buffer, line: number, to: number): Deferred {
  run.held.fill(1, line, to);
  let done!: () => void;
  let fail!: (err: unknown) => void;
  const ran = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  ran.catch(() => undefined);
  addRunWait(run, ran, line, to);
  return { run, bytes, line, to, done, fail };
}

/**
 * `addWait` for a split run, keeping which lines each wait decides: a client's lines are one
 * segment, and a segment that shares the previous one's wait (an embedded store's group
 * commit) extends its range. Ranges are read only if a wait fails (see `settleFailed`).
 */
function addRunWait(run: SplitRun, wait: Promise<unknown>, from: number, to: number): void {
  const { waits, ranges } = run;
  const last = waits.length - 1;
  if (last >= 0 && waits[last] === wait) ranges[2 * last + 1] = to;
  else {
    waits.push(wait);
    ranges.push(from, to);
  }
}

/**
 * Executes lines `[line, to)` of one client of `run`, from `bytes[offset]`, and closes them with
 * the store's barrier. A SUSPENDED command ends them: the client is held, its remaining lines
 * deferred, and it resumes once the command is decided. Returns where the lines end in
 * `bytes`, and what their replies wait for (null: nothing).
 */
function runLines(
  run: SplitRun,
  client: number,
  bytes: Buffer,
  offset: number,
  line: number,
  to: number,
  rest: Deferred | null = null,
): { end: number; wait: Promise<unknown> | null } {
  const { store, slot, checks, replies } = run;
  let start = offset;
  let undecided = false;
  let suspended = false;
  let i = line;
  for (; i < to; i++) {
    start = Math.min(executeNext(store, slot, checks, replies, bytes, start, i) + 1, bytes.length);
    const reply = replies[i];
    if (reply === PENDING) undecided = true;
    else if (reply === SUSPENDED) {
      suspended = true;
      i++;
      break;
    }
  }
  const barrier = store.barrier(run.peer);
  const wait = barrier === null ? null : fillFrom(barrier, replies, line, i, undecided || suspended);
  if (wait !== null) run.held.fill(1, line, i);
  if (!suspended || wait === null) return { end: start, wait };
  // Held behind the check: what it sent after it, here and in later batches, waits.
  const end = linesEnd(bytes, start, to - i);
  const queue: Deferred[] = [];
  if (i < to) {
    const remainder = Buffer.from(bytes.subarray(start, end));
    run.held.fill(1, i, to);
    // The remainder of a deferred part keeps that part's completion; a new one gets its own.
    queue.push(rest === null ? defer(run, remainder, i, to) : { ...rest, bytes: remainder, line: i });
  } else if (rest !== null) queue.push({ ...rest, bytes: Buffer.alloc(0), line: to });
  run.peer.clients.set(client, queue);
  resumeAfter(wait, run.peer, client);
  return { end, wait };
}

/**
 * Resumes a held client once its check is decided. A function of its own: closures in
 * `runLines` made V8 allocate their context on every call, held client or not (3 bytes a reply
 * of the durable mutation load, `measure allocations`).
 */
function resumeAfter(wait: Promise<unknown>, peer: SplitPeer, client: number): void {
  void wait.then(
    () => {
      resume(peer, client);
    },
    (err: unknown) => {
      failClient(peer, client, err);
    },
  );
}

/** A held client's check is decided: runs what it sent meanwhile, in order. */
function resume(peer: SplitPeer, client: number): void {
  const queue = peer.clients.get(client);
  peer.clients.delete(client);
  if (queue === undefined) return;
  for (let k = 0; k < queue.length; k++) {
    const part = queue[k]!;
    const ran = runLines(part.run, client, part.bytes, 0, part.line, part.to, part);
    const again = peer.clients.get(client);
    if (again !== undefined) {
      // Suspended again: the part's rest is queued (with its completion), then the others.
      again.push(...queue.slice(k + 1));
      return;
    }
    if (ran.wait === null) part.done();
    else void ran.wait.then(part.done, part.fail);
  }
}

/** A held client's check failed (the store could not make it durable): so does what it sent. */
function failClient(peer: SplitPeer, client: number, err: unknown): void {
  const queue = peer.clients.get(client) ?? [];
  peer.clients.delete(client);
  for (const part of queue) part.fail(err);
}

/**
 * A split answer: every line now, HELD for those that wait; their replies once they may leave.
 * When every line waits (a pipelining client's lines mostly do, each batch holding a write),
 * the second part is the batch's replies as they are, without a copy of the held ones.
 */
function answer(run: SplitRun): void {
  const { peer, replies, held } = run;
  if (run.waits.length === 0) {
    peer.replies(replies);
    return;
  }
  let count = 0;
  for (let j = 0; j < held.length; j++) count += held[j]!;
  const all = count === replies.length;
  const first = all ? new Uint8Array(count).fill(HELD) : Uint8Array.from(replies);
  if (!all) for (let j = 0; j < first.length; j++) if (held[j] === 1) first[j] = HELD;
  peer.replies(first);
  settleAfter(peer, run, all ? null : held, count);
}

/**
 * Sends the held lines' replies once their waits pass, after the peer's earlier answers: the
 * run's replies whole when `held` is null, else the `count` lines `held` marks, read then
 * (deferred lines and undecided ones are filled in meanwhile). Its own function, as
 * `resumeAfter`: closures in `answer` cost every batch a context, answered at once or not.
 */
function settleAfter(peer: SplitPeer, run: SplitRun, held: Uint8Array | null, count: number): void {
  const answered = afterWaits(peer, run.waits).then(
    () => {
      peer.settled(held === null ? run.replies : heldReplies(run.replies, held, count));
    },
    () => settleFailed(peer, run, held, count),
  );
  chain(peer, answered);
}

/**
 * Some wait of the run failed. Its clients' barriers may have gone to different database round
 * trips (PostgreSQL seals a round trip at 8,192 commands), so one failing says nothing of the
 * others: once every wait has settled, the lines of the failed ones are ERROR (counted as
 * failed durability) and the others keep their replies. All of them ERROR: null, as before.
 */
async function settleFailed(
  peer: SplitPeer,
  run: SplitRun,
  held: Uint8Array | null,
  count: number,
): Promise<void> {
  const outcomes = await Promise.allSettled(run.waits);
  const { replies, ranges } = run;
  const failed = new Uint8Array(replies.length);
  for (let w = 0; w < outcomes.length; w++)
    if (outcomes[w]!.status === 'rejected') failed.fill(1, ranges[2 * w], ranges[2 * w + 1]);
  let failures = 0;
  for (let j = 0; j < replies.length; j++)
    if (failed[j] === 1 && run.held[j] === 1) {
      replies[j] = Reply.ERROR;
      failures++;
    }
  if (failures === count) peer.settled(null);
  else peer.settled(held === null ? replies : heldReplies(replies, held, count), failures);
}

/** The replies of the `count` lines `held` marks, in order. */
function heldReplies(replies: Uint8Array, held: Uint8Array, count: number): Uint8Array {
  const second = new Uint8Array(count);
  let k = 0;
  for (let j = 0; j < replies.length; j++) if (held[j] === 1) second[k++] = replies[j]!;
  return second;
}
