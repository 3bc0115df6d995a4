#!/usr/bin/env node
import { createError, EXIT_INTERNAL, isOperationalError } from '../errors.js';
import { COMMANDS } from './commands.js';
import { packageVersion } from '../config/version.js';

const HELP = new Set(['help', '--help', '-h']);
const VERSION = new Set(['version', '--version', '-V']);

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: pkgindex <command> [options]
       pkgindex --version

Commands:
${lines.join('\n')}

Run \`pkgindex <command> --help\` for a command's options.
`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || HELP.has(name)) {
    // `pkgindex help client` is `pkgindex client --help`.
    if (name === 'help' && rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]))
      return main([rest[0], '--help']);
    process.stdout.write(usage());
    return 0;
  }
  if (VERSION.has(name)) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  // Own keys only: `pkgindex constructor` is not a command.
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (entry === undefined) throw createError('E_USAGE', `unknown command "${name}"\n\n${usage()}`);
  const { command } = await entry.load();
  return command.main(name, rest, process.env);
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
