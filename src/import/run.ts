/**
 * Sends a plan to a server: `INDEX` lines in plan order over one connection (the server
 * answers a connection's lines in order, so a dependency is indexed before its dependents
 * are read), pipelined with at most `window` lines unanswered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, type BackoffOptions } from '../client/backoff.js';
import type { PkgIndexClient } from '../client/client.js';
import { Fifo } from '../client/fifo.js';
import { isPkgIndexError, type PkgIndexError } from '../errors.js';
import { Verb, type Command } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import type { SourcePackage } from './plan.js';

export interface Rejection {
  readonly name: string;
  readonly reply: 'FAIL' | 'ERROR';
}

export interface RunResult {
  readonly sent: number;
  readonly indexed: number;
  /** Every package the server did not answer OK, in plan order. */
  readonly rejected: readonly Rejection[];
  readonly elapsedMs: number;
}

export interface RunOptions {
  readonly window: number;
  /** Called after each reply; cheap, the caller decides how often to draw. */
  readonly onProgress?: (done: number, total: number) => void;
}

export async function runImport(
  client: PkgIndexClient,
  order: readonly SourcePackage[],
  options: RunOptions,
): Promise<RunResult> {
  const started = performance.now();
  const replies: (Reply | undefined)[] = new Array<Reply | undefined>(order.length);
  let done = 0;
  await sendFrom(client, order, 0, options.window, (i, reply) => {
    replies[i] = reply;
    options.onProgress?.(++done, order.length);
  });
  return resultOf(order, replies, performance.now() - started);
}

/** Sends `order` from `from` on, pipelined; `onReply` gets each reply with its plan index. */
function sendFrom(
  client: PkgIndexClient,
  order: readonly SourcePackage[],
  from: number,
  window: number,
  onReply: (index: number, reply: Reply) => void,
): Promise<void> {
  return pipelined(
    client,
    from,
    order.length,
    window,
    (i) => ({ verb: Verb.INDEX, name: order[i]!.name, deps: [...new Set(order[i]!.deps)] }),
    onReply,
  );
}

/**
 * Sends `command(i)` for each i in [from, to), at most `window` awaiting a reply; `onReply`
 * gets each reply with its i, in order. Replies come back in order, so waiting for the oldest
 * one keeps `window` lines in flight. Each promise handles its own rejection; the first
 * failure is rethrown once awaited.
 */
async function pipelined(
  client: PkgIndexClient,
  from: number,
  to: number,
  window: number,
  command: (i: number) => Command,
  onReply: (i: number, reply: Reply) => void,
): Promise<void> {
  const inFlight = new Fifo<Promise<void>>();
  const failures: unknown[] = [];
  for (let i = from; i < to; i++) {
    inFlight.push(
      client.send(command(i)).then(
        (reply) => {
          onReply(i, reply);
        },
        (error: unknown) => {
          failures.push(error);
        },
      ),
    );
    if (inFlight.length >= window) await inFlight.shift();
    if (failures.length > 0) throw failures[0];
  }
  await Promise.all(inFlight.drain());
  if (failures.length > 0) throw failures[0];
}

function resultOf(
  order: readonly SourcePackage[],
  replies: readonly (Reply | undefined)[],
  elapsedMs: number,
): RunResult {
  const rejected: Rejection[] = [];
  let indexed = 0;
  replies.forEach((reply, i) => {
    if (reply === Reply.OK) indexed++;
    else if (reply !== undefined)
      rejected.push({ name: order[i]!.name, reply: reply === Reply.FAIL ? 'FAIL' : 'ERROR' });
  });
  return { sent: order.length, indexed, rejected, elapsedMs };
}

export interface ResumableOptions extends RunOptions {
  /** Opens a new connection (rejects with E_CONNECT when it cannot). */
  readonly connect: () => Promise<PkgIndexClient>;
  /** Reconnections allowed after a lost connection, in a row (reset by progress). */
  readonly retries: number;
  readonly backoff: BackoffOptions;
  /** Told before each wait, with the error that caused it. */
  readonly onRetry?: (attempt: number, delayMs: number, cause: PkgIndexError) => void;
}

