import { Verb, type Command, type IndexCommand, type RemoveCommand } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import {
  DependencyGraph,
  INDEX_PENDING,
  type DroppedList,
  type IndexProgress,
} from '../graph/dependency-graph.js';
import { appliedIndex, applyCommand } from './apply-command.js';
import { SUSPENDED, type Suspended } from './store.js';

/** How long checks may run, given by the store's owner (the `--turn-budget-us` option). */
export interface SliceOptions {
  /** Cycle-check work a line may do inline before it is suspended (units of DependencyGraph). */
  readonly inlineWork?: number;
  /** Longest run of suspended work in one event-loop turn, in milliseconds. */
  readonly sliceMs?: number;
}

/** What the store around the graph does with the decisions (the embedded stores differ here). */
export interface SliceHooks {
  /** True: the command is answered ERROR without being applied (a store that cannot write). */
  refuse(command: Command): boolean;
  /**
   * A mutation changed the graph: make it durable (the disk store appends it to its log).
   * `dropped`: the list it took from the package (null: it added the package), which is what
   * undoes it; handed back by the graph when the store asked it to (`keepDropped()`), else null.
   */
  changed(command: Command, dropped: DroppedList | null): void;
  /** Resolves once everything changed so far is durable; null when it already is. */
  durable(): Promise<void> | null;
  /**
   * What the commands of the batch so far, before the one being suspended, wait for: `durable()`
   * when one of them observed state not yet durable (any mutation, or a QUERY of a package a
   * pending record changed), else null. The suspended command's promise is the batch's barrier,
   * so it must cover them too.
   */
  batchDurable(): Promise<void> | null;
}

/** About 0.2–0.6 ms of cycle-check work (10–30 ns a unit; see docs/adr/0011). */
const DEFAULT_INLINE_WORK = 20_000;
const RESUME_WORK = 5_000;
const DEFAULT_SLICE_MS = 1;

/** A mutation waiting for its turn, or the one whose cycle check runs across turns. */
interface Waiting {
  readonly command: Command;
  /** The graph the check was started on, or null before it starts. */
  graph: DependencyGraph | null;
  /** The hooks' `batchDurable()` as it was suspended: what its batch's earlier commands wait for. */
  readonly before: Promise<void> | null;
  readonly resolve: (replies: readonly Reply[]) => void;
  readonly reject: (err: unknown) => void;
  readonly promise: Promise<readonly Reply[]>;
}

function copyOf(command: Command): Command {
  return command.verb === Verb.INDEX
    ? { verb: Verb.INDEX, name: command.name, deps: [...command.deps] }
    : { verb: command.verb, name: command.name };
}

/**
 * Executes commands against a graph so that no single one holds the event loop: an INDEX
 * whose cycle check outgrows `inlineWork` is answered SUSPENDED, and its check goes on in
 * slices of `sliceMs` on later turns (setImmediate), between other connections' reads. While
 * it runs, the graph keeps its previous state: QUERYs are answered at once from it (ordered
 * before the pending INDEX, which has not been answered yet), and every other mutation is
 * queued, answered SUSPENDED, and applied in arrival order once the check is decided. The
 * caller executes nothing more on a connection that got SUSPENDED until that batch's
 * barrier has settled, so each connection's commands keep their order. See docs/adr/0012.
 */
export class SlicedGraph {
  readonly #graph: () => DependencyGraph;
  /** Null: a store that refuses nothing and has nothing to make durable (the memory store). */
  readonly #hooks: SliceHooks | null;
  readonly #inlineWork: number;
  readonly #sliceMs: number;
  /** Head: the command being decided (its check may have started); the rest in arrival order. */
  readonly #queue: Waiting[] = [];
  #head = 0;
  /** The command answered SUSPENDED since the last barrier(): its batch waits for it. */
  #suspended: Waiting | null = null;
  #scheduled: NodeJS.Immediate | null = null;
  #closed = false;

  constructor(graph: () => DependencyGraph, hooks: SliceHooks | null, options: SliceOptions = {}) {
    this.#graph = graph;
    this.#hooks = hooks;
    this.#inlineWork = options.inlineWork ?? DEFAULT_INLINE_WORK;
    this.#sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
  }

  /** True while a check runs across turns or mutations wait for one. */
  get busy(): boolean {
    return this.#head < this.#queue.length;
  }

