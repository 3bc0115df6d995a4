import { Ring } from './ring.js';

/**
 * How a consumer that went idle is woken: `doorbell`, an empty `postMessage` on the threads'
 * port (it also keeps the event loop alive); `wait`, `Atomics.waitAsync` and `Atomics.notify`
 * (no message, but the waiting promise does not keep the event loop alive and its settlement
 * is a task plus a microtask).
 */
export type WakeMode = 'doorbell' | 'wait';

/** How long a record refused by a full ring waits before it is offered again. */
const RETRY_MS = 1;

/** What one end of a pair of rings did, since it started (see `RingChannel.counts`). */
export interface HopCounts {
  /** Records written into the outgoing ring (or queued for it). */
  recordsOut: number;
  /** Records read from the incoming ring. */
  recordsIn: number;
  /** Wake-ups given to the peer (it had gone idle). */
  wakesOut: number;
  /** Times this end went idle and was woken (or rang). */
  wakesIn: number;
  /** Passes over the incoming ring (each drains every record there is). */
  drains: number;
}

/**
 * One thread's end of a pair of rings (ADR 0010): records out through one, records in through
 * the other, and the wake-ups between. A record that does not fit in the outgoing ring now is
 * queued here, in order, and offered again when records come in (the peer made progress) or
 * a millisecond later; records are never reordered or dropped.
 */
export class RingChannel {
  readonly #out: Ring;
  readonly #in: Ring;
  readonly #mode: WakeMode;
  readonly #ringDoorbell: () => void;
  readonly #onRecord: (payload: Buffer, tag: number) => void;
  /** Records the outgoing ring had no room for, oldest first (copies). */
  readonly #overflow: { payload: Uint8Array; tag: number }[] = [];
  #retry: NodeJS.Timeout | null = null;
  #closed = false;
  /** Plain increments: read by the thread's stats reports and the shutdown log. */
  readonly counts: HopCounts = { recordsOut: 0, recordsIn: 0, wakesOut: 0, wakesIn: 0, drains: 0 };
  readonly #wake = (): void => {
    this.counts.wakesIn++;
    this.#receive();
  };
  readonly #run = (): void => {
    this.#receive();
  };

  constructor(
    out: SharedArrayBuffer,
    inbound: SharedArrayBuffer,
    mode: WakeMode,
    ringDoorbell: () => void,
    onRecord: (payload: Buffer, tag: number) => void,
  ) {
    this.#out = new Ring(out, 'producer');
    this.#in = new Ring(inbound, 'consumer');
    this.#mode = mode;
    this.#ringDoorbell = ringDoorbell;
    this.#onRecord = onRecord;
  }

  /** The largest record `send` takes. */
  get maxPayload(): number {
    return this.#out.maxPayload;
  }

  /** Records waiting for room in the outgoing ring. */
  get queued(): number {
    return this.#overflow.length;
  }

  /** Starts receiving: drains what is there, then waits for a wake-up. */
  start(): void {
    this.#receive();
  }

  /** Called on a doorbell message (mode `doorbell`): drains the incoming ring. */
  doorbell(): void {
    this.counts.wakesIn++;
    this.#receive();
  }

  /** Appends a record for the peer (queued, in order, while the ring is full). */
  send(payload: Uint8Array, tag: number): void {
    this.counts.recordsOut++;
    if (this.#overflow.length > 0 || !this.#out.tryWrite(payload, tag)) {
      this.#overflow.push({ payload: Uint8Array.prototype.slice.call(payload), tag });
      this.#scheduleRetry();
      return;
    }
    this.#wakePeer();
  }

  /** Stops the retry timer and ignores further wake-ups. */
  close(): void {
    this.#closed = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
  }

  #wakePeer(): void {
    if (!this.#out.claimWake()) return;
    this.counts.wakesOut++;
    if (this.#mode === 'doorbell') this.#ringDoorbell();
    else this.#out.notify();
  }

  #flushOverflow(): void {
    const overflow = this.#overflow;
    let sent = 0;
    while (sent < overflow.length && this.#out.tryWrite(overflow[sent]!.payload, overflow[sent]!.tag)) sent++;
    if (sent === 0) return;
    overflow.splice(0, sent);
    this.#wakePeer();
  }

  #scheduleRetry(): void {
    if (this.#retry !== null || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#flushOverflow();
      if (this.#overflow.length > 0) this.#scheduleRetry();
    }, RETRY_MS);
  }

  /**
   * Drains what the peer has published, once; when more came in meanwhile, goes on after the
   * rest of this turn (setImmediate), so that a peer that never stops sending cannot hold this
   * thread (the owner's own connections, its timers) for longer than one pass.
   */
  #receive(): void {
    if (this.#closed) return;
    const ring = this.#in;
    this.counts.drains++;
    this.counts.recordsIn += ring.drain(this.#onRecord);
    if (this.#overflow.length > 0) this.#flushOverflow();
    const seq = ring.wakeSeq;
    if (!ring.sleep()) {
      setImmediate(this.#run);
      return;
    }
    if (this.#mode === 'doorbell') return;
    const waiting = ring.waitAsync(seq);
    if (waiting === null) setImmediate(this.#run);
    else void waiting.then(this.#wake);
  }
}
