import { IdleSweep } from './idle-sweep.js';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { IndexStore } from '../store/store.js';
import { Connection, type ConnectionContext, type ConnectionLimits } from './connection.js';
import { ServerStats } from './stats.js';
import { tcpListener, type ListenerFactory } from './transport.js';
import { ReplyScratch } from './reply-scratch.js';
import { SHARED_READ_BYTES, startReading } from './shared-reads.js';
import { proveSharedReadsOnce, type SharedReadsProof } from './shared-reads-proof.js';
import { OffenderLog } from './offender-log.js';
import { connectionBudget, type DescriptorBudget } from './descriptor-budget.js';
import { PeerLimits, type PeerLimitOptions } from './peer-limits.js';
import type { SharedPeerTable } from './shared-peer-table.js';
import { BarrierWaiters } from './barrier-waiters.js';
import { ConnectionSlots } from './connection-slots.js';
import { listenerFd } from './listener-fd.js';
import { RunQueue } from './run-queue.js';

export interface IndexServerOptions extends ConnectionLimits, Partial<PeerLimitOptions> {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly shutdownTimeoutMs: number;
  /** Read every connection into one buffer (see shared-reads.ts); false: Node's buffer per read. */
  readonly sharedReadBuffer: boolean;
  /** Listeners per thread on the protocol socket (see addAcceptLanes); absent: 1. */
  readonly acceptLanes?: number;
}

/** The server's collaborators, given by the composition root. */
export interface IndexServerDeps {
  readonly store: IndexStore;
  readonly log: Logger;
  /**
   * Proves at listen() that the shared read buffer works on this Node; when it does not, the
   * server reads the ordinary way. Default: proveSharedReadsOnce (tests pass a broken one).
   */
  readonly proveSharedReads?: () => Promise<SharedReadsProof>;
  /** Measures the file descriptors left for connections at listen(); default from /proc. */
  readonly descriptorBudget?: () => DescriptorBudget;
  /** Makes the protocol listener (transport.ts): plain TCP by default, or TLS. */
  readonly createListener?: ListenerFactory;
  /**
   * Listen on this handle (a listening socket another thread shares, see src/threads/)
   * instead of binding `host:port`.
   */
  readonly listenHandle?: object;
  /** The process's count of open connections, shared by every socket thread. Default: this server's own. */
  readonly connectionSlots?: ConnectionSlots;
  /** The process's table of peers, shared by every socket thread (default: this server's own map). */
  readonly peerTable?: SharedPeerTable;
}

const NO_SHARED_READS =
  "this Node's sockets cannot read into the shared buffer; reading with Node's buffer per read (slower for request/response clients)";

/** A connection over the limit gets this long to see our FIN before it is reset. */
const REFUSED_LINGER_MS = 1000;

/**
 * The TCP front of the index: accepts connections up to a limit and hands each to a
 * Connection. Knows the store only through the IndexStore interface.
 */
export class IndexServer {
  readonly stats = new ServerStats();
  readonly #options: IndexServerOptions;
  readonly #log: Logger;
  readonly #server: Server;
  /** More listeners on the same socket, so that one turn of the loop accepts more than one connection (ADR 0018). */
  readonly #lanes: Server[] = [];
  readonly #createListener: ListenerFactory;
  readonly #connections = new Set<Connection>();
  /** Closes idle connections (--idle-timeout-ms); null when there is no timeout. */
  readonly #idleSweep: IdleSweep | null;
  readonly #context: ConnectionContext;
  readonly #proveSharedReads: () => Promise<SharedReadsProof>;
  readonly #listenHandle: object | undefined;
  readonly #slots: ConnectionSlots;
  /** The listening socket is accepted on by another front (see handOff). */
  #handedOff = false;
  /** Where every connection's reads land, or null for Node's own buffer per read. */
  #readBuffer: Buffer | null;
  #nextId = 1;
  #draining = false;
  /** Resolves the promise close() waits on when the last connection has closed. */
  #onLastClosed: (() => void) | null = null;
  #warnedNoSharedReads = false;
  readonly #peers: PeerLimits;
  readonly #offenders: OffenderLog;
  readonly #measureDescriptors: () => DescriptorBudget;
  /** Connections the file descriptors leave room for (measured at listen). */
  #descriptors: DescriptorBudget = { limit: null, open: null, connections: Infinity };

