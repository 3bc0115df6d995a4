import { QUERY_OPTIONS, TOKEN_ENVIRONMENT, queryClient } from './admin-connection.js';
import { defineCommand } from './command.js';
import { formatTable } from './table.js';

interface Info {
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly connections: number;
  readonly packages: number;
  readonly edges: number;
  readonly storage: { readonly backend: string; readonly state: string; readonly detail?: string };
  readonly index: {
    readonly roots: number;
    readonly leaves: number;
    readonly maxDepth: number;
    readonly mostDependents: readonly { readonly name: string; readonly dependents: number }[];
    readonly largestClosures: readonly { readonly name: string; readonly dependents: number }[];
    readonly exact: boolean;
    readonly surveyedAt: string;
  } | null;
}

/** `pkgindex info`: the server's and the index's status, like `redis-cli INFO`. */
export const command = defineCommand({
  description: `Prints the server's status (version, uptime, connections, storage) and the index's figures
(packages, dependencies, roots, leaves, the longest chain, the packages most depended on),
from GET /v1/info.`,
  options: QUERY_OPTIONS,
  environment: TOKEN_ENVIRONMENT,
  epilogue: 'Exit status: 0 answered, 2 no answer (the reason on stderr).',
  run: async (values) => {
    const info = await queryClient(values).get<Info>('/v1/info');
    if (values.json) {
      process.stdout.write(`${JSON.stringify(info)}\n`);
      return 0;
    }
    const rows: (string | number)[][] = [
      ['version', info.version],
      ['uptime', `${info.uptimeSeconds} s`],
      ['connections', String(info.connections)],
      [
        'storage',
        `${info.storage.backend}, ${info.storage.state}${info.storage.detail === undefined ? '' : ` (${info.storage.detail})`}`,
      ],
      ['packages', String(info.packages)],
      ['dependencies', String(info.edges)],
    ];
    const index = info.index;
    if (index !== null) {
      rows.push(
        ['roots', String(index.roots)],
        ['leaves', String(index.leaves)],
        ['longest chain', `${index.maxDepth} dependencies`],
        [
          'most depended on',
          index.mostDependents
            .filter((p) => p.dependents > 0)
            .map((p) => `${p.name} (${p.dependents})`)
            .join(', ') || '-',
        ],
        [
          'largest closures',
          index.largestClosures
            .filter((p) => p.dependents > 0)
            .map((p) => `${p.name} (${p.dependents})`)
            .join(', ') || '-',
        ],
        [
          'surveyed',
          `${index.surveyedAt}${index.exact ? '' : ' (approximate: the index changed meanwhile)'}`,
        ],
      );
    }
    process.stdout.write(formatTable(null, rows));
    return 0;
  },
});
