import type { Logger } from 'pino';
import { CommandSlot } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import { overCap } from '../server/command-caps.js';
import { OffenderLog } from '../server/offender-log.js';
import type { IndexServerOptions } from '../server/server.js';
import { COMMAND_ROWS, type LatencyRecorder } from '../server/stats.js';
import type { IndexStore } from '../store/store.js';
import type { ThreadStats } from '../threads/messages.js';
import { HELD, type HeldBatch, type SplitPeer } from '../threads/owner-batches.js';
import { executeSplit, type Deferred } from '../threads/split-batches.js';
import { isProtocolError } from '../protocol/command.js';
import { parseLine } from '../protocol/parse.js';
import {
  CONNECTION_EVENT_FIELDS,
  ConnectionEvent,
  linesPerTurn,
  NATIVE_COUNTERS,
  nativeBatchesInFlight,
  type NativeIoAddon,
  type NativeIoHandle,
} from './addon.js';

export interface NativeFrontOptions {
  readonly addon: NativeIoAddon;
  /** The listening socket, which every I/O thread gets a descriptor of (the caller keeps its own). */
  readonly fd: number;
  /** I/O threads. */
  readonly threads: number;
  readonly server: IndexServerOptions;
  readonly store: IndexStore;
  readonly log: Logger;
  /** Where command latency goes, read at each batch (the metrics set it after start). */
  readonly latency: () => LatencyRecorder | null;
  /** Each turn's reads and writes in one io_uring submission (the caller checked ringError()). */
  readonly ring: boolean;
  /**
   * Longest the owner's own loop reads nothing while its batches wait for the store
   * (`--commit-read-pause-us`, ADR 0025); 0: it never pauses.
   */
  readonly readPauseUs: number;
  /** Connections the descriptor limit leaves room for (Infinity: no budget known). */
  readonly descriptorRoom: number;
}

/**
 * The held lines of a batch, HELD in its first answer: their rows are read when their replies
 * come, since a line held behind its client's cycle check is parsed only then.
 */
interface Unsettled {
  readonly rows: Uint8Array;
  readonly first: Uint8Array;
}

/** A batch handed to the owner and not yet answered: what its answer is counted with. */
interface Unanswered {
  readonly rows: Uint8Array;
  readonly readAtNs: number;
  /** With --log-level debug: each line's log fields, logged with its reply. */
  readonly logged?: readonly LoggedLine[];
}

/** A line as the debug log shows it: its connection and command, or why it is malformed. */
type LoggedLine =
  | { readonly conn: number; readonly verb: string; readonly pkg: string }
  | { readonly conn: number; readonly error: string };

/** How often the owner logs what happened to the connections (opened, closed, refused). */
const CONNECTION_EVENTS_MS = 250;

const ROWS = COMMAND_ROWS.length;

/**
 * Batches of the owner's own loop waiting for the store (a second answer) at which it stops
 * reading (ADR 0025): one is the group commit being written, the second the one filling behind
 * it; reading on would only make smaller turns for the commit after. At 1 the owner idled
 * through every commit (stop 46: a fifth less CPU a reply, but no more replies a second).
 */
const PAUSE_AT = 2;

/** One I/O thread as the owner sees it: where its batches' answers go, in order. */
class NativePeer implements SplitPeer {
  tail: Promise<void> | null = null;
  queued: HeldBatch[] | null = null;
  readonly clients = new Map<number, Deferred[]>();
  readonly #front: NativeFront;
  readonly #index: number;
  readonly #unanswered: Unanswered[] = [];
  /** The lines held by first answers, per batch, until their second answer. */
  readonly #unsettled: Unsettled[] = [];

  constructor(front: NativeFront, index: number) {
    this.#front = front;
    this.#index = index;
  }

  /** Batches whose held lines wait for their second answer. */
  get waiting(): number {
    return this.#unsettled.length;
  }

  expect(batch: Unanswered): void {
    this.#unanswered.push(batch);
  }

  replies(replies: Uint8Array): void {
    this.#front.answered(this.#index, this.#unanswered.shift(), replies, this.#unsettled);
  }

  failed(): void {
    this.#front.answered(this.#index, this.#unanswered.shift(), null, this.#unsettled);
  }

