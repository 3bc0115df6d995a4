import type { CommandSlot } from '../protocol/command.js';
import { parseInto, parseLineAt } from '../protocol/parse.js';
import { Reply } from '../protocol/reply.js';
import { INVALID_ROW, rowOfVerb } from '../server/stats.js';
import { PENDING, SUSPENDED, type IndexStore } from '../store/store.js';
import type { Deferred } from './split-batches.js';

const NEWLINE = 0x0a;

/** Where the owner sends a socket thread's replies (one per batch, in the order of the batches). */
export interface BatchPeer {
  /** The last batch's answer, chained so that batches are answered in the order they came. */
  tail: Promise<void> | null;
  /**
   * Batches that came while an earlier one of this peer waits for a SUSPENDED command (a long
   * cycle check, ADR 0012): executed, in order, once it is decided. Null: none waits.
   */
  queued: HeldBatch[] | null;
  /**
   * Answers the oldest unanswered batch: one Reply per line; `failed` of them are ERROR because
   * their segment's barrier failed while another segment's passed (counted as failed durability).
   */
  replies(replies: Uint8Array, failed?: number): void;
  /** The oldest unanswered batch could not be made durable. */
  failed(): void;
  /** A command of its batch was answered SUSPENDED (pkgindex_commands_suspended_total). */
  suspended(): void;
}

/**
 * A peer that says where each client's lines start (the native layer) and takes a batch's
 * answer in two parts: `replies()` at once, HELD marking the lines whose client waits for its
 * barrier (a group commit), then `settled()` with those lines' replies in order (null: none
 * could be made durable; `failed`: how many of them are ERROR because theirs could not), in
 * the order of the batches. A client whose lines need no
 * barrier (QUERYs of packages no pending write touched) is answered without waiting for
 * another client's group commit in the same batch.
 */
export interface SplitPeer extends BatchPeer {
  settled(replies: Uint8Array | null, failed?: number): void;
  /**
   * Clients held behind their own SUSPENDED command (by the id the layer gives them), with the
   * lines they sent since: executed once it is decided (split-batches.ts).
   */
  readonly clients: Map<number, Deferred[]>;
}

/** In a split answer's first part: the line's reply comes with `settled()`. */
export const HELD = 3;

/** A batch kept until the peer's suspended command is decided: its own copy of the lines. */
export interface HeldBatch {
  readonly lines: Uint8Array;
  readonly count: number;
  readonly checks: BatchChecks | null;
}

/**
 * What the owner does for a peer whose lines nobody has parsed before (the native I/O threads,
 * ADR 0019): it counts each line's verb and applies the caps a socket thread's connection
 * applies itself.
 */
export interface BatchChecks {
  /** Filled with each line's row of ServerStats.commands (rowOfVerb, or INVALID_ROW). */
  readonly rows: Uint8Array;
  /** False refuses a parsed command (a cap): answered ERROR without executing it. */
  admit(command: CommandSlot): boolean;
}

/**
 * The index owner's side of a socket thread's batch (ADR 0010): executes every line in order
 * against the store (one serial order with the owner's own connections), then answers the
 * batch once the store's barrier passes, after any earlier batch of the same peer. A socket
 * thread parsed its lines already, so one that does not parse here (it cannot) is answered
 * ERROR; the native I/O threads pass the client's lines as they came, and `checks` then
 * counts and caps them. `lines` may be a view into a ring: it is read before this returns,
 * or copied.
 *
 * A SUSPENDED command (a cycle check that goes on over later turns) ends the batch's run as
 * it ends a connection's batch: the owner does not know which client each line came from, so
 * it executes nothing more of this peer — neither the rest of the batch nor its later batches
 * — until that command's barrier has settled, then goes on where it stopped. The peer's other
 * clients wait for the check; every other peer (and the owner's own connections) is served
 * meanwhile, its QUERYs answered from the state before the check.
 */
export function executeBatch(
  store: IndexStore,
  slot: CommandSlot,
  peer: BatchPeer,
  lines: Uint8Array,
  count: number,
  checks: BatchChecks | null = null,
): void {
  if (peer.queued !== null) {
    peer.queued.push({ lines: Uint8Array.prototype.slice.call(lines), count, checks });
    return;
  }
  const run = new BatchRun(store, slot, peer, lines, count, checks);
  step(run);
}

/**
 * Parses and executes line `i`, `bytes[start, end)` (end at or past `bytes.length`: a line cut
 * short), into `replies[i]`; returns the reply (PENDING and SUSPENDED as the store said).
 */
function executeLine(
  store: IndexStore,
  slot: CommandSlot,
  checks: BatchChecks | null,
  replies: Uint8Array,
  bytes: Buffer,
  start: number,
  end: number,
  i: number,
): number {
  const error = end >= bytes.length ? 'E_FIELD_COUNT' : parseInto(bytes, start, end, slot);
  let reply: number;
  if (error !== null) {
    if (checks !== null) checks.rows[i] = INVALID_ROW;
    reply = Reply.ERROR;
  } else if (checks !== null && ((checks.rows[i] = rowOfVerb(slot.verb)), !checks.admit(slot))) {
    reply = Reply.ERROR;
  } else reply = store.execute(slot);
  replies[i] = reply;
  return reply;
}