  constructor(deps: IndexServerDeps, options: IndexServerOptions) {
    this.#options = options;
    this.#log = deps.log;
    this.#proveSharedReads = deps.proveSharedReads ?? proveSharedReadsOnce;
    this.#peers = new PeerLimits(
      {
        maxConnectionsPerPeer: options.maxConnectionsPerPeer ?? 0,
        mutationRatePerPeer: options.mutationRatePerPeer ?? 0,
        mutationBurst: options.mutationBurst ?? 1,
      },
      deps.peerTable ?? null,
    );
    this.#offenders = new OffenderLog(deps.log);
    this.#measureDescriptors = deps.descriptorBudget ?? (() => connectionBudget());
    this.#listenHandle = deps.listenHandle;
    this.#slots = deps.connectionSlots ?? new ConnectionSlots(options.maxConnections);
    this.#context = {
      peers: this.#peers,
      offenders: this.#offenders,
      store: deps.store,
      stats: this.stats,
      limits: options,
      log: deps.log,
      scratch: new ReplyScratch(),
      runQueue: new RunQueue(options.turnBudgetUs),
      barriers: new BarrierWaiters(),
      onClosed: (c) => {
        if (c.peerLimit !== null) this.#peers.release(c.peerLimit);
        this.#connections.delete(c);
        this.#slots.release();
        this.stats.connectionsOpen--;
        if (this.#connections.size === 0 && this.#onLastClosed !== null) this.#onLastClosed();
      },
    };
    this.#readBuffer = options.sharedReadBuffer ? Buffer.allocUnsafe(SHARED_READ_BYTES) : null;
    this.stats.sharedReadBuffer = options.sharedReadBuffer;
    this.#createListener = deps.createListener ?? tcpListener;
    this.#server = this.#listener();
    this.#idleSweep =
      options.idleTimeoutMs > 0 ? new IdleSweep(this.#connections, options.idleTimeoutMs) : null;
  }

