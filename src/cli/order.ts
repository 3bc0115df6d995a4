import { option } from '../config/command-line.js';
import { flagBool } from '../config/parsers.js';
import { segment } from '../client/query-client.js';
import {
  QUERY_EPILOGUE,
  QUERY_OPTIONS,
  TOKEN_ENVIRONMENT,
  queryClient,
  visitsAdvice,
} from './admin-connection.js';
import { defineCommand } from './command.js';

/** `pkgindex order PKG`: the install order of PKG's closure, or with --removal, the safe removal order. */
export const command = defineCommand({
  description: `Prints, one per line, the order in which to install PKG: each of its transitive
dependencies after all of its own, ending with PKG (like brew deps -n --topological). With
--removal, the order in which to remove PKG and everything that depends on it, dependents first.`,
  options: {
    ...QUERY_OPTIONS,
    removal: option({
      flag: '--removal',
      default: false,
      help: 'The safe removal order of PKG and its dependents instead.',
      parse: flagBool,
    }),
  },
  positionals: [{ name: 'PKG', help: 'The package.' }],
  environment: TOKEN_ENVIRONMENT,
  epilogue: QUERY_EPILOGUE,
  run: async (values, [name = '']) => {
    const api = queryClient(values);
    const order = await api.get<{ items: string[]; truncated: boolean; maxVisits?: number }>(
      `/v1/packages/${segment(name)}/${values.removal ? 'removal-order' : 'install-order'}`,
    );
    if (values.json) process.stdout.write(`${JSON.stringify({ name, ...order })}\n`);
    else {
      if (order.items.length > 0) process.stdout.write(`${order.items.join('\n')}\n`);
      if (order.truncated)
        process.stderr.write(
          `(the order is partial: ${values.removal ? 'what is listed can be removed in this order' : 'each listed package comes after its dependencies'}; ${visitsAdvice(order.maxVisits)})\n`,
        );
    }
    return 0;
  },
});
