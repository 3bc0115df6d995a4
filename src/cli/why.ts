import { option } from '../config/command-line.js';
import { segment } from '../client/query-client.js';
import { QUERY_EPILOGUE, QUERY_OPTIONS, TOKEN_ENVIRONMENT, queryClient } from './admin-connection.js';
import { defineCommand } from './command.js';

/** The longest --deps sent in the URL: percent-encoded, at most three times as long. */
const DEPS_IN_URL = 4096;

/** What GET /v1/packages/{name}/why answers. */
export type WhyAnswer =
  | {
      readonly action: 'remove';
      readonly name: string;
      readonly removable: boolean;
      readonly chain: readonly string[];
      readonly complete: boolean;
    }
  | {
      readonly action: 'index';
      readonly name: string;
      readonly indexable: boolean;
      readonly verdict: 'ok' | 'missing-dependency' | 'cycle' | 'unknown' | 'malformed';
      readonly missing?: readonly string[];
      readonly cycle?: readonly string[];
      /** With `malformed`: the protocol's error code and what it means. */
      readonly code?: string;
      readonly problem?: string;
    };

/** One sentence on a why answer, as `pkgindex why` and the interactive client print it. */
export function explain(why: WhyAnswer): string {
  if (why.action === 'remove') {
    if (why.removable) return `${why.name} can be removed: nothing depends on it`;
    const chain = why.chain.join(' → ');
    const holder = why.chain[why.chain.length - 2]!;
    return `${why.name} is needed by ${holder}: ${chain}${why.complete ? '' : ' (chain cut at the server’s bound)'}`;
  }
  switch (why.verdict) {
    case 'ok':
      return `${why.name} can be indexed with these dependencies`;
    case 'missing-dependency':
      return `not indexed yet: ${(why.missing ?? []).join(', ')} (index ${(why.missing ?? []).length === 1 ? 'it' : 'them'} first)`;
    case 'cycle':
      return `it would close a cycle: ${(why.cycle ?? []).join(' → ')}`;
    case 'unknown':
      return 'the server could not tell within its bound whether it would close a cycle';
    case 'malformed':
      return `the line is malformed: the server answers it ERROR whatever it holds (${why.code ?? 'ERROR'}: ${why.problem ?? 'see the protocol'}); correct it`;
  }
}

/** `pkgindex why PKG`: why REMOVE (or, with --deps, INDEX) of PKG is refused. */
export const command = defineCommand({
  description: `Explains why the server refuses REMOVE of PKG: the chain of packages that depend on it,
from one that nothing depends on down to PKG. With --deps, explains whether INDEX of PKG with
those dependencies would be refused, and why: a malformed line (answered ERROR), which
dependencies are not indexed, or which path would close a cycle.`,
  options: {
    ...QUERY_OPTIONS,
    deps: option<string | null>({
      flag: '--deps',
      value: 'A,B,...',
      default: null,
      help: 'Ask about INDEX of PKG with these dependencies instead of REMOVE ("" for none).',
      parse: (raw) => raw,
    }),
  },
  positionals: [{ name: 'PKG', help: 'The package.' }],
  environment: TOKEN_ENVIRONMENT,
  epilogue: QUERY_EPILOGUE,
  run: async (values, [name = '']) => {
    const api = queryClient(values);
    const path = `/v1/packages/${segment(name)}/why`;
    // A long list goes in a body (a URL takes 16 KiB at most); a short one in the URL, which
    // servers from before POST .../why answer too.
    const why =
      values.deps !== null && values.deps.length > DEPS_IN_URL
        ? await api.post<WhyAnswer>(path, { deps: values.deps.split(',') })
        : await api.get<WhyAnswer>(path, { deps: values.deps === null ? undefined : values.deps });
    process.stdout.write(values.json ? `${JSON.stringify(why)}\n` : `${explain(why)}\n`);
    return (why.action === 'remove' ? why.removable : why.indexable) ? 0 : 1;
  },
});
