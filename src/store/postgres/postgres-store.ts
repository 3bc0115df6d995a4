import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { context, trace, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Command } from '../../protocol/command.js';
import { Reply } from '../../protocol/reply.js';
import type { GraphStats } from '../../graph/dependency-graph.js';
import { createError, isPkgIndexError } from '../../errors.js';
import { PENDING, type IndexStore, type Pending, type StoreHealth } from '../store.js';
import { nextStoreId, StoreEventPublisher } from '../store-events.js';
import { backoffDelayMs } from '../../client/backoff.js';
import { isReadOnly, isRetryable, isUnavailable, READ_ONLY } from './failure-rules.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { CommandGroup, lockSlots } from './command-batch.js';
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
  /**
   * Round trips (pkgindex_apply calls) in flight at once, each on its own pool connection
   * (default 1): a client connection's batches all go through one of them while any is
   * outstanding, so they are applied in the order it sent them (ADR 0009, Decision 1).
   */
  readonly batchesInFlight?: number;
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

const APPLY = 'SELECT pkgindex_apply_ordered($1::integer[], $2::smallint[], $3::text[], $4::text[]) AS r';
const NOT_OPEN: StoreHealth = { recovered: false, writable: false, detail: 'connecting to the database' };
const HEALTHY: StoreHealth = { recovered: true, writable: true };
/** The origin of batches whose caller names none: they are all kept in one order. */
const ANONYMOUS = {};
const NO_REPLIES: readonly Reply[] = [];
const NO_SLOTS: readonly number[] = [];

/**
 * One sequence of round trips: at most one in flight, the groups closed meanwhile waiting in
 * order behind it. A store has `batchesInFlight` lanes working side by side.
 */
class Lane {
  readonly index: number;
  gathering = new CommandGroup();
  readonly sealed: CommandGroup[] = [];
  inFlight: Promise<void> | null = null;
  scheduled = false;
  /** Commands gathered, sealed or in flight here: where the next new origin goes. */
  load = 0;

  constructor(index: number) {
    this.index = index;
  }
}

/** An origin's batches not yet settled, and the lane they all go through. */
interface OriginState {
  readonly lane: Lane;
  outstanding: number;
}

