#!/usr/bin/env node
// Memory with many idle connections: starts `pkgindex serve` (in memory, the admin server on
// a free port), opens --idle connections that send nothing, then runs `pkgindex bench` with
// 100 connections on the mixed workload, and prints the server's peak RSS (VmHWM).
//   npm run build && node scripts/idle-connections.mjs [--idle 10000] [--seconds 10] [-- serve args...]
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';

const dist = new URL('../dist/test/support/', import.meta.url);
const { spawnServer, memoryOf } = await import(new URL('servers.js', dist).href);

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

const server = await spawnServer({
  storage: values.storage,
  dataDir: `/tmp/pkgindex-idle-${process.pid}`,
  args: ['--max-connections', String(idle + 1000), ...positionals],
});
const port = server.port;
const base = memoryOf(server.pid);
const sockets = [];
for (let i = 0; i < idle; i++) {
  const s = connect({ port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  sockets.push(s);
  if (i % 500 === 499) await once(s, 'connect');
}
await new Promise((r) => setTimeout(r, 1000));
const withIdle = memoryOf(server.pid);
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
const after = memoryOf(server.pid);
const result = bench.status === 0 ? JSON.parse(bench.stdout) : null;
for (const s of sockets) s.destroy();
await server.stop('SIGTERM');
// Collected by spawnServer (this script used to pass it through): warnings, if any.
process.stderr.write(server.stderr());
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