  /**
   * Kept small, QUERY first: the server inlines this into its per-line loop only while the
   * inlined code stays under V8's budget; mutations go on in `#mutate`.
   */
  execute(command: Command): Reply | Suspended {
    if (this.#hooks !== null && this.#hooks.refuse(command)) return Reply.ERROR;
    if (command.verb === Verb.QUERY)
      return this.#graph().has(command.name, command.keys?.[0]) ? Reply.OK : Reply.FAIL;
    return this.#mutate(command);
  }

  #mutate(command: IndexCommand | RemoveCommand): Reply | Suspended {
    if (this.busy) return this.#suspend(copyOf(command), null);
    if (command.verb === Verb.REMOVE) return this.#apply(command);
    const graph = this.#graph();
    const progress = graph.indexWithin(command.name, command.deps, this.#inlineWork, command.keys);
    if (progress === INDEX_PENDING) return this.#suspend(copyOf(command), graph);
    return this.#decided(command, progress, graph);
  }

  /** The promise of the batch's SUSPENDED command, with its reply; null if it had none. */
  barrier(): Promise<readonly Reply[]> | null {
    const waiting = this.#suspended;
    if (waiting === null) return null;
    this.#suspended = null;
    return waiting.promise;
  }

  /** Abandons the check and every queued mutation: their batches are answered ERROR. */
  close(reason: unknown): void {
    this.#closed = true;
    if (this.#scheduled !== null) clearImmediate(this.#scheduled);
    this.#scheduled = null;
    const head = this.#queue[this.#head];
    if (head?.graph != null && head.graph === this.#graph()) head.graph.cancelIndex();
    for (let i = this.#head; i < this.#queue.length; i++) this.#queue[i]!.reject(reason);
    this.#queue.length = 0;
    this.#head = 0;
  }

  #apply(command: Command): Reply {
    const graph = this.#graph();
    const applied = applyCommand(graph, command);
    if (applied.changed) this.#changed(command, graph);
    return applied.reply;
  }

  #decided(
    command: Command,
    progress: Exclude<IndexProgress, typeof INDEX_PENDING>,
    graph: DependencyGraph,
  ): Reply {
    const applied = appliedIndex(progress);
    if (applied.changed) this.#changed(command, graph);
    return applied.reply;
  }

  #changed(command: Command, graph: DependencyGraph): void {
    this.#hooks?.changed(command, graph.dropped);
  }

  #suspend(command: Command, graph: DependencyGraph | null): Suspended {
    let resolve!: (replies: readonly Reply[]) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<readonly Reply[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The caller's barrier for the batch is this promise alone: it must also cover the batch's
    // commands before this one, whose group commit may fail before this is decided, and
    // `durable()` then no longer covers a group that failed (#settle).
    const before = this.#hooks?.batchDurable() ?? null;
    // Handled now: the group may fail long before this is decided (#settle reads it then).
    before?.catch(() => undefined);
    const waiting: Waiting = { command, graph, resolve, reject, promise, before };
    this.#queue.push(waiting);
    this.#suspended = waiting;
    this.#schedule();
    return SUSPENDED;
  }

  #schedule(): void {
    if (this.#scheduled !== null || this.#closed) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = null;
      this.#run();
    });
  }

  /** One slice: decides queued commands in order until the queue is empty or the time is up. */
  #run(): void {
    const deadline = performance.now() + this.#sliceMs;
    while (this.busy) {
      const waiting = this.#queue[this.#head]!;
      const reply = this.#step(waiting);
      if (reply === null) {
        if (performance.now() >= deadline) break;
        continue;
      }
      this.#queue[this.#head++] = undefined as unknown as Waiting;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      this.#settle(waiting, reply);
      if (performance.now() >= deadline) break;
    }
    if (this.busy) this.#schedule();
  }

  /** Starts or continues the head's work; its reply once decided, else null. */
  #step(waiting: Waiting): Reply | null {
    const graph = this.#graph();
    const command = waiting.command;
    if (waiting.graph === null) {
      if (this.#hooks?.refuse(command) === true) return Reply.ERROR;
      if (command.verb !== Verb.INDEX) return this.#apply(command);
      waiting.graph = graph;
      const progress = graph.indexWithin(command.name, command.deps, RESUME_WORK);
      return progress === INDEX_PENDING ? null : this.#decided(command, progress, graph);
    }
    // The store rebuilt its graph (after a storage failure): the check's graph is gone.
    if (waiting.graph !== graph) return Reply.ERROR;
    const progress = graph.resumeIndex(RESUME_WORK);
    if (progress === INDEX_PENDING) return null;
    // Decided while the store could not write: the graph is rebuilt from the log anyway.
    if (this.#hooks?.refuse(command) === true) return Reply.ERROR;
    return this.#decided(command, progress, graph);
  }

  /**
   * Resolves the command's promise once what its batch observed before it (`before`) and what
   * it observed itself (`now`: its own record, or the state its FAIL saw) are durable. When
   * `before` fails, the batch's earlier replies are wrong too: the promise fails, and with it
   * the whole batch. When only `now` fails, the earlier commands' group passed, so their
   * replies stand and only this command is ERROR (its change was taken back): failing the
   * batch told a client ERROR for a mutation the server kept.
   */
  #settle(waiting: Waiting, reply: Reply): void {
    const now = this.#hooks?.durable() ?? null;
    const before = waiting.before;
    if (before === null && now === null) {
      waiting.resolve([reply]);
      return;
    }
    // Both handled at once: either may fail while the other is still out.
    void Promise.allSettled([before, now]).then(([earlier, own]) => {
      if (earlier.status === 'rejected') waiting.reject(earlier.reason);
      else waiting.resolve([own.status === 'rejected' ? Reply.ERROR : reply]);
    });
  }
}