  #listener(): Server {
    const server = this.#createListener((socket) => {
      this.#accept(socket);
    });
    // Over --max-connections on this listener alone, Node closes the accepted handle itself,
    // before it builds a Socket: under a connection flood a refusal then costs a close(), not a
    // stream's allocations (their GC stalled every client for 60-70 ms, docs/reliability.md).
    // The process-wide count (slots, with several threads) is still checked in #accept.
    server.maxConnections = this.#options.maxConnections;
    server.on('drop', (data?: { readonly remoteAddress?: string }) => {
      this.#refused(data?.remoteAddress);
    });
    return server;
  }

  /** True from the start of shutdown: readiness reports not ready. */
  get draining(): boolean {
    return this.#draining;
  }

  /** True while the protocol listener is bound (by this server, or by the front it was handed to). */
  get listening(): boolean {
    return this.#handedOff ? !this.#draining : this.#server.listening;
  }

  /**
   * From now on another front accepts on the listening socket (the native I/O threads, ADR
   * 0019, which hold descriptors of their own): this server closes its listeners, so that it
   * accepts nothing more, and reports the socket as listening until it drains. Connections it
   * accepted before are served as usual.
   */
  async handOff(): Promise<void> {
    this.#handedOff = true;
    await Promise.all(
      [this.#server, ...this.#lanes].map(
        (listener) =>
          new Promise<void>((resolve) =>
            listener.close(() => {
              resolve();
            }),
          ),
      ),
    );
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** The listening socket's descriptor, to share with other threads; null if unknown (see listener-fd.ts). */
  listenerFd(): number | null {
    return this.#server.listening ? listenerFd(this.#server) : null;
  }

  /**
   * Listens on `handles` too: other descriptors of the listening socket (copies, see
   * src/threads/listener-copy.ts). libuv accepts one connection per listener per turn of the
   * event loop, so with N lanes a turn accepts up to N + 1: connections a busy loop has not
   * accepted yet wait in the kernel's queue for N + 1 times fewer turns (ADR 0018). Call after
   * listen(); the lanes close with the server.
   */
  async addAcceptLanes(handles: readonly object[]): Promise<void> {
    let added = 0;
    try {
      for (const handle of handles) {
        await this.#addLane(handle);
        added++;
      }
    } catch (err) {
      // The failed lane closes with the server; the handles after it are nobody's yet.
      for (const handle of handles.slice(added + 1)) (handle as { close?: () => void }).close?.();
      throw err;
    } finally {
      // Each lane holds a descriptor: they leave fewer for connections.
      this.#descriptors = this.#measureDescriptors();
    }
  }

  #addLane(handle: object): Promise<void> {
    const lane = this.#listener();
    this.#lanes.push(lane);
    return new Promise<void>((resolve, reject) => {
      lane.once('error', reject);
      lane.listen(handle, 4096, () => {
        lane.off('error', reject);
        lane.on('error', (err: NodeJS.ErrnoException) => {
          this.#onListenerError(err);
        });
        resolve();
      });
    });
  }

  /**
   * An INDEX of a socket thread's batch refused by the owner at --max-packages (ADR 0010: only
   * the owner knows the count as it executes each line): counted and logged as a connection's.
   */
  refusedAtPackageCap(): void {
    this.stats.commandsOverPackageCap++;
    this.#offenders.warn(
      'E_TOO_MANY_PACKAGES:threads',
      { code: 'E_TOO_MANY_PACKAGES', max: this.#options.maxPackages },
      'command refused',
    );
  }

  /** Connections the file descriptors leave room for (Infinity when unknown), as measured last. */
  get descriptorRoom(): number {
    return this.#descriptors.connections;
  }

  /** Listeners on the protocol socket: the bound one and its accept lanes. */
  get listeners(): number {
    return (this.#server.listening ? 1 : 0) + this.#lanes.filter((l) => l.listening).length;
  }

  /**
   * Starts listening; resolves with the bound address (useful with port 0). With the shared
   * read buffer on, first proves that it works on this Node, else falls back to Node's reads.
   */
  async listen(): Promise<AddressInfo> {
    if (this.#readBuffer !== null) {
      const proof = await this.#proveSharedReads();
      if (!proof.ok) {
        this.#readBuffer = null;
        this.#warnNoSharedReads(proof.reason);
      }
    }
    this.#descriptors = this.#measureDescriptors();
    const { limit, open, connections } = this.#descriptors;
    if (connections < this.#options.maxConnections)
      this.#log.warn(
        { limit, open, fitConnections: connections, maxConnections: this.#options.maxConnections },
        'the file descriptor limit leaves room for fewer connections than --max-connections; raise LimitNOFILE (ulimit -n)',
      );
    return this.#bind();
  }

  #warnNoSharedReads(reason: string): void {
    if (this.#warnedNoSharedReads) return;
    this.#warnedNoSharedReads = true;
    this.#log.warn({ node: process.version, reason }, NO_SHARED_READS);
  }

  #bind(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const where = `${this.#options.host}:${this.#options.port}`;
        const hint =
          err.code === 'EADDRINUSE'
            ? 'another process holds this port; stop it or pass --port'
            : err.code === 'EACCES'
              ? 'ports below 1024 need privileges; pass a --port of 1024 or higher'
              : 'check --host and --port';
        reject(createError('E_LISTEN', `cannot listen on ${where}: ${err.message}; ${hint}`, { cause: err }));
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        this.#server.on('error', (err: NodeJS.ErrnoException) => {
          this.#onListenerError(err);
        });
        resolve(this.#server.address() as AddressInfo);
      };
      this.#server.once('error', onError);
      if (this.#listenHandle !== undefined) this.#server.listen(this.#listenHandle, 4096, onListening);
      else
        this.#server.listen(
          { host: this.#options.host, port: this.#options.port, backlog: 4096 },
          onListening,
        );
    });
  }

  /**
   * Graceful shutdown: stop accepting, let every connection receive the replies to what it
   * already sent, then close. Connections still open after the grace period are destroyed.
   */
  async close(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const listenerClosed = Promise.all(
      [this.#server, ...this.#lanes].map(
        (listener) =>
          new Promise<void>((resolve) =>
            listener.close(() => {
              resolve();
            }),
          ),
      ),
    );
    const connectionsClosed = new Promise<void>((resolve) => {
      if (this.#connections.size === 0) resolve();
      else this.#onLastClosed = resolve;
    });
    for (const connection of this.#connections) connection.drain();
    const deadline = setTimeout(() => {
      if (this.#connections.size > 0)
        this.#log.warn(
          { connections: this.#connections.size },
          'shutdown grace period over; closing connections',
        );
      for (const connection of this.#connections) connection.destroy();
    }, this.#options.shutdownTimeoutMs);
    await Promise.all([listenerClosed, connectionsClosed]);
    clearTimeout(deadline);
    this.#idleSweep?.stop();
  }

  /**
   * A failed accept (Node reports it on the listener): out of file descriptors, the kernel
   * has already completed the client's handshake and libuv resets it. Counted, and logged at
   * most once per interval, since a client retrying would otherwise write a line per attempt.
   */
  #onListenerError(err: NodeJS.ErrnoException): void {
    if (err.syscall !== 'accept') {
      this.#log.error({ err }, 'listener error');
      return;
    }
    this.stats.acceptErrors++;
    const outOfFds = err.code === 'EMFILE' || err.code === 'ENFILE';
    this.#offenders.warn(
      `accept:${err.code ?? '?'}`,
      { code: err.code, open: this.#slots.open },
      outOfFds
        ? 'accept failed: out of file descriptors, new clients are reset; raise LimitNOFILE (ulimit -n) above --max-connections plus a margin'
        : 'accept failed; new clients are reset',
    );
  }

  /** Counts a connection refused for --max-connections (or shutdown) and logs it, rate-limited. */
  #refused(peer: string | undefined): void {
    this.stats.connectionsRefused++;
    // One line per reason per interval: a connection flood must not become a log flood.
    this.#offenders.warn(
      this.#draining ? 'draining' : 'max-connections',
      { peer, open: this.#slots.open, max: this.#options.maxConnections },
      this.#draining ? 'connection refused: shutting down' : 'connection refused: --max-connections reached',
    );
  }

  #refuse(socket: Socket): void {
    socket.on('error', () => undefined);
    socket.end();
    socket.resume();
    // Cleared at close: under a connection flood the timers would otherwise keep every socket
    // refused in the last second alive, and the GC pauses of that heap stall every client.
    const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    socket.once('close', () => {
      clearTimeout(linger);
    });
  }

  #accept(socket: Socket): void {
    const stats = this.stats;
    if (this.#draining || !this.#slots.tryAcquire()) {
      this.#refused(socket.remoteAddress);
      this.#refuse(socket);
      return;
    }
    // The slot just taken counts: over the budget, this connection does not fit.
    if (this.#slots.open > this.#descriptors.connections) {
      this.#slots.release();
      stats.connectionsRefusedDescriptors++;
      this.#offenders.warn(
        'descriptors',
        { open: this.#slots.open, limit: this.#descriptors.limit },
        'connection refused: out of file descriptors for connections; raise LimitNOFILE (ulimit -n)',
      );
      // No linger: the descriptor is what is short.
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? '?';
    const peer = this.#peers.admit(address);
    if (peer === null) {
      this.#slots.release();
      stats.connectionsRefusedPerPeer++;
      this.#offenders.warn(
        `E_PEER_CONNECTIONS:${address}`,
        { code: 'E_PEER_CONNECTIONS', peer: address, max: this.#options.maxConnectionsPerPeer },
        'connection refused: --max-connections-per-peer reached',
      );
      this.#refuse(socket);
      return;
    }
    const id = this.#nextId++;
    stats.connectionsOpen++;
    stats.connectionsTotal++;
    const log = this.#log;
    // Reading starts on a later turn of the event loop, after `connection` is assigned.
    let connection: Connection | null = null;
    const shared = startReading(
      socket,
      (chunk, length) => {
        connection!.receive(chunk, length);
      },
      this.#readBuffer,
    );
    connection = new Connection(id, socket, this.#context, peer);
    if (shared) stats.connectionsSharedReads++;
    else if (this.#readBuffer !== null)
      this.#warnNoSharedReads('an accepted socket lacked the private keys or handle methods this mode sets');
    log.info({ conn: id, peer: connection.peer }, 'connection opened');
    this.#connections.add(connection);
  }
}
