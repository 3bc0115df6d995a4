/**
 * How the query commands (`ls`, `deps`, `why`, `order`, `info`) and the client's explanations
 * reach a server's query API on its admin port: the same options, variables and defaults for
 * all. As for the protocol port (connection.ts), the port is shared with `serve`
 * (`PKGINDEX_ADMIN_PORT`), the address is not: `serve`'s `PKGINDEX_ADMIN_HOST` is where it
 * binds, so the clients read `PKGINDEX_ADMIN_SERVER_HOST`. The token is read from
 * `PKGINDEX_ADMIN_TOKEN`, never from a flag (flags show in `ps`).
 */
import { ADMIN_TOKEN_ENV, adminTokenFromEnv } from '../admin/auth.js';
import { QueryClient } from '../client/query-client.js';
import { option, type EnvironmentSpec, type Values } from '../config/command-line.js';
import { OPTIONS } from '../config/options.js';
import { flagBool, integer, text } from '../config/parsers.js';

export const ADMIN_OPTIONS = {
  adminHost: option({
    flag: '--admin-host',
    env: 'PKGINDEX_ADMIN_SERVER_HOST',
    value: 'HOST',
    default: '127.0.0.1',
    help: "Address of the server's admin port (serve's PKGINDEX_ADMIN_HOST is the address it binds, so it is not read here).",
    parse: text,
  }),
  adminPort: option({
    flag: '--admin-port',
    env: 'PKGINDEX_ADMIN_PORT',
    value: 'PORT',
    default: OPTIONS.adminPort.default,
    help: "The server's admin HTTP port (its --admin-port), where the query API is served.",
    parse: integer(1, 65535),
  }),
};

/** What every query command takes: where the API is, how long to wait, and --json. */
export const QUERY_OPTIONS = {
  ...ADMIN_OPTIONS,
  timeoutMs: option({
    flag: '--timeout-ms',
    env: 'PKGINDEX_TIMEOUT_MS',
    value: 'MS',
    default: 10_000,
    help: 'Give up when the server has not answered a request this long (0 waits as long as it takes).',
    parse: integer(0),
  }),
  json: option({
    flag: '--json',
    default: false,
    help: 'Print the answer as JSON (for scripts) instead of a table.',
    parse: flagBool,
  }),
};

export const TOKEN_ENVIRONMENT: readonly EnvironmentSpec[] = [
  {
    env: ADMIN_TOKEN_ENV,
    why: 'flags show in `ps`',
    help: "The server's admin token, sent as `Authorization: Bearer <token>`; unset sends none.",
  },
];

/**
 * Retries of a request the API refused busy (503 E_QUERY_BUSY, Retry-After: 1): a burst of
 * clients past --query-max-concurrent gets its answers a few seconds late instead of an error,
 * and a server that stays busy still fails the command within about as many seconds.
 */
export const BUSY_RETRIES = 5;

export function queryClient(
  values: Values<typeof ADMIN_OPTIONS> & { readonly timeoutMs: number },
): QueryClient {
  return new QueryClient({
    host: values.adminHost,
    port: values.adminPort,
    token: adminTokenFromEnv(process.env),
    timeoutMs: values.timeoutMs,
    busyRetries: BUSY_RETRIES,
    // Said once: a paged listing may be refused on several pages.
    onBusy: once((seconds) => {
      process.stderr.write(
        `pkgindex: the query API is busy (E_QUERY_BUSY); retrying after ${seconds} s, up to ${BUSY_RETRIES} times\n`,
      );
    }),
  });
}

function once<A extends unknown[]>(f: (...args: A) => void): (...args: A) => void {
  let called = false;
  return (...args) => {
    if (called) return;
    called = true;
    f(...args);
  };
}

export const QUERY_EPILOGUE = `Exit status: 0 answered, 1 the package is not indexed (or, for why, it is held or
would be refused), 2 no answer (connection, token, bad argument; the reason on stderr).`;

/**
 * What to say of a walk cut at the server's bound: it is a server setting, so the whole answer
 * takes a server run with a larger one (the largest closures of a distribution's archive take
 * about a million visits: Debian's libc6, README "Query API").
 */
export function visitsAdvice(maxVisits: number | undefined): string {
  const bound =
    maxVisits === undefined
      ? 'the server’s --query-max-visits'
      : `the server’s --query-max-visits, ${maxVisits.toLocaleString('en-US')} packages plus edges`;
  return `the walk stopped at ${bound}; for the whole answer, run the server with a larger --query-max-visits (PKGINDEX_QUERY_MAX_VISITS)`;
}
