/**
 * One client connection of the load generator. It keeps `inFlight` requests outstanding:
 * the first batch is written at start, then every chunk of replies frees slots that are
 * refilled with one write. Requests are slices of a pre-rendered script, so sending costs no
 * formatting and no copy; replies are counted on bytes.
 */
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Histogram } from './histogram.js';
import { Expect, ReplyClass, ReplyScanner, type ReplySink } from './replies.js';
import type { Script } from './workload.js';

/** TLS to the server, as PEM text (structured-cloned to worker threads, so no paths to re-read). */
export interface BenchTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Counters of one run, summed over connections and threads. */
export interface LoadCounts {
  sent: number;
  ok: number;
  fail: number;
  error: number;
  /** Replies that are not one of the three words. */
  bad: number;
  /** A reply class other than the one the request must get (e.g. malformed answered OK). */
  unexpected: number;
  /** Replies with no request outstanding. */
  unsolicited: number;
  /** Requests outstanding when the connection closed or the run gave up waiting. */
  missing: number;
  /** Connections that failed or closed with an error. */
  socketErrors: number;
}

export function emptyCounts(): LoadCounts {
  return {
    sent: 0,
    ok: 0,
    fail: 0,
    error: 0,
    bad: 0,
    unexpected: 0,
    unsolicited: 0,
    missing: 0,
    socketErrors: 0,
  };
}

export function addCounts(into: LoadCounts, from: LoadCounts): void {
  for (const key of Object.keys(into) as (keyof LoadCounts)[]) into[key] += from[key];
}

/** Every unexpected or missing response, counted once. */
export function protocolErrors(c: LoadCounts): number {
  return c.bad + c.unexpected + c.unsolicited + c.missing + c.socketErrors;
}

export interface LoadConnectionOptions {
  readonly script: Script;
  /** Index of the first request in the script. */
  readonly start: number;
  /** How many requests to send in all; Infinity to run until stop(). */
  readonly budget: number;
  readonly inFlight: number;
  /** Compare every reply with the script's expectation; off for servers that only echo OK. */
  readonly validate: boolean;
  readonly histogram: Histogram;
  readonly counts: LoadCounts;
}

export class LoadConnection implements ReplySink {
  readonly #o: LoadConnectionOptions;
  readonly #sendTimes: Float64Array;
  readonly #scanner = new ReplyScanner();
  #socket: Socket | null = null;
  /** Script index of the next request to send. */
  #next: number;
  /** Script index of the oldest request still waiting for its reply. */
  #oldest: number;
  #sent = 0;
  #answered = 0;
  #stopping = false;
  #now = 0;
  #closed = false;
  #resolveDone: () => void = () => undefined;
  /** Settles when every sent request is answered after stop() (or the budget), or the socket closed. */
  readonly done: Promise<void>;

  constructor(options: LoadConnectionOptions) {
    this.#o = options;
    this.#sendTimes = new Float64Array(options.inFlight);
    this.#next = this.#oldest = options.start % options.script.length;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get outstanding(): number {
    return this.#sent - this.#answered;
  }

  /** Connects; with `tls`, resolves once the handshake is done (its cost is not measured). */
  connect(host: string, port: number, tls: BenchTls | null = null): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket =
        tls === null
          ? connect({ host, port, noDelay: true })
          : tlsConnect({ host, port, ...tls, ...(isIP(host) === 0 ? { servername: host } : {}) });
      socket.setNoDelay(true);
      const onError = (err: Error): void => {
        reject(err);
      };
      socket.once('error', onError);
      socket.once(tls === null ? 'connect' : 'secureConnect', () => {
        socket.off('error', onError);
        this.#attach(socket);
        resolve();
      });
    });
  }

  /** Writes the first batch of requests. */
  start(): void {
    this.#refill(performance.now());
  }

  /** Sends nothing more; `done` settles once the outstanding requests are answered. */
  stop(): void {
    this.#stopping = true;
    this.#settleIfDone();
  }

  /** Closes the socket; requests still outstanding are counted missing. */
  close(): void {
    this.#finish();
    this.#socket?.destroy();
  }

  reply(cls: ReplyClass): void {
    const o = this.#o;
    if (this.#answered === this.#sent) {
      o.counts.unsolicited++;
      return;
    }
    o.histogram.record((this.#now - this.#sendTimes[this.#answered % o.inFlight]!) * 1e6);
    this.#answered++;
    const expected = o.script.expected[this.#oldest]!;
    if (++this.#oldest === o.script.length) this.#oldest = 0;
    switch (cls) {
      case ReplyClass.OK:
        o.counts.ok++;
        break;
      case ReplyClass.FAIL:
        o.counts.fail++;
        break;
      case ReplyClass.ERROR:
        o.counts.error++;
        break;
      default:
        o.counts.bad++;
        return;
    }
    if (o.validate && expected !== Expect.ANY && expected !== cls) o.counts.unexpected++;
  }

  #attach(socket: Socket): void {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#now = performance.now();
      this.#scanner.push(chunk, this);
      if (this.#stopping || this.#sent >= this.#o.budget) this.#settleIfDone();
      else this.#refill(this.#now);
    });
    socket.on('error', () => {
      if (!this.#closed) this.#o.counts.socketErrors++;
    });
    socket.on('close', () => {
      this.#finish();
    });
  }

  #refill(now: number): void {
    const o = this.#o;
    const socket = this.#socket;
    if (socket === null || this.#closed) return;
    const n = Math.min(o.inFlight - (this.#sent - this.#answered), o.budget - this.#sent);
    if (n <= 0) return;
    const length = o.script.length;
    const offsets = o.script.offsets;
    for (let i = 0; i < n; i++) this.#sendTimes[(this.#sent + i) % o.inFlight] = now;
    const from = this.#next;
    const to = from + n;
    if (to <= length) {
      socket.write(o.script.bytes.subarray(offsets[from], offsets[to]));
      this.#next = to === length ? 0 : to;
    } else {
      socket.cork();
      socket.write(o.script.bytes.subarray(offsets[from], offsets[length]));
      socket.write(o.script.bytes.subarray(0, offsets[to - length]));
      socket.uncork();
      this.#next = to - length;
    }
    this.#sent += n;
    o.counts.sent += n;
  }

  #settleIfDone(): void {
    if (this.#sent === this.#answered) this.#resolveDone();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.counts.missing += this.#sent - this.#answered;
    if (this.#scanner.pendingBytes > 0) this.#o.counts.bad++;
    this.#answered = this.#sent;
    this.#resolveDone();
  }
}
