/**
 * A `pkgindex` subcommand: one declaration (options, positional arguments, help text) plus a
 * run function. The argument layer (src/config/command-line.ts) parses and validates the
 * command line and the environment against the declaration, prints `--help`, and hands `run`
 * typed values; `run` resolves to the exit status.
 *
 * Adding a subcommand, e.g. `pkgindex fsck`:
 *
 * 1. `src/cli/fsck.ts` exports
 *    ```ts
 *    export const command = defineCommand({
 *      description: 'Checks the data directory ...',
 *      options: {
 *        dataDir: option({ flag: '--data-dir', env: 'PKGINDEX_DATA_DIR', value: 'DIR',
 *                          default: OPTIONS.dataDir.default, help: '...', parse: text }),
 *        json: option({ flag: '--json', default: false, help: '...', parse: flagBool }),
 *      },
 *      positionals: [{ name: 'SEGMENT', help: '...', optional: true, variadic: true }],
 *      epilogue: 'Exit status: 0 ..., 1 ..., 2 ...',
 *      run: async ({ dataDir, json }, segments) => { ...; return 0; },
 *    });
 *    ```
 *    Reuse an existing option where the meaning is the same (`CONNECTION_OPTIONS` in
 *    connection.ts for a command that talks to a server, serve's `OPTIONS` for one that
 *    opens the data directory), so that a default and a variable are defined once.
 * 2. `src/cli/commands.ts`: one line with its name, one-line summary and `import('./fsck.js')`.
 * 3. The README: paste `npx tsx scripts/config-table.ts fsck` between the markers
 *    `<!-- options: fsck -->` and `<!-- /options -->` (a test fails until it is there).
 *
 * Errors: throw with createError (src/errors.ts); main.ts prints `pkgindex: message [CODE]`
 * and exits with the catalogue's exit code (2 for usage and configuration errors), 70 for a bug.
 */
import {
  formatHelp,
  parseCommandLine,
  type CommandSpec,
  type OptionTable,
  type Values,
} from '../config/command-line.js';

export interface CommandDeclaration<O extends OptionTable> extends CommandSpec<O> {
  /** Runs the command with the parsed options and positional arguments; resolves to the exit status. */
  readonly run: (values: Values<O>, args: readonly string[]) => Promise<number>;
}

/** A declared subcommand, its option types erased so that commands can sit in one table. */
export interface Command {
  readonly spec: CommandSpec;
  /** Parses `argv` (after the subcommand's name) and `env`; prints the help or runs the command. */
  readonly main: (name: string, argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number>;
}

export function defineCommand<O extends OptionTable>(declaration: CommandDeclaration<O>): Command {
  const { run, ...spec } = declaration;
  return {
    spec,
    main: async (name, argv, env) => {
      const parsed = parseCommandLine(name, spec, argv, env);
      if (parsed.help) {
        process.stdout.write(formatHelp(name, spec));
        return 0;
      }
      return run(parsed.values, parsed.args);
    },
  };
}
