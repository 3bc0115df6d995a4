#!/usr/bin/env node
import { createError, EXIT_INTERNAL, isOperationalError } from '../errors.js';

interface Subcommand {
  readonly summary: string;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

/**
 * The subcommands of `pkgindex`. Each lives in its own module under src/cli/, loaded only when
 * run: a server does not pay for the client's or the importer's code, in startup or memory.
 */
const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  serve: {
    summary: 'run the package index server',
    run: async (argv) => (await import('./serve.js')).serve(argv),
  },
  client: {
    summary: 'send commands to a server (one-shot, piped or interactive)',
    run: async (argv) => (await import('./client.js')).client(argv),
  },
  import: {
    summary: 'load a package repository (Homebrew, Debian) into a server',
    run: async (argv) => (await import('./import.js')).importCommand(argv),
  },
  bench: {
    summary: 'measure a server with a load of the protocol',
    run: async (argv) => (await import('./bench.js')).benchMain(argv),
  },
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
  if (subcommand === undefined) throw createError('E_USAGE', `unknown command "${name}"\n\n${usage()}`);
  return subcommand.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isOperationalError(err)) {
      process.stderr.write(`pkgindex: ${err.message} [${err.code}]\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(
        `pkgindex: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = EXIT_INTERNAL;
    }
  },
);
