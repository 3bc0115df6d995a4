import { option } from '../config/command-line.js';
import { flagBool, integer } from '../config/parsers.js';
import { segment } from '../client/query-client.js';
import { QUERY_EPILOGUE, QUERY_OPTIONS, TOKEN_ENVIRONMENT, queryClient } from './admin-connection.js';
import { defineCommand } from './command.js';
import { formatTree, type TextTreeNode } from './table.js';

interface TreeAnswer {
  readonly root: TextTreeNode;
  readonly nodes: number;
  readonly truncated: boolean;
}

/** `pkgindex deps [--tree|--reverse] PKG`: like `brew deps [--tree]` and `apt-cache rdepends`. */
export const command = defineCommand({
  description: `Prints what PKG depends on, one name per line, by name: its direct dependencies, or with
--transitive all of them. --reverse prints what depends on PKG instead (like apt-cache
rdepends); --tree draws the dependencies (or with --reverse, the dependents) as a tree, like
brew deps --tree, where (*) marks a package shown expanded above and … one cut by --depth.`,
  options: {
    ...QUERY_OPTIONS,
    tree: option({
      flag: '--tree',
      default: false,
      help: 'Draw a tree, down to --depth levels.',
      parse: flagBool,
    }),
    reverse: option({
      flag: '--reverse',
      short: '-r',
      default: false,
      help: 'What depends on PKG, rather than what PKG depends on.',
      parse: flagBool,
    }),
    transitive: option({
      flag: '--transitive',
      short: '-a',
      default: false,
      help: 'Every package reached transitively, not only the direct ones.',
      parse: flagBool,
    }),
    depth: option({
      flag: '--depth',
      value: 'N',
      default: 8,
      help: 'Levels of the tree below PKG (with --tree).',
      parse: integer(0, 64),
    }),
  },
  positionals: [{ name: 'PKG', help: 'The package.' }],
  environment: TOKEN_ENVIRONMENT,
  epilogue: QUERY_EPILOGUE,
  run: async (values, [name = '']) => {
    const api = queryClient(values);
    const base = `/v1/packages/${segment(name)}`;
    if (values.tree) {
      const tree = await api.get<TreeAnswer>(`${base}/tree`, {
        depth: values.depth,
        reverse: values.reverse,
      });
      process.stdout.write(values.json ? `${JSON.stringify(tree)}\n` : formatTree(tree.root));
      if (tree.truncated && !values.json)
        process.stderr.write(
          `(cut at ${tree.nodes} packages; ask for a smaller --depth or a package below)\n`,
        );
      return 0;
    }
    const path = `${base}/${values.reverse ? 'dependents' : 'dependencies'}`;
    const names: string[] = [];
    let truncated = false;
    let cursor: string | undefined;
    do {
      const page = await api.get<{ items: string[]; next: string | null; truncated: boolean }>(path, {
        transitive: values.transitive,
        limit: 1000,
        cursor,
      });
      truncated ||= page.truncated;
      if (values.json) names.push(...page.items);
      else if (page.items.length > 0) process.stdout.write(`${page.items.join('\n')}\n`);
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    if (values.json) process.stdout.write(`${JSON.stringify({ name, items: names, truncated })}\n`);
    else if (truncated)
      process.stderr.write('(the walk hit the server’s bound: the list may be incomplete)\n');
    return 0;
  },
});
