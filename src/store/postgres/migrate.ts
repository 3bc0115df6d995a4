import type { ClientBase } from 'pg';
import { createError } from '../../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';

/**
 * Key of the session advisory lock held while migrating: instances that start together wait
 * for the first to finish instead of racing to create the same tables.
 */
const MIGRATION_LOCK_KEY = 0x706b6769; // 'pkgi'

export interface MigrationOutcome {
  /** The version found before migrating (0: an empty database). */
  readonly from: number;
  readonly to: number;
}

/**
 * Brings the database's schema to SCHEMA_VERSION, each migration in its own transaction, under
 * an advisory lock. Refuses (E_DATABASE_SCHEMA_TOO_NEW) a schema newer than this build knows:
 * an older instance must not write by rules it does not know.
 */
export async function migrate(client: ClientBase): Promise<MigrationOutcome> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS pkgindex_schema (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const from = await currentVersion(client);
    if (from > SCHEMA_VERSION)
      throw createError(
        'E_DATABASE_SCHEMA_TOO_NEW',
        `the database schema is at version ${from}, newer than the ${SCHEMA_VERSION} this pkgindex knows; ` +
          'upgrade this instance to the version the others run (never downgrade a migrated database)',
      );
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO pkgindex_schema (version) VALUES ($1)', [m.version]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
    return { from, to: Math.max(from, SCHEMA_VERSION) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}

async function currentVersion(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM pkgindex_schema');
  return rows[0]?.v ?? 0;
}
