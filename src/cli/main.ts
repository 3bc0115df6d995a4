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

/**
 * A reader that went away (`pkgindex ls | head -1`) is not an error: stop at once, quietly, with
 * status 0, as `git log | head` does. Node ignores SIGPIPE, so without this the write fails with
 * EPIPE, an unhandled 'error' event, a stack trace and status 1. 0 rather than the shell's 141
 * (128 + SIGPIPE): the command did what the reader asked for, and under `set -o pipefail` a
 * script's `pkgindex ls | head` should not fail. Stopping also stops the paging: no more
 * requests to the server for an answer no one reads. Any other write error (a full disk under
 * `> file`) is reported, and is no answer (2). Not for `serve`, whose stdout is its log: a
 * server that loses its log must not exit as if asked to.
 */
function stopWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`pkgindex: cannot write the answer to stdout: ${err.message}\n`);
    process.exit(2);
  });
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
  if (name !== 'serve') stopWhenStdoutCloses();
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
