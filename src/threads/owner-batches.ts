import type { CommandSlot } from '../protocol/command.js';
import { parseInto } from '../protocol/parse.js';
import { Reply } from '../protocol/reply.js';
import { INVALID_ROW, rowOfVerb } from '../server/stats.js';
import { PENDING, SUSPENDED, type IndexStore } from '../store/store.js';

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
  /** Answers the oldest unanswered batch: one Reply per line. */
  replies(replies: Uint8Array): void;
  /** The oldest unanswered batch could not be made durable. */
  failed(): void;
}

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
  /** One per segment that had to wait for its barrier. */
  readonly waits: Promise<void>[] = [];

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
 * Executes the run's lines until its end or a SUSPENDED command; in the latter case goes on
 * once that command's barrier has settled. Answers the batch when every line has run.
 */
function step(run: BatchRun): void {
  const { store, slot, replies, checks, bytes, count } = run;
  const first = run.line;
  let pending = false;
  let suspended = false;
  const length = bytes.length;
  let start = run.offset;
  let i = first;
  for (; i < count; i++) {
    // A loop, not indexOf(): a call into the runtime per line costs more than scanning it.
    let end = start;
    while (end < length && bytes[end] !== NEWLINE) end++;
    const error = end >= length ? 'E_FIELD_COUNT' : parseInto(bytes, start, end, slot);
    start = end + 1;
    if (error !== null) {
      if (checks !== null) checks.rows[i] = INVALID_ROW;
      replies[i] = Reply.ERROR;
      continue;
    }
    if (checks !== null) {
      checks.rows[i] = rowOfVerb(slot.verb);
      if (!checks.admit(slot)) {
        replies[i] = Reply.ERROR;
        continue;
      }
    }
    const reply = store.execute(slot);
    replies[i] = reply;
    if (reply === PENDING) pending = true;
    else if (reply === SUSPENDED) {
      suspended = true;
      i++;
      break;
    }
  }
  const barrier = store.barrier(run.peer);
  if (barrier !== null) {
    const from = first;
    const to = i;
    const filled = barrier.then((values) => {
      if ((pending || suspended) && values !== undefined) {
        let next = 0;
        for (let j = from; j < to; j++)
          if (replies[j] === PENDING || replies[j] === SUSPENDED)
            replies[j] = next < values.length ? values[next++]! : Reply.ERROR;
      }
    });
    // Handled here too: it may reject before the answer attaches to it.
    filled.catch(() => undefined);
    run.waits.push(filled);
    if (suspended) {
      // The rest runs once the command is decided: keep its bytes (they may be a ring's).
      run.line = i;
      run.offset = 0;
      run.bytes = Buffer.from(bytes.subarray(start));
      run.peer.queued ??= [];
      void filled.then(
        () => {
          step(run);
        },
        () => {
          answer(run);
        },
      );
      return;
    }
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
    const decided: Promise<unknown> = run.waits.length === 1 ? run.waits[0]! : Promise.all(run.waits);
    const previous = peer.tail;
    const answered = (previous === null ? decided : previous.then(() => decided)).then(
      () => {
        peer.replies(replies);
      },
      () => {
        peer.failed();
      },
    );
    peer.tail = answered;
    void answered.then(() => {
      if (peer.tail === answered) peer.tail = null;
    });
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
