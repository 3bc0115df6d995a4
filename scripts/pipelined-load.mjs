#!/usr/bin/env node
// A small, bounded load generator for pkgindex: N connections, each keeping up to DEPTH
// commands in flight (DEPTH 1 = request/response), for a fixed time. Prints replies/s.
// Stand-in until `pkgindex bench` (branch bench) lands on main.
//
//   node scripts/pipelined-load.mjs --port 8080 [--host 127.0.0.1] [--connections 4]
//     [--depth 64] [--seconds 5] [--warmup 1] [--packages 1000]
//
// Workload: each connection works on its own packages, cycling through INDEX (no
// dependencies), QUERY, INDEX with a dependency on the previous package, QUERY. Every reply
// is OK once the first pass is done; an ERROR reply is counted and reported.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

export async function runLoad({
  host = '127.0.0.1',
  port,
  connections = 4,
  depth = 64,
  seconds = 5,
  warmup = 1,
  packages = 1000,
  onStart = () => undefined,
  onStop = () => undefined,
}) {
  let counting = false;
  let replies = 0;
  let errors = 0;
  const sockets = [];
  const done = [];
  for (let c = 0; c < connections; c++) {
    const lines = [];
    for (let i = 0; i < packages; i++) {
      const name = `c${c}p${i}`;
      lines.push(`INDEX|${name}|\n`, `QUERY|${name}|\n`);
      if (i > 0) lines.push(`INDEX|${name}|c${c}p${i - 1}\n`, `QUERY|c${c}p${i - 1}|\n`);
    }
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    sockets.push(socket);
    let next = 0;
    let inFlight = 0;
    let stopped = false;
    const fill = () => {
      if (stopped) return;
      let out = '';
      while (inFlight < depth) {
        out += lines[next];
        next = (next + 1) % lines.length;
        inFlight++;
      }
      if (out !== '') socket.write(out);
    };
    done.push(
      new Promise((resolve, reject) => {
        socket.on('connect', fill);
        socket.on('error', reject);
        socket.on('close', resolve);
        let carry = 0; // bytes of a reply split across chunks don't matter: count newlines
        socket.on('data', (chunk) => {
          let n = 0;
          for (let i = 0; i < chunk.length; i++) {
            const b = chunk[i];
            if (b === 0x0a) n++;
            else if (b === 0x45 && carry === 0) errors += counting ? 1 : 0; // 'E' starts ERROR
            carry = b === 0x0a ? 0 : carry + 1;
          }
          inFlight -= n;
          if (counting) replies += n;
          fill();
        });
        socket.stopLoad = () => {
          stopped = true;
          socket.end();
        };
      }),
    );
  }
  await new Promise((r) => setTimeout(r, warmup * 1000));
  counting = true;
  onStart();
  const startedAt = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const result = { repliesPerSecond: replies / elapsed, replies, errors, seconds: elapsed };
  onStop(result);
  for (const s of sockets) s.stopLoad();
  await Promise.all(done);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      connections: { type: 'string', default: '4' },
      depth: { type: 'string', default: '64' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      packages: { type: 'string', default: '1000' },
    },
  });
  if (values.port === undefined) {
    console.error('usage: pipelined-load.mjs --port N [--connections 4] [--depth 64] [--seconds 5]');
    process.exit(2);
  }
  const result = await runLoad({
    host: values.host,
    port: Number(values.port),
    connections: Number(values.connections),
    depth: Number(values.depth),
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    packages: Number(values.packages),
  });
  console.log(JSON.stringify(result));
}
