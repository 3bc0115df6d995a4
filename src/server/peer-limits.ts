/** What one address may use, from the options of `pkgindex serve` (0 turns a limit off). */
export interface PeerLimitOptions {
  /** Open connections per remote address. */
  readonly maxConnectionsPerPeer: number;
  /** Mutations (INDEX, REMOVE) per second per remote address, refilled continuously. */
  readonly mutationRatePerPeer: number;
  /** Mutations a peer may send at once above the rate (the bucket's size). */
  readonly mutationBurst: number;
}

import type { SharedPeerTable } from './shared-peer-table.js';

/** The state of one remote address: its connections share it. */
export class Peer {
  readonly address: string;
  /** Its entry in the process's shared table (-1: this thread's map holds the state). */
  slot = -1;
  connections = 0;
  tokens: number;
  refilledAt: number;

  constructor(address: string, burst: number) {
    this.address = address;
    this.tokens = burst;
    this.refilledAt = performance.now();
  }
}

/** Peers remembered without connections (their buckets) before the table is swept. */
const SWEEP_AT = 65_536;

/**
 * Limits per remote address: connections open, and a token bucket of mutations. A peer is
 * forgotten once it has no connection and its bucket is full again, when the table is swept,
 * so reconnecting does not refill a bucket sooner than waiting would. With socket threads the
 * state lives in a SharedPeerTable instead, one for the process, so that the limits hold for a
 * peer whichever thread accepts its connections.
 */
export class PeerLimits {
  readonly #options: PeerLimitOptions;
  readonly #peers = new Map<string, Peer>();
  readonly #shared: SharedPeerTable | null;

  constructor(options: PeerLimitOptions, shared: SharedPeerTable | null = null) {
    this.#options = options;
    this.#shared = shared;
  }

  /** True when mutations are rate limited (each then costs a clock read). */
  get limitsMutations(): boolean {
    return this.#options.mutationRatePerPeer > 0;
  }

  get peers(): number {
    return this.#shared?.live ?? this.#peers.size;
  }

  /** Counts a new connection from `address`; null when the peer is at its limit. */
  admit(address: string): Peer | null {
    const shared = this.#shared;
    if (shared !== null) {
      const { maxConnectionsPerPeer: max, mutationBurst: burst, mutationRatePerPeer: rate } = this.#options;
      const slot = shared.admit(address, max, burst, rate);
      if (slot === -1) return null;
      const admitted = new Peer(address, burst);
      // -2: the table is full (more peers than --max-connections allows): admitted untracked.
      admitted.slot = slot;
      return admitted;
    }
    let peer = this.#peers.get(address);
    if (peer === undefined) {
      if (this.#peers.size >= SWEEP_AT) this.#sweep();
      peer = new Peer(address, this.#options.mutationBurst);
      this.#peers.set(address, peer);
    }
    const max = this.#options.maxConnectionsPerPeer;
    if (max > 0 && peer.connections >= max) return null;
    peer.connections++;
    return peer;
  }

  release(peer: Peer): void {
    if (this.#shared !== null) {
      if (peer.slot >= 0) this.#shared.release(peer.slot, this.limitsMutations);
      return;
    }
    peer.connections--;
    if (peer.connections === 0 && !this.limitsMutations) this.#peers.delete(peer.address);
  }

  /** Takes one mutation from the peer's bucket; false when it is empty (answer ERROR). */
  takeMutation(peer: Peer): boolean {
    const { mutationRatePerPeer: rate, mutationBurst: burst } = this.#options;
    if (this.#shared !== null) return peer.slot < 0 || this.#shared.take(peer.slot, burst, rate);
    const now = performance.now();
    peer.tokens = Math.min(burst, peer.tokens + ((now - peer.refilledAt) * rate) / 1000);
    peer.refilledAt = now;
    if (peer.tokens < 1) return false;
    peer.tokens--;
    return true;
  }

  #sweep(): void {
    const { mutationRatePerPeer: rate, mutationBurst: burst } = this.#options;
    const now = performance.now();
    for (const [address, peer] of this.#peers)
      if (peer.connections === 0 && peer.tokens + ((now - peer.refilledAt) * rate) / 1000 >= burst)
        this.#peers.delete(address);
  }
}
