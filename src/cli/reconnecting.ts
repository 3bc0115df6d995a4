/**
 * The interactive prompt's connection policy: a prompt outlives its connections. The server
 * closes connections idle for --idle-timeout-ms, and all of them when it stops or restarts; a
 * user back from a break expects the next command to work. So a connection that ended is
 * replaced on the next command, never in the background, and a command is never resent: one
 * whose reply was lost may have been applied, and only the user can judge whether to repeat it.
 */
import type { PkgIndexClient } from '../client/client.js';
import { isOperationalError, isPkgIndexError, replyLostError, type PkgIndexError } from '../errors.js';
import type { Reply } from '../protocol/reply.js';

export class ReconnectingConnection {
  readonly #connect: () => Promise<PkgIndexClient>;
  readonly #onDropped: (reason: PkgIndexError) => void;
  /** Null once the connection ended: the next send connects again. */
  #current: PkgIndexClient | null = null;
  /** A send is awaiting its reply; a close now is reported by that send, not by onDropped. */
  #sending = false;

  /**
   * `connect` opens a new connection (rejecting with ConnectError when it cannot); `onDropped` is
   * told, once per connection, when one ends while no command awaits a reply on it.
   */
  constructor(
    first: PkgIndexClient,
    connect: () => Promise<PkgIndexClient>,
    onDropped: (reason: PkgIndexError) => void,
  ) {
    this.#connect = connect;
    this.#onDropped = onDropped;
    this.#adopt(first);
  }

  /**
   * Sends one protocol line, connecting first when the last connection ended. Rejects with the
   * E_CONNECT error when connecting fails (the line was not sent), with E_BAD_REPLY when the peer
   * answered something other than the protocol, or with E_REPLY_LOST when the connection ended
   * before the reply (the line may or may not have been applied).
   */
  async sendLine(line: string): Promise<Reply> {
    if (this.#current === null) this.#adopt(await this.#connect());
    const connection = this.#current!;
    this.#sending = true;
    try {
      return await connection.sendLine(line);
    } catch (err) {
      if (!isOperationalError(err)) throw err;
      if (this.#current === connection) this.#current = null;
      connection.destroy();
      // Not a lost reply: the peer does not speak the protocol (an HTTP port), and says so.
      if (isPkgIndexError(err, 'E_BAD_REPLY')) throw err;
      throw replyLostError(err);
    } finally {
      this.#sending = false;
    }
  }

  /** Drops the connection, if any; nothing is reported. */
  destroy(): void {
    const connection = this.#current;
    this.#current = null;
    connection?.destroy();
  }

  #adopt(connection: PkgIndexClient): void {
    this.#current = connection;
    void connection.closed.then((reason) => {
      // Not current: replaced, or dropped by sendLine or destroy, which speak for themselves.
      if (this.#current !== connection) return;
      this.#current = null;
      if (!this.#sending) this.#onDropped(reason);
    });
  }
}
