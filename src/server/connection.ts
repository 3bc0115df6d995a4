import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { LineFramer, type LineSink } from '../protocol/framer.js';
import { CommandSlot, Verb } from '../protocol/command.js';
import { parseInto, parseLineAt } from '../protocol/parse.js';
import { Reply, renderReplies } from '../protocol/reply.js';
import { PENDING, SUSPENDED, type IndexStore, type Pending, type Suspended } from '../store/store.js';
import type { ReplyScratch } from './reply-scratch.js';
import { RunQueue, type Runnable } from './run-queue.js';
import type { OffenderLog } from './offender-log.js';
import type { Peer, PeerLimits } from './peer-limits.js';
import { BarrierWaiters, type Barrier, type BarrierWaiter, type Decided } from './barrier-waiters.js';
import { FAILED, HeldReplies, PENDING_SLOT, WAITING } from './held-replies.js';
import { INVALID_ROW, rowOfVerb, type ServerStats } from './stats.js';
import { overCap, type CapCode } from './command-caps.js';

export interface ConnectionLimits {
  readonly maxLineBytes: number;
  readonly idleTimeoutMs: number;
  readonly outputHighWaterBytes: number;
  /**
   * Longest one round of the connections waiting with more input runs per turn of the event
   * loop, in microseconds (see run-queue.ts).
   */
  readonly turnBudgetUs: number;
  /**
   * Longest a connection runs at a time, in microseconds: past it, the rest of its read waits
   * for its next slice in the round robin (run-queue.ts). Absent: `turnBudgetUs`.
   */
  readonly sliceUs?: number;
  /** INDEX is answered ERROR while the store holds this many packages (0: no cap). */
  readonly maxPackages?: number;
  /** INDEX listing more dependencies is answered ERROR (0: no cap). */
  readonly maxDependencies?: number;
}

/**
 * The clock is read once per this many lines of a read chunk, not per line (a clock read
 * costs about a tenth of a pipelined QUERY). A line's own work is bounded (the store
 * suspends a long cycle check), so a turn can overrun its budget by at most this many lines.
 * The first read comes as line LINES_PER_CLOCK + 1 starts and starts the clock, so a chunk of
 * a pipelining client's usual 32 lines reads it once (twice before) and runs whole, and one of
 * up to 16 lines never reads it.
 */
const LINES_PER_CLOCK = 16;

const ERROR_BYTES_PER_REPLY = 6;
/** What every connection holds until its first held chunk: empty, and never held into. */
const NOTHING_HELD = new HeldReplies();

/** A read is at most this long (shared-reads.ts, and Node's own reads): one store fits any cut read. */
const BACKLOG_STORE_BYTES = 64 * 1024;

/** What every connection of one server shares: the server builds it once. */
export interface ConnectionContext {
  readonly store: IndexStore;
  readonly stats: ServerStats;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  /** Replies of the chunk being processed: one per server, since a chunk is processed at once. */
  readonly scratch: ReplyScratch;
  /** Held batches wait on barriers through it: one callback per barrier (default: one per connection). */
  readonly barriers?: BarrierWaiters;
  /** Called once, when the socket has closed. */
  readonly onClosed: (c: Connection) => void;
  /** Limits per client address, and where offenders are logged (absent: none). */
  readonly peers?: PeerLimits;
  readonly offenders?: OffenderLog;
  /** Where connections with more than a slice of input wait for their next slice (absent: one per connection). */
  readonly runQueue?: RunQueue;
}

/**
 * One client connection: frames lines, executes them in order, and answers every line of a
 * read chunk with one write. Reading pauses while the client leaves too many replies unread,
 * so its memory stays bounded whatever it sends.
 */
export class Connection implements LineSink, Runnable, BarrierWaiter {
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
  /**
   * Whether commands are logged (level debug or finer), read once: the level is the server's
   * `--log-level`, fixed for its life. Not `log.levelVal` per line: pino's logger is a
   * dictionary-mode object whose `levelVal` is a getter on its prototype chain, which V8
   * cannot inline, so reading it was a LoadIC call per line (~270 instructions: 6 % of a
   * pipelined QUERY's whole-server cost, by callgrind).
   */
  readonly #logsCommands: boolean;

