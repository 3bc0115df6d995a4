import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DatabaseEvent } from '../store/store-events.js';

const BATCH_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_COMMANDS_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000];

/**
 * The metrics of a database backend (issue 14), fed by its DATABASE storage events: one per
 * round trip and one per change of the circuit breaker. Registered with every server, so that
 * dashboards and alerts find the families whatever the backend (they stay at zero on disk).
 */
export class DatabaseMetrics {
  readonly #batchSeconds: Histogram;
  readonly #batchCommands: Histogram;
  readonly #retries: Counter;
  readonly #failed: Counter;
  readonly #circuitOpen: Gauge;
  readonly #pool: Gauge<'state'>;
  readonly #poolWaiting: Gauge;

  constructor(registers: Registry[]) {
    this.#batchSeconds = new Histogram({
      name: 'pkgindex_database_batch_duration_seconds',
      help: 'Duration of database round trips applying a batch of commands (retries included).',
      buckets: BATCH_SECONDS_BUCKETS,
      registers,
    });
    this.#batchCommands = new Histogram({
      name: 'pkgindex_database_batch_commands',
      help: 'Commands per database round trip (the group commit: batches of every connection gathered).',
      buckets: BATCH_COMMANDS_BUCKETS,
      registers,
    });
    this.#retries = new Counter({
      name: 'pkgindex_database_retries_total',
      help: 'Batches run again after a serialization failure or deadlock with another instance.',
      registers,
    });
    this.#failed = new Counter({
      name: 'pkgindex_database_batches_failed_total',
      help: 'Batches that failed (database unreachable, timeout, retries exhausted): their commands were answered ERROR.',
      registers,
    });
    this.#circuitOpen = new Gauge({
      name: 'pkgindex_database_circuit_open',
      help: '1 while the circuit breaker holds the database for down: every command is answered ERROR at once.',
      registers,
    });
    this.#pool = new Gauge({
      name: 'pkgindex_database_pool_connections',
      help: 'Connections of the database pool, by state (total, idle), after the last round trip.',
      labelNames: ['state'] as const,
      registers,
    });
    this.#poolWaiting = new Gauge({
      name: 'pkgindex_database_pool_waiting',
      help: 'Requests waiting for a pool connection, after the last round trip.',
      registers,
    });
    this.#circuitOpen.set(0);
    for (const state of ['total', 'idle']) this.#pool.set({ state }, 0);
    this.#poolWaiting.set(0);
  }

  observe(e: DatabaseEvent): void {
    this.#circuitOpen.set(e.circuitOpen ? 1 : 0);
    this.#pool.set({ state: 'total' }, e.poolTotal);
    this.#pool.set({ state: 'idle' }, e.poolIdle);
    this.#poolWaiting.set(e.poolWaiting);
    if (e.commands === 0) return;
    this.#batchSeconds.observe(e.durationMs / 1000);
    this.#batchCommands.observe(e.commands);
    if (e.attempts > 1) this.#retries.inc(e.attempts - 1);
    if (e.failed) this.#failed.inc();
  }
}
