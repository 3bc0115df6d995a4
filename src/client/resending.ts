/**
 * A connection that outlives its sockets (issue 12): after a lost connection or a failed
 * connect it waits (exponential backoff, full jitter), reconnects, and sends again every line
 * whose reply it has not received, in order. `pkgindex client` speaks through it in all three
 * of its modes (one command, piped lines, the prompt).
 *
 * Why sending a line again is safe. Each command is idempotent in effect: applied twice in a
 * row it leaves the index as applied once, and the second reply is the reply the first had.
 * INDEX p|d: applied, p holds exactly d, which stay indexed (p depends on them), so the second
 * INDEX finds the same state and answers OK; refused, nothing changed, and it is refused again.
 * REMOVE p: applied, p is absent, and removing an absent package answers OK; refused, nothing
 * changed. QUERY changes nothing. (A change by another client in between can change the second
 * reply, as it could have changed the first had the line arrived that much later.)
 *
 * That holds for one command, not for a run of them: if the server applied `INDEX|a|b` (FAIL:
 * b missing) and `INDEX|b|` (OK) before the connection broke, sending both again makes the first
 * OK and indexes a, which the script never got. So the caller must never have more than one
 * line of unknown fate that changes the index: `mutationBarrier` makes `send` wait for every
 * earlier reply before it sends an INDEX or REMOVE, while QUERY lines (and lines the server will
 * answer ERROR, which change nothing) are pipelined freely. What is unanswered when a connection
 * breaks is then at most one mutation followed by lines that change nothing, which can all be
 * sent again: the mutation by idempotence, the queries because they come after it.
 *
 * Not retried: a reply timeout (the server is alive but stuck; the line waits in its socket and
 * may run after a resent copy and after later commands, reordering them), a reply that is not
 * the protocol (E_BAD_REPLY), and anything once `retries` attempts in a row have failed. A
 * reply resets the count.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createError, isPkgIndexError, replyLostError, type PkgIndexError } from '../errors.js';
import { Verb, isProtocolError } from '../protocol/command.js';
import { parseLine } from '../protocol/parse.js';
import type { Reply } from '../protocol/reply.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import type { PkgIndexClient } from './client.js';
import { Fifo } from './fifo.js';

export interface RetryPolicy {
  /** Reconnections allowed in a row (0: none, the first lost connection is an error). */
  readonly retries: number;
  readonly backoff: BackoffOptions;
  /**
   * Told before each wait: the attempt (1-based), the wait, why, and how many sent lines will
   * be sent again once connected (0: none was awaiting a reply).
   */
  readonly onRetry?: (attempt: number, delayMs: number, cause: PkgIndexError, resending: number) => void;
  /** Told once connected again after at least one failed attempt. */
  readonly onReconnected?: (address: string) => void;
}

export interface ResendingOptions extends RetryPolicy {
  /** Opens a new connection; rejects with E_CONNECT when it cannot. */
  readonly connect: () => Promise<PkgIndexClient>;
  /** Send INDEX and REMOVE only once every earlier line is answered (see above). */
  readonly mutationBarrier: boolean;
  /**
   * Told when the connection ends while nothing awaits a reply on it (the server closed an idle
   * connection, or stopped); the next send reconnects.
   */
  readonly onDropped?: (reason: PkgIndexError) => void;
}

/** Failures after which the server may well be back: the line was lost with the connection. */
const RETRYABLE = ['E_CONNECT', 'E_CONNECTION_CLOSED', 'E_REPLY_LOST'] as const;

interface Pending {
  readonly line: string;
  /** The reply on the connection it was last sent on. */
  reply: Promise<Reply>;
}

/** True unless `line` is a well-formed QUERY or a line the server answers ERROR (no change). */
export function mayChangeIndex(line: string): boolean {
  const bytes = Buffer.from(line, 'utf8');
  const parsed = parseLine(bytes, 0, bytes.length);
  return !isProtocolError(parsed) && parsed.verb !== Verb.QUERY;
}

export class ResendingConnection {
  readonly #options: ResendingOptions;
  #current: PkgIndexClient | null = null;
  /** Sent (or to be sent again), reply not yet taken by `next`, oldest first. */
  readonly #pending = new Fifo<Pending>();
  /** Failed attempts in a row; a reply resets it. */
  #failures = 0;
  /** The reconnection under way: one at a time, shared by `send` and `next`. */
  #reconnecting: Promise<PkgIndexClient> | null = null;
  /** Closed or destroyed here: no more reconnecting. */
  #ended = false;

  constructor(options: ResendingOptions) {
    this.#options = options;
  }