  /** Replies of the chunk being processed (shared with the server's other connections). */
  readonly #scratch: ReplyScratch;
  /** The line being executed, parsed in place: no command object per line. */
  readonly #command = new CommandSlot();
  /** Commands executed (not malformed); a chunk that executed one observed the store's state. */
  #executed = 0;
  /**
   * Replies of read chunks waiting for the store's barrier (see held-replies.ts): the shared
   * empty NOTHING_HELD until the first chunk is held, since a connection to the memory store
   * never holds one and 10,000 idle connections would carry 10,000 empty sets of rows.
   */
  #held: HeldReplies = NOTHING_HELD;
  #commands = 0;
  /** The client sent FIN or the server is draining: end our side once replies are out. */
  #ending = false;
  #closed = false;
  /** Bytes read but not yet framed, `#backlog[#backlogAt..]`: reading pauses while there are. */
  #backlog: Buffer | null = null;
  #backlogAt = 0;
  /**
   * The memory a cut read's rest is copied into, kept from one cut read to the next while the
   * client pipelines (a fresh 64 KiB per read made the GC pause everyone), dropped once a read
   * is executed whole.
   */
  #backlogStore: Buffer | null = null;
  /** The last batch ended with a SUSPENDED command: waiting for its barrier. */
  #suspended = false;
  /** Set during a slice to stop the framer after the current line. */
  #halted = false;
  #linesLeft = LINES_PER_CLOCK;
  #sliceStartedAt = 0;
  readonly #budgetMs: number;
  readonly #runQueue: RunQueue;
  /** In the run queue, waiting for its next slice. */
  #queued = false;
  /** Reading is paused (the client's replies back up, or input waits to be executed). */
  #paused = false;
  #overHighWater = false;
  /** Bumped by every read and write: the idle sweep compares it across sweeps. */
  #activity = 0;
  /** `#activity` and the socket's unsent bytes at the last sweep that saw them change. */
  #seenActivity = 0;
  #seenUnsent = 0;
  /** When a sweep last saw activity (performance.now()). */
  #activeAt = performance.now();

  /** This client's address and what it may still do, shared by its connections. */
  readonly peerLimit: Peer | null;
  readonly #peers: PeerLimits | null;
  readonly #offenders: OffenderLog | null;
  /** Some limit applies to mutations: each is checked before it runs. */
  readonly #checksMutations: boolean;
  readonly #barriers: BarrierWaiters;

