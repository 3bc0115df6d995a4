import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { ServerMetrics } from '../../src/observability/metrics.js';
import type { PkgIndexConfig } from '../../src/root.js';
import type { IndexServer } from '../../src/server/server.js';
import type { ServerStats } from '../../src/server/stats.js';
import type { IndexStore } from '../../src/store/store.js';
import { coverageEnv } from '../support/coverage-env.js';
import { startServer } from '../support/servers.js';
import { until as waitUntil } from '../support/until.js';
import { LineClient } from '../support/line-client.js';

/** A JSON log event as the server writes it. */
export type LogEvent = Record<string, unknown> & { level: number; msg: string };

/** A logger whose events are kept in memory, parsed. */
export function memoryLogger(level = 'info'): { log: Logger; events: LogEvent[] } {
  const events: LogEvent[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') events.push(JSON.parse(line) as LogEvent);
      done();
    },
  });
  return { log: pino({ level }, sink), events };
}

export interface InProcess {
  readonly server: IndexServer;
  readonly metrics: ServerMetrics;
  readonly store: IndexStore;
  readonly port: number;
  readonly adminPort: number;
  readonly events: LogEvent[];
  /** Closes the admin server alone (close() does it too, after the protocol server). */
  closeAdmin(): Promise<void>;
  /** The protocol counters of every thread (a socket thread's as of its last report). */
  stats(): Promise<ServerStats>;
  /** The routes the admin server serves, by method and path. */
  adminRoutes(): { method: string; path: string }[];
  close(): Promise<void>;
}

/** A server with its admin server in this process, both on port 0 of loopback (startServer). */
export async function startInProcess(
  options: {
    store?: IndexStore;
    token?: string | null;
    logLevel?: string;
    config?: Partial<PkgIndexConfig>;
  } = {},
): Promise<InProcess> {
  const { log, events } = memoryLogger(options.logLevel);
  const s = await startServer(
    {
      admin: true,
      adminHost: '127.0.0.1',
      adminPort: 0,
      maxConnections: 100,
      maxLineBytes: 1024,
      shutdownTimeoutMs: 1000,
      ...options.config,
    },
    { log, version: 'test', adminToken: options.token ?? null, store: options.store },
  );
  const { pkgindex } = s;
  return {
    server: s.server,
    metrics: pkgindex.metrics!,
    store: s.store,
    port: s.port,
    adminPort: pkgindex.addresses!.admin!.port,
    events,
    closeAdmin: () => pkgindex.admin!.close(),
    adminRoutes: () => pkgindex.admin!.routes(),
    stats: () => s.stats(),
    close: () => s.close(),
  };
}

/** Sends `lines` on a new connection and resolves with the replies, once all have come. */
export async function exchange(port: number, lines: readonly string[]): Promise<string[]> {
  const client = await LineClient.open(port);
  try {
    return await client.request(...lines);
  } finally {
    client.socket.end();
  }
}

/** A raw socket to a port (for HTTP requests written by hand). */
export function openClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves once `condition` holds (see test/support/until.ts). */
export function until(condition: () => boolean, what = 'the condition'): Promise<void> {
  return waitUntil(what, condition);
}

/** GET on the admin port. */
export async function get(
  adminPort: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(`http://127.0.0.1:${adminPort}${path}`, { headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The value of one sample in a Prometheus text exposition, e.g. `name{a="b"}`; undefined if absent. */
export function sample(exposition: string, series: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (line.slice(0, space) === series) return Number(line.slice(space + 1));
  }
  return undefined;
}

/** Every sample name in an exposition (histograms give their _bucket/_sum/_count). */
export function sampleNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m !== null) names.add(m[1]!);
  }
  return names;
}

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  readonly events: LogEvent[];
  /** Everything written to stdout, unparsed. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first event (already logged or to come) that matches. */
  waitFor(match: (e: LogEvent) => boolean): Promise<LogEvent>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Runs `pkgindex serve` in a child process; every stdout line must be a JSON event. */
export function spawnServe(args: readonly string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], {
    // In memory unless a test asks for disk: the default (disk in ./data) would share one dir.
    env: { PATH: process.env.PATH ?? '', PKGINDEX_STORAGE: 'memory', ...coverageEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: LogEvent[] = [];
  let out = '';
  let err = '';
  let partial = '';
  const waiters: { match: (e: LogEvent) => boolean; resolve: (e: LogEvent) => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const event = JSON.parse(line) as LogEvent;
      events.push(event);
      for (let i = waiters.length - 1; i >= 0; i--)
        if (waiters[i]!.match(event)) waiters.splice(i, 1)[0]!.resolve(event);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      resolve(code);
    }),
  );
  return {
    process: child,
    events,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(match) {
      const found = events.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then((code) => {
          reject(new Error(`server exited (${code}) first; stderr: ${err}`));
        });
      });
    },
  };
}

/** Starts `pkgindex serve` on free ports and waits until both listeners are up. */
export async function startChild(
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<Child & { port: number; adminPort: number }> {
  const child = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', ...args], env);
  const admin = await child.waitFor((e) => e.msg === 'admin listening');
  const listening = await child.waitFor((e) => e.msg === 'listening');
  return Object.assign(child, { port: listening.port as number, adminPort: admin.port as number });
}

/** SIGTERM, then wait for the exit code. */
export async function stopChild(child: Child): Promise<number | null> {
  if (child.process.exitCode === null) child.process.kill('SIGTERM');
  return child.exited;
}
