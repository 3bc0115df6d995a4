/**
 * The admin-port attacks of issue 12, against a build of `pkgindex serve` (this checkout's, or
 * another with --cli for a before/after in one run):
 *
 * - slow headers: connections that send one header line per second and never close; how long
 *   the server keeps each (capped at --hold-s);
 * - heap snapshot: on an index of --packages packages (a chain), GET /debug/heap-snapshot with
 *   the token: status, duration, the server's RSS before, peak and after; then a second one
 *   right after.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { cliPath } from '../support/paths.js';

export const usage = `Usage: node dist/tools/measure.js admin-attacks [--cli PATH] [--connections N] [--hold-s S] [--packages N]
  --cli PATH        the pkgindex CLI to attack (default: this checkout's build)
  --connections N   slow-header connections (default 50)
  --hold-s S        give up waiting for the server to close them after S seconds (default 60)
  --packages N      packages indexed before the heap snapshot (default 300000)`;

const TOKEN = 'b2a2d7c4af8e7438d52b7c82529f280b715c8970594bb1d47284ade516b8fcd7';

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

async function start(cli: string): Promise<{ pid: number; port: number; adminPort: number; stop(): void }> {
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--storage', 'memory'],
    { env: { ...process.env, PKGINDEX_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  let port = 0;
  let adminPort = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        if (line.includes('"admin listening"')) adminPort = (JSON.parse(line) as { port: number }).port;
        if (line.includes('"msg":"listening"')) port = (JSON.parse(line) as { port: number }).port;
      }
      if (port !== 0 && adminPort !== 0) resolve();
    });
    child.once('exit', (code) => {
      reject(new Error(`server exited ${code}`));
    });
  });
  child.stdout.removeAllListeners('data');
  child.stdout.resume();
  return { pid: child.pid!, port, adminPort, stop: () => child.kill('SIGKILL') };
}

async function slowHeaders(adminPort: number, connections: number, holdS: number): Promise<string> {
  const t0 = performance.now();
  const held = await Promise.all(
    Array.from({ length: connections }, async () => {
      const socket: Socket = connect({ host: '127.0.0.1', port: adminPort, allowHalfOpen: true });
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      const closed = new Promise<number>((resolve) =>
        socket.once('close', () => {
          resolve((performance.now() - t0) / 1000);
        }),
      );
      socket.write('GET /healthz HTTP/1.1\r\n');
      const drip = setInterval(() => {
        if (!socket.destroyed) socket.write('x-slow: 1\r\n');
      }, 1000);
      const cap = new Promise<number>((resolve) =>
        setTimeout(() => {
          resolve(Infinity);
        }, holdS * 1000),
      );
      const seconds = await Promise.race([closed, cap]);
      clearInterval(drip);
      socket.destroy();
      return seconds;
    }),
  );
  const open = held.filter((s) => s === Infinity).length;
  const closed = held.filter((s) => s !== Infinity).sort((a, b) => a - b);
  const median = closed[Math.floor(closed.length / 2)];
  return `slow headers: ${connections} connections, ${closed.length} closed by the server (median ${median?.toFixed(1) ?? '-'} s, max ${closed.at(-1)?.toFixed(1) ?? '-'} s), ${open} still open after ${holdS} s`;
}

async function index(port: number, packages: number): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  let replies = 0;
  const done = new Promise<void>((resolve) =>
    socket.on('data', (chunk: Buffer) => {
      for (const b of chunk) if (b === 0x0a) replies++;
      if (replies === packages) resolve();
    }),
  );
  const BATCH = 10_000;
  for (let i = 0; i < packages; i += BATCH) {
    let text = '';
    for (let j = i; j < Math.min(i + BATCH, packages); j++)
      text += j === 0 ? 'INDEX|p0|\n' : `INDEX|p${j}|p${j - 1}\n`;
    if (!socket.write(text)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await done;
  socket.destroy();
}

async function snapshot(adminPort: number, pid: number): Promise<string> {
  const rssBefore = vm(pid, 'VmRSS');
  const t = performance.now();
  const r = await fetch(`http://127.0.0.1:${adminPort}/debug/heap-snapshot`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = await r.arrayBuffer();
  const ms = performance.now() - t;
  const text =
    r.status === 200
      ? `${(body.byteLength / 1e6).toFixed(0)} MB`
      : new TextDecoder().decode(body).slice(0, 160);
  return `HTTP ${r.status} in ${(ms / 1000).toFixed(1)} s (${text}); RSS ${rssBefore.toFixed(0)} MiB before, peak ${vm(pid, 'VmHWM').toFixed(0)} MiB, ${vm(pid, 'VmRSS').toFixed(0)} MiB after`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      cli: { type: 'string' },
      connections: { type: 'string' },
      'hold-s': { type: 'string' },
      packages: { type: 'string' },
    },
  });
  const cli = values.cli ?? cliPath();
  const connections = Number(values.connections ?? 50);
  const holdS = Number(values['hold-s'] ?? 60);
  const packages = Number(values.packages ?? 300_000);
  const server = await start(cli);
  try {
    console.log(`cli ${cli}`);
    console.log(await slowHeaders(server.adminPort, connections, holdS));
    await index(server.port, packages);
    console.log(`indexed ${packages} packages (a chain); RSS ${vm(server.pid, 'VmRSS').toFixed(0)} MiB`);
    console.log(`heap snapshot 1: ${await snapshot(server.adminPort, server.pid)}`);
    console.log(`heap snapshot 2: ${await snapshot(server.adminPort, server.pid)}`);
  } finally {
    server.stop();
  }
  return 0;
}
