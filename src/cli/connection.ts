/**
 * How `client`, `import` and `bench` reach a server: the same options, variables and defaults
 * for all three, so that one shell environment serves every command.
 *
 * The port is shared with `serve`: `PKGINDEX_PORT` is the protocol port, where the server
 * listens and where the clients connect. The address is not: `serve`'s `PKGINDEX_HOST` is the
 * address it binds (`0.0.0.0`, every interface), which is not an address to dial, so the
 * clients read `PKGINDEX_SERVER_HOST` and default to this machine's loopback.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PkgIndexClient, type ClientTls } from '../client/client.js';
import { option, type Values } from '../config/command-line.js';
import { OPTIONS } from '../config/options.js';
import { existingFile, flagBool, integer, text } from '../config/parsers.js';
import { createError } from '../errors.js';

export const SERVER_OPTIONS = {
  host: option({
    flag: '--host',
    env: 'PKGINDEX_SERVER_HOST',
    value: 'HOST',
    default: '127.0.0.1',
    help: "Address of the server (serve's PKGINDEX_HOST is the address it binds, so it is not read here).",
    parse: text,
  }),
  port: option({
    flag: '--port',
    env: 'PKGINDEX_PORT',
    value: 'PORT',
    default: OPTIONS.port.default,
    help: "The server's protocol port (its --port; not the admin port).",
    parse: integer(1, 65535),
  }),
  // TLS to the server (issue 12, ADR 0013). Their variables are not serve's PKGINDEX_TLS_*:
  // those are the server's own certificate and the CA it checks clients with.
  tls: option({
    flag: '--tls',
    env: 'PKGINDEX_SERVER_TLS',
    default: false,
    help: "Speak TLS to the server (one started with --tls-cert), verifying its certificate with the system's CAs or --ca. Implied by --ca, --cert and --key.",
    parse: flagBool,
  }),
  ca: option({
    flag: '--ca',
    env: 'PKGINDEX_SERVER_CA',
    value: 'FILE',
    default: '',
    defaultText: "the system's CAs",
    help: "PEM CA certificate(s) that signed the server's certificate (a private CA).",
    parse: existingFile,
  }),
  cert: option({
    flag: '--cert',
    env: 'PKGINDEX_CLIENT_CERT',
    value: 'FILE',
    default: '',
    defaultText: 'none',
    help: 'PEM client certificate, for a server that verifies clients (its --tls-ca, mutual TLS); with --key.',
    parse: existingFile,
  }),
  key: option({
    flag: '--key',
    env: 'PKGINDEX_CLIENT_KEY',
    value: 'FILE',
    default: '',
    defaultText: 'none',
    help: 'PEM private key of --cert.',
    parse: existingFile,
  }),
};

/**
 * The TLS settings of the server options, files read: null for plain TCP. E_CONFIG when only
 * one of --cert and --key is given.
 */
export function clientTls(values: Values<typeof SERVER_OPTIONS>): ClientTls | null {
  const { tls, ca, cert, key } = values;
  if (!tls && ca === '' && cert === '' && key === '') return null;
  if ((cert === '') !== (key === ''))
    throw createError('E_CONFIG', '--cert and --key go together: pass the client certificate and its key');
  const read = (path: string): string => readFileSync(path, 'utf8');
  return {
    ...(ca === '' ? {} : { ca: readCa(ca) }),
    ...(cert === '' ? {} : { cert: read(cert), key: read(key) }),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The PEM text of --ca, once every certificate in it parses. Node ignores what is not a
 * certificate in a CA list, so a key or any other file would only fail later, as an untrusted
 * server certificate, and after every retry; here it is E_CONFIG naming the file.
 */
export function readCa(path: string): string {
  const text = readFileSync(path, 'utf8');
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  const bad = (what: string): never => {
    throw createError(
      'E_CONFIG',
      `--ca ${path} ${what}; pass the PEM certificate (-----BEGIN CERTIFICATE-----) of the CA that signed the server's certificate`,
    );
  };
  if (blocks.length === 0)
    bad(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)
        ? 'is a private key, not a certificate'
        : 'holds no PEM certificate',
    );
  for (const block of blocks)
    try {
      new X509Certificate(block);
    } catch (err) {
      bad(`holds a certificate that cannot be read (${(err as Error).message})`);
    }
  return text;
}

/** `SERVER_OPTIONS` and the reply timeout: what `client` and `import` need to talk to a server. */
export const CONNECTION_OPTIONS = {
  ...SERVER_OPTIONS,
  timeoutMs: option({
    flag: '--timeout-ms',
    env: 'PKGINDEX_TIMEOUT_MS',
    value: 'MS',
    default: 10_000,
    help: 'Give up when the server is silent this long, connecting or awaiting a reply (0 turns the reply timeout off).',
    parse: integer(0),
  }),
};

export type ServerAddress = Values<typeof CONNECTION_OPTIONS>;

/**
 * Reconnection after a lost connection (issue 12): `import` resumes where the server stopped;
 * `client` sends again the lines whose replies were lost (src/client/resending.ts).
 */
export const RETRY_OPTIONS = {
  retries: option({
    flag: '--retries',
    env: 'PKGINDEX_RETRIES',
    value: 'N',
    default: 5,
    help: 'Reconnect at most this many times in a row after a lost connection or a failed connect (0: fail at once), waiting with exponential backoff and full jitter from 100 ms.',
    parse: integer(0, 1000),
  }),
  retryMaxDelayMs: option({
    flag: '--retry-max-delay-ms',
    env: 'PKGINDEX_RETRY_MAX_DELAY_MS',
    value: 'MS',
    default: 5000,
    help: 'Longest wait before a reconnection (the backoff doubles from 100 ms up to this; each wait is uniform below it).',
    parse: integer(1, 600_000),
  }),
};

/** Where the backoff starts; doubles per failed attempt up to --retry-max-delay-ms. */
export const RETRY_BASE_DELAY_MS = 100;

export function connectTo(address: ServerAddress, window?: number): Promise<PkgIndexClient> {
  return PkgIndexClient.connect({
    host: address.host,
    port: address.port,
    connectTimeoutMs: address.timeoutMs || undefined,
    replyTimeoutMs: address.timeoutMs,
    window,
    tls: clientTls(address),
  });
}
