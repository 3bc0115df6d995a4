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
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/** The server could not start listening (port in use, permission denied, ...). */
export class ListenError extends PkgIndexError {
  override readonly name = 'ListenError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_LISTEN', message, options);
  }
}

/** The client could not reach the server (refused, unreachable, DNS, connect timeout). */
export class ConnectError extends PkgIndexError {
  override readonly name = 'ConnectError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONNECT', message, options);
  }
}

/** The connection to the server ended while replies were still awaited. */
export class ConnectionClosedError extends PkgIndexError {
  override readonly name = 'ConnectionClosedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONNECTION_CLOSED', message, options);
  }
}

/**
 * A command was sent but its reply never came: the connection ended (or timed out) in between,
 * so the server may or may not have applied it. Not retried, since only the user can judge that.
 */
export class ReplyLostError extends PkgIndexError {
  override readonly name = 'ReplyLostError';
  constructor(cause: PkgIndexError) {
    super(
      'E_REPLY_LOST',
      `connection lost before the reply; the command may or may not have been applied (${cause.message}). ` +
        'Query to check, or send it again: the next command reconnects',
      { cause },
    );
  }
}

/** The server did not answer within the reply timeout. */
export class ReplyTimeoutError extends PkgIndexError {
  override readonly name = 'ReplyTimeoutError';
  constructor(message: string) {
    super('E_REPLY_TIMEOUT', message);
  }
}

/** The server sent something that is not `OK`, `FAIL` or `ERROR` on a line. */
export class BadReplyError extends PkgIndexError {
  override readonly name = 'BadReplyError';
  constructor(message: string) {
    super('E_BAD_REPLY', message);
  }
}

/** An import source could not be read or is in a format (or compression) not supported. */
export class ImportFormatError extends PkgIndexError {
  override readonly name = 'ImportFormatError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_IMPORT_FORMAT', message, options);
  }
}

/** An admin HTTP request lacked the bearer token set in PKGINDEX_ADMIN_TOKEN, or had a wrong one. */
export class AdminUnauthorizedError extends PkgIndexError {
  override readonly name = 'AdminUnauthorizedError';
  constructor() {
    super(
      'E_ADMIN_UNAUTHORIZED',
      'this endpoint needs the header "Authorization: Bearer <token>" with the value of PKGINDEX_ADMIN_TOKEN',
    );
  }
}

/** An admin HTTP request was well formed but asked for something out of bounds. */
export class AdminBadRequestError extends PkgIndexError {
  override readonly name = 'AdminBadRequestError';
  constructor(message: string) {
    super('E_ADMIN_BAD_REQUEST', message);
  }
}

/** A CPU profile or heap snapshot is already being taken; they run one at a time. */
export class ProfilerBusyError extends PkgIndexError {
  override readonly name = 'ProfilerBusyError';
  constructor(running: string) {
    super('E_PROFILER_BUSY', `a ${running} is already being taken; retry when it has finished`);
  }
}

/** The inspector session failed while taking a profile or snapshot. */
export class ProfilerError extends PkgIndexError {
  override readonly name = 'ProfilerError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_PROFILER', message, options);
  }
}

/** The benchmark could not run: a server did not start, a tool is missing, the data is unusable. */
export class BenchError extends PkgIndexError {
  override readonly name = 'BenchError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BENCH', message, options);
  }
}

/** A server the benchmark started exited before it listened; `output` is what it wrote to stderr. */
export class ServerStartError extends PkgIndexError {
  override readonly name = 'ServerStartError';
  readonly output: string;
  constructor(message: string, output: string) {
    super('E_BENCH_SERVER_START', `${message}: ${output}`);
    this.output = output;
  }
}
