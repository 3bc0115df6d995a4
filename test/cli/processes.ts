/** The real `pkgindex` binary run to completion, for end-to-end tests (servers: spawnServer). */
import { spawn, spawnSync } from 'node:child_process';
import { CLI } from '../support/servers.js';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `pkgindex ARGS` to completion, with `input` on stdin; killed after `timeoutMs`. */
export function runCli(
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: options.env ?? process.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** A running `pkgindex` fed stdin line by line, for conversations (interactive mode). */
export interface CliSession {
  /** Writes `line` and a newline (on a terminal: Enter) to its stdin. */
  send(line: string): void;
  /** Writes `text` as is: keys on a terminal (`\x03` is Ctrl-C, `\x04` Ctrl-D). */
  write(text: string): void;
  /** Resolves once stdout (or stderr) has `count` matches of `pattern`; rejects after `timeoutMs`. */
  waitFor(
    stream: 'stdout' | 'stderr',
    pattern: RegExp,
    options?: { count?: number; timeoutMs?: number },
  ): Promise<void>;
  stdout(): string;
  stderr(): string;
  /** Closes stdin (EOF) and resolves with the exit code once it has exited. */
  end(): Promise<number | null>;
  /** Resolves with the exit code once it has exited (SIGKILLed if still running after 30 s). */
  exited(): Promise<number | null>;
}

/**
 * Runs the command in a pseudo-terminal and relays bytes both ways, so that the CLI sees a real
 * TTY (raw mode, keys such as Ctrl-C as bytes); its stdout and stderr both arrive on stdout.
 * Python's pty module is used because Node has none without a native dependency.
 */
const PTY_RELAY = `
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
stdin = sys.stdin.fileno()
open_fds = [fd, stdin]
while fd in open_fds:
    ready, _, _ = select.select(open_fds, [], [])
    for source in ready:
        try:
            data = os.read(source, 65536)
        except OSError:  # EIO: the child exited and closed the terminal
            data = b''
        if not data:
            open_fds.remove(source)
        elif source == fd:
            os.write(1, data)
        else:
            os.write(fd, data)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

/** Why `startCli(..., { terminal: true })` cannot run here, or null when it can. */
export function terminalUnavailable(): string | null {
  const probe = spawnSync('python3', ['-c', 'import pty, select'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `python3 is not installed (${probe.error.message})`;
  return probe.status === 0 ? null : `python3 has no pty module: ${probe.stderr}`;
}

export function startCli(
  args: readonly string[],
  options: { terminal?: boolean; env?: NodeJS.ProcessEnv } = {},
): CliSession {
  const command = [process.execPath, CLI, ...args];
  const child =
    options.terminal === true
      ? spawn('python3', ['-c', PTY_RELAY, ...command], { env: options.env ?? process.env })
      : spawn(command[0]!, command.slice(1), { env: options.env ?? process.env });
  const enter = options.terminal === true ? '\r' : '\n';
  const out = { stdout: '', stderr: '' };
  const watchers = new Set<() => void>();
  const notify = (): void => {
    for (const check of watchers) check();
  };
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out.stdout += text;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    out.stderr += text;
    notify();
  });
  child.stdin.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return {
    send: (line) => {
      child.stdin.write(`${line}${enter}`);
    },
    write: (text) => {
      child.stdin.write(text);
    },
    waitFor: (stream, pattern, { count = 1, timeoutMs = 10_000 } = {}) =>
      new Promise((resolve, reject) => {
        const global = new RegExp(
          pattern.source,
          pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
        );
        const check = (): void => {
          if ((out[stream].match(global)?.length ?? 0) < count) return;
          watchers.delete(check);
          clearTimeout(giveUp);
          resolve();
        };
        const giveUp = setTimeout(() => {
          watchers.delete(check);
          reject(
            new Error(
              `no ${count}× ${String(pattern)} on ${stream} within ${timeoutMs} ms; stdout: ${JSON.stringify(out.stdout)}, stderr: ${JSON.stringify(out.stderr)}`,
            ),
          );
        }, timeoutMs);
        watchers.add(check);
        check();
      }),
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    end: () => {
      child.stdin.end();
      return exit;
    },
    exited: () => exit,
  };
}
