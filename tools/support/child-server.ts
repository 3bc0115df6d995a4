/**
 * Servers under test, started as child processes and always stopped: the C ceiling and
 * pkgindex itself (any build, any flags, --quiet included: the command line is the caller's),
 * ready once their port accepts connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolError } from './errors.js';

/** A free TCP port on 127.0.0.1, for a child that must be told its port. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new ToolError('cannot find a free port');
  return address.port;
}

export interface ChildServer {
  readonly pid: number;
  readonly port: number;
  /** Everything the child wrote to stderr so far (its last 8 KiB), for error messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/**
 * Starts `command args…` and waits until `port` accepts connections. Rejects, having killed
 * the child, when it exits first or does not listen in time.
 */
export async function startServer(
  command: string,
  args: readonly string[],
  port: number,
  host = '127.0.0.1',
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-8192);
  });
  const state: { exited: string | null } = { exited: null };
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      state.exited = signal ?? `code ${String(code)}`;
      resolve();
    }),
  );
  child.once('error', (err) => (state.exited = err.message));
  const server: ChildServer = {
    pid: child.pid ?? -1,
    port,
    stderr: () => stderr,
    stop: () => stopChild(child, exit),
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (state.exited !== null) {
      await server.stop();
      throw new ToolError(
        `${command} ${args.join(' ')} exited (${state.exited}) before listening: ${stderr.trim()}`,
      );
    }
    if (await canConnect(host, port)) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new ToolError(`${command} did not listen on ${host}:${port} within ${READY_TIMEOUT_MS} ms`);
    }
    await sleep(50);
  }
}

async function stopChild(child: ChildProcess, exit: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exit;
  clearTimeout(timer);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}
