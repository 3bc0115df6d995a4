import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What native/pkgindex_io.cc exports (ADR 0019). */
export interface NativeIoAddon {
  readonly abi: number;
  /** Counters per thread in stats(), in the order of NATIVE_COUNTERS. */
  readonly counters: number;
  start(
    listenFd: number,
    options: NativeIoOptions,
    /**
     * A batch of a thread: its lines, and per client its id and line count. `lines` and
     * `spans` are views of memory the thread reuses for its next batch: valid during the
     * call only (copy what must outlive it).
     */
    onBatch: (
      thread: number,
      lines: Uint8Array | null,
      count: number,
      readAtNs: number,
      spans: Uint32Array,
    ) => void,
  ): NativeIoHandle;
  /**
   * Answers the thread's oldest batch (one reply per line, HELD for a line whose client waits
   * for its barrier; null: every line ERROR), or with `second`, the held lines of the oldest
   * batch that has any (null: ERROR, they could not be made durable).
   */
  reply(handle: NativeIoHandle, thread: number, replies: Uint8Array | null, second?: boolean): void;
  drain(handle: NativeIoHandle): void;
  /**
   * The inline thread (the owner's own loop) reads, accepts and sweeps nothing while paused;
   * its answers still go out (ADR 0025).
   */
  pause(handle: NativeIoHandle, paused: boolean): void;
  destroy(handle: NativeIoHandle): void;
  join(handle: NativeIoHandle): void;
  stats(handle: NativeIoHandle): Float64Array;
  /**
   * Null when this process may set up an io_uring ring (one is opened and closed), else the
   * kernel's reason (e.g. "EPERM: Operation not permitted" under a seccomp profile).
   */
  ringError(): string | null;
  /**
   * The connection events the threads kept since the last call (with `connectionEvents`), or
   * null when there are none: first how many were not kept (over a thread's limit), then
   * CONNECTION_EVENT_FIELDS values per event, each thread's in the order they happened.
   */
  takeEvents(handle: NativeIoHandle): (number | string)[] | null;
}

/** What happened to a connection (EventKind in the addon). */
export const ConnectionEvent = {
  OPENED: 0,
  CLOSED: 1,
  IDLE: 2,
  REFUSED: 3,
  REFUSED_PER_PEER: 4,
  REFUSED_DESCRIPTORS: 5,
} as const;

/** Values per event in takeEvents(): thread, kind, connection number, slot, durationMs, commands, peer. */
export const CONNECTION_EVENT_FIELDS = 7;

export interface NativeIoOptions {
  readonly threads: number;
  readonly maxLineBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerPeer: number;
  readonly outputHighWaterBytes: number;
  readonly idleTimeoutMs: number;
  /** Batches a thread hands over before the owner answers them (see NATIVE_BATCHES_ENV). */
  readonly batchesInFlight: number;
  /**
   * 1: thread 0 is no thread: the owner's own event loop waits on its connections (one libuv
   * poll of its epoll descriptor) and serves them natively, without a hop, and `threads` - 1
   * epoll threads serve the others; 0: `threads` epoll threads, the owner serves none.
   */
  readonly inline: 0 | 1;
  /**
   * Lines one connection may add to one turn's batch; what it sent beyond them is read but
   * framed on later turns, after the other connections have had theirs (see linesPerTurn()).
   */
  readonly linesPerTurn: number;
  /**
   * 1: each turn's reads, and its writes, go to the kernel in one io_uring submission where
   * the kernel allows (plain recv/send where it refuses); 0: always one call per connection
   * (--io-uring, ADR 0023).
   */
  readonly ring: 0 | 1;
  /**
   * 1: the threads keep each connection's opening, closing (idle or not) and refusal for
   * takeEvents(), so that the owner logs them as Node's sockets are logged; 0: they keep none.
   */
  readonly connectionEvents: 0 | 1;
  /**
   * Connections the descriptor limit leaves room for beside the store's files (measured at
   * listen, as Node's sockets count them); past it a connection is refused and counted. -1: no
   * budget known.
   */
  readonly descriptorConnections: number;
}

