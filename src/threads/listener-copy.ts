import { fork } from 'node:child_process';
import { createError } from '../errors.js';

const HELPER = new URL('./listener-copy-helper.js', import.meta.url);
const TIMEOUT_MS = 20_000;

/**
 * A handle of this thread's own on the listening socket whose descriptor is `fd` (the main
 * thread's): a child process inherits the descriptor and sends it back (see
 * listener-copy-helper.ts), so it arrives as a new descriptor owned by this thread's event
 * loop. Node 20 has neither dup(2) nor SO_REUSEPORT, and listening on the main thread's
 * descriptor itself would leave several threads closing the same number, the second
 * closing whatever file was given that number in between. Rejects (E_THREAD) if the child
 * fails or sends something else.
 */
export function copyListener(fd: number): Promise<object> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const child = fork(HELPER, [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', fd],
      // Not the parent's flags (an inspector port, a loader): the helper needs none.
      execArgv: [],
      serialization: 'json',
    });
    const done = (err: Error | null, handle?: object): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== null) {
        child.kill();
        reject(err);
      } else resolve(handle!);
    };
    const timer = setTimeout(() => {
      done(createError('E_THREAD', `the listener copy helper did not answer within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.once('message', (message: unknown, handle: unknown) => {
      if (message === 'listener' && typeof handle === 'object' && handle !== null) done(null, handle);
      else done(createError('E_THREAD', 'the listener copy helper sent no socket handle'));
    });
    child.once('error', (err) => {
      done(createError('E_THREAD', `cannot start the listener copy helper: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code) => {
      done(
        createError(
          'E_THREAD',
          `the listener copy helper exited (${code}) before sending the socket: ${stderr.trim()}`,
        ),
      );
    });
  });
}
