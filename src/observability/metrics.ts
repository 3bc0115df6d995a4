import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GraphStats } from '../graph/dependency-graph.js';
import { REPLY_NAMES } from '../protocol/reply.js';
import { COMMAND_ROWS, type ServerStats } from '../server/stats.js';
import { BucketCounts, COMMAND_LATENCY_BOUNDS_MS } from './bucket-counts.js';
import { ExportedHistogram } from './exported-histogram.js';
import { DatabaseMetrics } from './database-metrics.js';
import { LiveSignals } from './live-signals.js';
import { readiness, type HealthReporter, type ServingState } from './readiness.js';
import type {
  CompactionEvent,
  DatabaseEvent,
  IoEvent,
  RecoveryEvent,
  StateEvent,
  SyncEvent,
} from '../store/store-events.js';
import type { StoreEventSink } from './store-events.js';

/** What the exporter reads at scrape time. */
export interface MetricsSources {
  readonly stats: ServerStats;
  readonly server: ServingState;
  readonly store: HealthReporter & { stats(): GraphStats };
  readonly maxConnections: number;
  readonly version: string;
}

const SYNC_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const SYNC_RECORDS_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000];
const COMPACTION_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/**
 * The Prometheus metrics of one server, in a registry of its own (two servers in one process
 * do not collide). Server counters are plain numbers read by collect() callbacks at scrape
 * time; storage events, which come once per group commit rather than per command, are
 * observed into prom-client histograms as they arrive.
 *
 * Constructing it turns on the per-chunk latency measurement in `stats`.
 */
export class ServerMetrics implements StoreEventSink {
  readonly registry = new Registry();
  /** Per-second figures for the dashboard, from the same counters. */
  readonly live: LiveSignals;
  /** Sync durations in ms as plain counts, for `live` (the exported histogram is prom-client's). */
  readonly #syncMs = new BucketCounts(SYNC_SECONDS_BUCKETS.map((s) => s * 1000));
  readonly #syncSeconds: Histogram;
  readonly #syncRecords: Histogram;
  readonly #syncBytes: Counter;
  readonly #recoverySeconds: Gauge;
  readonly #recoveryRecords: Gauge;
  readonly #recoveryTruncatedBytes: Gauge;
  readonly #stateChanges: Counter<'writable'>;
  readonly #compactionSeconds: Histogram;
  readonly #compactionSnapshotBytes: Gauge;
  readonly #compactionsFailed: Counter;
  readonly #database: DatabaseMetrics;
  readonly #ioStuck: Counter;
  readonly #zeroingStopped: Counter;

