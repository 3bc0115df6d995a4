import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { LineFramer, type LineSink } from '../protocol/framer.js';
import { CommandSlot } from '../protocol/command.js';
import { parseInto } from '../protocol/parse.js';
import { Reply, renderReplies } from '../protocol/reply.js';
import { PENDING, type IndexStore } from '../store/store.js';
import type { ReplyScratch } from './reply-scratch.js';
import { INVALID_ROW, ROW_OF_VERB, type ServerStats } from './stats.js';

export interface ConnectionLimits {
  readonly maxLineBytes: number;
  readonly idleTimeoutMs: number;
  readonly outputHighWaterBytes: number;
}

/** Replies of one read chunk that wait for the store to make what they observed durable. */
interface HeldBatch {
  readonly replies: Uint8Array;
  state: 'waiting' | 'durable' | 'failed';
  /** performance.now() when the chunk arrived, or 0 when latency is not measured. */
  readonly arrivedAt: number;
}

const ERROR_BYTES_PER_REPLY = 6;

/**
 * A reply slot waiting for an asynchronous store: PENDING_SLOT + the verb's row in the command
 * counters, so that the reply is counted in the right row once the store has decided it, with
 * no array beside the replies.
 */
const PENDING_SLOT = 4;
const NOTHING_DECIDED: ArrayLike<Reply> = [];

/** What every connection of one server shares: the server builds it once. */
export interface ConnectionContext {
  readonly store: IndexStore;
  readonly stats: ServerStats;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  /** Replies of the chunk being processed: one per server, since a chunk is processed at once. */
  readonly scratch: ReplyScratch;
  /** Called once, when the socket has closed. */
  readonly onClosed: (c: Connection) => void;
}

/**
 * One client connection: frames lines, executes them in order, and answers every line of a
 * read chunk with one write. Reading pauses while the client leaves too many replies unread,
 * so its memory stays bounded whatever it sends.
 */
export class Connection implements LineSink {
  readonly id: number;
  readonly #socket: Socket;
  readonly #store: IndexStore;
  readonly #stats: ServerStats;
  readonly #limits: ConnectionLimits;
  readonly #log: Logger;
  readonly #framer: LineFramer;
  readonly #openedAt = performance.now();
  /** Captured at accept: the socket forgets its peer once closed. */
  readonly peer: string;
  readonly #onClosed: (c: Connection) => void;
  /** pino's value of `debug`: comparing levelVal with it per line is cheaper than isLevelEnabled(). */
  readonly #debugLevel: number;

  /** Replies of the chunk being processed (shared with the server's other connections). */
  readonly #scratch: ReplyScratch;
  /** The line being executed, parsed in place: no command object per line. */
  readonly #command = new CommandSlot();
  /** Commands executed (not malformed); a chunk that executed one observed the store's state. */
  #executed = 0;
  readonly #held: HeldBatch[] = [];
  #heldReplies = 0;
  #commands = 0;
  #pausedForOutput = false;
  /** The client sent FIN or the server is draining: end our side once replies are out. */
  #ending = false;
  #closed = false;

  constructor(id: number, socket: Socket, context: ConnectionContext) {
    const { limits, log } = context;
    this.id = id;
    this.#socket = socket;
    this.#store = context.store;
    this.#stats = context.stats;
    this.#limits = limits;
    this.#log = log;
    this.#onClosed = context.onClosed;
    this.#scratch = context.scratch;
    this.#framer = new LineFramer(limits.maxLineBytes);
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#debugLevel = log.levels.values['debug'] ?? 20;

    socket.setNoDelay(true);
    if (limits.idleTimeoutMs > 0)
      socket.setTimeout(limits.idleTimeoutMs, () => {
        this.#onIdle();
      });
    socket.on('drain', () => {
      this.#maybeResume();
    });
    socket.on('end', () => {
      this.#ending = true;
      this.#maybeEnd();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#log.debug({ conn: this.id, err: err.code ?? err.message }, 'connection error');
    });
    socket.on('close', () => {
      this.#onClose();
    });
  }

