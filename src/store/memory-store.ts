import type { Command } from '../protocol/command.js';
import type { Reply } from '../protocol/reply.js';
import { DependencyGraph, type GraphStats } from '../graph/dependency-graph.js';
import { applyCommand } from './apply-command.js';
import { GraphReader } from './graph-reader.js';
import type { IndexStore, StoreHealth } from './store.js';
import { nextStoreId } from './store-events.js';

const HEALTHY: StoreHealth = { recovered: true, writable: true };

/** The index in memory only: nothing survives a restart. For tests and throwaway use. */
export class MemoryStore implements IndexStore {
  readonly id = nextStoreId('memory');
  readonly #graph = new DependencyGraph();
  readonly reader = new GraphReader(() => this.#graph);

  open(): Promise<void> {
    return Promise.resolve();
  }

  execute(command: Command): Reply {
    return applyCommand(this.#graph, command).reply;
  }

  barrier(): null {
    return null;
  }

  health(): StoreHealth {
    return HEALTHY;
  }

  stats(): GraphStats {
    return this.#graph.stats();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
