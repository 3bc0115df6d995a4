import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import { ConnectionSlots } from '../server/connection-slots.js';
import { SharedPeerTable } from '../server/shared-peer-table.js';
import { CommandSlot, Verb } from '../protocol/command.js';
import type { IndexServerOptions } from '../server/server.js';
import type { IndexStore } from '../store/store.js';
import { repinAfter } from '../runtime/young-generation.js';
import { executeBatch, type BatchPeer, type HeldBatch } from './owner-batches.js';
import {
  FAILED_TAG,
  type ThreadHop,
  type ThreadStats,
  type ToOwner,
  type ToSocketThread,
} from './messages.js';
import { createRing, ringCapacity } from './ring.js';
import { RingChannel } from './ring-channel.js';
import { DEFAULT_MAX_BATCH_BYTES } from './remote-store.js';
import { latencyDelta } from './thread-latency.js';
import type { LatencyRecorder } from '../server/stats.js';
import type { SocketThreadData } from './socket-thread.js';

const ENTRY = new URL('./socket-thread.js', import.meta.url);
/** How often a socket thread reports its counters for the metrics. */
const STATS_INTERVAL_MS = 1000;
const NO_BYTES = new Uint8Array(0);

/**
 * The young generation of a socket thread, in MiB (V8 gives a third of it to each of the two
 * semi-spaces): 1 MiB semi-spaces instead of V8's 8 MiB. A socket thread keeps little
 * between turns (connections, carries, its batch), so most of what it allocates dies in the
 * turn and a small nursery is scavenged often but quickly; measured in docs/benchmarks.md,
 * "Memory with socket threads".
 */
export const SOCKET_THREAD_YOUNG_GENERATION_MB = 3;

/**
 * The old-generation limit of a socket thread for `--thread-heap-mb 0`: its own code and
 * state, plus room for every connection the process may hold landing on it.
 */
export function socketThreadHeapMb(threadHeapMb: number, maxConnections: number): number {
  return threadHeapMb > 0 ? threadHeapMb : 64 + Math.ceil((maxConnections * 8) / 1024);
}

/**
 * Data bytes of the ring of batches: a record (one batch) holds at most half, and a batch is
 * sent once it passes DEFAULT_MAX_BATCH_BYTES, so it is at most that plus one command line.
 * No larger: the producer writes its way around the whole ring, so every byte of it ends up
 * resident (512 KiB with the default --max-line-bytes).
 */
function batchRingBytes(maxLineBytes: number): number {
  return ringCapacity(2 * (DEFAULT_MAX_BATCH_BYTES + 2 * maxLineBytes + 1024));
}

/** The shortest command line a batch can hold (`QUERY|a|` and its newline). */
const MIN_COMMAND_LINE_BYTES = 9;

/**
 * Data bytes of the ring of replies: one byte per command of a batch, so a reply record is
 * at most a batch's bytes over the shortest line (128 KiB with the default --max-line-bytes).
 */
function replyRingBytes(maxLineBytes: number): number {
  const lines = DEFAULT_MAX_BATCH_BYTES + 2 * maxLineBytes + 1024;
  return ringCapacity(2 * (Math.ceil(lines / MIN_COMMAND_LINE_BYTES) + 64));
}