  /**
   * Answers what was already read, then closes (graceful shutdown). Bytes that arrive from now
   * on are read and discarded rather than left unread: the socket must still read to see the
   * client's FIN, without which it never closes.
   */
  drain(): void {
    if (this.#closed) return;
    this.#ending = true;
    this.#maybeEnd();
  }

  /** Closes at once, dropping unsent replies (end of the shutdown grace period). */
  destroy(): void {
    this.#socket.destroy();
  }

  line(buf: Buffer, start: number, end: number): void {
    const command = this.#command;
    const error = parseInto(buf, start, end, command);
    if (error !== null) {
      this.#stats.commands[INVALID_ROW * 3 + Reply.ERROR]!++;
      if (this.#log.levelVal <= this.#debugLevel) this.#log.debug({ conn: this.id, error }, 'malformed line');
      this.#push(Reply.ERROR);
      return;
    }
    const reply = this.#store.execute(command);
    this.#executed++;
    const row = ROW_OF_VERB[command.verb];
    if (this.#log.levelVal <= this.#debugLevel)
      this.#log.debug(
        {
          conn: this.id,
          verb: command.verb,
          pkg: command.name,
          reply: reply === PENDING ? 'pending' : reply,
        },
        'command',
      );
    if (reply === PENDING) {
      this.#push(PENDING_SLOT + row);
      return;
    }
    this.#stats.commands[row * 3 + reply]!++;
    this.#push(reply);
  }

  overlong(): void {
    this.#stats.linesTooLong++;
    this.#stats.commands[INVALID_ROW * 3 + Reply.ERROR]!++;
    this.#push(Reply.ERROR);
  }

  #push(slot: number): void {
    this.#scratch.push(slot);
  }

  /**
   * Bytes read from the socket, `chunk[0, length)`: frames and executes them, answers the
   * chunk's lines with one write. The chunk may be a buffer the server reuses for every read
   * of every connection, so nothing here keeps it past the call (the framer copies a partial
   * line's bytes).
   */
  receive(chunk: Buffer, length: number): void {
    this.#stats.bytesIn += length;
    if (this.#ending) return;
    // One clock read per chunk, not per line, and none when metrics are off.
    const latency = this.#stats.commandLatency;
    const arrivedAt = latency === null ? 0 : performance.now();
    const scratch = this.#scratch;
    scratch.count = 0;
    const executedBefore = this.#executed;
    this.#framer.push(chunk, this, length);
    const count = scratch.count;
    if (count === 0) return;
    this.#commands += count;

    const barrier = this.#executed !== executedBefore ? this.#store.barrier() : null;
    if (barrier === null && this.#held.length === 0) {
      this.#write(renderReplies(scratch.bytes, count));
      if (latency !== null) latency.record(performance.now() - arrivedAt);
    } else {
      const batch: HeldBatch = { replies: scratch.bytes.slice(0, count), state: 'waiting', arrivedAt };
      this.#held.push(batch);
      this.#heldReplies += count;
      if (barrier === null) batch.state = 'durable';
      else
        barrier.then(
          (decided) => {
            if (decided !== undefined) this.#settle(batch.replies, decided);
            batch.state = 'durable';
            this.#release();
          },
          () => {
            batch.state = 'failed';
            this.#release();
          },
        );
    }
    this.#maybePause();
  }

  /**
   * Puts the replies an asynchronous store decided into the batch's pending slots, in order,
   * and counts them. A slot the store left undecided (a store bug, or a failed batch) is ERROR.
   */
  #settle(replies: Uint8Array, decided: ArrayLike<Reply>): void {
    const commands = this.#stats.commands;
    let next = 0;
    for (let i = 0; i < replies.length; i++) {
      const slot = replies[i]!;
      if (slot < PENDING_SLOT) continue;
      const reply = next < decided.length ? decided[next++]! : Reply.ERROR;
      commands[(slot - PENDING_SLOT) * 3 + reply]!++;
      replies[i] = reply;
    }
  }

  /** Writes held batches, oldest first, as far as their barriers allow. */
  #release(): void {
    while (this.#held.length > 0 && this.#held[0]!.state !== 'waiting') {
      const batch = this.#held.shift()!;
      this.#heldReplies -= batch.replies.length;
      if (batch.state === 'failed') {
        this.#settle(batch.replies, NOTHING_DECIDED);
        batch.replies.fill(Reply.ERROR);
        this.#stats.repliesFailedDurability += batch.replies.length;
      }
      if (!this.#closed) this.#write(renderReplies(batch.replies, batch.replies.length));
      const latency = this.#stats.commandLatency;
      if (latency !== null && batch.arrivedAt > 0) latency.record(performance.now() - batch.arrivedAt);
    }
    this.#maybeResume();
    this.#maybeEnd();
  }

  #write(bytes: Buffer): void {
    this.#stats.bytesOut += bytes.length;
    this.#socket.write(bytes);
  }

  #pendingOutputBytes(): number {
    return this.#socket.writableLength + this.#heldReplies * ERROR_BYTES_PER_REPLY;
  }

  #maybePause(): void {
    if (!this.#pausedForOutput && this.#pendingOutputBytes() > this.#limits.outputHighWaterBytes) {
      this.#pausedForOutput = true;
      this.#socket.pause();
    }
  }

  #maybeResume(): void {
    if (this.#pausedForOutput && this.#pendingOutputBytes() <= this.#limits.outputHighWaterBytes) {
      this.#pausedForOutput = false;
      this.#socket.resume();
    }
  }

  #maybeEnd(): void {
    if (this.#ending && this.#held.length === 0 && !this.#closed) this.#socket.end();
  }

  #onIdle(): void {
    this.#stats.connectionsIdleClosed++;
    this.#log.info({ conn: this.id, idleTimeoutMs: this.#limits.idleTimeoutMs }, 'closing idle connection');
    this.#socket.destroy();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#framer.reset();
    this.#held.length = 0;
    this.#heldReplies = 0;
    this.#log.info(
      {
        conn: this.id,
        peer: this.peer,
        durationMs: Math.round(performance.now() - this.#openedAt),
        commands: this.#commands,
      },
      'connection closed',
    );
    this.#onClosed(this);
  }
}