/**
 * Parses and executes the line that starts at `bytes[start]`, as `executeLine` does once its
 * end is known, into `replies[i]`; returns where it ends (its newline, or `bytes.length`). A
 * well-formed line is read once (`parseLineAt` finds its newline as it parses); only another
 * line is framed first and then parsed. Framing every line first read each byte twice: the
 * native layer's batches spent a tenth of the owner's time in that loop.
 */
export function executeNext(
  store: IndexStore,
  slot: CommandSlot,
  checks: BatchChecks | null,
  replies: Uint8Array,
  bytes: Buffer,
  start: number,
  i: number,
): number {
  const newline = parseLineAt(bytes, start, bytes.length, slot);
  if (newline < 0) {
    const end = lineEnd(bytes, start);
    executeLine(store, slot, checks, replies, bytes, start, end, i);
    return end;
  }
  replies[i] =
    checks !== null && ((checks.rows[i] = rowOfVerb(slot.verb)), !checks.admit(slot))
      ? Reply.ERROR
      : store.execute(slot);
  return newline;
}

/** Where the line starting at `start` ends (its newline, or `bytes.length`). */
export function lineEnd(bytes: Buffer, start: number): number {
  // A loop, not indexOf(): a call into the runtime per line costs more than scanning it.
  let end = start;
  while (end < bytes.length && bytes[end] !== NEWLINE) end++;
  return end;
}

/**
 * Fills the PENDING and SUSPENDED replies of `[from, to)` from what `barrier` resolves with, and
 * returns what the segment's replies wait for: `barrier` itself when none of them is undecided
 * (the usual case: a segment that only waits for a group commit allocates nothing, and the
 * segments of one batch share the one barrier, see `addWait`); else a promise that settles
 * after the fill, handled (it may reject before anyone attaches to it).
 */
export function fillFrom(
  // The store's barrier (IndexStore.barrier): the embedded stores resolve with nothing.
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type
  barrier: Promise<ArrayLike<Reply> | void>,
  replies: Uint8Array,
  from: number,
  to: number,
  undecided: boolean,
): Promise<unknown> {
  if (!undecided) return barrier;
  const filled = barrier.then((values) => {
    if (values !== undefined) {
      let next = 0;
      for (let j = from; j < to; j++)
        if (replies[j] === PENDING || replies[j] === SUSPENDED)
          replies[j] = next < values.length ? values[next++]! : Reply.ERROR;
    }
  });
  filled.catch(() => undefined);
  return filled;
}

/**
 * Adds `wait` to a batch's `waits` unless it is the last one there: the segments of one batch
 * mostly wait for the same group commit, and one promise for it is enough.
 */
export function addWait(waits: Promise<unknown>[], wait: Promise<unknown>): void {
  if (waits.length === 0 || waits[waits.length - 1] !== wait) waits.push(wait);
}

/** One batch being executed, possibly over several turns (see SUSPENDED above). */
class BatchRun {
  readonly store: IndexStore;
  readonly slot: CommandSlot;
  readonly peer: BatchPeer;
  bytes: Buffer;
  readonly count: number;
  readonly checks: BatchChecks | null;
  readonly replies: Uint8Array;
  /** The next line to execute, and where its bytes start. */
  line = 0;
  offset = 0;
  /** What the segments that had to wait for their barrier wait for (see `addWait`). */
  readonly waits: Promise<unknown>[] = [];
  /**
   * For each of `waits`, the lines `[from, to)` it decides, as pairs (null until a segment
   * waits): read only when a wait fails, see `failSegments`.
   */
  ranges: number[] | null = null;

  constructor(
    store: IndexStore,
    slot: CommandSlot,
    peer: BatchPeer,
    lines: Uint8Array,
    count: number,
    checks: BatchChecks | null,
  ) {
    this.store = store;
    this.slot = slot;
    this.peer = peer;
    this.bytes = Buffer.from(lines.buffer, lines.byteOffset, lines.length);
    this.count = count;
    this.checks = checks;
    this.replies = new Uint8Array(count);
  }
}

/**
 * Ends the segment `[from, to)` of the run with the store's barrier; null when its replies
 * may leave at once, else what they wait for (see `fillFrom`).
 */
function closeSegment(
  run: BatchRun,
  from: number,
  to: number,
  undecided: boolean,
  decides: number,
): Promise<unknown> | null {
  const barrier = run.store.barrier(run.peer);
  if (barrier === null) return null;
  const filled = fillFrom(barrier, run.replies, from, to, undecided);
  const { waits } = run;
  const ranges = (run.ranges ??= []);
  const last = waits.length - 1;
  if (last >= 0 && waits[last] === filled) ranges[2 * last + 1] = decides;
  else {
    waits.push(filled);
    ranges.push(from, decides);
  }
  return filled;
}

