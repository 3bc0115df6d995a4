#!/usr/bin/env node
// Measures what metrics collection costs the hot path: the server with the admin server and
// metrics off (--admin=false: no latency clock reads, no registry) against on (not scraped,
// and scraped every second, 15 times Prometheus's usual rate), interleaved over several
// rounds so that drift on a shared machine hits all alike. Reports throughput and, steadier
// on a shared machine, the server's CPU time per reply (utime+stime from /proc/<pid>/stat).
// Run after `npm run build`:
//
//   node scripts/observability-overhead.mjs [--rounds 5] [--seconds 5] [--workload pipelined|request]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runLoad } from './pipelined-load.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    workload: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);

const WORKLOADS = [
  { name: 'pipelined (4 connections x 64 in flight)', connections: 4, depth: 64 },
  { name: 'request/response (16 connections x 1 in flight)', connections: 16, depth: 1 },
];
const MODES = [
  { name: 'metrics off (--admin=false)', args: ['--admin=false'] },
  { name: 'metrics on, not scraped', args: ['--admin-port', '0'] },
  { name: 'metrics on, scraped every 1 s', args: ['--admin-port', '0'], scrape: true },
];

/** CPU seconds (user + system) the process has used, from /proc (Linux). */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
}

function startServer(args) {
  const child = spawn(
    process.execPath,
    ['dist/src/cli/main.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--storage', 'memory', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    let adminPort = null;
    child.stdout.on('data', (d) => {
      out += d;
      let i;
      while ((i = out.indexOf('\n')) >= 0) {
        const e = JSON.parse(out.slice(0, i));
        out = out.slice(i + 1);
        if (e.msg === 'admin listening') adminPort = e.port;
        if (e.msg === 'listening') resolve({ child, port: e.port, adminPort });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

async function measure(mode, workload) {
  const server = await startServer(mode.args);
  let scraping = mode.scrape === true;
  const scraper = (async () => {
    while (scraping) {
      await fetch(`http://127.0.0.1:${server.adminPort}/metrics`).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  try {
    let cpuAtStart = 0;
    const result = await runLoad({
      port: server.port,
      connections: workload.connections,
      depth: workload.depth,
      seconds,
      warmup: 1,
      onStart: () => {
        cpuAtStart = cpuSeconds(server.child.pid);
      },
      onStop: (r) => {
        r.cpuSeconds = cpuSeconds(server.child.pid) - cpuAtStart;
      },
    });
    return result;
  } finally {
    scraping = false;
    await scraper;
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

for (const workload of WORKLOADS.filter(
  (w) => values.workload === undefined || w.name.startsWith(values.workload),
)) {
  const results = MODES.map(() => []);
  for (let r = 0; r < rounds; r++) {
    // Rotate which mode goes first, so none always runs on a warmer (or busier) machine.
    const order = MODES.map((_, i) => (i + r) % MODES.length);
    for (const m of order) {
      const result = await measure(MODES[m], workload);
      if (result.errors > 0) throw new Error(`${result.errors} ERROR replies: the workload is wrong`);
      results[m].push({ rps: result.repliesPerSecond, cpuUs: (result.cpuSeconds / result.replies) * 1e6 });
    }
  }
  console.log(`\n${workload.name}, ${rounds} rounds of ${seconds} s:`);
  MODES.forEach((mode, m) => {
    const rps = results[m].map((x) => x.rps);
    const cpu = results[m].map((x) => x.cpuUs);
    console.log(
      `  ${mode.name.padEnd(30)} replies/s median ${Math.round(median(rps))} (runs ${rps.map(Math.round).join(' ')})` +
        `; server CPU per reply median ${median(cpu).toFixed(3)} us (runs ${cpu.map((x) => x.toFixed(3)).join(' ')})`,
    );
  });
  const base = results[0];
  for (let m = 1; m < MODES.length; m++) {
    const drps = (median(results[m].map((x) => x.rps)) / median(base.map((x) => x.rps)) - 1) * 100;
    const dcpu = (median(results[m].map((x) => x.cpuUs)) / median(base.map((x) => x.cpuUs)) - 1) * 100;
    console.log(
      `  ${MODES[m].name} vs off: replies/s ${drps.toFixed(1)}%, CPU per reply ${dcpu >= 0 ? '+' : ''}${dcpu.toFixed(1)}%`,
    );
  }
}
