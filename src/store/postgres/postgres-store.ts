import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { context, trace, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Command } from '../../protocol/command.js';
import { Reply } from '../../protocol/reply.js';
import type { GraphStats } from '../../graph/dependency-graph.js';
import { createError, isPkgIndexError } from '../../errors.js';
import { PENDING, type IndexStore, type Pending, type StoreHealth } from '../store.js';
import { nextStoreId, StoreEventPublisher } from '../store-events.js';
import { backoffMs, isRetryable, isUnavailable } from './backoff.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { CommandGroup } from './command-batch.js';
import { redactUrl } from './database-url.js';
import { migrate, type MigrationOutcome } from './migrate.js';
import { PostgresReader } from './postgres-reader.js';

export interface PostgresStoreOptions {
  /** postgres://user@host:port/database; a password in it is never shown (redactUrl). */
  readonly url: string;
  /** From --database-password-file; else the URL's, else PGPASSWORD's. */
  readonly password?: string | undefined;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly applicationName: string;
  /** Most commands per round trip; a larger group is split into several (in order). */
  readonly maxBatchCommands?: number;
  /** Tries of a batch that meets serialization failures or deadlocks, the first included. */
  readonly maxAttempts?: number;
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
  /** How often the package and edge counts (stats()) are read again. */
  readonly statsIntervalMs?: number;
  readonly random?: () => number;
}

const APPLY = 'SELECT pkgindex_apply($1::smallint[], $2::text[], $3::text[]) AS r';
const NOT_OPEN: StoreHealth = { recovered: false, writable: false, detail: 'connecting to the database' };
const HEALTHY: StoreHealth = { recovered: true, writable: true };

/**
 * The index in PostgreSQL, shared by every instance that points at the same database (issue
 * 14, ADR 0009). Each command is queued and answered PENDING; the commands of every connection
 * batch closed while a round trip is in flight gather into the next one (group commit), which
 * pkgindex_apply applies in order in one transaction. One round trip is in flight at a time,
 * so the commands of a connection reach the database in the order it sent them. Replies are
 * sent only after the transaction committed: never OK for a change the database did not keep.
 */
