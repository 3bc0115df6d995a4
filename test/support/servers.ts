import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { IndexServer, type IndexServerOptions } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { IndexStore } from '../../src/store/store.js';

/** The compiled CLI entry point, as a user runs it. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const TEST_LIMITS: IndexServerOptions = {
  host: '127.0.0.1',
  port: 0,
  maxLineBytes: 64 * 1024,
  maxConnections: 10_000,
  idleTimeoutMs: 0,
  outputHighWaterBytes: 64 * 1024,
  shutdownTimeoutMs: 5_000,
  sharedReadBuffer: true,
};

/** A real server on an ephemeral port, in this process. */
export async function startServer(
  options: Partial<IndexServerOptions> = {},
  store: IndexStore = new MemoryStore(),
): Promise<{ server: IndexServer; port: number; store: IndexStore; close: () => Promise<void> }> {
  await store.open();
  const server = new IndexServer(store, { ...TEST_LIMITS, ...options }, pino({ level: 'silent' }));
  const { port } = await server.listen();
  return {
    server,
    port,
    store,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every JSON log event the server printed so far. */
  readonly events: Record<string, unknown>[];
  /** stdout lines that were not JSON (there should be none). */
  readonly otherOutput: string[];
  readonly stderr: () => string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  exited(): Promise<number | string>;
}

/**
 * Runs `pkgindex serve --port 0 ...args` as a child process and waits for its "listening" event
 * (so the log level must include info).
 */
export async function spawnServer(
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', ...args],
    {
      // In memory unless a test asks for disk: the default (disk in ./data) would share one dir.
      env: { ...process.env, PKGINDEX_STORAGE: 'memory', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const events: Record<string, unknown>[] = [];
  const otherOutput: string[] = [];
  let stderr = '';
  let partial = '';
  let onListening: ((port: number) => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        events.push(event);
        if (event.msg === 'listening' && typeof event.port === 'number') onListening?.(event.port);
      } catch {
        otherOutput.push(line);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exit = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      onListening = resolve;
      void exit.then((code) => {
        reject(new Error(`server exited (${code}) before listening: ${stderr}`));
      });
      setTimeout(() => {
        reject(
          new Error(`server did not log "listening" within 10 s (is the log level above info?): ${stderr}`),
        );
      }, 10_000).unref();
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    child,
    port,
    events,
    otherOutput,
    stderr: () => stderr,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
    exited: () => exit,
  };
}

/** Peak and current resident memory of a process, in bytes, from /proc. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(/(\d+)/.exec(status.split('\n').find((l) => l.startsWith(key)) ?? '0')![1]) * 1024;
  return { rss: kb('VmRSS:'), peak: kb('VmHWM:') };
}
