/**
 * The one catalogue of pkgindex's errors. Every error has a fixed `name`, a stable
 * `code` that operators and scripts can match on, and a message that says what to do next.
 * Protocol-level problems are not exceptions: they are values (see protocol/parse.ts),
 * because a malformed line is ordinary input, answered with `ERROR`.
 */
export class PkgIndexError extends Error {
  override readonly name: string = 'PkgIndexError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A setting given by flag or environment variable is invalid. Exit code 2 at startup. */
export class ConfigError extends PkgIndexError {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONFIG', message, options);
  }
}

/** The command line could not be understood. */
export class UsageError extends PkgIndexError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** The storage backend cannot make mutations durable right now; they are answered ERROR. */
export class StorageError extends PkgIndexError {
  override readonly name = 'StorageError';
  declare readonly code: `E_STORAGE_${string}`;
}

/** Stable codes of StorageError. */
export const StorageErrorCode = {
  /** Another live process owns the data dir. */
  LOCKED: 'E_STORAGE_LOCKED',
  /** A data file is damaged somewhere other than its unsynced tail; startup refuses it. */
  CORRUPT: 'E_STORAGE_CORRUPT',
  /** A data file was written by a newer pkgindex. */
  VERSION: 'E_STORAGE_VERSION',
  /** Writing or syncing failed; mutations are answered ERROR until the store recovers. */
  IO: 'E_STORAGE_IO',
  /** The store is closed or not yet open. */
  CLOSED: 'E_STORAGE_CLOSED',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/** The server could not start listening (port in use, permission denied, ...). */
export class ListenError extends PkgIndexError {
  override readonly name = 'ListenError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_LISTEN', message, options);
  }
}
