import type { Command } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { PENDING, type IndexStore, type Pending, type StoreHealth } from '../../src/store/store.js';
import type { GraphStats } from '../../src/graph/dependency-graph.js';

interface Batch {
  readonly commands: Command[];
  resolve(replies: Reply[]): void;
  reject(err: Error): void;
}

/**
 * An asynchronous store for tests of the server's batch boundary, shaped like the remote
 * backends (a database, an index owned by another thread): `execute` queues a copy of the
 * command and answers PENDING; `barrier()` closes the batch; batches are applied to an
 * in-memory index in the order they were closed, one per turn of the event loop (or only
 * when `release()` is called, while `hold` is set), and `failBatch` makes chosen batches fail.
 */
export class DeferredStore implements IndexStore {
  readonly id = 'deferred-1';
  readonly #inner = new MemoryStore();
  #open: Command[] = [];
  readonly #closed: Batch[] = [];
  #scheduled = false;
  /** While true, batches wait for `release()`. */
  hold = false;
  /**
   * While set, `barrier()` refuses the batch at once with this error, as PostgresStore does
   * while its circuit is open (the batch is not numbered and never applied).
   */
  refuse: Error | null = null;
  /** Batches are numbered from 1 in the order they were closed; those for which this is true fail. */
  failBatch: (n: number) => boolean = () => false;
  #batches = 0;

  get batchesClosed(): number {
    return this.#batches;
  }

  get batchesWaiting(): number {
    return this.#closed.length;
  }

  open(): Promise<void> {
    return this.#inner.open();
  }

  execute(command: Command): Pending {
    this.#open.push(
      command.verb === 'INDEX'
        ? { verb: command.verb, name: command.name, deps: [...command.deps] }
        : { verb: command.verb, name: command.name },
    );
    return PENDING;
  }

  barrier(): Promise<Reply[]> | null {
    const commands = this.#open;
    this.#open = [];
    if (this.refuse !== null) return Promise.reject(this.refuse);
    return new Promise((resolve, reject) => {
      this.#closed.push({ commands, resolve, reject });
      this.#batches++;
      if (!this.hold) this.#schedule();
    });
  }

  /** Applies every waiting batch, in order. */
  release(): void {
    this.hold = false;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.hold) return;
      const number = this.#batches - this.#closed.length;
      for (const [i, batch] of this.#closed.splice(0).entries()) {
        if (this.failBatch(number + i + 1)) batch.reject(new Error('injected batch failure'));
        else batch.resolve(batch.commands.map((c) => this.#inner.execute(c) as Reply));
      }
    });
  }

  health(): StoreHealth {
    return this.#inner.health();
  }

  stats(): GraphStats {
    return this.#inner.stats();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