export interface SocketThreadsOptions {
  /** Socket threads to start besides the main thread. */
  readonly count: number;
  /** The main thread's listening socket, which each thread gets a copy of. */
  readonly fd: number;
  readonly server: IndexServerOptions;
  readonly store: IndexStore;
  readonly log: Logger;
  /** The process's count of open connections, shared with the main thread's server. */
  readonly connections: SharedArrayBuffer;
  /** How batches and replies travel (--thread-hop). */
  readonly hop: ThreadHop;
  /** The process's table of peers (SharedPeerTable), shared with the main thread's server. */
  readonly peers: SharedArrayBuffer;
  readonly peerSlots: number;
  /** The main thread's latency histogram, which the socket threads' samples are added to. */
  readonly latency: LatencyRecorder | null;
  /** Old-generation heap limit of each thread, in MiB (see socketThreadHeapMb). */
  readonly heapMb: number;
  /**
   * With --max-packages: called for an INDEX of a socket thread's batch the owner refuses at
   * the cap (counted and logged by the caller). A socket thread cannot apply that cap itself:
   * only the owner knows how many packages the index holds as it executes each line.
   */
  readonly onPackageCap?: (command: CommandSlot) => void;
  /**
   * Called with the number of a batch's lines answered ERROR because their segment's barrier
   * failed while another segment's passed (owner-batches.ts `failSegments`): counted by the
   * caller as failed durability. A batch that fails whole is counted by its thread.
   */
  readonly onFailedDurability?: (lines: number) => void;
  /** Called for each command of a batch answered SUSPENDED: the caller counts it. */
  readonly onSuspended?: () => void;
}

/** One socket thread, seen from the owner. */
class SocketThread implements BatchPeer {
  readonly index: number;
  readonly worker: Worker;
  readonly log: Logger;
  stats: ThreadStats | null = null;
  /** Called with the next stats report (see `collectStats`). */
  statsWaiters: (() => void)[] = [];
  /** The last batch's reply, chained so that batches are answered in the order they came. */
  tail: Promise<void> | null = null;
  queued: HeldBatch[] | null = null;
  closed = false;
  readonly exited: Promise<void>;
  /** The rings to and from this thread (null: batches and replies go by postMessage). */
  ring: RingChannel | null = null;
  /** Asked to drain: its exit is expected. */
  draining = false;
  /** Why the worker stopped, when it failed ('error' comes before 'exit'). */
  failure: Error | null = null;
  /**
   * The connection slots ([0]) and per-peer connections ([1 + slot]) this thread holds, in
   * shared memory: given back by the owner if the thread dies holding them.
   */
  readonly held: SharedArrayBuffer;

  constructor(index: number, worker: Worker, log: Logger, held: SharedArrayBuffer) {
    this.index = index;
    this.worker = worker;
    this.log = log;
    this.held = held;
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        this.closed = true;
        this.ring?.close();
        resolve();
      });
    });
  }

  post(message: ToSocketThread, transfer?: ArrayBuffer[]): void {
    if (!this.closed) this.worker.postMessage(message, transfer);
  }

  /** See SocketThreadsOptions.onFailedDurability. */
  onFailedDurability: ((lines: number) => void) | null = null;
  /** See SocketThreadsOptions.onSuspended. */
  onSuspended: (() => void) | null = null;

  suspended(): void {
    this.onSuspended?.();
  }

  /** Answers the oldest unanswered batch (`failed` of its lines ERROR for durability). */
  replies(replies: Uint8Array, failed = 0): void {
    if (failed > 0) this.onFailedDurability?.(failed);
    if (this.closed) return;
    if (this.ring !== null) this.ring.send(replies, replies.length);
    else this.worker.postMessage({ t: 'replies', replies }, [replies.buffer as ArrayBuffer]);
  }

  /** The oldest unanswered batch could not be made durable. */
  failed(): void {
    if (this.closed) return;
    if (this.ring !== null) this.ring.send(NO_BYTES, FAILED_TAG);
    else this.worker.postMessage({ t: 'failed' });
  }
}

/**
 * The socket threads of a server and the index owner's side of their conversation (ADR
 * 0010): starts them, executes their batches against the store in arrival order (the one
 * serial order of the index, shared with the main thread's own connections), and answers
 * each batch once the store's barrier says its replies may be sent.
 */
export class SocketThreads {
  readonly #threads: SocketThread[] = [];
  readonly #store: IndexStore;
  readonly #slot = new CommandSlot();
  /** With --max-packages: the owner's checks of each batch (BatchChecks), else null. */
  readonly #checks: { rows: Uint8Array; admit: (command: CommandSlot) => boolean } | null;

