/**
 * The one catalogue of pkgindex's errors: every stable code, the `name` its errors carry, what
 * it means, the HTTP status an API answers it with and the exit code of a command it ends.
 * Operators and scripts match on the codes, so they never change; the README's error table is
 * printed from here (`npx tsx scripts/error-table.ts`) and a test keeps the two in step.
 *
 * Every error pkgindex throws is built by createError from this table; a test holds `src/` to
 * that. Messages say what happened and what to do next. Protocol-level problems are not
 * exceptions but values (kind `reply`, see protocol/parse.ts): a malformed line is ordinary
 * input, answered `ERROR`, and the code is what the debug log records.
 */

export interface CatalogueEntry {
  /** The errors' `name`, as logs and stack traces show it. */
  readonly name: string;
  /** What happened, in one line. */
  readonly meaning: string;
  /** The HTTP status the admin API answers with (500 when absent). */
  readonly status?: number;
  /** The exit code of a `pkgindex` command that ends with this error. */
  readonly exitCode?: number;
  /**
   * `operational` (the default): a condition a correct program meets (bad input, a busy port, a
   * full disk). `bug`: pkgindex or a caller of its API is wrong; reported with the stack trace.
   * `reply`: never thrown; why a line was answered ERROR.
   */
  readonly kind?: 'bug' | 'reply';
  /** Defined and documented, but nothing produces it today: why. */
  readonly reserved?: string;
}

