/**
 * `pkgindex migrate`: brings a PostgreSQL database to the schema this build serves, and exits.
 * Instances also migrate at start (under the same advisory lock); this command is for running
 * the migration as its own deployment step, before rolling out new instances.
 */
import { OPTIONS as SERVE_OPTIONS } from '../config/options.js';
import { createError } from '../errors.js';
import { readPasswordFile, redactUrl } from '../store/postgres/database-url.js';
import { migrate } from '../store/postgres/migrate.js';
import { SCHEMA_VERSION } from '../store/postgres/migrations.js';
import { defineCommand } from './command.js';

const OPTIONS = {
  databaseUrl: SERVE_OPTIONS.databaseUrl,
  databasePasswordFile: SERVE_OPTIONS.databasePasswordFile,
};

export const command = defineCommand({
  description: `Migrates the PostgreSQL database of --storage postgres to schema version ${SCHEMA_VERSION}
(what this build serves), under an advisory lock, and prints the versions before and after.
Refuses a database migrated by a newer pkgindex.`,
  options: OPTIONS,
  epilogue: 'Exit status: 0 migrated (or already current), 2 a usage, connection or schema error.',
  run: async (values) => {
    if (values.databaseUrl === '')
      throw createError(
        'E_DATABASE_CONFIG',
        'pkgindex migrate needs the database: set PKGINDEX_DATABASE_URL',
      );
    const { default: pg } = await import('pg');
    const client = new pg.Client({
      connectionString: values.databaseUrl,
      ...(values.databasePasswordFile === ''
        ? {}
        : { password: readPasswordFile(values.databasePasswordFile) }),
      application_name: 'pkgindex migrate',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      throw createError(
        'E_DATABASE_UNAVAILABLE',
        `cannot connect to ${redactUrl(values.databaseUrl)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    try {
      const { from, to } = await migrate(client);
      process.stdout.write(
        from === to ? `schema already at version ${to}\n` : `schema migrated from version ${from} to ${to}\n`,
      );
      return 0;
    } finally {
      await client.end().catch(() => undefined);
    }
  },
});
