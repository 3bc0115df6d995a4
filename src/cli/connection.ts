/**
 * How `client`, `import` and `bench` reach a server: the same options, variables and defaults
 * for all three, so that one shell environment serves every command.
 *
 * The port is shared with `serve`: `PKGINDEX_PORT` is the protocol port, where the server
 * listens and where the clients connect. The address is not: `serve`'s `PKGINDEX_HOST` is the
 * address it binds (`0.0.0.0`, every interface), which is not an address to dial, so the
 * clients read `PKGINDEX_SERVER_HOST` and default to this machine's loopback.
 */
import { PkgIndexClient } from '../client/client.js';
import { option, type Values } from '../config/command-line.js';
import { OPTIONS } from '../config/options.js';
import { integer, text } from '../config/parsers.js';

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
};

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

export function connectTo(address: ServerAddress, window?: number): Promise<PkgIndexClient> {
  return PkgIndexClient.connect({
    host: address.host,
    port: address.port,
    connectTimeoutMs: address.timeoutMs || undefined,
    replyTimeoutMs: address.timeoutMs,
    window,
  });
}