/** Exit code of a usage, configuration or startup error: the message says what to change. */
const EXIT_USAGE = 2;
/** Exit code of a bug (BSD sysexits' EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** Every stable error code of pkgindex. */
export const ERRORS = {
  E_USAGE: { name: 'UsageError', exitCode: EXIT_USAGE, meaning: 'The command line could not be understood.' },
  E_CONFIG: {
    name: 'ConfigError',
    exitCode: EXIT_USAGE,
    meaning: 'A setting given by flag or environment variable is invalid.',
  },
  E_LISTEN: {
    name: 'ListenError',
    exitCode: EXIT_USAGE,
    meaning: 'The server could not listen on its port (in use, permission denied, no such address).',
  },
  E_STORAGE_LOCKED: {
    name: 'StorageError',
    exitCode: EXIT_USAGE,
    meaning: 'Another live process owns the data dir.',
  },
  E_STORAGE_CORRUPT: {
    name: 'StorageError',
    exitCode: EXIT_USAGE,
    meaning:
      'A data file is damaged somewhere other than its unsynced tail; the message names the file and the offset.',
  },
  E_STORAGE_VERSION: {
    name: 'StorageError',
    exitCode: EXIT_USAGE,
    meaning: 'A data file was written by a newer pkgindex.',
  },
  E_STORAGE_DATA_LOSS: {
    name: 'StorageError',
    exitCode: EXIT_USAGE,
    meaning:
      'The data dir holds less than its control record says was made durable (a deleted or truncated file); the message names what is missing. The server does not start unless --accept-data-loss is given.',
  },
  E_STORAGE_NO_INDEX: {
    name: 'StorageError',
    exitCode: EXIT_USAGE,
    meaning:
      'The data dir holds no index and this start may not create one: it exists (an emptied dir, a volume not mounted, a wrong --data-dir, or a new volume) and --create-index is missing, or --create-index is never. The message says both ways out: pkgindex init for a new index, a backup for a lost one.',
  },
  E_INIT_TARGET: {
    name: 'InitError',
    exitCode: EXIT_USAGE,
    meaning:
      'pkgindex init found the data dir not empty (an index, a trace of one, or other files); the message names what it found.',
  },
  E_STORAGE_ACCESS: {
    name: 'StorageError',
    exitCode: EXIT_USAGE,
    meaning:
      'The data dir or a file in it cannot be read or written by this user (permissions); the message names the path.',
  },
  E_STORAGE_IO: {
    name: 'StorageError',
    status: 503,
    exitCode: EXIT_USAGE,
    meaning:
      'Reading, writing or syncing the data dir failed; mutations are answered ERROR until the store recovers.',
  },
  // --- PostgreSQL backend (issue 14, ADR 0009) ---
  E_DATABASE_CONFIG: {
    name: 'DatabaseError',
    exitCode: EXIT_USAGE,
    meaning:
      'The PostgreSQL settings are incomplete or unsafe (no --database-url, a password on the command line, an unreadable password file).',
  },
  E_DATABASE_UNAVAILABLE: {
    name: 'DatabaseError',
    status: 503,
    exitCode: EXIT_USAGE,
    meaning:
      'PostgreSQL could not be reached or failed a batch; commands are answered ERROR until it answers again (the circuit breaker probes it).',
  },
  E_DATABASE_SCHEMA_TOO_NEW: {
    name: 'DatabaseError',
    exitCode: EXIT_USAGE,
    meaning: 'The database schema was migrated by a newer pkgindex; upgrade this instance.',
  },
  E_DATABASE_CONFLICT: {
    name: 'DatabaseError',
    status: 503,
    meaning:
      'A batch kept meeting serialization failures or deadlocks with other instances after every retry; its commands were answered ERROR and nothing of it was committed.',
  },
  E_BACKUP_DAMAGED: {
    name: 'BackupError',
    exitCode: EXIT_USAGE,
    meaning: 'A backup file is not a whole pkgindex backup (wrong header, checksum mismatch, cut short).',
  },
  E_BACKUP_DESTINATION: {
    name: 'BackupError',
    exitCode: EXIT_USAGE,
    meaning:
      'pkgindex backup received the backup but could not write it to --to (a full file system, a missing directory, no permission): a problem of the destination, not of the server. Nothing is left at FILE or FILE.partial.',
  },
  E_BACKUP_UNAVAILABLE: {
    name: 'BackupError',
    status: 503,
    exitCode: EXIT_USAGE,
    meaning:
      'The server cannot take a backup now: its storage is not on disk, or not writable (retry once /readyz is ready).',
  },
  E_RESTORE_TARGET: {
    name: 'BackupError',
    exitCode: EXIT_USAGE,
    meaning: 'The restore target directory already holds data files or is in use by a server.',
  },
  E_RESTORE_INTERRUPTED: {
    name: 'BackupError',
    exitCode: EXIT_USAGE,
    meaning:
      "A pkgindex restore was stopped (killed, a crash, a power loss) while it replaced the data dir's index, which then holds part of the previous index and part of the restored one: the server does not start on it and fsck reports it. Running the restore again puts the previous index back first.",
  },
  E_CONNECT: {
    name: 'ConnectError',
    exitCode: EXIT_USAGE,
    meaning: 'The client could not reach the server (refused, unreachable, DNS, connect timeout).',
  },
  E_CONNECTION_CLOSED: {
    name: 'ConnectionClosedError',
    exitCode: EXIT_USAGE,
    meaning: 'The connection to the server ended while replies were still awaited.',
  },
  E_REPLY_LOST: {
    name: 'ReplyLostError',
    exitCode: EXIT_USAGE,
    meaning:
      'A command was sent but the connection ended before its reply: it may or may not have been applied.',
  },
  E_REPLY_TIMEOUT: {
    name: 'ReplyTimeoutError',
    exitCode: EXIT_USAGE,
    meaning: 'The server did not answer within the reply timeout.',
  },
  E_TLS_MISMATCH: {
    name: 'TlsMismatchError',
    exitCode: EXIT_USAGE,
    meaning:
      'The client and the server disagree on TLS: the server speaks it and the client does not (add --tls), or the reverse (drop --tls). Not retried.',
  },
  E_BAD_REPLY: {
    name: 'BadReplyError',
    exitCode: EXIT_USAGE,
    meaning: 'The server sent something other than OK, FAIL or ERROR on a line.',
  },
  E_IMPORT_FORMAT: {
    name: 'ImportFormatError',
    exitCode: EXIT_USAGE,
    meaning: 'An import source could not be read, or is in a format (or compression) not supported.',
  },
  E_FILE_NOT_FOUND: {
    name: 'FileNotFoundError',
    exitCode: EXIT_USAGE,
    meaning: 'A file named on the command line does not exist.',
  },
  E_BENCH: {
    name: 'BenchError',
    exitCode: EXIT_USAGE,
    meaning: 'The benchmark could not run: the server could not be reached, or a load worker failed.',
  },
  E_ADMIN_BAD_REQUEST: {
    name: 'AdminBadRequestError',
    status: 400,
    exitCode: EXIT_USAGE,
    meaning: 'An admin HTTP request could not be read, or asked for something out of bounds.',
  },
  E_ADMIN_UNAUTHORIZED: {
    name: 'AdminUnauthorizedError',
    status: 401,
    exitCode: EXIT_USAGE,
    meaning: 'An admin HTTP request lacked the bearer token set in PKGINDEX_ADMIN_TOKEN, or had a wrong one.',
  },
  E_NOT_FOUND: {
    name: 'NotFoundError',
    status: 404,
    exitCode: EXIT_USAGE,
    meaning: 'No admin endpoint serves this method and path.',
  },
  E_ADMIN_REQUEST_TIMEOUT: {
    name: 'AdminRequestTimeoutError',
    status: 408,
    meaning: 'An admin HTTP request did not arrive whole within the request timeout.',
  },
  E_ADMIN_HEADERS_TOO_LARGE: {
    name: 'AdminHeadersTooLargeError',
    status: 431,
    meaning: "An admin HTTP request's headers exceed Node's limit.",
  },
  E_ADMIN_BUSY: {
    name: 'AdminBusyError',
    status: 503,
    meaning:
      'Too many live dashboard event streams (GET /v1/events) are open on the admin port; close one and retry.',
  },
  E_PROFILER_BUSY: {
    name: 'ProfilerBusyError',
    status: 409,
    meaning: 'A CPU profile or heap snapshot is already being taken; they run one at a time.',
  },
  E_PROFILER: {
    name: 'ProfilerError',
    status: 500,
    meaning: 'The inspector session failed while taking a profile or snapshot.',
  },
  // Admin port hardening and TLS (issue 12, ADR 0013).
  E_ADMIN_UNPROTECTED: {
    name: 'AdminUnprotectedError',
    exitCode: EXIT_USAGE,
    meaning:
      'The admin HTTP server would listen beyond loopback without a token: set PKGINDEX_ADMIN_TOKEN (or _FILE) or bind --admin-host to loopback.',
  },
  E_ADMIN_DEBUG_OFF: {
    name: 'AdminDebugOffError',
    status: 403,
    meaning: 'The /debug/* endpoints are off: they need a token, or --admin-debug=on.',
  },
  E_ADMIN_HEAP_TOO_LARGE: {
    name: 'AdminHeapTooLargeError',
    status: 503,
    meaning:
      'A heap snapshot was refused: the heap is too large for the memory or disk left, or over --admin-heap-snapshot-max-heap-bytes.',
  },
  E_TLS: {
    name: 'TlsError',
    exitCode: EXIT_USAGE,
    meaning:
      'A TLS certificate, key or CA file could not be read or used (at start-up, or on a SIGHUP reload, which then keeps the old one).',
  },
  // The query API (/v1/..., src/admin/query-routes.ts) and the CLI's queries.
  E_PACKAGE_NOT_FOUND: {
    name: 'PackageNotFoundError',
    status: 404,
    exitCode: 1,
    meaning: 'The package asked about is not indexed.',
  },
  E_QUERY_BUSY: {
    name: 'QueryBusyError',
    status: 503,
    exitCode: EXIT_USAGE,
    meaning:
      'The query API is busy: --query-max-concurrent queries are running, the index kept changing while a long walk ran, or the sorted names are still being prepared after a large import. Retry after the Retry-After seconds.',
  },
  E_QUERY_UNAVAILABLE: {
    name: 'QueryUnavailableError',
    status: 501,
    exitCode: EXIT_USAGE,
    meaning: 'The storage backend this server runs does not serve the query API.',
  },
  E_INVALID_ARGUMENT: {
    name: 'InvalidArgumentError',
    kind: 'bug',
    status: 500,
    exitCode: EXIT_INTERNAL,
    meaning:
      "A function of pkgindex's API was called with an argument it does not accept: a bug in the caller.",
  },
  E_GRAPH_BUSY: {
    name: 'GraphBusyError',
    kind: 'bug',
    status: 500,
    exitCode: EXIT_INTERNAL,
    meaning:
      'The index was asked to change while a re-index checked in slices is pending: a bug in the caller, which must finish or cancel it first.',
  },
  E_GRAPH_IDLE: {
    name: 'GraphIdleError',
    kind: 'bug',
    status: 500,
    exitCode: EXIT_INTERNAL,
    meaning: 'A re-index was resumed with none pending: a bug in the caller.',
  },
  // Issue 12, bounded work and limits per client (src/server/peer-limits.ts, src/store/sliced-graph.ts).
  E_STORE_CLOSED: {
    name: 'StoreClosedError',
    meaning:
      'The store was closed while a command waited for a long cycle check: the command was not applied and was answered ERROR; send it again once the server is back.',
  },
  E_PEER_CONNECTIONS: {
    name: 'PeerConnectionsError',
    status: 429,
    meaning:
      'A connection was refused because its address already holds --max-connections-per-peer connections: close idle ones, or raise the limit for clients behind one address (NAT, proxies).',
  },
  E_RATE_LIMITED: {
    name: 'RateLimitedError',
    status: 429,
    meaning:
      'A mutation was answered ERROR because its address sent more than --mutation-rate-per-peer per second (beyond --mutation-burst): slow the client down, or raise the limit.',
  },
  E_TOO_MANY_PACKAGES: {
    name: 'TooManyPackagesError',
    status: 507,
    meaning:
      'An INDEX was answered ERROR because the index holds --max-packages packages: REMOVE packages, or raise the cap if the memory allows it.',
  },
  E_TOO_MANY_DEPENDENCIES: {
    name: 'TooManyDependenciesError',
    status: 413,
    meaning:
      'An INDEX listed more than --max-dependencies dependencies and was answered ERROR: raise the cap if such packages are legitimate.',
  },
  // Socket threads (issue 13, ADR 0010).
  E_THREAD: {
    name: 'ThreadError',
    status: 503,
    exitCode: EXIT_USAGE,
    meaning:
      'A socket thread could not start or lost the index owner; its replies are ERROR. The server falls back to fewer threads (see the warning logged) or pass --threads 1.',
  },
  E_THREAD_HEAP: {
    name: 'ThreadHeapError',
    status: 503,
    meaning:
      'A socket thread reached its heap limit (--thread-heap-mb) and was stopped: the connections it held were closed (their clients reconnect; replies not received were not acknowledged), the other threads serve on. Raise --thread-heap-mb, or lower --max-connections.',
  },
  E_INTERNAL: {
    name: 'InternalError',
    kind: 'bug',
    status: 500,
    exitCode: EXIT_INTERNAL,
    meaning: 'An internal invariant does not hold: a bug in pkgindex; report it with the stack trace.',
  },
  // Why a line was answered ERROR (protocol/parse.ts); the meanings are what the client explains.
  E_FIELD_COUNT: {
    name: 'ProtocolError',
    kind: 'reply',
    meaning: 'a line is COMMAND|package|dependencies, with exactly two `|`',
  },
  E_UNKNOWN_COMMAND: {
    name: 'ProtocolError',
    kind: 'reply',
    meaning: 'the command must be INDEX, REMOVE or QUERY',
  },
  E_EMPTY_NAME: { name: 'ProtocolError', kind: 'reply', meaning: 'the package name is empty' },
  E_INVALID_NAME: {
    name: 'ProtocolError',
    kind: 'reply',
    meaning: 'a package name has only ASCII letters, digits and . _ + - @ / :',
  },
  E_NAME_TOO_LONG: { name: 'ProtocolError', kind: 'reply', meaning: 'a package name is at most 255 bytes' },
  E_EMPTY_DEPENDENCY: {
    name: 'ProtocolError',
    kind: 'reply',
    meaning: 'a dependency name is empty (two commas, or a trailing comma)',
  },
  E_INVALID_DEPENDENCY: {
    name: 'ProtocolError',
    kind: 'reply',
    meaning: 'a dependency name has only ASCII letters, digits and . _ + - @ / :',
  },
  E_UNEXPECTED_DEPENDENCIES: {
    name: 'ProtocolError',
    kind: 'reply',
    meaning: 'only INDEX takes dependencies',
  },
  E_LINE_TOO_LONG: {
    name: 'ProtocolError',
    kind: 'reply',
    reserved:
      'over-long lines are answered ERROR and counted (pkgindex_lines_too_long_total), not logged with a code',
    meaning: 'the line is longer than --max-line-bytes',
  },
} as const satisfies Readonly<Record<string, CatalogueEntry>>;

