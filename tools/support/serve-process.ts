/**
 * `pkgindex serve` as a child process, as an operator runs it: for the tools that measure it
 * and the tests that must kill it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cliPath } from './paths.js';

/** The built CLI entry point, as a user runs it. */
export const CLI = cliPath();

export interface SpawnOptions {
  /** `--storage`; default memory: the CLI default (disk in ./data) would share one dir. */
  readonly storage?: 'memory' | 'disk' | 'postgres';
  /** `--data-dir`, when given. */
  readonly dataDir?: string;
  /** The admin HTTP server on a free port (default), or `--admin=false`. */
  readonly admin?: boolean;
  /** `--threads`, when given (else the CLI default: one per core). */
  readonly threads?: number;
  /** `--io`, when given (else the CLI default, auto: native where it is built). */
  readonly io?: 'auto' | 'node' | 'native';
  /** The CLI to run (default this build's), e.g. another build's to compare against. */
  readonly cli?: string;
  /** More `serve` arguments, after the ones above, so they can override them. */
  readonly args?: readonly string[];
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** A command that runs node, e.g. `['prlimit', '--nofile=100:100', '--']`. */
  readonly launcher?: readonly string[];
  /** Node's own options, before the CLI's path (e.g. `--single-threaded`). */
  readonly nodeArgs?: readonly string[];
  /** How long to wait for "listening" before killing it. Default 20 s. */
  readonly listenTimeoutMs?: number;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** The admin HTTP port; 0 with `admin: false`. */
  readonly adminPort: number;
  /** Every JSON log event the server printed so far. */
  readonly events: Record<string, unknown>[];
  /** stdout lines that were not JSON (there should be none). */
  readonly otherOutput: string[];
  readonly stderr: () => string;
  /** Sends a signal (unless already exited) and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  /** kill -9, and wait until the process is gone. */
  kill9(): Promise<void>;
  /** Resolves with the exit code (or signal name) once the process and its output are closed. */
  exited(): Promise<number | string>;
}

/**
 * Runs `pkgindex serve` as a child process on 127.0.0.1 and free ports, as an operator runs it,
 * and resolves once it logs "listening" (so the log level must include info). Rejects with its
 * exit code and stderr if it exits first, and kills it if it does not listen in time (20 s by default).
 */
export async function spawnServer(options: SpawnOptions = {}): Promise<ServerProcess> {
  const {
    storage = 'memory',
    dataDir,
    admin = true,
    threads,
    io,
    args = [],
    env = {},
    launcher = [],
    nodeArgs = [],
    cli = CLI,
  } = options;
  const listenTimeoutMs = options.listenTimeoutMs ?? 20_000;
  const child = spawn(
    launcher[0] ?? process.execPath,
    [
      ...(launcher.length > 0 ? [...launcher.slice(1), process.execPath] : []),
      ...nodeArgs,
      cli,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      // A free admin port: parallel tests must not all take the default 9090.
      ...(admin ? ['--admin-port', '0'] : ['--admin=false']),
      '--storage',
      storage,
      ...(dataDir === undefined ? [] : ['--data-dir', dataDir]),
      ...(threads === undefined ? [] : ['--threads', String(threads)]),
      ...(io === undefined ? [] : ['--io', io]),
      ...args,
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const events: Record<string, unknown>[] = [];
  const otherOutput: string[] = [];
  let stderr = '';
  let partial = '';
  let adminPort = 0;
  let onListening: ((port: number) => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        otherOutput.push(line);
        continue;
      }
      events.push(event);
      // The admin server listens before the store opens, so this comes before "listening".
      if (event.msg === 'admin listening' && typeof event.port === 'number') adminPort = event.port;
      if (event.msg === 'listening' && typeof event.port === 'number') onListening?.(event.port);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // 'close', not 'exit': by then every log event the server wrote is in `events`.
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (code, signal) => {
      resolve([code, signal]);
    }),
  );
  const exit = closed.then(([code, signal]) => (code ?? signal) as number | string);
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      onListening = resolve;
      child.once('error', reject);
      void closed.then(([code, signal]) => {
        reject(new Error(`server exited (code ${code}, signal ${signal}) before listening: ${stderr}`));
      });
      setTimeout(() => {
        reject(
          new Error(
            `server did not log "listening" within ${listenTimeoutMs / 1000} s (is the log level above info?): ${stderr}`,
          ),
        );
      }, listenTimeoutMs).unref();
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exit;
  };
  return {
    child,
    pid: child.pid!,
    port,
    adminPort,
    events,
    otherOutput,
    stderr: () => stderr,
    stop,
    kill9: async () => {
      await stop('SIGKILL');
    },
    exited: () => exit,
  };
}

/**
 * Peak and current resident memory of a process, in bytes, from /proc; `rssAnon` is the
 * anonymous part of `rss` (heaps, buffers: what the process itself allocated, not its mapped
 * code and files), the figure issue 13 budgets.
 */
export function memoryOf(pid: number): { rss: number; peak: number; rssAnon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(/(\d+)/.exec(status.split('\n').find((l) => l.startsWith(key)) ?? '0')![1]) * 1024;
  return { rss: kb('VmRSS:'), peak: kb('VmHWM:'), rssAnon: kb('RssAnon:') };
}

/**
 * The largest RssAnon of a process while it runs, sampled every `everyMs` (/proc keeps a peak
 * for the whole RSS, VmHWM, but none for its anonymous part). `stop` ends the sampling and
 * returns the peak seen, in bytes.
 */
export function sampleAnonPeak(pid: number, everyMs = 50): { stop(): number } {
  let peak = 0;
  const take = (): void => {
    try {
      peak = Math.max(peak, memoryOf(pid).rssAnon);
    } catch {
      // The process has exited: keep the peak seen.
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop(): number {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}
