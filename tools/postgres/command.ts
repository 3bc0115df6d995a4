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
import { spawnServer, type ServerProcess } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js postgres [--seconds 5] [--instances 1,2,3]
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
  readonly instances: number;
  readonly inFlight: number;
  readonly mix: keyof typeof MIXES;
  readonly opsPerSec: number;
  readonly p99Ms: number;
  readonly errors: number;
}

async function cell(
  base: string,
  instances: number,
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
          env: { PKGINDEX_DATABASE_URL: url },
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
      instances,
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

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    { seconds: { type: 'string' }, instances: { type: 'string' } },
    usage,
  );
  const seconds = positiveOption('--seconds', values.seconds, 5);
  const counts = (values.instances ?? '1,2,3').split(',').map(Number);
  const base = process.env.PKGINDEX_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const tps = pgbenchTps(base, seconds, 16);
  console.log(`pgbench -N -c 16 -j 2 -T ${seconds}: ${tps.toFixed(0)} TPS`);
  console.log('| instances | clients | mix | ops/s | p99 ms | × pgbench TPS | ERROR replies |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const mix of Object.keys(MIXES) as (keyof typeof MIXES)[])
    for (const inFlight of [1, 32])
      for (const instances of counts) {
        const c = await cell(base, instances, inFlight, mix, seconds);
        console.log(
          `| ${c.instances} | 100×${c.inFlight} | ${c.mix} | ${Math.round(c.opsPerSec).toLocaleString('en-US')} | ${c.p99Ms.toFixed(1)} | ${(c.opsPerSec / tps).toFixed(2)} | ${c.errors} |`,
        );
      }
  return 0;
}