type Catalogue = typeof ERRORS;
export type ErrorCode = keyof Catalogue;
/** Codes of errors that are thrown (every code but the protocol's reply codes). */
export type ThrownErrorCode = {
  [C in ErrorCode]: Catalogue[C] extends { kind: 'reply' } ? never : C;
}[ErrorCode];
/** Codes of errors a correct program meets (neither bugs nor reply codes). */
export type OperationalErrorCode = {
  [C in ErrorCode]: Catalogue[C] extends { kind: string } ? never : C;
}[ErrorCode];
/** Codes of the errors named StorageError: the durable store's. */
export type StorageErrorCode = {
  [C in ErrorCode]: Catalogue[C]['name'] extends 'StorageError' ? C : never;
}[ErrorCode];

const entryOf = (code: ErrorCode): CatalogueEntry => ERRORS[code];

/**
 * An error of the catalogue: a fixed `name` and a stable `code`, with the HTTP status and exit
 * code the catalogue gives it. Built only by createError.
 */
export class PkgIndexError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: Catalogue[C]['name'];
  readonly code: C;
  /** The HTTP status an API answers this error with; undefined where none applies (then 500). */
  readonly status: number | undefined;
  /** The exit code of a command this error ends. */
  readonly exitCode: number;

  /** @internal Use createError. */
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    const entry = entryOf(code);
    this.name = entry.name as Catalogue[C]['name'];
    this.code = code;
    this.status = entry.status;
    this.exitCode = entry.exitCode ?? EXIT_INTERNAL;
  }
}

