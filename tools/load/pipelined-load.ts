/**
 * The small, bounded load generator that `measure observability` was first measured with
 * (before `pkgindex bench` existed), kept so that its figures stay reproducible: N connections,
 * each keeping up to DEPTH commands in flight (DEPTH 1 = request/response), for a fixed time.
 *
 * Workload: each connection works on its own packages, cycling through INDEX (no
 * dependencies), QUERY, INDEX with a dependency on the previous package, QUERY. Every reply
 * is OK once the first pass is done; an ERROR reply is counted and reported.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadOptions {
  readonly host?: string;
  readonly port: number;
  readonly connections: number;
  readonly depth: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly packages?: number;
  /** Called when counting starts and when it stops (for the server's CPU time around it). */
  readonly onStart?: () => void;
  readonly onStop?: () => void;
}

export interface LoadResult {
  readonly repliesPerSecond: number;
  readonly replies: number;
  readonly errors: number;
  readonly seconds: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const packages = o.packages ?? 1000;
  let counting = false;
  let replies = 0;
  let errors = 0;
  const stops: (() => void)[] = [];
  const done: Promise<void>[] = [];
  for (let c = 0; c < o.connections; c++) {
    const lines: string[] = [];
    for (let i = 0; i < packages; i++) {
      const name = `c${c}p${i}`;
      lines.push(`INDEX|${name}|\n`, `QUERY|${name}|\n`);
      if (i > 0) lines.push(`INDEX|${name}|c${c}p${i - 1}\n`, `QUERY|c${c}p${i - 1}|\n`);
    }
    const socket: Socket = connect({ host: o.host ?? '127.0.0.1', port: o.port });
    socket.setNoDelay(true);
    let next = 0;
    let inFlight = 0;
    let stopped = false;
    const fill = (): void => {
      if (stopped) return;
      let out = '';
      while (inFlight < o.depth) {
        out += lines[next]!;
        next = (next + 1) % lines.length;
        inFlight++;
      }
      if (out !== '') socket.write(out);
    };
    done.push(
      new Promise((resolve, reject) => {
        socket.on('connect', fill);
        socket.on('error', reject);
        socket.on('close', () => {
          resolve();
        });
        let carry = 0; // bytes of a reply split across chunks don't matter: count newlines
        socket.on('data', (chunk: Buffer) => {
          let n = 0;
          for (const b of chunk) {
            if (b === 0x0a) n++;
            else if (b === 0x45 && carry === 0) errors += counting ? 1 : 0; // 'E' starts ERROR
            carry = b === 0x0a ? 0 : carry + 1;
          }
          inFlight -= n;
          if (counting) replies += n;
          fill();
        });
      }),
    );
    stops.push(() => {
      stopped = true;
      socket.end();
    });
  }
  await sleep(o.warmup * 1000);
  counting = true;
  o.onStart?.();
  const startedAt = process.hrtime.bigint();
  await sleep(o.seconds * 1000);
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
  o.onStop?.();
  for (const stop of stops) stop();
  await Promise.all(done);
  return { repliesPerSecond: replies / elapsed, replies, errors, seconds: elapsed };
}
