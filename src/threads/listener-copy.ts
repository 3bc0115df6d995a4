import { fork } from 'node:child_process';
import { createError } from '../errors.js';

const HELPER = new URL('./listener-copy-helper.js', import.meta.url);
const TIMEOUT_MS = 20_000;

/**
 * `count` handles of this thread's own on the listening socket whose descriptor is `fd` (the
 * main thread's): a child process inherits the descriptor and sends it back `count` times
 * (see listener-copy-helper.ts), so each arrives as a new descriptor owned by this thread's
 * event loop. Node 20 has neither dup(2) nor SO_REUSEPORT, and listening on the main thread's
 * descriptor itself would leave several threads closing the same number, the second
 * closing whatever file was given that number in between. Resolves once the child has exited,
 * so that no other process holds the socket; rejects (E_THREAD) if the child fails or sends
 * something else.
 */
export function copyListeners(fd: number, count: number): Promise<object[]> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const handles: object[] = [];
    const child = fork(HELPER, [String(count)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', fd],
      // Not the parent's flags (an inspector port, a loader): the helper needs none.
      execArgv: [],
      serialization: 'json',
    });
    const done = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== null) {
        child.kill();
        for (const handle of handles) (handle as { close?: () => void }).close?.();
        reject(err);
      } else resolve(handles);
    };
    const timer = setTimeout(() => {
      done(createError('E_THREAD', `the listener copy helper did not answer within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.on('message', (message: unknown, handle: unknown) => {
      if (message !== 'listener' || typeof handle !== 'object' || handle === null)
        done(createError('E_THREAD', 'the listener copy helper sent no socket handle'));
      else handles.push(handle);
    });
    child.once('error', (err) => {
      done(createError('E_THREAD', `cannot start the listener copy helper: ${err.message}`, { cause: err }));
    });
    // Only once the helper has exited: until then it holds the socket too, and a server closed
    // meanwhile would still complete connections into the backlog of a socket nobody accepts on.
    child.once('close', (code) => {
      if (code === 0 && handles.length === count) done(null);
      else
        done(
          createError(
            'E_THREAD',
            `the listener copy helper exited (${code}) having sent ${handles.length} of ${count} copies of the socket: ${stderr.trim()}`,
          ),
        );
    });
  });
}