/**
 * The one factory of pkgindex errors: `code` from the catalogue, a message that says what to do
 * next, and the error that caused it, if any.
 */
export function createError<C extends ThrownErrorCode>(
  code: C,
  message: string,
  options?: { cause?: unknown },
): PkgIndexError<C> {
  const err = new PkgIndexError(code, message, options);
  // The stack starts where the error was raised, not in this factory.
  Error.captureStackTrace(err, createError);
  return err;
}

/** True for an error of the catalogue; with codes, for one of those codes only. */
export function isPkgIndexError<C extends ErrorCode>(err: unknown, ...codes: C[]): err is PkgIndexError<C> {
  // instanceof alone would type the code as any.
  if (!(err instanceof PkgIndexError)) return false;
  const code: ErrorCode = (err as PkgIndexError).code;
  return codes.length === 0 || (codes as readonly ErrorCode[]).includes(code);
}

/** True for an error of the durable store (E_STORAGE_*). */
export function isStorageError(err: unknown): err is PkgIndexError<StorageErrorCode> {
  return isPkgIndexError(err) && err.name === 'StorageError';
}

/**
 * True for a catalogue error that is not a bug: its message is for the user, who can act on it.
 * Anything else (a bug, or an error pkgindex did not expect) is reported with its stack.
 */