/**
 * Executes the run's lines until its end or a SUSPENDED command; in the latter case goes on
 * once that command's barrier has settled. Answers the batch when every line has run.
 */
function step(run: BatchRun): void {
  const { store, slot, replies, checks, bytes, count } = run;
  const from = run.line;
  let undecided = false;
  let suspended = false;
  let start = run.offset;
  let i = from;
  for (; i < count; i++) {
    start = executeNext(store, slot, checks, replies, bytes, start, i) + 1;
    const reply = replies[i];
    if (reply === PENDING) undecided = true;
    else if (reply === SUSPENDED) {
      suspended = true;
      run.peer.suspended();
      i++;
      break;
    }
  }
  // A suspended segment that fails leaves the rest of the batch unexecuted: it decides those too.
  const wait = closeSegment(run, from, i, undecided || suspended, suspended ? count : i);
  if (suspended && wait !== null) {
    // The rest runs once the command is decided: keep its bytes (they may be a ring's).
    run.line = i;
    run.offset = 0;
    run.bytes = Buffer.from(bytes.subarray(Math.min(start, bytes.length)));
    run.peer.queued ??= [];
    void wait.then(
      () => {
        step(run);
      },
      () => {
        answer(run);
      },
    );
    return;
  }
  answer(run);
}

/** Answers the run's batch after its waits and the peer's earlier batches; runs held batches. */
function answer(run: BatchRun): void {
  const { peer, replies } = run;
  const held = peer.queued;
  peer.queued = null;
  const queuedAgain = (): HeldBatch[] | null => peer.queued;
  if (run.waits.length === 0 && peer.tail === null) peer.replies(replies);
  else {
    const answered = afterWaits(peer, run.waits).then(
      () => {
        peer.replies(replies);
      },
      () => failSegments(run),
    );
    chain(peer, answered);
  }
  // The batches that came meanwhile, in order; one of them may suspend the peer again.
  if (held !== null)
    for (let k = 0; k < held.length; k++) {
      const next = held[k]!;
      executeBatch(run.store, run.slot, peer, next.lines, next.count, next.checks);
      const again = queuedAgain();
      if (again !== null) {
        again.push(...held.slice(k + 1));
        break;
      }
    }
}

/**
 * Once every one of `waits` has settled: 1 for each of a batch's `count` lines that a failed
 * one decides, wait k deciding lines `[ranges[2k], ranges[2k + 1])`. The owner's batches and
 * the native layer's split ones both answer ERROR only those lines when a wait fails.
 */
export async function failedLines(
  waits: readonly Promise<unknown>[],
  ranges: readonly number[],
  count: number,
): Promise<Uint8Array> {
  const outcomes = await Promise.allSettled(waits);
  const failed = new Uint8Array(count);
  for (let k = 0; k < outcomes.length; k++)
    if (outcomes[k]!.status === 'rejected') failed.fill(1, ranges[2 * k], ranges[2 * k + 1]);
  return failed;
}

/**
 * A wait of the run failed. A batch of a socket thread holds several connections' lines, and its
 * segments (split where a cycle check was suspended, ADR 0012) may go to different group
 * commits: one failing says nothing of the others. Answering the whole batch failed told a
 * client whose mutation was durable (its group passed) ERROR, which Node's sockets on the
 * owner's thread never do. Once every wait has settled, the lines of the failed ones are ERROR,
 * the others keep their replies; when every line failed, the batch fails as before.
 */
async function failSegments(run: BatchRun): Promise<void> {
  const { peer, replies } = run;
  const failed = await failedLines(run.waits, run.ranges ?? [], replies.length);
  let failures = 0;
  for (let j = 0; j < replies.length; j++)
    if (failed[j] === 1) {
      replies[j] = Reply.ERROR;
      failures++;
    }
  if (failures === replies.length) peer.failed();
  else peer.replies(replies, failures);
}

/**
 * `waits`, after the peer's previous answer. While that answer is still out, nothing would
 * handle `decided` failing before it: a store that refuses a batch at once (PostgreSQL with its
 * circuit open rejects in `barrier()` itself) made that an unhandled rejection, which ends the
 * process. Its failure is read once the previous answer has gone, as its replies are.
 */
export function afterWaits(peer: BatchPeer, waits: readonly Promise<unknown>[]): Promise<unknown> {
  const decided: Promise<unknown> = waits.length === 1 ? waits[0]! : Promise.all(waits);
  const previous = peer.tail;
  if (previous === null) return decided;
  decided.catch(ignore);
  return previous.then(() => decided);
}

function ignore(): void {
  // Handled where the answer is sent (see afterWaits).
}

/** Makes `answered` the peer's last answer until it has settled. */
export function chain(peer: BatchPeer, answered: Promise<void>): void {
  peer.tail = answered;
  void answered.then(() => {
    if (peer.tail === answered) peer.tail = null;
  });
}