  settled(replies: Uint8Array | null, failed = 0): void {
    this.#front.settled(this.#index, this.#unsettled.shift(), replies, failed);
  }

  suspended(): void {
    this.#front.commandsSuspended++;
  }
}

/**
 * The index owner's side of the native connection layer (ADR 0019): starts the I/O threads
 * on the listening socket, executes their batches against the store in arrival order (the one
 * serial order of the index), answers each once the store's barrier passes, and keeps the
 * counters the metrics read. Every command runs on this thread; the I/O threads only move
 * bytes.
 */
export class NativeFront {
  readonly #addon: NativeIoAddon;
  readonly #handle: NativeIoHandle;
  readonly #store: IndexStore;
  readonly #log: Logger;
  readonly #limits: IndexServerOptions;
  readonly #latency: () => LatencyRecorder | null;
  readonly #offenders: OffenderLog;
  readonly #slot = new CommandSlot();
  readonly #peers: NativePeer[] = [];
  readonly #admit = (command: CommandSlot): boolean => this.#admitted(command);
  readonly #commands = new Float64Array(ROWS * 3);
  #overDependencyCap = 0;
  #overPackageCap = 0;
  #running: number;
  #drained: () => void = () => undefined;
  readonly #exited: Promise<void>;
  #closing: Promise<void> | null = null;
  /** The counters as they were when the threads exited. */
  #final: ThreadStats | null = null;
  /** Connections each thread accepted, as they were when the threads exited. */
  #finalPerThread: number[] = [];
  readonly threads: number;
  #paused = false;
  readonly #pauseMs: number;
  #pauseTimer: NodeJS.Timeout | null = null;
  /** Replies ERROR for durability in answers that also hold others (see `settled`). */
  #repliesFailed = 0;
  /** Commands of the threads' batches answered SUSPENDED (counted by their peers). */
  commandsSuspended = 0;
  /** Times the inline thread was paused (pkgindex_io_read_pauses_total). */
  #readPauses = 0;
  /** Connections are logged as Node's sockets log them (info): the threads keep their events. */
  readonly #logsConnections: boolean;
  /** Every command is logged (debug), with its connection's number. */
  readonly #logsCommands: boolean;
  #eventsTimer: NodeJS.Timeout | null = null;
  /** With #logsCommands: a connection's number in the log by its thread and slot in batches. */
  readonly #numbers = new Map<number, number>();

