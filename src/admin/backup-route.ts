import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { BackupSource } from '../store/backup-source.js';
import type { Router } from './router.js';

export interface BackupRouteDeps {
  /** Null when the store cannot be backed up this way (memory, PostgreSQL). */
  readonly source: BackupSource | null;
  readonly log: Logger;
}

/**
 * POST /v1/backup: streams an online backup of the data dir, a consistent cut of its durable
 * state taken when the request arrives, while the server keeps serving (`pkgindex backup`
 * saves it; `pkgindex restore` brings it back). Needs the admin token like every non-health
 * route. A POST, not a GET: it is an action with a cost (compaction waits for it), not a page
 * for a crawler or a prefetching proxy.
 */
export function registerBackupRoute(router: Router, deps: BackupRouteDeps): void {
  router.post('/v1/backup', async (request) => {
    if (deps.source === null)
      throw createError(
        'E_BACKUP_UNAVAILABLE',
        'this server does not keep its index in a data dir (--storage disk); back up its database instead',
      );
    const backup = await deps.source.startBackup();
    deps.log.info({ files: backup.files, bytes: backup.bytes, peer: request.peer }, 'backup started');
    const body = Readable.from(backup.stream, { objectMode: false });
    body.once('close', () => {
      backup.release();
      if (body.readableEnded)
        deps.log.info({ files: backup.files, bytes: backup.bytes }, 'backup stream closed');
      // Closed before its end: the client went away midway (or the stream failed), so whoever
      // asked has no backup. A client that fails after the last byte was sent (its disk full)
      // cannot be seen from here: its exit status says it.
      else
        deps.log.warn(
          { files: backup.files, bytes: backup.bytes, peer: request.peer, err: body.errored ?? undefined },
          'backup not completed: the stream closed before its end',
        );
    });
    return {
      status: 200,
      headers: {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="pkgindex-${new Date().toISOString().replace(/[:.]/g, '-')}.backup"`,
        'x-pkgindex-backup-files': String(backup.files),
        'x-pkgindex-backup-data-bytes': String(backup.bytes),
      },
      body,
    };
  });
}
