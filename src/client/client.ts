/**
 * A client of the line protocol: one TCP connection, requests pipelined, replies matched to
 * requests by order (the server answers each connection's lines in order).
 *
 * At most `window` lines are on the wire unanswered; more are queued and written as replies
 * come back, so a bulk import holds bounded memory on both sides. Lines written in one tick
 * go out in one write. A silent server fails every awaited reply after `replyTimeoutMs`.
 *
 * A connection is not reopened: once it ends (see `closed`), every send fails. Whether and when
 * to connect again is the caller's policy, since only the caller knows if a lost reply matters.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createError, type PkgIndexError } from '../errors.js';
import type { Command } from '../protocol/command.js';
import { LineFramer, type LineSink } from '../protocol/framer.js';
import { formatCommand } from '../protocol/parse.js';
import { Reply, REPLY_NAMES } from '../protocol/reply.js';
import { Fifo } from './fifo.js';

export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  /** Give up connecting after this long. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Fail awaited replies when the server sends nothing for this long. Default 30 s; 0 disables. */
  readonly replyTimeoutMs?: number;
  /** Most lines awaiting a reply at once. Default 1024. */
  readonly window?: number;
  /** Speak TLS (the server runs with --tls-cert); null or absent: plain TCP. */
  readonly tls?: ClientTls | null;
}

/** TLS to the server: PEM text, not paths (read by the caller, once for many connections). */
export interface ClientTls {
  /** CA certificate(s) that signed the server's certificate; absent: the system's CAs. */
  readonly ca?: string;
  /** Client certificate and key, for a server that verifies clients (mutual TLS). */
  readonly cert?: string;
  readonly key?: string;
}

interface Waiter {
  readonly line: string;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: Error) => void;
}

/** Longest reply line accepted (`ERROR`); anything longer is not this protocol. */
const MAX_REPLY_LINE = 16;

/** How an HTTP server's reply starts (the admin port answers a protocol line with a 400). */
const HTTP_REPLY = Buffer.from('HTTP/', 'latin1');

const REPLY_BY_TEXT = new Map<string, Reply>(REPLY_NAMES.map((name, i) => [name, i as Reply]));

/** How long `speaksTls` waits for a handshake. */
const TLS_PROBE_MS = 2000;

/**
 * Whether the server at `host:port` completes (or refuses with a TLS alert) a TLS handshake:
 * asked once a plain connection was closed without a byte in answer to its lines, which is
 * what a TLS server does with bytes that are not a ClientHello, and what a pkgindex server,
 * which answers every line it reads, does not. The certificate is not checked: only the
 * language is in question.
 */
function speaksTls(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    const done = (answer: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      done(false);
    }, TLS_PROBE_MS);
    socket.once('secureConnect', () => {
      done(true);
    });
    // A server that wants a client certificate may end the handshake with an alert: still TLS.
    socket.once('error', (err: NodeJS.ErrnoException) => {
      done(/ALERT/.test(err.code ?? ''));
    });
  });
}

export class PkgIndexClient {
  readonly #socket: Socket;
  readonly #where: string;
  readonly #window: number;
  readonly #replyTimeoutMs: number;
  readonly #framer = new LineFramer(MAX_REPLY_LINE);
  /** Written, awaiting a reply, oldest first. */
  readonly #sent = new Fifo<Waiter>();
  /** Not yet written because the window is full. */
  readonly #queued = new Fifo<Waiter>();
  /** Called once nothing is outstanding (or the connection failed). */
  #idle: (() => void)[] = [];
  #pendingWrite = '';
  #flushScheduled = false;
  #failure: PkgIndexError | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #sink: LineSink;
  #resolveClosed!: (reason: PkgIndexError) => void;
  /** Bytes of HTTP_REPLY the reply stream has matched so far; -1 once it differs. */
  #httpMatched = 0;
  /** Bytes received: none, on a plain connection closed with lines awaiting, hints at TLS. */
  #received = 0;

  /**
   * Resolves (never rejects) once the socket has closed, for any reason: the server closed it
   * (idle timeout, shutdown), it failed, or this client closed it. The value is why; every send
   * from then on rejects with it.
   */
  readonly closed: Promise<PkgIndexError> = new Promise((resolve) => {
    this.#resolveClosed = resolve;
  });