export function isOperationalError(err: unknown): err is PkgIndexError<OperationalErrorCode> {
  return isPkgIndexError(err) && entryOf(err.code).kind === undefined;
}

/** The meaning of a code, as the catalogue states it (for a reply code: why the line was refused). */
export function meaningOf(code: ErrorCode): string {
  return ERRORS[code].meaning;
}

/** What was found damaged, which decides what the operator can do about it. */
export type DamagedFileKind = 'segment' | 'sealed segment' | 'snapshot' | 'control file' | 'data dir';

const WHAT_TO_DO: Readonly<Record<DamagedFileKind, string>> = {
  segment:
    'acknowledged data after it cannot be read. Restore the data dir from a backup, or move the damaged file away to start from the data before it',
  'sealed segment':
    'the segment was synced whole before the next one began, so this is damage on disk; compaction stopped, ' +
    'and the server will not start on this file. Restore the data dir from a backup',
  snapshot: 'the snapshot is damaged. Restore the data dir from a backup',
  'control file':
    'the control record of what is durable is damaged. Restore the data dir from a backup, or check it with pkgindex fsck and start with --accept-data-loss',
  'data dir': 'restore the data dir from a backup',
};

/**
 * The one builder of E_STORAGE_CORRUPT: `path` is damaged at byte `offset` (null: the damage
 * is in the data dir as a whole), `problem` says how. The message names the file and the
 * offset, as the README promises, and what to do, which depends on what `kind` of file it is.
 */