  constructor(sources: MetricsSources) {
    const { stats, server, store } = sources;
    const registers = [this.registry];
    const latency = new BucketCounts(COMMAND_LATENCY_BOUNDS_MS);
    stats.commandLatency = latency;
    this.live = new LiveSignals({ stats, server, store, latency, sync: this.#syncMs });

    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'pkgindex_build_info',
      help: 'Always 1; labels say which build is running.',
      labelNames: ['version', 'node_version'] as const,
      registers,
    }).set({ version: sources.version, node_version: process.version }, 1);
    new Gauge({
      name: 'pkgindex_ready',
      help: '1 when /readyz would answer 200 (store recovered and writable, listening, not draining).',
      registers,
      collect() {
        this.set(readiness(server, store).ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pkgindex_draining',
      help: '1 once graceful shutdown has begun.',
      registers,
      collect() {
        this.set(server.draining ? 1 : 0);
      },
    });

    new Gauge({
      name: 'pkgindex_connections_open',
      help: 'Client connections open now.',
      registers,
      collect() {
        this.set(stats.connectionsOpen);
      },
    });
    new Gauge({
      name: 'pkgindex_connections_max',
      help: 'The --max-connections limit; connections beyond it are refused.',
      registers,
    }).set(sources.maxConnections);
    new Gauge({
      name: 'pkgindex_shared_read_buffer',
      help: '1 when --shared-read-buffer is on (then every accepted connection should count in pkgindex_connections_shared_reads_total).',
      registers,
      collect() {
        this.set(stats.sharedReadBuffer ? 1 : 0);
      },
    });
    counter('pkgindex_connections_total', 'Client connections accepted.', () => stats.connectionsTotal);
    counter(
      'pkgindex_connections_refused_total',
      'Connections closed at once because --max-connections was reached or the server was draining.',
      () => stats.connectionsRefused,
    );
    counter(
      'pkgindex_connections_idle_closed_total',
      'Connections closed after --idle-timeout-ms without input.',
      () => stats.connectionsIdleClosed,
    );
    // Issue 12: limits per client, fair service (src/server/peer-limits.ts, docs/adr/0012).
    counter(
      'pkgindex_connections_refused_per_peer_total',
      'Connections closed at once because their address held --max-connections-per-peer.',
      () => stats.connectionsRefusedPerPeer,
    );
    counter(
      'pkgindex_accept_errors_total',
      'Accepts that failed (EMFILE/ENFILE: out of file descriptors); each such client was reset.',
      () => stats.acceptErrors,
    );
    counter(
      'pkgindex_io_ring_submissions_total',
      "io_uring submissions of --io native, each carrying a turn's socket reads or its writes (ADR 0023); flat under load means the layer makes one system call per connection (--io-uring=false, or the kernel refused a ring: see the log).",
      () => stats.ioRingSubmissions,
    );
    counter(
      'pkgindex_io_read_pauses_total',
      "Times --io native's reading on the owner's loop paused while two of its batches waited for the store (group commits), so that what arrived meanwhile ran as one larger turn (ADR 0025, --commit-read-pause-us).",
      () => stats.ioReadPauses,
    );
    counter(
      'pkgindex_connections_refused_descriptors_total',
      'Connections refused because the file descriptor limit (LimitNOFILE) left no room for them.',
      () => stats.connectionsRefusedDescriptors,
    );
    counter(
      'pkgindex_commands_rate_limited_total',
      'Mutations answered ERROR because their address exceeded --mutation-rate-per-peer.',
      () => stats.commandsRateLimited,
    );
    counter(
      'pkgindex_commands_over_cap_total',
      'INDEX lines answered ERROR by --max-packages or --max-dependencies.',
      () => stats.commandsOverPackageCap + stats.commandsOverDependencyCap,
    );
    counter(
      'pkgindex_turns_yielded_total',
      'Times a connection used up --slice-us and let others run before the rest of its input.',
      () => stats.turnsYielded,
    );
    counter(
      'pkgindex_commands_suspended_total',
      'Commands run across event-loop turns: a long cycle check, or a mutation queued behind one.',
      () => stats.commandsSuspended,
    );
    counter(
      'pkgindex_connections_shared_reads_total',
      'Connections read into the shared buffer (--shared-read-buffer); fewer than accepted means this Node fell back to per-read buffers.',
      () => stats.connectionsSharedReads,
    );

    new Counter({
      name: 'pkgindex_commands_total',
      help: 'Protocol lines answered, by command (INVALID: the line did not parse) and reply.',
      labelNames: ['command', 'result'] as const,
      registers,
      collect() {
        this.reset();
        COMMAND_ROWS.forEach((command, row) => {
          REPLY_NAMES.forEach((result, reply) => {
            this.inc({ command, result }, stats.commands[row * 3 + reply]);
          });
        });
      },
    });
    counter(
      'pkgindex_replies_failed_durability_total',
      'Replies turned into ERROR because the store could not make their batch durable.',
      () => stats.repliesFailedDurability,
    );
    counter(
      'pkgindex_lines_too_long_total',
      'Lines longer than --max-line-bytes (answered ERROR).',
      () => stats.linesTooLong,
    );
    counter('pkgindex_received_bytes_total', 'Bytes read from clients.', () => stats.bytesIn);
    counter('pkgindex_sent_bytes_total', 'Reply bytes written to clients.', () => stats.bytesOut);
    new ExportedHistogram({
      name: 'pkgindex_command_latency_seconds',
      help: "Time from a read chunk's arrival to its replies being queued, one sample per chunk (all its lines share it).",
      registry: this.registry,
      source: () => latency,
      scale: 0.001,
    });

    new Gauge({
      name: 'pkgindex_packages',
      help: 'Packages indexed.',
      registers,
      collect() {
        this.set(store.stats().packages);
      },
    });
    new Gauge({
      name: 'pkgindex_dependency_edges',
      help: 'Dependency edges between indexed packages.',
      registers,
      collect() {
        this.set(store.stats().edges);
      },
    });
    new Gauge({
      name: 'pkgindex_store_writable',
      help: '1 when the store can make mutations durable; 0 means mutations are answered ERROR.',
      registers,
      collect() {
        this.set(store.health().writable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pkgindex_store_inflight_io_age_seconds',
      help: 'Age of the oldest storage operation in flight (write, fdatasync, ...), 0 when none: grows while a disk hangs.',
      registers,
      collect() {
        this.set((store.health().inflightIoMs ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'pkgindex_store_recovered',
      help: '1 once the store has finished recovery.',
      registers,
      collect() {
        this.set(store.health().recovered ? 1 : 0);
      },
    });

    this.#syncSeconds = new Histogram({
      name: 'pkgindex_store_sync_duration_seconds',
      help: 'Duration of storage group commits (write + fsync).',
      buckets: SYNC_SECONDS_BUCKETS,
      registers,
    });
    this.#syncRecords = new Histogram({
      name: 'pkgindex_store_sync_batch_records',
      help: 'Mutations made durable per group commit.',
      buckets: SYNC_RECORDS_BUCKETS,
      registers,
    });
    this.#syncBytes = new Counter({
      name: 'pkgindex_store_synced_bytes_total',
      help: 'Bytes made durable by group commits.',
      registers,
    });
    this.#recoverySeconds = new Gauge({
      name: 'pkgindex_store_recovery_duration_seconds',
      help: 'How long the last recovery at startup took.',
      registers,
    });
    this.#recoveryRecords = new Gauge({
      name: 'pkgindex_store_recovery_records',
      help: 'Log records replayed by the last recovery.',
      registers,
    });
    this.#recoveryTruncatedBytes = new Gauge({
      name: 'pkgindex_store_recovery_truncated_bytes',
      help: 'Bytes of torn log tail discarded by the last recovery.',
      registers,
    });
    this.#stateChanges = new Counter({
      name: 'pkgindex_store_state_changes_total',
      help: 'Times the store became writable (writable="true") or stopped being writable (writable="false").',
      labelNames: ['writable'] as const,
      registers,
    });
    this.#compactionSeconds = new Histogram({
      name: 'pkgindex_store_compaction_duration_seconds',
      help: 'Duration of storage compactions (snapshot + segment cleanup).',
      buckets: COMPACTION_SECONDS_BUCKETS,
      registers,
    });
    this.#compactionSnapshotBytes = new Gauge({
      name: 'pkgindex_store_snapshot_bytes',
      help: 'Size of the last snapshot written by compaction.',
      registers,
    });
    this.#compactionsFailed = new Counter({
      name: 'pkgindex_store_compactions_failed_total',
      help: 'Compactions that failed (the log then keeps growing until one succeeds; retried at the next rotation). Their count with none succeeding means sealed segments pile up.',
      registers,
    });
    for (const writable of ['true', 'false']) this.#stateChanges.inc({ writable }, 0);
    this.#database = new DatabaseMetrics(registers);
    this.#ioStuck = new Counter({
      name: 'pkgindex_store_io_stuck_total',
      help: "Storage operations that passed --storage-timeout-ms while in flight (the log's: held replies answered ERROR; a compaction's: compaction abandoned).",
      registers,
    });
    this.#zeroingStopped = new Counter({
      name: 'pkgindex_store_log_zeroing_stopped_total',
      help: 'Times the durable log stopped zeroing ahead of its records because a zeroing write or sync failed (ADR 0021): its commits then grow the file until the next segment. Usually a full disk.',
      registers,
    });

    function counter(name: string, help: string, read: () => number): void {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
  }

  /** The Content-Type of `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text, collected now. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  storeSync(e: SyncEvent): void {
    this.#syncSeconds.observe(e.durationMs / 1000);
    this.#syncMs.record(e.durationMs);
    this.#syncRecords.observe(e.records);
    this.#syncBytes.inc(e.bytes);
  }

  storeRecovery(e: RecoveryEvent): void {
    this.#recoverySeconds.set(e.durationMs / 1000);
    this.#recoveryRecords.set(e.records);
    this.#recoveryTruncatedBytes.set(e.truncatedBytes);
  }

  storeState(e: StateEvent): void {
    // A new reason for a store still not writable is no transition (a reopen retry, say).
    if (e.changed !== false) this.#stateChanges.inc({ writable: String(e.writable) });
  }

  storeCompaction(e: CompactionEvent): void {
    this.#compactionSeconds.observe(e.durationMs / 1000);
    this.#compactionSnapshotBytes.set(e.snapshotBytes);
  }

  storeCompactionFailed(): void {
    this.#compactionsFailed.inc();
  }

  storeIo(e: IoEvent): void {
    if (e.stuck) this.#ioStuck.inc();
  }

  storeZeroing(): void {
    this.#zeroingStopped.inc();
  }

  storeDatabase(e: DatabaseEvent): void {
    this.#database.observe(e);
  }
}