/** Errors after which the connection is gone but the server may well come back. */
const RETRYABLE = ['E_CONNECT', 'E_CONNECTION_CLOSED', 'E_REPLY_LOST', 'E_REPLY_TIMEOUT'] as const;

/**
 * runImport that survives lost connections and server restarts: after a lost connection it
 * waits (exponential backoff, full jitter), reconnects, asks the server with pipelined QUERY
 * lines which packages of the plan it holds, and resends from the first it does not. Safe
 * because INDEX is idempotent in effect: a package sent twice with the same dependencies ends
 * as if sent once, and the plan's order keeps dependencies first. Gives up after `retries`
 * failed attempts in a row, rethrowing the last error.
 */
export async function runImportResumable(
  order: readonly SourcePackage[],
  options: ResumableOptions,
): Promise<RunResult & { readonly reconnects: number }> {
  const started = performance.now();
  const replies: (Reply | undefined)[] = new Array<Reply | undefined>(order.length);
  let answered = 0;
  let from = 0;
  let failedInARow = 0;
  let reconnects = 0;
  for (;;) {
    let client: PkgIndexClient | null = null;
    try {
      client = await options.connect();
      if (reconnects > 0) from = await firstMissing(client, order, from, options.window);
      failedInARow = 0;
      await sendFrom(client, order, from, options.window, (i, reply) => {
        if (replies[i] === undefined) answered++;
        replies[i] = reply;
        from = Math.max(from, i + 1);
        options.onProgress?.(answered, order.length);
      });
      await client.close();
      return { ...resultOf(order, replies, performance.now() - started), reconnects };
    } catch (err) {
      client?.destroy();
      if (!isPkgIndexError(err, ...RETRYABLE) || failedInARow >= options.retries) throw err;
      const delayMs = backoffDelayMs(failedInARow, options.backoff);
      options.onRetry?.(failedInARow + 1, delayMs, err);
      failedInARow++;
      reconnects++;
      await sleep(delayMs);
    }
  }
}

/**
 * The first package at or before `upTo` the server does not hold (QUERY FAIL), or `upTo`: where
 * to resume. Answered packages are checked too, since a server restored from a backup or run
 * with --sync-mode relaxed through a power loss may have lost some; one pass of pipelined QUERY.
 */
async function firstMissing(
  client: PkgIndexClient,
  order: readonly SourcePackage[],
  upTo: number,
  window: number,
): Promise<number> {
  let missing = upTo;
  await pipelined(
    client,
    0,
    upTo,
    window,
    (i) => ({ verb: Verb.QUERY, name: order[i]!.name }),
    (i, reply) => {
      if (reply !== Reply.OK) missing = Math.min(missing, i);
    },
  );
  return missing;
}

/**
 * Which of `names` the server holds: one pipelined QUERY per name, at most `window` awaiting a
 * reply. Before planning, for the dependencies the source does not define (plan.ts
 * `undefinedNames`), so that a repository can be layered on one the server already holds.
 */
export async function queryIndexed(
  client: PkgIndexClient,
  names: readonly string[],
  window: number,
): Promise<Set<string>> {
  const held = new Set<string>();
  await pipelined(
    client,
    0,
    names.length,
    window,
    (i) => ({ verb: Verb.QUERY, name: names[i]! }),
    (i, reply) => {
      if (reply === Reply.OK) held.add(names[i]!);
    },
  );
  return held;
}

/**
 * `queryIndexed` that survives lost connections and server restarts as `runImportResumable`
 * does (same retries and backoff): QUERY changes nothing, so after a reconnection the names
 * are simply asked again.
 */
export async function queryIndexedResumable(
  names: readonly string[],
  options: Omit<ResumableOptions, 'onProgress'>,
): Promise<Set<string>> {
  for (let failedInARow = 0; ; failedInARow++) {
    let client: PkgIndexClient | null = null;
    try {
      client = await options.connect();
      const held = await queryIndexed(client, names, options.window);
      await client.close();
      return held;
    } catch (err) {
      client?.destroy();
      if (!isPkgIndexError(err, ...RETRYABLE) || failedInARow >= options.retries) throw err;
      const delayMs = backoffDelayMs(failedInARow, options.backoff);
      options.onRetry?.(failedInARow + 1, delayMs, err);
      await sleep(delayMs);
    }
  }
}