export function corruptDataError(
  path: string,
  offset: number | null,
  problem: string,
  kind: DamagedFileKind,
): PkgIndexError<'E_STORAGE_CORRUPT'> {
  const where = offset === null ? '' : ` at offset ${offset}`;
  return createError('E_STORAGE_CORRUPT', `${path}: ${problem}${where}; ${WHAT_TO_DO[kind]}`);
}

/**
 * The connection ended (`cause`) between sending a command and its reply, and was not (or no
 * longer) retried, so the server may or may not have applied it; `lines` is how many lines
 * went unanswered with it (the first is the one meant). `mayHaveChanged` false: none of them
 * could change the index (QUERY, or lines answered ERROR).
 */
export function replyLostError(
  cause: PkgIndexError,
  lines = 1,
  mayHaveChanged = true,
): PkgIndexError<'E_REPLY_LOST'> {
  const more = lines > 1 ? `; ${lines - 1} later line${lines > 2 ? 's' : ''} went unanswered with it` : '';
  // A QUERY (or a line answered ERROR) changes nothing: saying it may have been applied only
  // sends the user to check what needs no checking.
  return createError(
    'E_REPLY_LOST',
    mayHaveChanged
      ? `connection lost before the reply; the command may or may not have been applied (${cause.message})${more}. ` +
          'Query to check, or send it again (--retries resends it after a lost connection)'
      : `connection lost before the reply (${cause.message})${more}; nothing was changed by ${lines > 1 ? 'these lines' : 'this line'}: send ${lines > 1 ? 'them' : 'it'} again`,
    { cause },
  );
}

/**
 * An error as it crosses a thread boundary: `postMessage` would keep only the message and
 * stack of an Error, dropping its code and its own fields (errno, syscall, path); the cause
 * chain goes with it.
 */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** The error's own fields with primitive values: `code`, and `errno`, `syscall`, `path` for system errors. */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  readonly cause?: SerializedError;
}

/** Longest cause chain carried across a thread; deeper causes (or a cycle) are cut. */
const MAX_CAUSE_DEPTH = 8;

/** `err` as plain data for `postMessage`, its cause chain included. */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), stack: undefined, fields: {} };
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(err))
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      fields[key] = value;
  const serialized = { name: err.name, message: err.message, stack: err.stack, fields };
  return err.cause === undefined || depth >= MAX_CAUSE_DEPTH
    ? serialized
    : { ...serialized, cause: serializeError(err.cause, depth + 1) };
}

/**
 * Rebuilds an error serialized in another thread: a catalogue error again when it was one, with
 * its code, message and cause chain, and the stack where it was thrown.
 */
export function deserializeError(data: SerializedError): Error {
  const cause = data.cause === undefined ? undefined : deserializeError(data.cause);
  const options = cause === undefined ? undefined : { cause };
  const code = data.fields.code;
  const err =
    typeof code === 'string' && Object.hasOwn(ERRORS, code)
      ? new PkgIndexError(code as ErrorCode, data.message, options)
      : // Not pkgindex's (a system error, say): the same fields on a plain Error.
        Object.assign(new Error(data.message, options), data.fields, { name: data.name });
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}