  private constructor(store: IndexStore, options: SocketThreadsOptions) {
    this.#store = store;
    const maxPackages = options.server.maxPackages ?? 0;
    const refused = options.onPackageCap;
    this.#checks =
      maxPackages > 0
        ? {
            rows: new Uint8Array(0),
            admit: (command) => {
              if (command.verb !== Verb.INDEX || store.stats().packages < maxPackages) return true;
              refused?.(command);
              return false;
            },
          }
        : null;
  }

  /**
   * Starts `count` socket threads and resolves once each listens. A thread that cannot start
   * is logged and left out (the others serve); resolves with those that did.
   */
  static async start(options: SocketThreadsOptions): Promise<SocketThreads> {
    const threads = new SocketThreads(options.store, options);
    await Promise.all(Array.from({ length: options.count }, (_, i) => threads.#startOne(i + 1, options)));
    return threads;
  }

  /** Threads serving besides the main one. */
  get count(): number {
    return this.#threads.length;
  }

  /** Asks every socket thread for its counters now; resolves once each has answered (or exited). */
  async collectStats(): Promise<void> {
    await Promise.all(
      this.#threads.map((thread) => {
        if (thread.closed) return Promise.resolve();
        const reported = new Promise<void>((resolve) => thread.statsWaiters.push(resolve));
        thread.post({ t: 'stats' });
        return Promise.race([reported, thread.exited]);
      }),
    );
  }

  /** The socket threads' counters as last reported (null: not yet). */
  reports(): (ThreadStats | null)[] {
    return this.#threads.map((thread) => thread.stats);
  }