  /** Connects (with retries) unless connected; resolves with the server's `host:port`. */
  async open(): Promise<string> {
    return (this.#current ?? (await this.#reconnect(null))).address;
  }

  /** Lines sent whose reply `next` has not returned yet. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Sends one protocol line (connecting first if needed, with retries: E_CONNECT when that
   * fails, the line unsent). With the mutation barrier, an INDEX or REMOVE must wait for the
   * replies of the lines before it: take them with `next` first (E_INVALID_ARGUMENT otherwise).
   */
  async send(line: string): Promise<void> {
    if (this.#options.mutationBarrier && this.#pending.length > 0 && mayChangeIndex(line))
      throw createError(
        'E_INVALID_ARGUMENT',
        'a line that changes the index waits for every earlier reply: take them with next() first',
      );
    this.#sendOn(this.#current ?? (await this.#reconnect(null)), line);
  }

  /**
   * `send` without waiting when it need not connect first (a pipe's fast path): true when sent,
   * false when the caller must `send` (to connect) instead.
   */
  sendNow(line: string): boolean {
    if (this.#current === null || this.#reconnecting !== null) return false;
    if (this.#options.mutationBarrier && this.#pending.length > 0 && mayChangeIndex(line)) return false;
    this.#sendOn(this.#current, line);
    return true;
  }

  #sendOn(client: PkgIndexClient, line: string): void {
    const entry: Pending = { line, reply: client.sendLine(line) };
    entry.reply.catch(() => undefined);
    this.#pending.push(entry);
  }

  /** The reply to the oldest line sent and not yet answered here, resending it if needed. */
  async next(): Promise<Reply> {
    for (;;) {
      const entry = this.#pending.peek();
      if (entry === undefined)
        throw createError('E_INVALID_ARGUMENT', 'next() with no line awaiting a reply');
      const attempt = entry.reply;
      try {
        const reply = await attempt;
        this.#pending.shift();
        this.#failures = 0;
        return reply;
      } catch (err) {
        // Sent again already (a send connected anew meanwhile): await that copy.
        if (entry.reply !== attempt) continue;
        if (!isPkgIndexError(err, ...RETRYABLE)) {
          this.#abandon();
          throw err;
        }
        try {
          await this.#reconnect(err);
        } catch (last) {
          // Given up: every awaited line is dropped; the first may have been applied.
          const lost = this.#abandon();
          throw isPkgIndexError(last, ...RETRYABLE)
            ? replyLostError(last, lost.length, lost.some(mayChangeIndex))
            : last;
        }
      }
    }
  }

  /** Sends one line and returns its reply (one command at a time: the prompt, one-shot). */
  async sendLine(line: string): Promise<Reply> {
    await this.send(line);
    return this.next();
  }

  /** Closes the connection once every reply has arrived (replies not taken are dropped). */
  async close(): Promise<void> {
    this.#ended = true;
    const client = this.#current;
    this.#current = null;
    this.#pending.drain();
    await client?.close();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#ended = true;
    const client = this.#current;
    this.#current = null;
    this.#pending.drain();
    client?.destroy();
  }

  /**
   * Connects again, waiting first when `cause` (the failure that got us here) is not null or an
   * attempt failed, and sends the awaited lines again; throws the last failure once `retries`
   * attempts in a row have failed.
   */
  #reconnect(cause: PkgIndexError | null): Promise<PkgIndexClient> {
    // Two at once would leave the awaited lines on two live connections.
    this.#reconnecting ??= this.#connectAgain(cause).finally(() => {
      this.#reconnecting = null;
    });
    return this.#reconnecting;
  }

  async #connectAgain(cause: PkgIndexError | null): Promise<PkgIndexClient> {
    this.#current?.destroy();
    this.#current = null;
    let why = cause;
    for (;;) {
      this.#throwIfEnded();
      if (why !== null) {
        if (this.#failures >= this.#options.retries) throw why;
        const delayMs = backoffDelayMs(this.#failures, this.#options.backoff);
        this.#failures++;
        this.#options.onRetry?.(this.#failures, delayMs, why, this.#pending.length);
        await sleep(delayMs);
        this.#throwIfEnded();
      }
      let client: PkgIndexClient;
      try {
        client = await this.#options.connect();
      } catch (err) {
        if (!isPkgIndexError(err, 'E_CONNECT')) throw err;
        why = err;
        continue;
      }
      if (why !== null) this.#options.onReconnected?.(client.address);
      this.#adopt(client);
      for (const entry of this.#pendingEntries()) {
        entry.reply = client.sendLine(entry.line);
        entry.reply.catch(() => undefined);
      }
      return client;
    }
  }

  #throwIfEnded(): void {
    if (this.#ended) throw createError('E_CONNECTION_CLOSED', 'the connection was closed by this client');
  }

  #pendingEntries(): Pending[] {
    const entries = this.#pending.drain();
    for (const entry of entries) this.#pending.push(entry);
    return entries;
  }

  /** Drops the connection and every awaited line; returns them. */
  #abandon(): string[] {
    const lost = this.#pending.drain().map((entry) => entry.line);
    // The next line gets its own attempts.
    this.#failures = 0;
    this.#current?.destroy();
    this.#current = null;
    return lost;
  }

  #adopt(client: PkgIndexClient): void {
    this.#current = client;
    void client.closed.then((reason) => {
      // Replaced or dropped here, which speaks for itself; or lines await replies on it, and
      // `next` reports what became of them.
      if (this.#current !== client) return;
      this.#current = null;
      if (this.#pending.length === 0) this.#options.onDropped?.(reason);
    });
  }
}
