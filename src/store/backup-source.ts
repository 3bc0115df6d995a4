/**
 * An online backup of a running store (`POST /v1/backup`, `pkgindex backup`): what the admin
 * server sees of it. The store cuts the durable state at the moment `startBackup` is called and
 * streams that cut in the backup archive format (backup-archive.ts) while it keeps serving.
 */
export interface Backup {
  /** Files in the archive and their bytes, for the log and headers. */
  readonly files: number;
  readonly bytes: number;
  /** The archive. Iterate it once. */
  readonly stream: AsyncIterable<Uint8Array>;
  /** Lets the store compact again; idempotent. Called when the stream ends, fails or is abandoned. */
  release(): void;
}

export interface BackupSource {
  startBackup(): Promise<Backup>;
}
