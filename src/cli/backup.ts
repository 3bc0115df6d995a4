import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { adminTokenFromEnv } from '../admin/auth.js';
import { adminBase, readText, sendAdminRequest, type AdminAnswer } from '../client/admin-http.js';
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
    const base = adminBase({ host: adminHost, port: adminPort });
    let response: AdminAnswer;
    try {
      // No timeout: a backup of a large data dir takes as long as it takes.
      response = await sendAdminRequest(
        { host: adminHost, port: adminPort, token: adminTokenFromEnv(process.env) },
        { method: 'POST', path: '/v1/backup', timeoutMs: 0 },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      throw createError(
        'E_CONNECT',
        `cannot reach the admin port at ${base} (${typeof code === 'string' ? code : (err as Error).message}); pass --admin-host and --admin-port`,
        { cause: err },
      );
    }
    if (response.status !== 200) throw await answerError(response);
    const partial = `${to}.partial`;
    const destination = createWriteStream(partial, { flags: 'w' });
    // Which side failed decides whom the operator should look at: this host or the server.
    let writeFailure: unknown = null;
    destination.once('error', (err) => (writeFailure = err));
    try {
      await pipeline(response.body, destination);
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
    const files = header(response, 'x-pkgindex-backup-files');
    const bytes = header(response, 'x-pkgindex-backup-data-bytes');
    process.stdout.write(`backup of ${files} files (${bytes} bytes of data) saved to ${to}\n`);
    return 0;
  },
});

function header(response: AdminAnswer, name: string): string {
  const value = response.headers[name];
  return typeof value === 'string' ? value : '?';
}

async function answerError(response: AdminAnswer): Promise<Error> {
  let body: { error?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(await readText(response.body)) as typeof body;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
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
