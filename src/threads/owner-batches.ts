import type { CommandSlot } from '../protocol/command.js';
import { parseInto } from '../protocol/parse.js';
import { Reply } from '../protocol/reply.js';
import { INVALID_ROW, rowOfVerb } from '../server/stats.js';
import { PENDING, type IndexStore } from '../store/store.js';

const NEWLINE = 0x0a;

/** Where the owner sends a socket thread's replies (one per batch, in the order of the batches). */
export interface BatchPeer {
  /** The last batch's answer, chained so that batches are answered in the order they came. */
  tail: Promise<void> | null;
  /** Answers the oldest unanswered batch: one Reply per line. */
  replies(replies: Uint8Array): void;
  /** The oldest unanswered batch could not be made durable. */
  failed(): void;
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
 * never kept.
 */
export function executeBatch(
  store: IndexStore,
  slot: CommandSlot,
  peer: BatchPeer,
  lines: Uint8Array,
  count: number,
  checks: BatchChecks | null = null,
): void {
  const bytes = Buffer.from(lines.buffer, lines.byteOffset, lines.length);
  const replies = new Uint8Array(count);
  let pending = false;
  const length = bytes.length;
  let start = 0;
  for (let i = 0; i < count; i++) {
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
    if (reply === PENDING) pending = true;
    replies[i] = reply;
  }
  const barrier = store.barrier(peer);
  if (barrier === null && peer.tail === null) {
    peer.replies(replies);
    return;
  }
  const decided = (barrier ?? Promise.resolve()).then((values) => {
    if (pending && values !== undefined) {
      let next = 0;
      for (let i = 0; i < replies.length; i++)
        if (replies[i] === PENDING) replies[i] = next < values.length ? values[next++]! : Reply.ERROR;
    }
  });
  // Handled here too: it may reject before the previous batch's answer attaches to it.
  decided.catch(() => undefined);
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