  #startOne(index: number, options: SocketThreadsOptions): Promise<void> {
    const rings = options.hop !== 'message';
    const held = new SharedArrayBuffer(4 * (1 + options.peerSlots));
    const data: SocketThreadData = {
      index,
      fd: options.fd,
      options: options.server,
      logLevel: options.log.level,
      connections: options.connections,
      peers: options.peers,
      peerSlots: options.peerSlots,
      statsIntervalMs: STATS_INTERVAL_MS,
      hop: options.hop,
      toOwner: rings ? createRing(batchRingBytes(options.server.maxLineBytes)) : new SharedArrayBuffer(0),
      fromOwner: rings ? createRing(replyRingBytes(options.server.maxLineBytes)) : new SharedArrayBuffer(0),
      maxBatchBytes: DEFAULT_MAX_BATCH_BYTES,
      latencyBounds: options.latency?.merge === undefined ? null : (options.latency.bounds ?? null),
      held,
    };
    const worker = new Worker(ENTRY, {
      workerData: data,
      resourceLimits: {
        maxYoungGenerationSizeMb: SOCKET_THREAD_YOUNG_GENERATION_MB,
        maxOldGenerationSizeMb: options.heapMb,
      },
    });
    repinAfter(worker);
    const thread = new SocketThread(index, worker, options.log.child({ thread: index }), held);
    thread.onFailedDurability = options.onFailedDurability ?? null;
    thread.onSuspended = options.onSuspended ?? null;
    if (rings) {
      thread.ring = new RingChannel(
        data.fromOwner,
        data.toOwner,
        options.hop === 'ring' ? 'wait' : 'doorbell',
        () => {
          thread.post({ t: 'doorbell' });
        },
        (payload, count) => {
          this.#execute(thread, payload, count);
        },
      );
      thread.ring.start();
    }
    return new Promise((resolve) => {
      let started = false;
      worker.on('message', (message: ToOwner) => {
        switch (message.t) {
          case 'batch':
            this.#execute(thread, message.lines, message.count);
            break;
          case 'doorbell':
            thread.ring?.doorbell();
            break;
          case 'log':
            this.#relayLog(thread, message.line);
            break;
          case 'stats':
            if (message.stats.latency !== null && options.latency?.merge !== undefined) {
              const delta = latencyDelta(message.stats.latency, thread.stats?.latency ?? null);
              options.latency.merge(delta.counts, delta.sum, delta.count);
            }
            thread.stats = message.stats;
            for (const waiter of thread.statsWaiters.splice(0)) waiter();
            break;
          case 'listening':
            started = true;
            this.#threads.push(thread);
            resolve();
            break;
          case 'start-failed':
            options.log.warn(
              { thread: index, reason: message.reason },
              'a socket thread could not start; serving without it',
            );
            thread.closed = true;
            void worker.terminate();
            resolve();
            break;
          case 'closed':
            thread.closed = true;
            void worker.terminate();
            break;
        }
      });
      worker.on('error', (err) => {
        thread.failure = err;
      });
      worker.on('exit', (code) => {
        thread.closed = true;
        if (!started) {
          if (code !== 0)
            options.log.warn(
              { thread: index, code, err: thread.failure ?? undefined },
              'a socket thread exited before listening',
            );
          resolve();
          return;
        }
        this.#died(thread, options, code);
      });
    });
  }

  /**
   * A socket thread that has exited: gives back the connection slots and per-peer counts its
   * connections held (the runtime closed those sockets with the thread), and, unless it was
   * asked to drain, says loudly why it stopped.
   */
  #died(thread: SocketThread, options: SocketThreadsOptions, code: number): void {
    const slots = new ConnectionSlots(options.server.maxConnections, new Int32Array(options.connections));
    const connections = slots.giveBack(new Int32Array(thread.held, 0, 1));
    new SharedPeerTable(options.peers, options.peerSlots).releaseHeld(
      new Int32Array(thread.held, 4, options.peerSlots),
      (options.server.mutationRatePerPeer ?? 0) > 0,
    );
    if (thread.draining && thread.failure === null) {
      thread.log.info(
        {
          connections: thread.stats?.connectionsTotal,
          batches: thread.stats?.batches,
          batchedCommands: thread.stats?.batchedCommands,
          hop: thread.stats?.hop ?? undefined,
          ownerHop: thread.ring?.counts,
        },
        'socket thread stopped',
      );
      return;
    }
    const outOfMemory = (thread.failure as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const err = outOfMemory
      ? createError(
          'E_THREAD_HEAP',
          `socket thread ${thread.index} reached its heap limit of ${options.heapMb} MiB (--thread-heap-mb) and was stopped; ` +
            `its ${connections} connections were closed and the other threads serve on: raise --thread-heap-mb, or lower --max-connections`,
          { cause: thread.failure },
        )
      : createError(
          'E_THREAD',
          `socket thread ${thread.index} stopped (exit code ${code}); its ${connections} connections were closed and the other threads serve on`,
          thread.failure === null ? undefined : { cause: thread.failure },
        );
    thread.log.error({ code: err.code, err, connectionsClosed: connections }, err.message);
  }

  /** Writes a socket thread's log event with the owner's logger. */
  #relayLog(thread: SocketThread, line: string): void {
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string };
      const label = thread.log.levels.labels[level] ?? 'info';
      (thread.log as unknown as Record<string, (o: object, m?: string) => void>)[label]!(fields, msg);
    } catch {
      thread.log.warn({ line }, 'unreadable log event from a socket thread');
    }
  }

  #execute(thread: SocketThread, lines: Uint8Array, count: number): void {
    const checks = this.#checks;
    if (checks !== null && checks.rows.length < count) checks.rows = new Uint8Array(Math.max(count, 256));
    executeBatch(this.#store, this.#slot, thread, lines, count, checks);
  }

  /**
   * Graceful shutdown of every socket thread: each stops accepting, answers what it read (its
   * batches are still executed here meanwhile) and closes its connections; resolves when all
   * have exited.
   */
  async close(): Promise<void> {
    for (const thread of this.#threads) {
      thread.draining = true;
      if (thread.closed) void thread.worker.terminate();
      else thread.post({ t: 'drain' });
    }
    await Promise.all(this.#threads.map((thread) => thread.exited));
  }
}
