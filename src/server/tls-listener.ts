/**
 * TLS on the protocol port (ADR 0013): node:tls with a certificate and key, and optionally a CA
 * whose certificates every client must present (mutual TLS). The files are read at start and
 * again by reload() (SIGHUP): new connections get the new certificate, open ones keep theirs.
 */
import { readFileSync } from 'node:fs';
import {
  createServer,
  createSecureContext,
  type SecureContextOptions,
  type Server,
  type TLSSocket,
} from 'node:tls';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { ListenerFactory } from './transport.js';

export interface TlsFiles {
  /** PEM certificate chain. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** PEM CA certificate(s) for client certificates; null: clients are not asked for one. */
  readonly ca: string | null;
}

/**
 * A handshake must finish within this: Node's default, 120 s, would let a client that connects
 * and sends nothing hold a descriptor for two minutes.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** At most one "handshake failed" warning per this long, with the count since the last. */
const FAILED_LOG_INTERVAL_MS = 10_000;

function readContext(files: TlsFiles): SecureContextOptions {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw createError(
        'E_TLS',
        `cannot read the TLS ${what} ${path}: ${(err as Error).message}; check the path and its permissions`,
        { cause: err },
      );
    }
  };
  const options: SecureContextOptions = {
    cert: read(files.cert, 'certificate (--tls-cert)'),
    key: read(files.key, 'key (--tls-key)'),
    ...(files.ca === null ? {} : { ca: read(files.ca, 'CA (--tls-ca)') }),
  };
  try {
    // Built here to fail early, with the files named, on a key that does not match its certificate.
    createSecureContext(options);
  } catch (err) {
    throw createError(
      'E_TLS',
      `the TLS certificate ${files.cert}, key ${files.key}${files.ca === null ? '' : ` or CA ${files.ca}`} cannot be used: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return options;
}

export class TlsListener {
  readonly #files: TlsFiles;
  readonly #log: Logger;
  #context: SecureContextOptions;
  #server: Server | null = null;
  #failed = 0;
  #lastFailedLog = -Infinity;
  /** Handshakes that failed (no certificate, an unknown CA, not TLS at all, too slow). */
  handshakesFailed = 0;

  /** Reads the files; throws E_TLS naming the file when one cannot be read or used. */
  constructor(files: TlsFiles, log: Logger) {
    this.#files = files;
    this.#log = log;
    this.#context = readContext(files);
  }

  readonly create: ListenerFactory = (onSocket) => {
    const mutual = this.#files.ca !== null;
    const server = createServer(
      {
        ...this.#context,
        requestCert: mutual,
        rejectUnauthorized: mutual,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        // Half-open only once secure: a peer that closes during the handshake (it rejected our
        // certificate) would otherwise leave its socket open, holding close() until the timeout.
        allowHalfOpen: false,
        noDelay: true,
      },
      (socket: TLSSocket) => {
        // As on plain TCP: a client may send its lines and close its side, and still get every reply.
        socket.allowHalfOpen = true;
        onSocket(socket);
      },
    );
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.#onFailed(err, socket);
    });
    this.#server = server;
    return server;
  };

  /**
   * Reads the files again and serves them to new connections; open ones keep theirs. Throws
   * E_TLS (and keeps serving the old certificate) when the new files cannot be read or used.
   */
  reload(): void {
    const context = readContext(this.#files);
    this.#context = context;
    this.#server?.setSecureContext(context);
  }

  #onFailed(err: NodeJS.ErrnoException, socket: TLSSocket): void {
    this.handshakesFailed++;
    this.#failed++;
    const now = performance.now();
    if (now - this.#lastFailedLog < FAILED_LOG_INTERVAL_MS) return;
    this.#lastFailedLog = now;
    this.#log.warn(
      { peer: socket.remoteAddress, code: err.code, reason: err.message, failed: this.#failed },
      'TLS handshakes failed (count since the last such line; the first reason shown)',
    );
    this.#failed = 0;
  }
}
