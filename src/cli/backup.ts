import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { adminTokenFromEnv } from '../admin/auth.js';
import { option } from '../config/command-line.js';
import { text } from '../config/parsers.js';
import { createError } from '../errors.js';
import { ADMIN_OPTIONS, TOKEN_ENVIRONMENT } from './admin-connection.js';
import { defineCommand } from './command.js';

/**
 * `pkgindex backup --to FILE`: an online backup of a running server (POST /v1/backup on its
 * admin port), written to FILE.partial, synced, then renamed, so FILE is only ever a whole
 * backup. `pkgindex restore` checks and unpacks it.
 */
export const command = defineCommand({
  description: `Saves an online backup of a running server's data dir to FILE: a consistent cut of its
durable state (every mutation acknowledged before the backup started), taken without stopping
it, from POST /v1/backup on its admin port. Restore it with pkgindex restore.`,
  options: {
    ...ADMIN_OPTIONS,
    to: option({
      flag: '--to',
      value: 'FILE',
      default: '',
      help: 'Where to write the backup (required); written as FILE.partial, then renamed.',
      parse: text,
    }),
  },
  environment: TOKEN_ENVIRONMENT,
  epilogue: 'Exit status: 0 saved, 2 not saved (the reason on stderr).',
  run: async ({ adminHost, adminPort, to }) => {
    if (to === '') throw createError('E_USAGE', 'pass --to FILE: where to write the backup');
    const base = `http://${adminHost.includes(':') ? `[${adminHost}]` : adminHost}:${adminPort}`;
    const token = adminTokenFromEnv(process.env);
    let response: Response;
    try {
      response = await fetch(`${base}/v1/backup`, {
        method: 'POST',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
    } catch (err) {
      throw createError(
        'E_CONNECT',
        `cannot reach the admin port at ${base} (${err instanceof Error ? err.message : String(err)}); pass --admin-host and --admin-port`,
        { cause: err },
      );
    }
    if (!response.ok || response.body === null) throw await answerError(response);
    const partial = `${to}.partial`;
    const destination = createWriteStream(partial, { flags: 'w' });
    // Which side failed decides whom the operator should look at: this host or the server.
    let writeFailure: unknown = null;
    destination.once('error', (err) => (writeFailure = err));
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), destination);
    } catch (err) {
      await rm(partial, { force: true });
      if (writeFailure !== null) throw destinationError(to, writeFailure);
      throw createError(
        'E_BACKUP_UNAVAILABLE',
        `the backup was not saved: the server's stream broke off (${(err as Error).message}); see the server's log, and retry`,
        { cause: err },
      );
    }
    try {
      const file = await open(partial, 'r');
      try {
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(partial, to);
    } catch (err) {
      await rm(partial, { force: true });
      throw destinationError(to, err);
    }
    const files = response.headers.get('x-pkgindex-backup-files') ?? '?';
    const bytes = response.headers.get('x-pkgindex-backup-data-bytes') ?? '?';
    process.stdout.write(`backup of ${files} files (${bytes} bytes of data) saved to ${to}\n`);
    return 0;
  },
});

async function answerError(response: Response): Promise<Error> {
  const body = (await response.json().catch(() => ({}))) as { error?: unknown; message?: unknown };
  const message = typeof body.message === 'string' ? body.message : `the server answered ${response.status}`;
  const code = typeof body.error === 'string' ? ` [${body.error}]` : '';
  if (response.status === 401)
    return createError('E_ADMIN_UNAUTHORIZED', `backup refused: ${message}; set PKGINDEX_ADMIN_TOKEN`);
  return createError('E_BACKUP_UNAVAILABLE', `backup refused (HTTP ${response.status}${code}): ${message}`);
}

/** The backup arrived but could not be kept at `to`: what to change on this side. */
function destinationError(to: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const fix =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'its file system is full: free space there or pass another --to'
      : code === 'ENOENT' || code === 'ENOTDIR'
        ? 'its directory does not exist: create it or pass another --to'
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? 'this user cannot write there: pass another --to'
          : 'check that file system, or pass another --to';
  return createError(
    'E_BACKUP_DESTINATION',
    `the backup was not saved: writing it to ${to} failed (${(err as Error).message}); ${fix}. The server is not at fault, and nothing was left at ${to} or ${to}.partial`,
    { cause: err },
  );
}
