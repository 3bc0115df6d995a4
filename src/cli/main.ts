#!/usr/bin/env node
import { PkgIndexError, UsageError } from '../errors.js';
import { serve } from './serve.js';
import { benchMain } from './bench.js';

interface Subcommand {
  readonly summary: string;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

/** The subcommands of `pkgindex`. Each lives in its own module under src/cli/. */
const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  serve: { summary: 'run the package index server', run: serve },
  bench: { summary: 'measure a server with a load of the protocol', run: benchMain },
};

function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((n) => n.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(width)}  ${s.summary}`);
  return `Usage: pkgindex <command> [options]

Commands:
${lines.join('\n')}

Run \`pkgindex <command> --help\` for a command's options.
`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const subcommand = SUBCOMMANDS[name];
  if (subcommand === undefined) throw new UsageError(`unknown command "${name}"\n\n${usage()}`);
  return subcommand.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof PkgIndexError) {
      process.stderr.write(`pkgindex: ${err.message} [${err.code}]\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(
        `pkgindex: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 70;
    }
  },
);
