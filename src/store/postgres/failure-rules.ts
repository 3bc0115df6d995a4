/**
 * SQLSTATEs after which the transaction was rolled back whole by the database and running
 * the batch again is safe: serialization_failure and deadlock_detected.
 */
const RETRYABLE = new Set(['40001', '40P01']);

/** read_only_sql_transaction: a write sent to a session that takes none. */
export const READ_ONLY = '25006';

/**
 * SQLSTATE classes and Node error codes that mean the database (or the way to it) is down,
 * rather than this batch being wrong: they open the circuit breaker.
 * 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now;
 * 53300: too many connections; 25006: read-only transaction (a standby, where a failover or a
 * proxy left us, or default_transaction_read_only): it answers, but takes no write.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', READ_ONLY]);
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The transaction was rolled back by a conflict with another one: run it again. */
export function isRetryable(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && RETRYABLE.has(code);
}

/** The database cannot be reached or is going away: stop sending it work for a while. */
export function isUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined)
    return code.startsWith('08') || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_NODE_CODES.has(code);
  // node-postgres reports a connection lost mid-query, a pool timeout, and a query that got no
  // answer within query_timeout (a network partition: nothing comes back, not even the
  // statement timeout's error), without a code.
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i.test(
    message,
  );
}

/** The database answers but takes no writes (see READ_ONLY): the breaker says so. */
export function isReadOnly(err: unknown): boolean {
  return codeOf(err) === READ_ONLY || (err instanceof Error && codeOf(err.cause) === READ_ONLY);
}