/**
 * A connection's share of a turn in lines, from --slice-us: the owner parses and executes
 * a line in about 0.4 µs (docs/performance.md), so 2.5 lines per µs of the slice.
 */
export function linesPerTurn(sliceUs: number): number {
  return Math.max(16, Math.round(sliceUs * 2.5));
}

/**
 * Batches an I/O thread may have with the owner at once (default 1: the lines read while the
 * owner works on one batch gather into the next). A measurement knob, not a setting: ADR 0019.
 */
export const NATIVE_BATCHES_ENV = 'PKGINDEX_NATIVE_BATCHES_IN_FLIGHT';

/** NATIVE_BATCHES_ENV's value, or 1. */
export function nativeBatchesInFlight(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env[NATIVE_BATCHES_ENV] ?? '1');
  return Number.isInteger(value) && value >= 1 && value <= 1024 ? value : 1;
}

/** An I/O thread group, opaque to JavaScript. */
export type NativeIoHandle = { readonly __nativeIo: unique symbol };

/** The counters of one thread, in the order of stats() (enum Counter in the addon). */
export const NATIVE_COUNTERS = [
  'connectionsOpen',
  'connectionsTotal',
  'connectionsRefused',
  'connectionsRefusedPerPeer',
  'connectionsIdleClosed',
  'bytesIn',
  'bytesOut',
  'linesTooLong',
  'acceptErrors',
  'batches',
  'batchedCommands',
  'repliesFailedDurability',
  'ringCalls',
  'connectionsRefusedDescriptors',
] as const;

/** The ABI this code speaks; the addon says its own (ABI_VERSION). */
const ABI = 9;
const FUNCTIONS = [
  'start',
  'reply',
  'drain',
  'destroy',
  'join',
  'stats',
  'ringError',
  'pause',
  'takeEvents',
] as const;
/** Where `npm run build` puts the addon (scripts/build-native.ts): beside this module. */
const DEFAULT_PATH = fileURLToPath(new URL('./pkgindex_io.node', import.meta.url));
/** Names another addon file: tests point it at a missing or foreign file to see the fallback. */
export const NATIVE_ADDON_ENV = 'PKGINDEX_NATIVE_ADDON';

export type NativeIoLoad =
  | { readonly ok: true; readonly addon: NativeIoAddon; readonly path: string }
  | { readonly ok: false; readonly reason: string; readonly path: string };

let loaded: NativeIoLoad | null = null;

/**
 * Loads the native connection layer once, checking that it is the one this code expects (its
 * ABI version, its functions and counters); never throws: a failure says why, and the caller
 * serves with Node's sockets instead.
 */
export function loadNativeIo(): NativeIoLoad {
  if (loaded !== null) return loaded;
  const path = process.env[NATIVE_ADDON_ENV] ?? DEFAULT_PATH;
  loaded = load(path);
  return loaded;
}

function load(path: string): NativeIoLoad {
  if (!existsSync(path))
    return {
      ok: false,
      path,
      reason: `${path} does not exist (npm run build compiles it with g++ and Node's headers)`,
    };
  let addon: Partial<NativeIoAddon>;
  try {
    addon = createRequire(import.meta.url)(path) as Partial<NativeIoAddon>;
  } catch (err) {
    return {
      ok: false,
      path,
      reason: `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  if (addon.abi !== ABI)
    return {
      ok: false,
      path,
      reason: `${path} speaks ABI ${String(addon.abi)}, this code ${ABI}: rebuild it`,
    };
  for (const name of FUNCTIONS)
    if (typeof addon[name] !== 'function')
      return { ok: false, path, reason: `${path} has no function ${name}()` };
  if (addon.counters !== NATIVE_COUNTERS.length)
    return {
      ok: false,
      path,
      reason: `${path} reports ${String(addon.counters)} counters, this code reads ${NATIVE_COUNTERS.length}`,
    };
  return { ok: true, addon: addon as NativeIoAddon, path };
}