export class PostgresStore implements IndexStore {
  readonly id = nextStoreId('postgres');
  readonly #options: PostgresStoreOptions;
  readonly #events: StoreEventPublisher;
  readonly #breaker: CircuitBreaker;
  readonly #tracer: Tracer = trace.getTracer('pkgindex');
  readonly #maxBatch: number;
  readonly #maxAttempts: number;
  readonly #random: () => number;
  #pool: pg.Pool | null = null;
  /** The query API's read side, answered from the database (see postgres-reader.ts). */
  readonly reader = new PostgresReader(() => this.#pool);
  #opened = false;
  #closing = false;
  #gathering = new CommandGroup();
  readonly #sealed: CommandGroup[] = [];
  #inFlight: Promise<void> | null = null;
  #scheduled = false;
  #stats: GraphStats = { packages: 0, edges: 0 };
  #statsTimer: NodeJS.Timeout | null = null;
  /** What open() found and did to the schema. */
  migration: MigrationOutcome | null = null;

  constructor(options: PostgresStoreOptions) {
    this.#options = options;
    this.#events = new StoreEventPublisher(this.id);
    this.#maxBatch = options.maxBatchCommands ?? 8192;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#random = options.random ?? Math.random;
    this.#breaker = new CircuitBreaker({
      probe: () => this.#probe(),
      onChange: (writable, detail) => {
        this.#events.state(writable, detail);
        this.#publish(0, 0, 1, false);
      },
      random: this.#random,
    });
  }

  async open(): Promise<void> {
    const o = this.#options;
    // Loaded here, not at import: servers on the other backends do not pay for the driver.
    const { default: driver } = await import('pg');
    const pool = new driver.Pool({
      connectionString: o.url,
      ...(o.password === undefined ? {} : { password: o.password }),
      max: o.poolSize,
      statement_timeout: o.statementTimeoutMs,
      application_name: o.applicationName,
      connectionTimeoutMillis: Math.min(o.statementTimeoutMs, 5_000),
      idleTimeoutMillis: 60_000,
    });
    // An idle connection whose backend goes away emits 'error' on the pool; without a
    // listener that would crash the process. The next query sees the failure and trips the breaker.
    pool.on('error', () => undefined);
    // A connection that dies while checked out (the server terminated it mid-batch) emits
    // 'error' on its client as well as failing the query; pg-pool listens only while it is
    // idle, so without this the process would crash (found by the fault test).
    pool.on('connect', (client) => {
      client.on('error', () => undefined);
    });
    this.#pool = pool;
    try {
      const client = await pool.connect();
      try {
        this.migration = await migrate(client);
      } finally {
        client.release();
      }
      await this.#refreshStats();
    } catch (err) {
      await pool.end().catch(() => undefined);
      this.#pool = null;
      if (isPkgIndexError(err)) throw err;
      throw createError(
        'E_DATABASE_UNAVAILABLE',
        `cannot open the index in PostgreSQL at ${redactUrl(o.url)}: ${(err as Error).message}; ` +
          'check --database-url, the password, and that the database accepts connections',
        { cause: err },
      );
    }
    this.#opened = true;
    const interval = this.#options.statsIntervalMs ?? 5_000;
    this.#statsTimer = setInterval(() => {
      this.#refreshStats().catch(() => undefined);
    }, interval);
    this.#statsTimer.unref();
  }

  execute(command: Command): Pending {
    this.#gathering.add(command);
    return PENDING;
  }

  barrier(): Promise<ArrayLike<Reply>> {
    const group = this.#gathering;
    if (this.#breaker.isOpen || !this.#opened || this.#closing) {
      group.discard();
      return Promise.reject(this.#refusal());
    }
    const replies = new Promise<ArrayLike<Reply>>((resolve, reject) => {
      group.close(resolve, reject);
    });
    if (group.size >= this.#maxBatch) {
      this.#sealed.push(group);
      this.#gathering = new CommandGroup();
    }
    if (this.#inFlight === null && !this.#scheduled) {
      // Sent after this turn's reads: the batches of every connection that reads in it join.
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#pump();
      });
    }
    return replies;
  }

  #refusal(): Error {
    const why = this.#breaker.detail ?? (this.#closing ? 'the store is closing' : 'not open');
    return createError(
      'E_DATABASE_UNAVAILABLE',
      `database unavailable (${why}); commands are answered ERROR`,
    );
  }

  /** Sends the next group if none is in flight; runs again when it completes. */
  #pump(): void {
    if (this.#inFlight !== null) return;
    let group = this.#sealed.shift();
    if (group === undefined) {
      if (this.#gathering.size === 0) return;
      group = this.#gathering;
      this.#gathering = new CommandGroup();
    }
    if (this.#pool === null) {
      for (const w of group.waiters) w.reject(this.#refusal());
      this.#pump();
      return;
    }
    this.#inFlight = this.#send(group).finally(() => {
      this.#inFlight = null;
      this.#pump();
    });
  }

  async #send(group: CommandGroup): Promise<void> {
    const started = performance.now();
    const span = this.#tracer.startSpan('pkgindex.batch', {
      startTime: performance.timeOrigin + group.firstAt,
      attributes: { 'pkgindex.commands': group.size, 'pkgindex.connection_batches': group.waiters.length },
    });
    let attempts = 0;
    let replies: ArrayLike<Reply> | null = null;
    let failure: Error | null = null;
    while (replies === null && failure === null) {
      attempts++;
      const db = this.#tracer.startSpan(
        'pkgindex.db.apply',
        {
          attributes: {
            'db.system': 'postgresql',
            'db.operation': 'pkgindex_apply',
            'pkgindex.attempt': attempts,
          },
        },
        trace.setSpan(context.active(), span),
      );
      try {
        replies = await this.#apply(group);
        db.end();
      } catch (err) {
        db.recordException(err as Error);
        db.setStatus({ code: SpanStatusCode.ERROR });
        db.end();
        if (isRetryable(err) && attempts < this.#maxAttempts && !this.#closing) {
          // Rolled back whole by PostgreSQL: running the batch again applies it once.
          await sleep(
            backoffMs(
              attempts - 1,
              this.#options.retryBaseMs ?? 2,
              this.#options.retryCapMs ?? 200,
              this.#random,
            ),
          );
          continue;
        }
        failure = this.#failure(err, attempts);
      }
    }
    const durationMs = performance.now() - started;
    if (failure !== null) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
      for (const w of group.waiters) w.reject(failure);
    } else {
      for (const w of group.waiters) w.resolve(sliceOf(replies!, w.start, w.count));
    }
    span.setAttribute('pkgindex.attempts', attempts);
    span.end();
    this.#publish(durationMs, group.size, attempts, failure !== null);
  }

  async #apply(group: CommandGroup): Promise<ArrayLike<Reply>> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool!.connect();
    } catch (err) {
      // No connection at all: whatever the error says, the database is not there for us.
      throw createError('E_DATABASE_UNAVAILABLE', `cannot connect: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let result: pg.QueryResult<{ r: number[] }>;
    try {
      result = await client.query<{ r: number[] }>({
        name: 'pkgindex_apply',
        text: APPLY,
        values: [group.verbs, group.names, group.deps],
      });
      client.release();
    } catch (err) {
      // A connection that failed is dropped from the pool rather than handed out again.
      client.release(isUnavailable(err) ? (err as Error) : undefined);
      throw err;
    }
    const replies = result.rows[0]?.r;
    if (replies?.length !== group.size)
      throw createError('E_DATABASE_UNAVAILABLE', 'pkgindex_apply answered a wrong number of replies');
    return replies as Reply[];
  }

  /** The error the batch's commands fail with; trips the breaker when the database looks down. */
  #failure(err: unknown, attempts: number): Error {
    const message = err instanceof Error ? err.message : String(err);
    if (isRetryable(err))
      return createError(
        'E_DATABASE_CONFLICT',
        `a batch met serialization failures or deadlocks ${attempts} times in a row (${message}); nothing of it was committed`,
        { cause: err },
      );
    if (isPkgIndexError(err, 'E_DATABASE_UNAVAILABLE') || isUnavailable(err))
      this.#breaker.trip(`database unreachable: ${message}`);
    return createError('E_DATABASE_UNAVAILABLE', `database batch failed: ${message}`, { cause: err });
  }

  async #probe(): Promise<void> {
    await this.#pool!.query('SELECT 1');
  }

  #publish(durationMs: number, commands: number, attempts: number, failed: boolean): void {
    const pool = this.#pool;
    this.#events.database({
      durationMs,
      commands,
      attempts,
      failed,
      circuitOpen: this.#breaker.isOpen,
      poolTotal: pool?.totalCount ?? 0,
      poolIdle: pool?.idleCount ?? 0,
      poolWaiting: pool?.waitingCount ?? 0,
    });
  }

  async #refreshStats(): Promise<void> {
    const { rows } = await this.#pool!.query<{ packages: string; edges: string }>(
      'SELECT (SELECT count(*) FROM pkgindex_packages) AS packages, (SELECT count(*) FROM pkgindex_dependencies) AS edges',
    );
    const row = rows[0]!;
    this.#stats = { packages: Number(row.packages), edges: Number(row.edges) };
  }

  health(): StoreHealth {
    if (!this.#opened) return NOT_OPEN;
    if (this.#breaker.isOpen) return { recovered: true, writable: false, detail: this.#breaker.detail };
    return HEALTHY;
  }

  /** Package and edge counts, read from the database every few seconds (not per command). */
  stats(): GraphStats {
    return this.#stats;
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#breaker.stop();
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    // Batches already closed are sent and answered before the pool goes.
    if (this.#scheduled) await new Promise((resolve) => setImmediate(resolve));
    while (this.#inFlight !== null) await this.#inFlight;
    await this.#pool?.end();
    this.#pool = null;
  }
}

function sliceOf(replies: ArrayLike<Reply>, start: number, count: number): ArrayLike<Reply> {
  return start === 0 && count === replies.length
    ? replies
    : Array.prototype.slice.call(replies, start, start + count);
}