  private constructor(socket: Socket, where: string, options: ClientOptions) {
    this.#socket = socket;
    this.#where = where;
    this.#window = Math.max(1, options.window ?? 1024);
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 30_000;
    this.#sink = {
      line: (buf, start, end) => {
        this.#onReply(buf.toString('latin1', start, end));
      },
      overlong: () => {
        this.#fail(
          createError('E_BAD_REPLY', `${this.#where} sent an over-long reply line; is it a pkgindex server?`),
        );
      },
    };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#received += chunk.length;
      if (this.#httpMatched >= 0 && this.#answersHttp(chunk)) {
        this.#fail(
          createError(
            'E_BAD_REPLY',
            `${this.#where} answered in HTTP, not the pkgindex protocol: it is probably the admin port ` +
              "(pkgindex serve --admin-port); connect to the server's protocol port (its --port) instead",
          ),
        );
        return;
      }
      this.#framer.push(chunk, this.#sink);
    });
    socket.on('error', (cause) => {
      this.#fail(
        createError('E_CONNECTION_CLOSED', `connection to ${this.#where} failed: ${cause.message}`, {
          cause,
        }),
      );
    });
    socket.on('close', () => {
      const closed = createError(
        'E_CONNECTION_CLOSED',
        this.outstanding > 0
          ? `${this.#where} closed the connection before answering`
          : // The server closes connections idle for --idle-timeout-ms, and all of them when it stops.
            `${this.#where} closed the connection (idle too long, or the server stopped)`,
      );
      if (
        this.#failure !== null ||
        (options.tls ?? null) !== null ||
        this.#received > 0 ||
        this.#sent.length === 0
      ) {
        this.#fail(closed);
        this.#resolveClosed(this.#failure!);
        return;
      }
      // Closed without a byte in answer to the lines sent: a TLS server does that with plain
      // text, so ask before calling it a lost connection (which callers retry, and for which
      // they say a command may have been applied). Nothing new is sent meanwhile.
      this.#failure = closed;
      this.#clearTimer();
      void speaksTls(options.host, options.port).then((tls) => {
        this.#failure = null;
        this.#fail(
          tls
            ? createError(
                'E_TLS_MISMATCH',
                `${this.#where} speaks TLS and closed this plain connection: add --tls ` +
                  "(and --ca FILE with the CA that signed the server's certificate, for a private CA)",
              )
            : closed,
        );
        this.#resolveClosed(this.#failure!);
      });
    });
  }

  /**
   * Opens a connection (with TLS, once the handshake has verified the server); rejects with
   * E_CONNECT when the server cannot be reached or its certificate is not trusted.
   */
  static connect(options: ClientOptions): Promise<PkgIndexClient> {
    const where = `${options.host}:${options.port}`;
    const tls = options.tls ?? null;
    return new Promise((resolve, reject) => {
      const socket =
        tls === null
          ? netConnect({ host: options.host, port: options.port })
          : tlsConnect({
              host: options.host,
              port: options.port,
              ...tls,
              // SNI takes a host name, never an address.
              ...(isIP(options.host) === 0 ? { servername: options.host } : {}),
            });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          createError(
            'E_CONNECT',
            `no answer from ${where} within ${options.connectTimeoutMs ?? 5000} ms; check --host and --port`,
          ),
        );
      }, options.connectTimeoutMs ?? 5000);
      socket.once('error', (cause: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        // A plain server answers a ClientHello with ERROR lines, which TLS reads as a record
        // of an unknown version: certain, so not worth a retry, and the server is running.
        if (tls !== null && cause.code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
          reject(
            createError(
              'E_TLS_MISMATCH',
              `${where} does not speak TLS (it answered the TLS handshake in plain text): drop --tls ` +
                '(and --ca, --cert, --key), or start the server with --tls-cert and --tls-key',
              { cause },
            ),
          );
          return;
        }
        const tlsHint =
          tls === null
            ? ''
            : cause.code === 'ECONNRESET'
              ? '; does the server speak TLS (its --tls-cert)? Without it, drop --tls'
              : /CERT|SIGNATURE|ISSUER|ALTNAME/.test(cause.code ?? '')
                ? "; pass --ca with the CA that signed the server's certificate, and --host as named in it"
                : '';
        reject(
          createError(
            'E_CONNECT',
            `cannot connect to ${where} (${cause.code ?? cause.message}); is \`pkgindex serve\` running there? ` +
              `Pass --host and --port to reach another server${tlsHint}`,
            { cause },
          ),
        );
      });
      socket.once(tls === null ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new PkgIndexClient(socket, where, options));
      });
    });
  }

  /** Where this client is connected, `host:port`. */
  get address(): string {
    return this.#where;
  }

  /** Lines written or queued that have no reply yet. */
  get outstanding(): number {
    return this.#sent.length + this.#queued.length;
  }

  /** Sends a command; resolves with the server's reply. */
  send(command: Command): Promise<Reply> {
    return this.sendLine(formatCommand(command).slice(0, -1));
  }

  /**
   * Sends one raw protocol line (without `\n`), as typed or piped by a user: the server judges
   * it, and answers ERROR when it is malformed.
   */
  sendLine(line: string): Promise<Reply> {
    if (line.includes('\n'))
      return Promise.reject(
        createError('E_INVALID_ARGUMENT', 'a protocol line cannot contain \\n; send each line on its own'),
      );
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise<Reply>((resolve, reject) => {
      const waiter = { line, resolve, reject };
      if (this.#sent.length < this.#window && this.#queued.length === 0) this.#write(waiter);
      else this.#queued.push(waiter);
    });
  }

  /** Closes the connection after the replies to everything sent so far have arrived. */
  async close(): Promise<void> {
    if (this.outstanding > 0 && this.#failure === null)
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve);
      });
    this.#failure ??= createError(
      'E_CONNECTION_CLOSED',
      `the connection to ${this.#where} was closed by this client`,
    );
    this.#clearTimer();
    await new Promise<void>((resolve) => {
      if (this.#socket.destroyed) resolve();
      else this.#socket.end(resolve);
    });
    this.#socket.destroy();
  }

  /** Drops the connection at once; awaited replies fail. */
  destroy(): void {
    this.#fail(
      createError('E_CONNECTION_CLOSED', `the connection to ${this.#where} was closed by this client`),
    );
  }

  #write(waiter: Waiter): void {
    if (this.#sent.length === 0) this.#armTimer();
    this.#sent.push(waiter);
    this.#pendingWrite += `${waiter.line}\n`;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flush();
      });
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pendingWrite === '' || this.#failure !== null) return;
    const data = this.#pendingWrite;
    this.#pendingWrite = '';
    // UTF-8, not latin1: latin1 keeps only each character's low byte, so U+010A would become a
    // newline and split one line into two, shifting every later reply onto the wrong request.
    this.#socket.write(data, 'utf8');
  }

  /** True once the first bytes received are `HTTP/`, which no pkgindex reply starts with. */
  #answersHttp(chunk: Buffer): boolean {
    for (let i = 0; i < chunk.length && this.#httpMatched < HTTP_REPLY.length; i++) {
      if (chunk[i] !== HTTP_REPLY[this.#httpMatched]) {
        this.#httpMatched = -1;
        return false;
      }
      this.#httpMatched++;
    }
    return this.#httpMatched === HTTP_REPLY.length;
  }

  #onReply(text: string): void {
    const waiter = this.#sent.peek();
    if (waiter === undefined) {
      this.#fail(
        createError('E_BAD_REPLY', `${this.#where} sent a reply to nothing: ${JSON.stringify(text)}`),
      );
      return;
    }
    const reply = REPLY_BY_TEXT.get(text);
    if (reply === undefined) {
      this.#fail(
        createError('E_BAD_REPLY', `${this.#where} sent ${JSON.stringify(text)}, not OK, FAIL or ERROR`),
      );
      return;
    }
    this.#sent.shift();
    if (this.#sent.length === 0) this.#clearTimer();
    else this.#armTimer();
    waiter.resolve(reply);
    while (this.#queued.length > 0 && this.#sent.length < this.#window) this.#write(this.#queued.shift()!);
    if (this.outstanding === 0) this.#wakeIdle();
  }

  #wakeIdle(): void {
    const idle = this.#idle;
    this.#idle = [];
    for (const wake of idle) wake();
  }

  #armTimer(): void {
    if (this.#replyTimeoutMs <= 0) return;
    if (this.#timer !== null) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#fail(
        createError(
          'E_REPLY_TIMEOUT',
          `${this.#where} sent no reply for ${this.#replyTimeoutMs} ms; the server may be overloaded or stuck`,
        ),
      );
    }, this.#replyTimeoutMs);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #fail(error: PkgIndexError): void {
    if (this.#failure === null) this.#failure = error;
    this.#clearTimer();
    const waiters = [...this.#sent.drain(), ...this.#queued.drain()];
    this.#socket.destroy();
    for (const waiter of waiters) waiter.reject(this.#failure);
    this.#wakeIdle();
  }
}