  constructor(id: number, socket: Socket, context: ConnectionContext, peer: Peer | null = null) {
    const { limits, log } = context;
    this.peerLimit = peer;
    this.#peers = context.peers ?? null;
    this.#offenders = context.offenders ?? null;
    this.#checksMutations =
      (limits.maxPackages ?? 0) > 0 ||
      (limits.maxDependencies ?? 0) > 0 ||
      (peer !== null && this.#peers !== null && this.#peers.limitsMutations);
    this.id = id;
    this.#socket = socket;
    this.#store = context.store;
    this.#stats = context.stats;
    this.#limits = limits;
    this.#log = log;
    this.#onClosed = context.onClosed;
    this.#scratch = context.scratch;
    this.#barriers = context.barriers ?? new BarrierWaiters();
    this.#framer = new LineFramer(limits.maxLineBytes);
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#logsCommands = log.isLevelEnabled('debug');
    this.#budgetMs = (limits.sliceUs ?? limits.turnBudgetUs) / 1000;
    this.#runQueue = context.runQueue ?? new RunQueue(limits.turnBudgetUs);

    socket.setNoDelay(true);
    socket.on('drain', () => {
      this.#checkOutput();
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

  /** Read by the framer after each line: the slice is over (see LineSink). */
  get halted(): boolean {
    return this.#halted;
  }

  /**
   * The hot path, kept small: V8 inlines it into the framer's loop only while its bytecode
   * stays under --max-inlined-bytecode-size (460 bytes), and a call per line costs more than
   * anything the line does besides parsing and the store. Everything rare (malformed lines,
   * refused mutations, debug logging, replies decided later) is a method of its own.
   */
  line(buf: Buffer, start: number, end: number): void {
    if (--this.#linesLeft === 0) this.#readClock();
    const error = parseInto(buf, start, end, this.#command);
    if (error !== null) this.#malformed(error);
    else this.#execute();
  }

  /** The framer's fast lane (see LineSink): a well-formed line parsed as its end is found. */
  lineAt(buf: Buffer, start: number, limit: number): number {
    const end = parseLineAt(buf, start, limit, this.#command);
    if (end < 0) return -1;
    if (--this.#linesLeft === 0) this.#readClock();
    this.#execute();
    return end;
  }

  /** Executes the parsed command and keeps its reply. */
  #execute(): void {
    const command = this.#command;
    if (this.#checksMutations && command.verb !== Verb.QUERY && this.#refused(command)) return;
    const reply = this.#store.execute(command);
    this.#executed++;
    if (this.#logsCommands) this.#logCommand(command, reply);
    if (reply >= PENDING) {
      this.#decidedLater(command, reply as Pending | Suspended);
      return;
    }
    this.#stats.commands[rowOfVerb(command.verb) * 3 + reply]!++;
    this.#scratch.push(reply);
  }

  #malformed(error: string): void {
    this.#stats.commands[INVALID_ROW * 3 + Reply.ERROR]!++;
    if (this.#logsCommands) this.#log.debug({ conn: this.id, error }, 'malformed line');
    this.#scratch.push(Reply.ERROR);
  }

  #logCommand(command: CommandSlot, reply: Reply | Pending | Suspended): void {
    this.#log.debug(
      {
        conn: this.id,
        verb: command.verb,
        pkg: command.name,
        reply: reply === PENDING ? 'pending' : reply === SUSPENDED ? 'suspended' : reply,
      },
      'command',
    );
  }

  /** The store answers `command` with its barrier: a slot for the reply; SUSPENDED ends the slice. */
  #decidedLater(command: CommandSlot, reply: Pending | Suspended): void {
    if (reply === SUSPENDED) {
      this.#suspended = true;
      this.#halted = true;
      this.#stats.commandsSuspended++;
    }
    this.#scratch.push(PENDING_SLOT + rowOfVerb(command.verb));
  }

  /** A mutation over a cap or the peer's rate: answered ERROR, counted, logged per offender. */
  #refused(command: CommandSlot): boolean {
    if (!this.#refusal(command)) return false;
    this.#stats.commands[rowOfVerb(command.verb) * 3 + Reply.ERROR]!++;
    this.#scratch.push(Reply.ERROR);
    return true;
  }

  /** True (counted as refused, logged) when `command` goes over a cap or the peer's rate. */
  #refusal(command: CommandSlot): boolean {
    const limits = this.#limits;
    const stats = this.#stats;
    let code: CapCode | 'E_RATE_LIMITED' | null = overCap(
      command,
      limits,
      () => this.#store.stats().packages,
    );
    let detail: Record<string, unknown>;
    if (code === 'E_TOO_MANY_DEPENDENCIES') {
      stats.commandsOverDependencyCap++;
      detail = { dependencies: command.deps.length, max: limits.maxDependencies };
    } else if (code === 'E_TOO_MANY_PACKAGES') {
      stats.commandsOverPackageCap++;
      detail = { max: limits.maxPackages };
    } else if (this.peerLimit !== null && this.#peers?.limitsMutations === true) {
      if (this.#peers.takeMutation(this.peerLimit)) return false;
      stats.commandsRateLimited++;
      code = 'E_RATE_LIMITED';
      detail = {};
    } else return false;
    this.#offenders?.warn(
      `${code}:${this.peerLimit?.address ?? this.peer}`,
      { code, peer: this.peerLimit?.address ?? this.peer, conn: this.id, ...detail },
      'command refused',
    );
    return true;
  }

  overlong(): void {
    if (--this.#linesLeft === 0) this.#readClock();
    this.#stats.linesTooLong++;
    this.#stats.commands[INVALID_ROW * 3 + Reply.ERROR]!++;
    this.#scratch.push(Reply.ERROR);
  }

  /** Every LINES_PER_CLOCK lines: ends the slice once it has run for the turn's budget. */
  #readClock(): void {
    this.#linesLeft = LINES_PER_CLOCK;
    const now = performance.now();
    if (this.#sliceStartedAt === 0) this.#sliceStartedAt = now;
    else if (now - this.#sliceStartedAt >= this.#budgetMs) {
      this.#halted = true;
      this.#stats.turnsYielded++;
    }
  }

  /**
   * Bytes read from the socket, `chunk[0, length)`: frames and executes them, answers the
   * chunk's lines with one write. The chunk may be a buffer the server reuses for every read
   * of every connection, so nothing here keeps it past the call (the framer copies a partial
   * line's bytes).
   */
  receive(chunk: Buffer, length: number): void {
    this.#stats.bytesIn += length;
    this.#activity++;
    if (this.#ending) return;
    if (this.#backlog !== null || this.#suspended) {
      // Reading is paused from the moment input waits; this is only what was already in flight.
      this.#keep(chunk, 0, length);
      this.#updateReading();
      return;
    }
    this.#slice(chunk, 0, length, false);
  }

  /**
   * Executes the lines of `buf[from, length)` until the turn's budget is spent or a command
   * is suspended, answers them as one batch, and keeps the rest for a later turn. `owned`:
   * `buf` is the backlog (else it may be the shared read buffer, so the rest is copied).
   */
  #slice(buf: Buffer, from: number, length: number, owned: boolean): void {
    // One clock read per chunk, not per line, and none when metrics are off.
    const latency = this.#stats.commandLatency;
    const arrivedAt = latency === null ? 0 : performance.now();
    const scratch = this.#scratch;
    scratch.count = 0;
    const executedBefore = this.#executed;
    this.#halted = false;
    this.#linesLeft = LINES_PER_CLOCK + 1;
    // The first check (as line 17 starts) starts the clock. Not the arrival time: on a loaded
    // machine a chunk is often preempted for longer than the budget, and yielding then helps
    // no other client (none ran meanwhile) but costs a copy of the rest, a turn and a write.
    this.#sliceStartedAt = 0;
    const stop = this.#framer.push(buf, this, length, from);
    this.#halted = false;
    if (stop < length) {
      if (owned) this.#backlogAt = stop;
      else this.#keep(buf, stop, length);
    } else if (owned) this.#backlog = null;
    else this.#backlogStore = null;
    const count = scratch.count;
    if (count > 0) {
      this.#commands += count;
      const barrier = this.#executed !== executedBefore ? this.#store.barrier(this) : null;
      if (barrier === null && this.#held.length === 0) {
        this.#write(renderReplies(scratch.bytes, 0, count));
        if (latency !== null) latency.record(performance.now() - arrivedAt);
      } else this.#hold(scratch.bytes, count, barrier, arrivedAt);
    }
    if (this.#backlog !== null && !this.#suspended) this.#continueLater();
    this.#checkOutput();
  }

  /**
   * Holds a batch's replies (copied: `replies` is the shared scratch) until its barrier
   * settles, behind any batch held before it.
   */
  #hold(replies: Uint8Array, count: number, barrier: Barrier | null, arrivedAt: number): void {
    if (this.#held === NOTHING_HELD) this.#held = new HeldReplies();
    const offset = barrier === null ? 0 : (this.#store.barrierOffset ?? 0);
    this.#held.hold(replies, count, barrier, arrivedAt, this.#suspended, offset);
    if (barrier !== null) this.#barriers.wait(barrier, this);
  }

  /** Settles every held batch that waited on `barrier` (BarrierWaiters calls it once per barrier). */
  barrierSettled(barrier: Barrier, decided: Decided, failed: boolean): void {
    const suspends = this.#held.settle(barrier, decided, failed, this.#stats.commands);
    this.#release();
    if (suspends) this.#resumeAfterSuspension();
  }

  /** Keeps `buf[from, to)` (copied: it may be the shared read buffer) after any backlog. */
  #keep(buf: Buffer, from: number, to: number): void {
    const backlog = this.#backlog;
    if (backlog === null) {
      let store = this.#backlogStore;
      if (store === null || store.length < to - from)
        store = this.#backlogStore = Buffer.allocUnsafe(Math.max(to - from, BACKLOG_STORE_BYTES));
      buf.copy(store, 0, from, to);
      this.#backlog = store.subarray(0, to - from);
    } else this.#backlog = Buffer.concat([backlog.subarray(this.#backlogAt), buf.subarray(from, to)]);
    this.#backlogAt = 0;
  }

  #resumeAfterSuspension(): void {
    this.#suspended = false;
    if (this.#backlog !== null) this.#continueLater();
    else this.#updateReading();
    this.#maybeEnd();
  }

  /**
   * Goes on with the backlog in its next slice: behind the other connections waiting in the
   * run queue, on a later turn, after that turn's reads.
   */
  #continueLater(): void {
    if (this.#queued || this.#closed) return;
    this.#queued = true;
    this.#runQueue.enqueue(this);
  }

  /** The run queue's turn for this connection: one slice of its backlog. */
  runSlice(): void {
    this.#queued = false;
    const backlog = this.#backlog;
    if (this.#closed || this.#suspended || backlog === null) return;
    this.#slice(backlog, this.#backlogAt, backlog.length, true);
    this.#maybeEnd();
  }

  /**
   * Writes held batches, oldest first, as far as their barriers allow: every batch released
   * now in one write (their replies lie one after the other).
   */
  #release(): void {
    const held = this.#held;
    const from = held.from;
    let to = from;
    const latency = this.#stats.commandLatency;
    while (held.length > 0 && held.state !== WAITING) {
      if (held.state === FAILED) this.#stats.repliesFailedDurability += held.fail(this.#stats.commands);
      if (latency !== null && held.arrivedAt > 0) latency.record(performance.now() - held.arrivedAt);
      to = held.shift();
    }
    // shift() leaves the released replies in place until the next hold().
    if (to > from && !this.#closed) this.#write(renderReplies(held.bytes, from, to));
    this.#checkOutput();
    this.#maybeEnd();
  }

  #write(bytes: Buffer): void {
    this.#stats.bytesOut += bytes.length;
    this.#activity++;
    this.#socket.write(bytes);
  }

  #pendingOutputBytes(): number {
    return this.#socket.writableLength + this.#held.replies * ERROR_BYTES_PER_REPLY;
  }

  /** Pauses reading while the client leaves too many replies unread; resumes once it reads. */
  #checkOutput(): void {
    this.#overHighWater = this.#pendingOutputBytes() > this.#limits.outputHighWaterBytes;
    this.#updateReading();
  }

  #updateReading(): void {
    const pause = this.#overHighWater || this.#backlog !== null || this.#suspended;
    if (pause === this.#paused || this.#closed) return;
    this.#paused = pause;
    if (pause) this.#socket.pause();
    else this.#socket.resume();
  }

  /** Input read but not answered yet: executing, waiting to be, or held for durability. */
  #hasUnanswered(): boolean {
    return this.#backlog !== null || this.#suspended || this.#held.length > 0;
  }

  #maybeEnd(): void {
    if (this.#ending && !this.#hasUnanswered() && !this.#closed) this.#socket.end();
  }

  /**
   * The server's idle sweep (see IdleSweep): closes the connection once no byte went in or
   * out for --idle-timeout-ms and nothing it sent waits for an answer. A sweep sees activity
   * as a change of the read/write counter or of the bytes the socket has yet to send (a
   * client reading its replies slowly is not idle), and idleness is timed from the sweep that
   * last saw some: the connection closes between one timeout and one timeout plus a sweep
   * period after its last byte, never before. Sweeps run after the reads of their turn, so
   * after a stall of the whole process a request that arrived during it counts as activity.
   * Not Node's socket timer: every read and every write restarts that one, a relink in
   * Node's timer lists keyed by duration (~500 instructions per strict request).
   */
  sweepIdle(now: number): void {
    if (this.#closed) return;
    const unsent = this.#socket.writableLength;
    if (this.#activity !== this.#seenActivity || unsent !== this.#seenUnsent) {
      this.#seenActivity = this.#activity;
      this.#seenUnsent = unsent;
      this.#activeAt = now;
    } else if (now - this.#activeAt >= this.#limits.idleTimeoutMs && !this.#hasUnanswered()) this.#onIdle();
  }

  #onIdle(): void {
    this.#stats.connectionsIdleClosed++;
    this.#log.info({ conn: this.id, idleTimeoutMs: this.#limits.idleTimeoutMs }, 'closing idle connection');
    this.#socket.destroy();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#backlog = null;
    this.#backlogStore = null;
    this.#framer.reset();
    this.#held.clear();
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
