import type { CommandSlot } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import { PENDING, SUSPENDED, type IndexStore } from '../store/store.js';
import {
  addWait,
  afterWaits,
  chain,
  executeNext,
  failedLines,
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
  /** What the second part of the answer waits for (see `addWait`). */
  readonly waits: Promise<unknown>[] = [];
  /**
   * Each held segment of lines, `[from, to)` in `ranges`, with what it waits for in `rangeWaits`
   * (null until one is held): read only when a wait fails, to answer ERROR the segments whose
   * own wait failed and no others (see `settleFailed`).
   */
  ranges: number[] | null = null;
  rangeWaits: Promise<unknown>[] | null = null;

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
  /** Its pair in `run.ranges`: the lines its completion decides, from `line` to `to`. */
  readonly range: number;
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
      if (ran.wait !== null) {
        addWait(run.waits, ran.wait);
        // Up to `to`: a suspended command's failure fails the lines deferred behind it too.
        holdRange(run, line, to, ran.wait);
      }
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
  run.waits.push(ran);
  const range = holdRange(run, line, to, ran);
  return { run, bytes, line, to, range, done, fail };
}

/**
 * Lines `[from, to)` of `run` wait for `wait`: ERROR if it fails, whatever the others do.
 * Returns the index of the pair in `run.ranges`.
 */
function holdRange(run: SplitRun, from: number, to: number, wait: Promise<unknown>): number {
  (run.ranges ??= []).push(from, to);
  (run.rangeWaits ??= []).push(wait);
  return (run.ranges.length >> 1) - 1;
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
      run.peer.suspended();
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
  if (rest !== null) {
    // A deferred part suspended again: the lines it ran now are decided by this command's
    // barrier, its completion only decides what is left of it. Its range covered them too, so
    // a failure of the remainder's group answered ERROR lines whose barrier had passed: a
    // client told that mutations the server kept may not have happened.
    run.ranges![2 * rest.range] = i;
    holdRange(run, line, i, wait);
  }
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
  settleAfter(run, all ? null : held, count);
}

/**
 * Sends the held lines' replies once their waits pass, after the peer's earlier answers:
 * `replies` whole when `held` is null, else the `count` lines `held` marks, read then (deferred
 * lines and undecided ones are filled in meanwhile). When a wait fails, see `settleFailed`. Its
 * own function, as `resumeAfter`: closures in `answer` cost every batch a context, answered at
 * once or not.
 */
function settleAfter(run: SplitRun, held: Uint8Array | null, count: number): void {
  const { peer, replies } = run;
  const answered = afterWaits(peer, run.waits).then(
    () => {
      peer.settled(held === null ? replies : heldReplies(replies, held, count));
    },
    () => settleFailed(run, held, count),
  );
  chain(peer, answered);
}

/**
 * A wait of the batch failed: once every one has settled, the lines whose own wait failed are
 * ERROR, and the others keep their replies. The clients of a batch wait for their own barriers:
 * answering every held line ERROR when one client's commit failed (a later group than another
 * client's, behind a cycle check) told a client whose mutation was durable that it had failed,
 * where Node's sockets answered it OK. When every held line failed, the answer is null, as
 * before (the layer counts those replies as failed for durability).
 */
async function settleFailed(run: SplitRun, held: Uint8Array | null, count: number): Promise<void> {
  const { peer, replies } = run;
  const failed = await failedLines(run.rangeWaits ?? [], run.ranges ?? [], replies.length);
  let lines = 0;
  for (let j = 0; j < replies.length; j++)
    if (failed[j] === 1 && (held === null || held[j] === 1)) {
      replies[j] = Reply.ERROR;
      lines++;
    }
  if (lines === 0 || lines === count) peer.settled(null);
  else peer.settled(held === null ? replies : heldReplies(replies, held, count), lines);
}

/** The replies of the `count` lines `held` marks, in order. */
function heldReplies(replies: Uint8Array, held: Uint8Array, count: number): Uint8Array {
  const second = new Uint8Array(count);
  let k = 0;
  for (let j = 0; j < replies.length; j++) if (held[j] === 1) second[k++] = replies[j]!;
  return second;
}
