/**
 * `measure attack <name>`: a hostile client against one server build while a request/response
 * victim measures its QUERY latency (issue 12, docs/reliability.md "Hostile clients").
 *
 *   node dist/tools/measure.js attack chain-300k --cli /work/baseline/dist/src/cli/main.js
 *
 * Prints the victim's p50, p99 and max during the attack, and what the attacker got; beside
 * them, what the server's event loop and GC did in the same window (loop-probe.ts, loaded into
 * the server with --import), and the victim's own GC, so that a slow query can be blamed on
 * the right process. The victim warms up (JIT, first GCs) before it measures.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { freePort } from '../support/child-server.js';
import { ToolError, ToolUsageError } from '../support/errors.js';
import { intOption, parseToolArgs, splitArgs } from '../support/options.js';
import { cliPath } from '../support/paths.js';
import { LoopProbe, type ProbeFigures } from './loop-probe.js';

export const usage = `Usage: node dist/tools/measure.js attack <name> [--cli PATH] [--seconds 10] [--serve=ARGS]

  <name>        chain-1m     1,000,000-package chain, then 1,000 x INDEX|q0|q999999 in one write
                chain-300k   300,000-package chain, then 200 such lines in one write
                pipeline     8 clients pipelining QUERY lines without pause
                conn-flood   4 loops opening connections as fast as they can (--max-connections 200)
                slowloris    1,000 connections each sending one byte a second, never a newline
  --cli PATH    the pkgindex CLI to attack (default: this build; the baseline is
                /work/baseline/dist/src/cli/main.js)
  --seconds N   how long the victim measures during the attack (default 10)
  --serve=ARGS  extra \`pkgindex serve\` arguments, as one string`;

const ATTACKS = ['chain-1m', 'chain-300k', 'pipeline', 'conn-flood', 'slowloris'] as const;
type Attack = (typeof ATTACKS)[number];

/** Reads reply lines from a socket: counts them, and wakes whoever waits for a number. */
class Replies {
  count = 0;
  #wanted = Infinity;
  #wake: (() => void) | null = null;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.count++;
      if (this.count >= this.#wanted) this.#wake?.();
    });
  }

  until(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    this.#wanted = n;
    return new Promise((resolve) => (this.#wake = resolve));
  }
}

async function open(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

async function loadChain(port: number, n: number): Promise<void> {
  const socket = await open(port);
  const replies = new Replies(socket);
  const batch = 50_000;
  for (let from = 0; from < n; from += batch) {
    let text = '';
    for (let i = from; i < Math.min(n, from + batch); i++)
      text += i === 0 ? 'INDEX|q0|\n' : `INDEX|q${i}|q${i - 1}\n`;
    if (!socket.write(text)) await once(socket, 'drain');
    await replies.until(Math.min(n, from + batch) - batch / 2);
  }
  await replies.until(n);
  socket.destroy();
}

interface VictimFigures {
  readonly queries: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** When the slowest query was sent, in ms from the start of the window. */
  readonly maxAt: number;
  /** The victim process's own event loop and GC during the window. */
  readonly own: ProbeFigures;
}

/** How long the victim queries before it measures: its JIT and first collections. */
const WARM_UP_MS = 500;

/**
 * QUERY, wait for the reply, again, until `stop` resolves (due at `endsAt`, a
 * `performance.now()` time); latencies in ms.
 */
async function victim(
  socket: Socket,
  replies: Replies,
  stop: Promise<void>,
  endsAt: number,
  probe: LoopProbe,
): Promise<VictimFigures> {
  const state = { done: false };
  void stop.then(() => (state.done = true));
  // Preallocated: the victim's own allocations are what its GC pauses (which would count as
  // the server's latency) are made of.
  let samples = new Float64Array(1 << 20);
  let count = 0;
  const started = performance.now();
  probe.reset();
  let max = 0;
  let maxAt = 0;
  for (let n = replies.count + 1; !state.done; n++) {
    const t0 = performance.now();
    if (t0 >= endsAt) break;
    socket.write('QUERY|q0|\n');
    await Promise.race([replies.until(n), stop]);
    // A query still waiting when the window closes counts with the time it waited until the
    // window's end was due, not until this process's timer fired (which runs late by this
    // process's own stalls: measured up to 20-70 ms under a connection flood, always on the
    // last query, which then was the attack's "max").
    const ms = Math.min(performance.now(), endsAt) - t0;
    if (count === samples.length) {
      const grown = new Float64Array(count * 2);
      grown.set(samples);
      samples = grown;
    }
    samples[count++] = ms;
    if (ms > max) [max, maxAt] = [ms, t0 - started];
  }
  const own = probe.figures();
  socket.destroy();
  const sorted = samples.subarray(0, count).sort();
  const at = (q: number): number => sorted[Math.min(count - 1, Math.floor(q * count))] ?? 0;
  return { queries: count, p50: at(0.5), p99: at(0.99), max, maxAt, own };
}

/** Queries for `ms`, unmeasured: the victim's code is compiled and its heap settled. */
async function warmUp(socket: Socket, replies: Replies, ms: number): Promise<void> {
  const until = performance.now() + ms;
  for (let n = replies.count + 1; performance.now() < until; n++) {
    socket.write('QUERY|q0|\n');
    await replies.until(n);
  }
}

/** Starts the attack; returns a function that stops it and says what the attacker got. */
async function attack(name: Attack, port: number): Promise<() => string> {
  switch (name) {
    case 'chain-1m':
    case 'chain-300k': {
      const [n, lines] = name === 'chain-1m' ? [1_000_000, 1000] : [300_000, 200];
      const socket = await open(port);
      const replies = new Replies(socket);
      socket.write(`INDEX|q0|q${n - 1}\n`.repeat(lines));
      return () => {
        socket.destroy();
        return `attacker: ${replies.count} of ${lines} lines answered`;
      };
    }
    case 'pipeline': {
      const block = Buffer.from('QUERY|q0|\n'.repeat(6000));
      const run = { stopped: false };
      const sockets = await Promise.all(Array.from({ length: 8 }, () => open(port)));
      const counters = sockets.map((s) => new Replies(s));
      for (const s of sockets)
        void (async () => {
          while (!run.stopped && !s.destroyed)
            if (!s.write(block)) await once(s, 'drain').catch(() => undefined);
        })();
      return () => {
        run.stopped = true;
        for (const s of sockets) s.destroy();
        return `attacker: ${counters.reduce((n, c) => n + c.count, 0)} replies`;
      };
    }
    case 'conn-flood': {
      let stopped = false;
      let opened = 0;
      const held: Socket[] = [];
      const loop = async (): Promise<void> => {
        while (!stopped) {
          const socket = connect({ port, host: '127.0.0.1' });
          socket.on('error', () => undefined);
          await Promise.race([once(socket, 'connect'), once(socket, 'close')]).catch(() => undefined);
          opened++;
          // Keep the first ones open so that the server is at --max-connections; drop the rest.
          if (held.length < 400) held.push(socket);
          else socket.destroy();
        }
      };
      for (let i = 0; i < 4; i++) void loop();
      return () => {
        stopped = true;
        for (const s of held) s.destroy();
        return `attacker: ${opened} connections opened`;
      };
    }
    case 'slowloris': {
      const sockets: Socket[] = [];
      for (let i = 0; i < 1000; i++) sockets.push(await open(port));
      const timer = setInterval(() => {
        for (const s of sockets) s.write('x');
      }, 1000);
      return () => {
        clearInterval(timer);
        for (const s of sockets) s.destroy();
        return `attacker: ${sockets.length} slow connections`;
      };
    }
  }
}

/**
 * The victim runs in a process of its own: in the attacker's, its latency would be the
 * attacker's event loop's (8 pipelining clients keep one busy).
 */
async function victimProcess(
  port: number,
  seconds: number,
  server: ServerProbe,
  start: () => Promise<void> = () => Promise.resolve(),
): Promise<VictimFigures & { readonly server: ProbeFigures }> {
  const measure = fileURLToPath(new URL('../measure.js', import.meta.url));
  const args = [measure, 'attack', 'victim', '--port', String(port), '--seconds', String(seconds)];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  // The victim connects first (a connection flood must not keep it out), then says so.
  while (!out.includes('connected\n')) await once(child.stdout, 'data');
  await start();
  server.reset();
  child.stdin.end('go\n');
  await once(child, 'close');
  const serverFigures = await server.report();
  return { ...(JSON.parse(out.slice(out.indexOf('\n') + 1)) as VictimFigures), server: serverFigures };
}

/** The server's loop-probe.ts, over the IPC channel. */
interface ServerProbe {
  reset(): void;
  report(): Promise<ProbeFigures>;
}

function serverProbe(child: ReturnType<typeof spawn>): ServerProbe {
  return {
    reset: () => child.send('probe:reset'),
    report: async () => {
      const reply = once(child, 'message');
      child.send('probe:report');
      const [message] = (await reply) as [{ probe: ProbeFigures }];
      return message.probe;
    },
  };
}

function describe(label: string, v: VictimFigures & { readonly server: ProbeFigures }): string[] {
  const f = (ms: number): string => ms.toFixed(2);
  const s = v.server;
  return [
    `${label}: ${v.queries} queries, p50 ${f(v.p50)} ms, p99 ${f(v.p99)} ms, max ${f(v.max)} ms (sent at ${(v.maxAt / 1000).toFixed(2)} s)`,
    `  server meanwhile: event loop busy ${(s.busy * 100).toFixed(0)} %, 1 ms timer late by p99 ${f(s.loopP99)} ms, max ${f(s.loopMax)} ms; ${s.gcCount} GCs, longest ${f(s.gcMax)} ms (${s.gcMaxKind || 'none'}), total ${f(s.gcTotal)} ms`,
    `  victim's own process: 1 ms timer late by max ${f(v.own.loopMax)} ms; ${v.own.gcCount} GCs, longest ${f(v.own.gcMax)} ms (${v.own.gcMaxKind || 'none'})`,
  ];
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'victim') {
    const { values } = parseToolArgs(
      argv.slice(1),
      { port: { type: 'string' }, seconds: { type: 'string' } },
      usage,
    );
    const seconds = intOption('--seconds', values.seconds, 10);
    const probe = new LoopProbe();
    const socket = await open(intOption('--port', values.port, 0));
    const replies = new Replies(socket);
    await warmUp(socket, replies, WARM_UP_MS);
    console.log('connected');
    process.stdin.resume();
    await once(process.stdin, 'data');
    const endsAt = performance.now() + seconds * 1000;
    const window = new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
    console.log(JSON.stringify(await victim(socket, replies, window, endsAt, probe)));
    probe.stop();
    return 0;
  }
  const name = argv[0] as Attack | undefined;
  if (name === undefined || !ATTACKS.includes(name))
    throw new ToolUsageError(`name an attack: ${ATTACKS.join(', ')}\n\n${usage}`);
  const { values } = parseToolArgs(
    argv.slice(1),
    { cli: { type: 'string' }, seconds: { type: 'string' }, serve: { type: 'string' } },
    usage,
  );
  const cli = values.cli ?? cliPath();
  const seconds = intOption('--seconds', values.seconds, 10);
  const port = await freePort();
  const extra = [
    ...(name === 'conn-flood' ? ['--max-connections', '200'] : []),
    ...splitArgs(values.serve ?? ''),
  ];
  const probeModule = fileURLToPath(new URL('./loop-probe.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      '--max-old-space-size=4096',
      '--import',
      probeModule,
      cli,
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--storage',
      'memory',
      '--admin=false',
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, PKGINDEX_LOOP_PROBE: '1' } },
  );
  const probe = serverProbe(child);
  let logBytes = 0;
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (logBytes += b.length));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect({ port, host: '127.0.0.1' }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => {
          resolve(false);
        });
      });
      if (ok) break;
      if (i > 300 || child.exitCode !== null) throw new ToolError(`server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const chain = name === 'chain-1m' ? 1_000_000 : name === 'chain-300k' ? 300_000 : 1;
    await loadChain(port, chain);
    // The same victim without an attack first: what this (shared, noisy) machine gives it.
    const reference = await victimProcess(port, 3, probe);
    let stop: () => string = () => '';
    let logBefore = 0;
    const figures = await victimProcess(port, seconds, probe, async () => {
      stop = await attack(name, port);
      logBefore = logBytes;
    });
    const attacker = stop();
    console.log(
      `attack ${name} against ${cli} (${seconds} s, victim request/response QUERY, after ${WARM_UP_MS} ms of warm-up)`,
    );
    for (const line of describe('victim', figures)) console.log(line);
    for (const line of describe('reference, same server before the attack (3 s)', reference))
      console.log(line);
    console.log(attacker);
    console.log(
      `server log during the attack: ${((logBytes - logBefore) / seconds / 1024).toFixed(1)} KiB/s (--log-level warn)`,
    );
  } finally {
    child.kill('SIGKILL');
  }
  return 0;
}
