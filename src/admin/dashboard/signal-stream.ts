import { Readable } from 'node:stream';
import { createError } from '../../errors.js';
import type { SignalSample } from '../../observability/live-signals.js';

export interface SignalStreamOptions {
  /** Streams open at once; one more is refused with E_ADMIN_BUSY. */
  readonly maxClients: number;
  /** How often a sample is taken and pushed. */
  readonly intervalMs: number;
  /** Samples kept and sent to a new client first, so that its charts start with a past. */
  readonly historySize: number;
  /**
   * Bytes queued for a client that does not read (its socket's buffer is full) before it is
   * dropped; it reconnects and starts again from the history.
   */
  readonly maxBacklogBytes: number;
}

export const SIGNAL_STREAM_DEFAULTS: SignalStreamOptions = {
  maxClients: 16,
  intervalMs: 1000,
  historySize: 300,
  maxBacklogBytes: 64 * 1024,
};

/**
 * The live golden signals as server-sent events (text/event-stream): one `history` event with
 * the samples kept so far, then one `sample` event per interval. One timer samples for every
 * client and each sample is serialised once, so the cost does not grow with the number of
 * dashboards open (which is bounded anyway), and none of it runs on the protocol's hot path.
 * Sampling runs from `start()` to `stop()` whether or not a client listens, so that a dashboard
 * opened later shows the last minutes at once.
 */
export class SignalStream {
  readonly #sample: () => SignalSample;
  readonly #options: SignalStreamOptions;
  readonly #clients = new Set<Readable>();
  readonly #history: string[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(sample: () => SignalSample, options: Partial<SignalStreamOptions> = {}) {
    this.#sample = sample;
    this.#options = { ...SIGNAL_STREAM_DEFAULTS, ...options };
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      this.tick();
    }, this.#options.intervalMs);
    // Sampling alone never keeps the process alive.
    this.#timer.unref();
  }

  /** Stops sampling and ends every stream. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const client of this.#clients) client.push(null);
    this.#clients.clear();
  }

  /** Takes a sample and sends it to every client (the timer calls it; tests may too). */
  tick(): void {
    const json = JSON.stringify(this.#sample());
    this.#history.push(json);
    if (this.#history.length > this.#options.historySize) this.#history.shift();
    const frame = `event: sample\ndata: ${json}\n\n`;
    for (const client of this.#clients) {
      if (client.readableLength > this.#options.maxBacklogBytes) client.destroy();
      else client.push(frame);
    }
  }

  /**
   * A new stream, starting with the history; throws E_ADMIN_BUSY when maxClients are open.
   * The stream leaves the set when it closes (the client went away, or stop()).
   */
  open(): Readable {
    if (this.#clients.size >= this.#options.maxClients)
      throw createError(
        'E_ADMIN_BUSY',
        `${this.#options.maxClients} live event streams are open already; close a dashboard tab and retry`,
      );
    const client = new Readable({
      read() {
        // Pushed by tick(); nothing to pull.
      },
    });
    client.once('close', () => {
      this.#clients.delete(client);
    });
    this.#clients.add(client);
    // `retry`: how long EventSource clients wait before reconnecting.
    client.push(`retry: 2000\nevent: history\ndata: [${this.#history.join(',')}]\n\n`);
    return client;
  }
}
