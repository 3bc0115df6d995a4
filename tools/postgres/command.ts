/**
 * `measure postgres`: the PostgreSQL figures of docs/benchmarks.md (issue 14). In one run, on
 * one machine: pgbench's simple-update script (`pgbench -N`) as the database's own reference,
 * then `pkgindex bench` against 1, 2 and 3 instances on one fresh database, strict (100
 * connections × 1 in flight) and pipelined (100 × 32), with the default mix (80% QUERY) and
 * a mutation-heavy one. The clients are split over the instances, one `pkgindex bench`
 * process per instance (each with its own name prefix); ops/s is their sum, p99 their worst.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { BenchResult } from '../../src/bench/run-bench.js';
import { runBenchCli } from '../support/bench-cli.js';
import { ToolError } from '../support/errors.js';
import { parseToolArgs, positiveOption } from '../support/options.js';
import { CLI, spawnServer, type ServerProcess } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js postgres [--seconds 5] [--instances 1,2,3]
  [--batches-in-flight 1] [--mixes mixed,mutation-heavy] [--clients 1,32]
  [--builds this,base=/path/to/dist/src/cli/main.js]
  --builds: every row is measured once per build, alternated (this: the build of this tool).
  --batches-in-flight: a list (1,2,3) measures every row once per value (the instances'
  --database-batches-in-flight; the pool is sized one above it).
  PKGINDEX_BENCH_DATABASE_URL: a database where the user may create databases
  (default postgres://postgres@127.0.0.1:5432/test).`;

const MIXES = {
  mixed: 'query=80,index=10,remove=10',
  'mutation-heavy': 'query=10,index=45,remove=45',
} as const;

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function databaseUrl(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** pgbench -N (simple update: no branch/teller updates) TPS on a fresh scale-1 database. */
function pgbenchTps(base: string, seconds: number, clients: number): number {
  const url = new URL(base);
  const name = `pkgindex_pgbench_${randomBytes(4).toString('hex')}`;
  const conn = [
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username) || 'postgres',
  ];
  execFileSync('createdb', [...conn, name]);
  try {
    execFileSync('pgbench', [...conn, '-i', '-q', '-s', '1', name], { stdio: 'ignore' });
    const out = execFileSync(
      'pgbench',
      [...conn, '-N', '-c', String(clients), '-j', '2', '-T', String(seconds), name],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const m = /tps = ([\d.]+)/.exec(out);
    if (m === null) throw new ToolError(`pgbench printed no tps: ${out}`);
    return Number(m[1]);
  } finally {
    execFileSync('dropdb', [...conn, '--force', name]);
  }
}

interface Cell {
  readonly build: string;
  readonly instances: number;
  readonly batches: number;
  readonly inFlight: number;
  readonly mix: keyof typeof MIXES;
  readonly opsPerSec: number;
  readonly p99Ms: number;
  readonly errors: number;
}

async function cell(
  base: string,
  build: Build,
  instances: number,
  batches: number,
  inFlight: number,
  mix: keyof typeof MIXES,
  seconds: number,
): Promise<Cell> {
  const name = `pkgindex_bench_${randomBytes(4).toString('hex')}`;
  await admin(base, `CREATE DATABASE ${name}`);
  const servers: ServerProcess[] = [];
  try {
    const url = databaseUrl(base, name);
    for (let i = 0; i < instances; i++)
      servers.push(
        await spawnServer({
          storage: 'postgres',
          admin: false,
          cli: build.cli,
          env: {
            PKGINDEX_DATABASE_URL: url,
            PKGINDEX_DATABASE_BATCHES_IN_FLIGHT: String(batches),
            PKGINDEX_DATABASE_POOL_SIZE: String(Math.max(4, batches + 1)),
          },
        }),
      );
    const results: BenchResult[] = await Promise.all(
      servers.map((s, i) =>
        runBenchCli(
          [
            '--port',
            String(s.port),
            '--connections',
            String(Math.round(100 / instances)),
            '--in-flight',
            String(inFlight),
            '--duration',
            String(seconds),
            '--mix',
            MIXES[mix],
            '--prefix',
            `i${i}:`,
            '--no-cleanup',
          ],
          { timeoutMs: (seconds + 120) * 1000 },
        ),
      ),
    );
    return {
      build: build.label,
      instances,
      batches,
      inFlight,
      mix,
      opsPerSec: results.reduce((sum, r) => sum + r.opsPerSec, 0),
      p99Ms: Math.max(...results.map((r) => r.latencyUs.p99)) / 1000,
      errors: results.reduce((sum, r) => sum + r.protocolErrors + r.counts.error, 0),
    };
  } finally {
    for (const s of servers) await s.stop();
    await admin(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

interface Build {
  readonly label: string;
  readonly cli: string;
}

/** A comma-separated list of positive integers. */
function list(flag: string, text: string): number[] {
  const values = text.split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1))
    throw new ToolError(`${flag}: expected positive integers separated by commas, got ${text}`);
  return values;
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      seconds: { type: 'string' },
      instances: { type: 'string' },
      'batches-in-flight': { type: 'string' },
      mixes: { type: 'string' },
      clients: { type: 'string' },
      builds: { type: 'string' },
    },
    usage,
  );
  const seconds = positiveOption('--seconds', values.seconds, 5);
  const counts = list('--instances', values.instances ?? '1,2,3');
  const lanes = list('--batches-in-flight', values['batches-in-flight'] ?? '1');
  const windows = list('--clients', values.clients ?? '1,32');
  const builds = (values.builds ?? 'this').split(',').map((b): Build => {
    if (b === 'this') return { label: 'this', cli: CLI };
    const at = b.indexOf('=');
    if (at <= 0) throw new ToolError(`--builds: expected this or label=path/to/main.js, got ${b}`);
    return { label: b.slice(0, at), cli: b.slice(at + 1) };
  });
  const mixes = (values.mixes ?? Object.keys(MIXES).join(',')).split(',') as (keyof typeof MIXES)[];
  for (const m of mixes)
    if (!(m in MIXES)) throw new ToolError(`--mixes: ${m} is not one of ${Object.keys(MIXES).join(', ')}`);
  const base = process.env.PKGINDEX_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const tps = pgbenchTps(base, seconds, 16);
  console.log(`pgbench -N -c 16 -j 2 -T ${seconds}: ${tps.toFixed(0)} TPS`);
  console.log(
    '| build | instances | batches in flight | clients | mix | ops/s | p99 ms | × pgbench TPS | ERROR replies |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const mix of mixes)
    for (const inFlight of windows)
      for (const instances of counts)
        for (const batches of lanes)
          for (const build of builds) {
            // Another build is a reference at its own settings: measured once, with the first value.
            if (build.label !== 'this' && batches !== lanes[0]) continue;
            const c = await cell(base, build, instances, batches, inFlight, mix, seconds);
            console.log(
              `| ${c.build} | ${c.instances} | ${c.batches} | 100×${c.inFlight} | ${c.mix} | ${Math.round(c.opsPerSec).toLocaleString('en-US')} | ${c.p99Ms.toFixed(1)} | ${(c.opsPerSec / tps).toFixed(2)} | ${c.errors} |`,
            );
          }
  const after = pgbenchTps(base, seconds, 16);
  console.log(`pgbench -N -c 16 -j 2 -T ${seconds} again after the rows: ${after.toFixed(0)} TPS`);
  return 0;
}
