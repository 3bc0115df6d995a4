import { connect, type Socket } from 'node:net';

/**
 * The one line-protocol client of the tests and tools: a real TCP socket, raw bytes out, reply
 * lines in, in order. Deliberately independent of the server's own framing code and of the
 * product's client (`src/client/`), so that it can send what a real client never would.
 */
export class LineClient {
  readonly socket: Socket;
  #buffered = '';
  #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffered += chunk.toString('latin1');
      let nl: number;
      while ((nl = this.#buffered.indexOf('\n')) >= 0) {
        this.#lines.push(this.#buffered.slice(0, nl));
        this.#buffered = this.#buffered.slice(nl + 1);
      }
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  /**
   * Connects to a protocol port. With `allowHalfOpen` the client keeps its side open after the
   * server's FIN (to watch a draining server).
   */
  static open(port: number, host = '127.0.0.1', { allowHalfOpen = false } = {}): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, allowHalfOpen }, () => {
        socket.off('error', reject);
        resolve(new LineClient(socket));
      });
      socket.once('error', reject);
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends lines (each gets `\n`) and resolves with exactly as many replies. */
  async request(...lines: string[]): Promise<string[]> {
    this.write(lines.map((l) => `${l}\n`).join(''));
    return this.read(lines.length);
  }

  /** Sends one line and resolves with its one reply (replies stay in request order). */
  async send(line: string): Promise<string> {
    const [reply] = await this.request(line);
    return reply!;
  }

  /** Resolves with the next `n` reply lines; rejects if the server closes first or time runs out. */
  async read(n: number, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length < n) {
      if (this.#ended) throw new Error(`connection closed after ${this.#lines.length} of ${n} replies`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.#lines.length} of ${n} replies`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#lines.splice(0, n);
  }

  /** Resolves when the server closes the connection (end or close). */
  async closedByServer(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('server did not close the connection');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
