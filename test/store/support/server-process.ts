import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The built CLI: next to this file under dist/, or in dist/ when run from source by tsx. */
function mainScript(): string {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const beside = join(root, 'src/cli/main.js');
  return existsSync(beside) ? beside : join(root, 'dist/src/cli/main.js');
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** `pkgindex serve` as a child process on 127.0.0.1 and a free port, as an operator runs it. */
export class ServerProcess {
  readonly exited: Promise<Exit>;
  #port = 0;
  #adminPort = 0;

  private constructor(readonly child: ChildProcess) {
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        resolve({ code, signal, stderr });
      }),
    );
  }

  get port(): number {
    return this.#port;
  }

  /** The admin HTTP port, when started with `{ admin: true }`. */
  get adminPort(): number {
    return this.#adminPort;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts the server; resolves once it listens, rejects with its stderr if it exits first. */
  static async start(args: readonly string[], options: { admin?: boolean } = {}): Promise<ServerProcess> {
    const admin = options.admin === true ? ['--admin-port', '0'] : ['--admin=false'];
    const child = spawn(
      process.execPath,
      [mainScript(), 'serve', '--host', '127.0.0.1', '--port', '0', ...admin, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const server = new ServerProcess(child);
    const lines = createInterface({ input: child.stdout });
    const listening = new Promise<number>((resolve) => {
      lines.on('line', (line) => {
        if (line.includes('"admin listening"')) {
          server.#adminPort = (JSON.parse(line) as { port: number }).port;
          return;
        }
        if (!line.includes('"listening"')) return;
        const { port } = JSON.parse(line) as { port: number };
        resolve(port);
      });
    });
    const timeout = new Promise<Exit>((resolve) =>
      setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ code: null, signal: 'SIGKILL', stderr: 'no "listening" log event within 20 s' });
      }, 20_000).unref(),
    );
    const port = await Promise.race([listening, server.exited, timeout]);
    if (typeof port !== 'number')
      throw new Error(
        `server exited (code ${port.code}, signal ${port.signal}) before listening: ${port.stderr}`,
      );
    server.#port = port;
    return server;
  }

  /** kill -9 and wait until the process is gone. */
  async kill9(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