  private constructor(options: NativeFrontOptions) {
    this.#addon = options.addon;
    this.#store = options.store;
    this.#log = options.log;
    this.#limits = options.server;
    this.#latency = options.latency;
    this.#offenders = new OffenderLog(options.log);
    this.threads = options.threads;
    // Timers count milliseconds: a pause asked for lasts at least one.
    this.#pauseMs = options.readPauseUs > 0 ? Math.max(1, Math.round(options.readPauseUs / 1000)) : 0;
    this.#running = options.threads;
    this.#logsConnections = options.log.isLevelEnabled('info');
    this.#logsCommands = options.log.isLevelEnabled('debug');
    for (let i = 0; i < options.threads; i++) this.#peers.push(new NativePeer(this, i));
    this.#exited = new Promise((resolve) => {
      this.#drained = resolve;
    });
    const { server } = options;
    this.#handle = options.addon.start(
      options.fd,
      {
        threads: options.threads,
        maxLineBytes: server.maxLineBytes,
        maxConnections: server.maxConnections,
        maxConnectionsPerPeer: server.maxConnectionsPerPeer ?? 0,
        outputHighWaterBytes: server.outputHighWaterBytes,
        idleTimeoutMs: server.idleTimeoutMs,
        batchesInFlight: nativeBatchesInFlight(),
        // The owner's event loop serves its share of the connections itself (all of them on
        // one thread): a hop to another thread and back costs more than the system calls it
        // would take off the owner; any other threads serve the rest (ADR 0019 point 11).
        inline: 1,
        linesPerTurn: linesPerTurn(server.sliceUs ?? server.turnBudgetUs),
        ring: options.ring ? 1 : 0,
        connectionEvents: this.#logsConnections ? 1 : 0,
        descriptorConnections: Number.isFinite(options.descriptorRoom) ? options.descriptorRoom : -1,
      },
      (thread, lines, count, readAtNs, spans) => {
        this.#onBatch(thread, lines, count, readAtNs, spans);
      },
    );
    if (this.#logsConnections) {
      this.#eventsTimer = setInterval(() => {
        this.#logEvents();
      }, CONNECTION_EVENTS_MS);
      this.#eventsTimer.unref();
    }
  }

  /** Starts `threads` I/O threads accepting on `fd`; throws (E_NATIVE_START) if none can. */
  static start(options: NativeFrontOptions): NativeFront {
    return new NativeFront(options);
  }

  #onBatch(
    thread: number,
    lines: Uint8Array | null,
    count: number,
    readAtNs: number,
    spans: Uint32Array,
  ): void {
    if (lines === null) {
      // A thread that drained has closed its connections: their lines come before "stopped".
      this.#logEvents();
      if (--this.#running === 0) {
        if (this.#eventsTimer !== null) clearInterval(this.#eventsTimer);
        // The threads' counters go with them: the last report stands for them from now on.
        this.#final = this.report();
        this.#finalPerThread = this.#perThread('connectionsTotal');
        this.#addon.join(this.#handle);
        if (this.#pauseTimer !== null) clearTimeout(this.#pauseTimer);
        this.#drained();
      }
      return;
    }
    const peer = this.#peers[thread]!;
    const rows = new Uint8Array(count);
    if (this.#logsCommands) {
      // The connections opened since the last look come first, with their numbers.
      this.#logEvents();
      peer.expect({ rows, readAtNs, logged: this.#loggedLines(thread, lines, spans) });
    } else peer.expect({ rows, readAtNs });
    // Its own checks: a batch held behind a suspended command fills its rows later.
    executeSplit(this.#store, this.#slot, peer, lines, count, { rows, admit: this.#admit }, spans);
    if (thread === 0 && peer.waiting >= PAUSE_AT) this.#pause();
  }

  /**
   * Logs what happened to the connections since the last look, as Node's sockets log it:
   * `connection opened`, `closing idle connection`, `connection closed` (info), and refusals
   * (warn, one line per reason per interval, as OffenderLog rate-limits them).
   */
  #logEvents(): void {
    if (!this.#logsConnections || this.#final !== null) return;
    const events = this.#addon.takeEvents(this.#handle);
    if (events === null) return;
    const log = this.#log;
    const dropped = events[0] as number;
    if (dropped > 0)
      this.#offenders.warn(
        'connection-events',
        { dropped },
        'connection events not logged: connections opened and closed faster than the log took them',
      );
    for (let at = 1; at + CONNECTION_EVENT_FIELDS <= events.length; at += CONNECTION_EVENT_FIELDS) {
      const thread = events[at] as number;
      const kind = events[at + 1] as number;
      const conn = events[at + 2] as number;
      const peer = events[at + 6] as string;
      switch (kind) {
        case ConnectionEvent.OPENED:
          if (this.#logsCommands) this.#numbers.set(thread * 2 ** 32 + (events[at + 3] as number), conn);
          log.info({ conn, peer, thread }, 'connection opened');
          break;
        case ConnectionEvent.IDLE:
          log.info({ conn, idleTimeoutMs: this.#limits.idleTimeoutMs }, 'closing idle connection');
          break;
        case ConnectionEvent.CLOSED:
          log.info(
            { conn, peer, durationMs: events[at + 4] as number, commands: events[at + 5] as number },
            'connection closed',
          );
          break;
        case ConnectionEvent.REFUSED:
          this.#offenders.warn(
            'max-connections',
            { peer, max: this.#limits.maxConnections },
            'connection refused: --max-connections reached',
          );
          break;
        case ConnectionEvent.REFUSED_DESCRIPTORS:
          this.#offenders.warn(
            'descriptors',
            { peer },
            'connection refused: out of file descriptors for connections; raise LimitNOFILE (ulimit -n)',
          );
          break;
        case ConnectionEvent.REFUSED_PER_PEER:
          this.#offenders.warn(
            `E_PEER_CONNECTIONS:${peer}`,
            { code: 'E_PEER_CONNECTIONS', peer, max: this.#limits.maxConnectionsPerPeer },
            'connection refused: --max-connections-per-peer reached',
          );
          break;
      }
    }
  }

  /** With --log-level debug: each line of a batch as its log line shows it. */
  #loggedLines(thread: number, lines: Uint8Array, spans: Uint32Array): LoggedLine[] {
    const bytes = Buffer.from(lines.buffer, lines.byteOffset, lines.length);
    const out: LoggedLine[] = [];
    let start = 0;
    for (let s = 0; s + 1 < spans.length; s += 2) {
      const conn = this.#numbers.get(thread * 2 ** 32 + spans[s]!) ?? -1;
      for (let k = 0; k < spans[s + 1]!; k++) {
        const end = bytes.indexOf(10, start);
        if (end < 0) return out; // cannot be: the layer ends every line of a batch with its newline
        const command = parseLine(bytes, start, end);
        out.push(
          isProtocolError(command)
            ? { conn, error: command.error }
            : { conn, verb: command.verb, pkg: command.name },
        );
        start = end + 1;
      }
    }
    return out;
  }

  /**
   * The inline thread reads nothing until one of its batches has its second answer, or
   * `readPauseUs` passes (a commit stuck in the file system must not stop every other client's
   * QUERYs for long): the lines that arrive meanwhile are read in one turn (ADR 0025).
   */
  #pause(): void {
    if (this.#paused || this.#pauseMs === 0) return;
    this.#paused = true;
    this.#readPauses++;
    this.#addon.pause(this.#handle, true);
    // One timer, re-armed by each pause: when it fires, a pause still on is the latest one.
    if (this.#pauseTimer === null) {
      this.#pauseTimer = setTimeout(this.#resume, this.#pauseMs);
      this.#pauseTimer.unref();
    } else this.#pauseTimer.refresh();
  }

  readonly #resume = (): void => {
    if (!this.#paused) return;
    this.#paused = false;
    this.#addon.pause(this.#handle, false);
  };

  #admitted(command: CommandSlot): boolean {
    const code = overCap(command, this.#limits, () => this.#store.stats().packages);
    if (code === null) return true;
    if (code === 'E_TOO_MANY_DEPENDENCIES') this.#overDependencyCap++;
    else this.#overPackageCap++;
    this.#offenders.warn(
      `${code}:native`,
      {
        code,
        dependencies: command.deps.length,
        maxDependencies: this.#limits.maxDependencies,
        maxPackages: this.#limits.maxPackages,
      },
      'command refused',
    );
    return false;
  }

  /** A batch's answer (null: it could not be made durable): counted, then sent to its thread. */
  answered(
    thread: number,
    batch: Unanswered | undefined,
    replies: Uint8Array | null,
    unsettled: Unsettled[],
  ): void {
    if (batch !== undefined) {
      const { rows } = batch;
      const commands = this.#commands;
      if (replies === null) for (let i = 0; i < rows.length; i++) commands[rows[i]! * 3 + Reply.ERROR]!++;
      else {
        let held = false;
        for (let i = 0; i < rows.length; i++)
          if (replies[i] === HELD) held = true;
          else commands[rows[i]! * 3 + replies[i]!]!++;
        // Counted once their replies are known (settled).
        if (held) unsettled.push({ rows, first: replies });
      }
      const latency = this.#latency();
      if (latency !== null) latency.record((Number(process.hrtime.bigint()) - batch.readAtNs) / 1e6);
      if (batch.logged !== undefined) this.#logCommands(batch.logged, replies);
    }
    this.#addon.reply(this.#handle, thread, replies);
  }

  /** With --log-level debug: a batch's lines with their replies ('pending': held for its commit). */
  #logCommands(logged: readonly LoggedLine[], replies: Uint8Array | null): void {
    for (let i = 0; i < logged.length; i++) {
      const line = logged[i]!;
      if ('error' in line) this.#log.debug(line, 'malformed line');
      else {
        const reply = replies === null ? Reply.ERROR : replies[i] === HELD ? 'pending' : replies[i];
        this.#log.debug({ ...line, reply }, 'command');
      }
    }
  }

  /**
   * The second part of a split answer: the held lines' replies (null: not durable; `failed`:
   * how many of them are ERROR because theirs was not, counted here since the layer counts
   * only a null answer's).
   */
  settled(thread: number, held: Unsettled | undefined, replies: Uint8Array | null, failed: number): void {
    this.#repliesFailed += failed;
    // The peer has taken `held` off its list already.
    if (thread === 0 && this.#peers[0]!.waiting < PAUSE_AT) this.#resume();
    if (held !== undefined) {
      const commands = this.#commands;
      const { rows, first } = held;
      if (replies === null) {
        for (let i = 0; i < rows.length; i++) if (first[i] === HELD) commands[rows[i]! * 3 + Reply.ERROR]!++;
      } else
        for (let i = 0, k = 0; i < rows.length; i++)
          if (first[i] === HELD) commands[rows[i]! * 3 + replies[k++]!]!++;
    }
    this.#addon.reply(this.#handle, thread, replies, true);
  }

  /** The I/O threads' counters, summed, shaped as a socket thread's report for the metrics. */
  report(): ThreadStats {
    if (this.#final !== null) return this.#final;
    const values = this.#addon.stats(this.#handle);
    const sum = new Float64Array(NATIVE_COUNTERS.length);
    for (let i = 0; i < values.length; i++) sum[i % NATIVE_COUNTERS.length]! += values[i]!;
    const at = (name: (typeof NATIVE_COUNTERS)[number]): number => sum[NATIVE_COUNTERS.indexOf(name)]!;
    return {
      connectionsTotal: at('connectionsTotal'),
      connectionsRefused: at('connectionsRefused'),
      connectionsIdleClosed: at('connectionsIdleClosed'),
      connectionsSharedReads: 0,
      bytesIn: at('bytesIn'),
      bytesOut: at('bytesOut'),
      linesTooLong: at('linesTooLong'),
      repliesFailedDurability: at('repliesFailedDurability') + this.#repliesFailed,
      turnsYielded: 0,
      commandsSuspended: this.commandsSuspended,
      connectionsRefusedPerPeer: at('connectionsRefusedPerPeer'),
      acceptErrors: at('acceptErrors'),
      commandsRateLimited: 0,
      commandsOverPackageCap: this.#overPackageCap,
      commandsOverDependencyCap: this.#overDependencyCap,
      connectionsRefusedDescriptors: at('connectionsRefusedDescriptors'),
      ioRingSubmissions: at('ringCalls'),
      ioReadPauses: this.#readPauses,
      commands: Array.from(this.#commands),
      latency: null,
      hop: null,
      batches: at('batches'),
      batchedCommands: at('batchedCommands'),
    };
  }

  /** One counter of each thread, thread after thread. */
  #perThread(name: (typeof NATIVE_COUNTERS)[number]): number[] {
    const values = this.#addon.stats(this.#handle);
    const at = NATIVE_COUNTERS.indexOf(name);
    const out: number[] = [];
    for (let i = at; i < values.length; i += NATIVE_COUNTERS.length) out.push(values[i]!);
    return out;
  }

  /** Connections the I/O threads hold now. */
  get connectionsOpen(): number {
    if (this.#final !== null) return 0;
    return this.#perThread('connectionsOpen').reduce((sum, open) => sum + open, 0);
  }

  /**
   * Graceful shutdown: the threads stop accepting, answer what they read (their batches are
   * still executed here meanwhile) and close; after `graceMs`, the connections still open are
   * closed at once. Resolves when every thread has exited.
   */
  close(graceMs: number): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    this.#addon.drain(this.#handle);
    const deadline = setTimeout(() => {
      const open = this.connectionsOpen;
      if (open > 0) this.#log.warn({ connections: open }, 'shutdown grace period over; closing connections');
      this.#addon.destroy(this.#handle);
    }, graceMs);
    await this.#exited;
    clearTimeout(deadline);
    const report = this.report();
    this.#log.info(
      {
        threads: this.threads,
        connections: report.connectionsTotal,
        connectionsPerThread: this.#finalPerThread,
        batches: report.batches,
        batchedCommands: report.batchedCommands,
        ringCalls: report.ioRingSubmissions,
        readPauses: report.ioReadPauses,
      },
      'native I/O threads stopped',
    );
  }
}
