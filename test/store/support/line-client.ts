import { connect, type Socket } from 'node:net';

/** A protocol client that matches replies to requests in order. */
export class LineClient {
  readonly #socket: Socket;
  readonly #waiting: { resolve: (reply: string) => void; reject: (err: Error) => void }[] = [];
  #buffered = '';
  #closed: Error | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      this.#buffered += data;
      let nl: number;
      while ((nl = this.#buffered.indexOf('\n')) >= 0) {
        const line = this.#buffered.slice(0, nl);
        this.#buffered = this.#buffered.slice(nl + 1);
        this.#waiting.shift()?.resolve(line);
      }
    });
    const fail = (err?: Error): void => {
      this.#closed ??= err ?? new Error('connection closed');
      for (const w of this.#waiting.splice(0)) w.reject(this.#closed);
    };
    socket.on('error', fail);
    socket.on('close', () => {
      fail();
    });
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new LineClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one line (without `\n`) and resolves with its reply (without `\n`). */
  send(line: string): Promise<string> {
    if (this.#closed !== null) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#socket.write(`${line}\n`);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
