#!/usr/bin/env node
// Memory with many idle connections: starts `pkgindex serve` (in memory, the admin server on
// a free port), opens --idle connections that send nothing, then runs `pkgindex bench` with
// 100 connections on the mixed workload, and prints the server's peak RSS (VmHWM).
//   npm run build && node scripts/idle-connections.mjs [--idle 10000] [--seconds 10] [-- serve args...]
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    idle: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '10' },
    storage: { type: 'string', default: 'memory' },
  },
});
const idle = Number(values.idle);
const MiB = 1024 * 1024;

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)[1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

const server = spawn(
  process.execPath,
  [
    'dist/src/cli/main.js',
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--admin-port',
    '0',
    '--storage',
    values.storage,
    '--data-dir',
    `/tmp/pkgindex-idle-${process.pid}`,
    '--max-connections',
    String(idle + 1000),
    ...positionals,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
// The port, from the "listening" log event (the admin server's event is "admin listening").
let port = 0;
let partial = '';
server.stdout.setEncoding('utf8').on('data', (text) => {
  partial += text;
  for (let nl; (nl = partial.indexOf('\n')) >= 0; partial = partial.slice(nl + 1)) {
    const event = JSON.parse(partial.slice(0, nl));
    if (event.msg === 'listening') port = event.port;
  }
});
for (let i = 0; i < 100 && port === 0; i++) await new Promise((r) => setTimeout(r, 100));
if (port === 0) throw new Error('server did not start');
const base = memory(server.pid);
const sockets = [];
for (let i = 0; i < idle; i++) {
  const s = connect({ port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  sockets.push(s);
  if (i % 500 === 499) await once(s, 'connect');
}
await new Promise((r) => setTimeout(r, 1000));
const withIdle = memory(server.pid);
const bench = spawnSync(
  process.execPath,
  [
    'dist/src/cli/main.js',
    'bench',
    '--port',
    String(port),
    '--connections',
    '100',
    '--in-flight',
    '1',
    '--duration',
    values.seconds,
    '--server-pid',
    String(server.pid),
    '--json',
  ],
  { encoding: 'utf8', maxBuffer: 64 * MiB },
);
const after = memory(server.pid);
const result = bench.status === 0 ? JSON.parse(bench.stdout) : null;
for (const s of sockets) s.destroy();
server.kill('SIGTERM');
await once(server, 'exit');
const f = (b) => `${(b / MiB).toFixed(1)} MiB (${(b / 1e6).toFixed(1)} MB)`;
console.log(`idle connections:        ${idle}`);
console.log(`server RSS at start:     ${f(base.rss)}`);
console.log(
  `RSS with idle conns:     ${f(withIdle.rss)} (${((withIdle.rss - base.rss) / idle).toFixed(0)} bytes per connection)`,
);
console.log(`peak RSS (VmHWM) overall: ${f(after.peak)}`);
if (result)
  console.log(
    `bench 100x1 mixed:       ${Math.round(result.opsPerSec)} ops/s, protocol errors ${result.protocolErrors}`,
  );
else console.log(`bench failed: ${bench.stderr}`);
