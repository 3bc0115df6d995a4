/** The real `pkgindex` binary run to completion, for end-to-end tests (servers: spawnServer). */
import { spawn } from 'node:child_process';
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
  /** Writes `line` and a newline to its stdin. */
  send(line: string): void;
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

export function startCli(args: readonly string[]): CliSession {
  const child = spawn(process.execPath, [CLI, ...args]);
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
      child.stdin.write(`${line}\n`);
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
