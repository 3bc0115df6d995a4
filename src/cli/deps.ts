import { option } from '../config/command-line.js';
import { flagBool, integer } from '../config/parsers.js';
import {
  DEFAULT_TREE_DEPTH,
  DEFAULT_TREE_NODES,
  MAX_TREE_DEPTH,
  MAX_TREE_NODES,
} from '../admin/query-limits.js';
import { segment } from '../client/query-client.js';
import { createError } from '../errors.js';
import {
  QUERY_EPILOGUE,
  QUERY_OPTIONS,
  TOKEN_ENVIRONMENT,
  queryClient,
  visitsAdvice,
} from './admin-connection.js';
import { defineCommand } from './command.js';
import { formatTree, type TextTreeNode } from './table.js';

interface TreeAnswer {
  readonly root: TextTreeNode;
  readonly nodes: number;
  readonly truncated: boolean;
  /** The server's --query-max-visits (absent from servers before it was reported). */
  readonly maxVisits?: number;
}

interface RelatedPage {
  readonly items: string[];
  readonly next: string | null;
  readonly truncated: boolean;
  readonly maxVisits?: number;
}

/** Why a tree was cut, and what to ask instead: by --max-nodes, or by the server's visits. */
function treeCut(
  tree: TreeAnswer,
  asked: { name: string; depth: number; maxNodes: number; reverse: boolean },
): string {
  const nodes = tree.nodes.toLocaleString('en-US');
  if (tree.nodes < asked.maxNodes)
    return `the tree is cut at ${nodes} packages: ${visitsAdvice(tree.maxVisits)}`;
  const instead = [
    ...(asked.maxNodes < MAX_TREE_NODES ? [`a larger --max-nodes (at most ${MAX_TREE_NODES})`] : []),
    ...(asked.depth > 1 ? ['a smaller --depth'] : []),
  ];
  const list = `pkgindex deps${asked.reverse ? ' -r' : ''}${asked.depth > 1 ? ' -a' : ''} ${asked.name}`;
  return (
    `cut at ${nodes} packages, the --max-nodes bound; ` +
    (instead.length > 0 ? `ask for ${instead.join(' or ')}, or ` : '') +
    `list them without a tree: ${list}`
  );
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
    // Null unless given: each is refused without --tree rather than silently ignored.
    depth: option<number | null>({
      flag: '--depth',
      value: 'N',
      default: null,
      defaultText: `${DEFAULT_TREE_DEPTH}`,
      help: `Levels of the tree below PKG (with --tree; at most ${MAX_TREE_DEPTH}).`,
      parse: integer(0, MAX_TREE_DEPTH),
    }),
    maxNodes: option<number | null>({
      flag: '--max-nodes',
      value: 'N',
      default: null,
      defaultText: `${DEFAULT_TREE_NODES}`,
      help: `Most packages the tree shows before it is cut (with --tree; at most ${MAX_TREE_NODES}).`,
      parse: integer(1, MAX_TREE_NODES),
    }),
  },
  positionals: [{ name: 'PKG', help: 'The package.' }],
  environment: TOKEN_ENVIRONMENT,
  epilogue: QUERY_EPILOGUE,
  run: async (values, [name = '']) => {
    const api = queryClient(values);
    const base = `/v1/packages/${segment(name)}`;
    if (!values.tree) {
      const treeOnly = values.depth !== null ? '--depth' : values.maxNodes !== null ? '--max-nodes' : null;
      if (treeOnly !== null)
        throw createError(
          'E_USAGE',
          `${treeOnly} shapes a tree: add --tree, or leave it out (--transitive lists every level)`,
        );
    } else {
      if (values.transitive)
        throw createError(
          'E_USAGE',
          '--transitive lists every level by name and --tree draws --depth levels; pass one of them',
        );
      const depth = values.depth ?? DEFAULT_TREE_DEPTH;
      const maxNodes = values.maxNodes ?? DEFAULT_TREE_NODES;
      const tree = await api.get<TreeAnswer>(`${base}/tree`, { depth, reverse: values.reverse, maxNodes });
      process.stdout.write(values.json ? `${JSON.stringify(tree)}\n` : formatTree(tree.root));
      if (tree.truncated && !values.json)
        process.stderr.write(`(${treeCut(tree, { name, depth, maxNodes, reverse: values.reverse })})\n`);
      return 0;
    }
    const path = `${base}/${values.reverse ? 'dependents' : 'dependencies'}`;
    const names: string[] = [];
    let truncated = false;
    let maxVisits: number | undefined;
    let cursor: string | undefined;
    do {
      const page = await api.get<RelatedPage>(path, {
        transitive: values.transitive,
        limit: 1000,
        cursor,
      });
      truncated ||= page.truncated;
      maxVisits = page.maxVisits;
      if (values.json) names.push(...page.items);
      else if (page.items.length > 0) process.stdout.write(`${page.items.join('\n')}\n`);
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    if (values.json) process.stdout.write(`${JSON.stringify({ name, items: names, truncated })}\n`);
    else if (truncated) process.stderr.write(`(the list may be incomplete: ${visitsAdvice(maxVisits)})\n`);
    return 0;
  },
});