/**
 * The index in PostgreSQL, shared by every instance that points at the same database (issue
 * 14, ADR 0009). Each command is queued and answered PENDING; the commands of every connection
 * batch closed while a round trip is in flight gather into the next one (group commit), which
 * pkgindex_apply applies in order in one transaction. Up to `batchesInFlight` round trips are
 * in flight at once, one per lane; every batch of one origin (a client connection) goes
 * through the same lane while any of them is outstanding, and a lane sends its groups one after
 * another, so the commands of a connection reach the database in the order it sent them.
 * Replies are sent only after the transaction committed: never OK for a change the database
 * did not keep.
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
  /**
   * The lanes' connections (one each, at most) and the breaker's probe: nothing else draws on
   * them, so a batch never waits for a connection behind the query API. One pool shared by
   * everything let a few slow /v1 queries hold every connection; the batches then timed out
   * waiting for one, which opened the circuit ("database unreachable") on a healthy database.
   */
  #batchPool: pg.Pool | null = null;
  /** The rest of --database-pool-size: migrations, statistics and the query API. */
  #pool: pg.Pool | null = null;
  /** The query API's read side, answered from the database (see postgres-reader.ts). */
  readonly reader = new PostgresReader(() => this.#pool);
  #opened = false;
  #closing = false;
  /** The batch being executed, until barrier() says which lane it goes to. */
  readonly #staged = new CommandGroup();
  readonly #lanes: readonly Lane[];
  readonly #origins = new Map<object, OriginState>();
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
    this.#lanes = Array.from({ length: options.batchesInFlight ?? 1 }, (_, i) => new Lane(i));
    this.#breaker = new CircuitBreaker({
      probe: () => this.#probe(),
      onChange: (writable, detail, changed, attempt) => {
        this.#events.state(writable, detail, changed, attempt);
        if (changed) this.#publish(0, 0, 1, false);
      },
      describe: (err) => outage(err),
      random: this.#random,
    });
  }

  async open(): Promise<void> {
    const o = this.#options;
    // Loaded here, not at import: servers on the other backends do not pay for the driver.
    const { default: driver } = await import('pg');
    const lanes = this.#lanes.length;
    const pool = newPool(driver, o, Math.max(1, o.poolSize - lanes));
    const batchPool = newPool(driver, o, lanes);
    this.#pool = pool;
    this.#batchPool = batchPool;
    try {
      const client = await pool.connect();
      try {
        this.migration = await migrate(client);
      } finally {
        client.release();
      }
      await this.#refreshStats();
    } catch (err) {
      await Promise.all([pool.end(), batchPool.end()]).catch(() => undefined);
      this.#pool = null;
      this.#batchPool = null;
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
    this.#staged.add(command);
    return PENDING;
  }

  /**
   * Ends the batch executed since the last call. `origin` (the client connection, or the socket
   * thread, that executed it) keeps its batches in order: all of them go through one lane while
   * any is outstanding. Without one, batches share one origin, in one order.
   */
  barrier(origin: object = ANONYMOUS): Promise<ArrayLike<Reply>> {
    const staged = this.#staged;
    if (this.#breaker.isOpen || !this.#opened || this.#closing) {
      staged.discard();
      return Promise.reject(this.#refusal());
    }
    // A batch of no command (every line malformed) observed nothing: no round trip for it.
    if (staged.size === 0) return Promise.resolve(NO_REPLIES);
    let known = this.#origins.get(origin);
    if (known === undefined) {
      known = { lane: this.#quietestLane(), outstanding: 0 };
      this.#origins.set(origin, known);
    }
    const state = known;
    state.outstanding++;
    const lane = state.lane;
    const group = lane.gathering;
    lane.load += staged.size;
    group.takeOpen(staged);
    const settled = (): void => {
      if (--state.outstanding === 0) this.#origins.delete(origin);
    };
    const replies = new Promise<ArrayLike<Reply>>((resolve, reject) => {
      group.close(
        (r) => {
          settled();
          resolve(r);
        },
        (err) => {
          settled();
          reject(err);
        },
      );
    });
    if (group.size >= this.#maxBatch) {
      lane.sealed.push(group);
      lane.gathering = new CommandGroup();
    }
    if (lane.inFlight === null && !lane.scheduled) {
      // Sent after this turn's reads: the batches of every connection that reads in it join.
      lane.scheduled = true;
      setImmediate(() => {
        lane.scheduled = false;
        this.#pump(lane);
      });
    }
    return replies;
  }

  /** The lane with the fewest commands waiting or in flight (the first of equals). */
  #quietestLane(): Lane {
    const lanes = this.#lanes;
    let best = lanes[0]!;
    for (let i = 1; i < lanes.length && best.load > 0; i++) if (lanes[i]!.load < best.load) best = lanes[i]!;
    return best;
  }

  #refusal(): Error {
    const why = this.#breaker.detail ?? (this.#closing ? 'the store is closing' : 'not open');
    return createError(
      'E_DATABASE_UNAVAILABLE',
      `database unavailable (${why}); commands are answered ERROR`,
    );
  }

  /** Sends the lane's next group if none is in flight there; runs again when it completes. */
  #pump(lane: Lane): void {
    if (lane.inFlight !== null) return;
    let group = lane.sealed.shift();
    if (group === undefined) {
      if (lane.gathering.waiters.length === 0) return;
      group = lane.gathering;
      lane.gathering = new CommandGroup();
    }
    // Closed while the circuit was still closed, but not sent: refused now, as the batches
    // barrier() refuses, rather than each waiting for its own connect to time out.
    if (this.#batchPool === null || this.#breaker.isOpen) {
      lane.load -= group.size;
      for (const w of group.waiters) w.reject(this.#refusal());
      this.#pump(lane);
      return;
    }
    const sent = group;
    lane.inFlight = this.#send(sent, lane.index).finally(() => {
      lane.load -= sent.size;
      lane.inFlight = null;
      this.#pump(lane);
    });
  }

  async #send(group: CommandGroup, lane: number): Promise<void> {
    const started = performance.now();
    const span = this.#tracer.startSpan('pkgindex.batch', {
      startTime: performance.timeOrigin + group.firstAt,
      attributes: {
        'pkgindex.commands': group.size,
        'pkgindex.connection_batches': group.waiters.length,
        'pkgindex.lane': lane,
      },
    });
    // Lock slots only with several lanes: their own batches would otherwise deadlock each
    // other often. With one lane, taking them serialises whole batches of different instances
    // that merely share packages, and cost up to half the multi-instance throughput in
    // measurement (docs/benchmarks.md#postgresql), so they are left to deadlock detection.
    const slots = this.#lanes.length > 1 ? lockSlots(group) : NO_SLOTS;
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
        replies = await this.#apply(group, slots);
        db.end();
      } catch (err) {
        db.recordException(err as Error);
        db.setStatus({ code: SpanStatusCode.ERROR });
        db.end();
        if (isRetryable(err) && attempts < this.#maxAttempts && !this.#closing) {
          // Rolled back whole by PostgreSQL: running the batch again applies it once.
          await sleep(
            backoffDelayMs(
              attempts - 1,
              { baseMs: this.#options.retryBaseMs ?? 2, maxMs: this.#options.retryCapMs ?? 200 },
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

  async #apply(group: CommandGroup, slots: readonly number[]): Promise<ArrayLike<Reply>> {
    let client: pg.PoolClient;
    try {
      client = await this.#batchPool!.connect();
    } catch (err) {
      // No connection at all: whatever the error says, the database is not there for us.
      throw createError('E_DATABASE_UNAVAILABLE', `cannot connect: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let result: pg.QueryResult<{ r: number[] }>;
    try {
      result = await client.query<{ r: number[] }>({
        name: 'pkgindex_apply_ordered',
        text: APPLY,
        values: [slots, group.verbs, group.names, group.deps],
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
    if (isPkgIndexError(err, 'E_DATABASE_UNAVAILABLE') || isUnavailable(err)) this.#breaker.trip(outage(err));
    return createError('E_DATABASE_UNAVAILABLE', `database batch failed: ${message}`, { cause: err });
  }

  /**
   * Closes the breaker when it resolves. Through the batches' own pool, since what the probe
   * must find is what a batch needs: a session that takes writes. One that answers but is
   * read-only (a standby) is refused and dropped, so that the next probe opens a new one.
   */
  async #probe(): Promise<void> {
    const client = await this.#batchPool!.connect();
    let readOnly: string | undefined;
    try {
      const { rows } = await client.query<{ ro: string }>(
        "SELECT current_setting('transaction_read_only') AS ro",
      );
      readOnly = rows[0]?.ro;
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    if (readOnly === 'off') {
      client.release();
      return;
    }
    // The SQLSTATE a write would get there (25006) as the cause, so that the outage is told as
    // read-only (isReadOnly), as a batch's failure on that database is.
    const err = createError(
      'E_DATABASE_UNAVAILABLE',
      `the session takes no writes (transaction_read_only ${readOnly})`,
      { cause: { code: READ_ONLY } },
    );
    client.release(err);
    throw err;
  }

  #publish(durationMs: number, commands: number, attempts: number, failed: boolean): void {
    const pool = this.#pool;
    const batchPool = this.#batchPool;
    this.#events.database({
      durationMs,
      commands,
      attempts,
      failed,
      circuitOpen: this.#breaker.isOpen,
      poolTotal: (pool?.totalCount ?? 0) + (batchPool?.totalCount ?? 0),
      poolIdle: (pool?.idleCount ?? 0) + (batchPool?.idleCount ?? 0),
      poolWaiting: (pool?.waitingCount ?? 0) + (batchPool?.waitingCount ?? 0),
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
    if (this.#lanes.some((lane) => lane.scheduled)) await new Promise((resolve) => setImmediate(resolve));
    for (const lane of this.#lanes) while (lane.inFlight !== null) await lane.inFlight;
    await Promise.all([this.#pool?.end(), this.#batchPool?.end()]);
    this.#pool = null;
    this.#batchPool = null;
  }
}

/**
 * One of the store's two pools, of `max` connections. An idle connection whose backend goes
 * away emits 'error' on the pool; without a listener that would crash the process (the next
 * query sees the failure and trips the breaker). A connection that dies while checked out (the
 * server terminated it mid-batch) emits 'error' on its client as well as failing the query;
 * pg-pool listens only while it is idle, so without a listener of our own the process would
 * crash (found by the fault test).
 */
function newPool(driver: typeof pg, o: PostgresStoreOptions, max: number): pg.Pool {
  const pool = new driver.Pool({
    connectionString: o.url,
    ...(o.password === undefined ? {} : { password: o.password }),
    max,
    statement_timeout: o.statementTimeoutMs,
    // The database ends a statement at statement_timeout, but across a network partition its
    // error never arrives: without a timeout of our own a round trip waited until TCP gave up
    // (many minutes), every batch behind it, with /readyz 200. A query that got no answer by
    // then fails (the connection is dropped, see isUnavailable), as a lost connection does.
    query_timeout: o.statementTimeoutMs + Math.max(1_000, connectTimeoutMs(o)),
    application_name: o.applicationName,
    connectionTimeoutMillis: connectTimeoutMs(o),
    idleTimeoutMillis: 60_000,
    // An idle connection does not hold the process: at shutdown the pool ends each with a
    // goodbye and waits for the database's; across a network partition that never comes, and
    // the process stayed up (after logging "stopped") until TCP gave up.
    allowExitOnIdle: true,
  });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/** How long a connect may take: the statement timeout, at most 5 s. */
function connectTimeoutMs(o: PostgresStoreOptions): number {
  return Math.min(o.statementTimeoutMs, 5_000);
}

/** The breaker's detail for a failure that says the database is not there to write to. */
function outage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return isReadOnly(err) ? `database read-only: ${message}` : `database unreachable: ${message}`;
}

function sliceOf(replies: ArrayLike<Reply>, start: number, count: number): ArrayLike<Reply> {
  return start === 0 && count === replies.length
    ? replies
    : Array.prototype.slice.call(replies, start, start + count);
}
