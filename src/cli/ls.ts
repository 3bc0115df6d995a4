import { option } from '../config/command-line.js';
import { flagBool } from '../config/parsers.js';
import { createError } from '../errors.js';
import { QUERY_EPILOGUE, QUERY_OPTIONS, TOKEN_ENVIRONMENT, queryClient } from './admin-connection.js';
import { defineCommand } from './command.js';
import { formatTable } from './table.js';

interface Summary {
  readonly name: string;
  readonly dependencies: number;
  readonly dependents: number;
}

/** Rows per request: the API's maximum page. */
const PAGE = 1000;

/** `pkgindex ls [PREFIX]`: the indexed packages by name, like `etcdctl get --prefix` or `redis-cli --scan`. */
export const command = defineCommand({
  description: `Lists the indexed packages by name (bytewise), with how many packages each depends on and
how many depend on it, read page by page from the server's query API (GET /v1/packages).`,
  options: {
    ...QUERY_OPTIONS,
    leaves: option({
      flag: '--leaves',
      default: false,
      help: 'Only packages nothing depends on (like `brew leaves`).',
      parse: flagBool,
    }),
    roots: option({
      flag: '--roots',
      default: false,
      help: 'Only packages that depend on nothing.',
      parse: flagBool,
    }),
  },
  positionals: [{ name: 'PREFIX', optional: true, help: 'Only names starting with PREFIX.' }],
  environment: TOKEN_ENVIRONMENT,
  epilogue: QUERY_EPILOGUE,
  run: async (values, [prefix]) => {
    if (values.leaves && values.roots)
      throw createError('E_USAGE', '--leaves and --roots exclude each other; pass one of them');
    const path = values.leaves ? '/v1/leaves' : values.roots ? '/v1/roots' : '/v1/packages';
    const api = queryClient(values);
    let count = 0;
    let rows: (string | number)[][] = [];
    const header = ['NAME', 'DEPS', 'DEPENDENTS'];
    if (values.json) process.stdout.write('[');
    for await (const item of api.items<Summary>(path, { prefix, limit: PAGE })) {
      if (values.json) process.stdout.write(`${count === 0 ? '' : ','}\n${JSON.stringify(item)}`);
      else rows.push([item.name, item.dependencies, item.dependents]);
      count++;
      // Printed a page at a time: a listing of a million packages does not wait for the end.
      if (rows.length === PAGE) {
        process.stdout.write(formatTable(count === PAGE ? header : null, rows));
        rows = [];
      }
    }
    if (values.json) process.stdout.write(count === 0 ? ']\n' : '\n]\n');
    else {
      if (rows.length > 0 || count === 0)
        process.stdout.write(formatTable(count <= PAGE ? header : null, rows));
      process.stderr.write(`${count} package${count === 1 ? '' : 's'}\n`);
    }
    return 0;
  },
});
