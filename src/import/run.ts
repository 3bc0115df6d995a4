/**
 * Sends a plan to a server: `INDEX` lines in plan order over one connection (the server
 * answers a connection's lines in order, so a dependency is indexed before its dependents
 * are read), pipelined with at most `window` lines unanswered.
 */
import type { PkgIndexClient } from '../client/client.js';
import { Fifo } from '../client/fifo.js';
import { Verb } from '../protocol/command.js';
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
  const rejected: Rejection[] = [];
  let indexed = 0;
  let done = 0;
  const record = (pkg: SourcePackage, reply: Reply): void => {
    if (reply === Reply.OK) indexed++;
    else rejected.push({ name: pkg.name, reply: reply === Reply.FAIL ? 'FAIL' : 'ERROR' });
    options.onProgress?.(++done, order.length);
  };
  // Replies come back in order, so waiting for the oldest one keeps `window` lines in flight.
  // Each promise handles its own rejection; the first failure is rethrown once awaited.
  const inFlight = new Fifo<Promise<void>>();
  const failures: unknown[] = [];
  for (const pkg of order) {
    const deps = [...new Set(pkg.deps)];
    inFlight.push(
      client.send({ verb: Verb.INDEX, name: pkg.name, deps }).then(
        (reply) => {
          record(pkg, reply);
        },
        (error: unknown) => {
          failures.push(error);
        },
      ),
    );
    if (inFlight.length >= options.window) await inFlight.shift();
    if (failures.length > 0) throw failures[0];
  }
  await Promise.all(inFlight.drain());
  if (failures.length > 0) throw failures[0];
  return { sent: order.length, indexed, rejected, elapsedMs: performance.now() - started };
}
