import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL the tests use: a server where the test user may create databases. Each test
 * gets a database of its own, dropped after it.
 */
export const ADMIN_URL = process.env.PKGINDEX_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<string | null> | null = null;

/** Null when PostgreSQL answers; otherwise why not. Asked once per process. */
export function postgresUnreachable(): Promise<string | null> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (err) {
      return `PostgreSQL at ${ADMIN_URL} is unreachable (${(err as Error).message})`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

/**
 * Skips the test, saying why, when PostgreSQL is unreachable, except in CI (CI=true), where
 * .ci/run starts it: there an unreachable database fails the test instead of hiding it.
 * Returns true when the test should go on.
 */
export async function needPostgres(t: TestContext): Promise<boolean> {
  const why = await postgresUnreachable();
  if (why === null) return true;
  if (process.env.CI === 'true') throw new Error(`${why}; CI must run the PostgreSQL tests`);
  console.log(`# skipped: ${why}`);
  t.skip(why);
  return false;
}

export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh, empty database for this test; dropped (connections and all) when it ends. */
export async function createTestDatabase(t: TestContext): Promise<string> {
  const name = `pkgindex_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(ADMIN_URL, `CREATE DATABASE ${name}`);
  t.after(async () => {
    await adminQuery(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The index as the database holds it: each package with its sorted dependencies. */
export async function databaseState(url: string): Promise<Map<string, string[]>> {
  const rows = await adminQuery<{ name: string; deps: string[] }>(
    url,
    `SELECT p.name, coalesce(array_agg(d.dependency ORDER BY d.dependency) FILTER (WHERE d.dependency IS NOT NULL), '{}') AS deps
       FROM pkgindex_packages p LEFT JOIN pkgindex_dependencies d ON d.package = p.name GROUP BY p.name`,
  );
  return new Map(rows.map((r) => [r.name, r.deps]));
}
