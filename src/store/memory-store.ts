import type { Command } from '../protocol/command.js';
import type { Reply } from '../protocol/reply.js';
import { DependencyGraph, type GraphStats } from '../graph/dependency-graph.js';
import { createError } from '../errors.js';
import { SlicedGraph, type SliceOptions } from './sliced-graph.js';
import type { IndexStore, StoreHealth, Suspended } from './store.js';
import { GraphReader } from './graph-reader.js';
import { nextStoreId } from './store-events.js';

const HEALTHY: StoreHealth = { recovered: true, writable: true };

/** The index in memory only: nothing survives a restart. For tests and throwaway use. */
export class MemoryStore implements IndexStore {
  readonly id = nextStoreId('memory');
  readonly #graph = new DependencyGraph();
  readonly #sliced: SlicedGraph;

  constructor(options: SliceOptions = {}) {
    this.#sliced = new SlicedGraph(
      () => this.#graph,
      { refuse: () => false, before: () => null, changed: () => undefined, durable: () => null },
      options,
    );
    this.reader = new GraphReader(() => this.#graph, { sliceMs: options.sliceMs });
  }

  readonly reader: GraphReader;

  open(): Promise<void> {
    return Promise.resolve();
  }

  execute(command: Command): Reply | Suspended {
    return this.#sliced.execute(command);
  }

  barrier(): Promise<readonly Reply[]> | null {
    return this.#sliced.barrier();
  }

  health(): StoreHealth {
    return HEALTHY;
  }

  stats(): GraphStats {
    return this.#graph.stats();
  }

  close(): Promise<void> {
    this.#sliced.close(createError('E_STORE_CLOSED', 'the store was closed before this command was decided'));
    return Promise.resolve();
  }
}
