import type { Server } from 'node:net';

/**
 * The file descriptor of a listening server's socket, so that other threads can be given a
 * duplicate of it (see src/threads/). Node keeps it on the server's private `_handle`, so
 * this checks what it finds and answers null when this Node does not have it there: the
 * caller then serves on one thread.
 */
export function listenerFd(server: Server): number | null {
  const handle: unknown = (server as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== 'object' || handle === null) return null;
  const fd = (handle as { fd?: unknown }).fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd > 2 ? fd : null;
}
