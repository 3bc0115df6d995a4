/**
 * The one argument layer of every `pkgindex` subcommand. A subcommand declares its options and
 * positional arguments in a CommandSpec; from that one declaration come the parsing of flags and
 * environment variables, the validation (E_CONFIG or E_USAGE errors naming the flag or variable
 * and what it accepts, exit code 2), the `--help` text and the README's options table.
 *
 * Rules every subcommand gets the same way:
 * - `--flag value`, `--flag=value`, `-x value`, `-xvalue`; switches (options parsed by
 *   `flagBool`) take no value after them but accept `--flag=false`. The last occurrence wins.
 * - A flag wins over its environment variable, which wins over the default.
 * - `-h`/`--help` anywhere before `--` (and not as an option's value) asks for help, whatever
 *   else is on the line.
 * - `--` ends the options: everything after it is a positional argument (a package named `-x`),
 *   and a lone `-` is always positional (stdin).
 *
 * Pure: no I/O here (src/cli/command.ts prints the help and runs the command).
 */
import { createError } from '../errors.js';
import { flagBool, type Parser } from './parsers.js';

/** One option: a flag, optionally a short alias and an environment variable. */
export interface OptionSpec<T> {
  readonly flag: `--${string}`;
  /** A one-letter alias, only where it is conventional (`-i` for an interactive prompt). */
  readonly short?: `-${string}`;
  /** Read when the flag is absent. One name means one thing for every subcommand reading it. */
  readonly env?: `PKGINDEX_${string}`;
  /** What the value is called in the help (`--port <PORT>`); default `value`. */
  readonly value?: string;
  readonly help: string;
  readonly default: T;
  /** How the default reads in the help and the README, when it is not a plain value (`5 unless --ops`). */
  readonly defaultText?: string;
  readonly parse: Parser<T>;
}

/** The declaration helper: checks the spec's shape and infers T from `default` and `parse`. */
export function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

export type OptionTable = Readonly<Record<string, OptionSpec<unknown>>>;

/** The parsed options: each key of the table with its option's type. */
export type Values<O extends OptionTable> = { readonly [K in keyof O]: O[K]['default'] };

/** A positional argument, in the order given on the command line. */
export interface PositionalSpec {
  /** As shown in the usage line: `FILE`, `NAME`. */
  readonly name: string;
  readonly help: string;
  /** Absent: the command runs without it. */
  readonly optional?: boolean;
  /** Takes every remaining argument (one or more, or zero or more when optional); last only. */
  readonly variadic?: boolean;
}

/** A variable the command reads itself (a secret kept out of `ps`): documented, not parsed here. */
export interface EnvironmentSpec {
  readonly env: `PKGINDEX_${string}`;
  readonly help: string;
  /** Why it has no flag; shown in the README table's first cell. */
  readonly why?: string;
}

export interface CommandSpec<O extends OptionTable = OptionTable> {
  /** The paragraph(s) after the usage line. */
  readonly description: string;
  readonly options: O;
  readonly positionals?: readonly PositionalSpec[];
  readonly environment?: readonly EnvironmentSpec[];
  /** Text after the options: exit status, notes. */
  readonly epilogue?: string;
}

export type ParsedCommandLine<O extends OptionTable> =
  | { readonly help: true }
  | { readonly help: false; readonly values: Values<O>; readonly args: readonly string[] };

const HELP_FLAGS: readonly string[] = ['-h', '--help'];

/** A switch takes no value after it on the command line. */
export function isSwitch(option: OptionSpec<unknown>): boolean {
  return option.parse === (flagBool as Parser<unknown>);
}

/**
 * Reads `argv` (the arguments after the subcommand's name) and `env` against `spec`. Throws
 * E_CONFIG for an unknown option or a bad value (naming the flag or variable and what it
 * accepts) and E_USAGE for missing or extra positional arguments.
 */
export function parseCommandLine<O extends OptionTable>(
  command: string,
  spec: CommandSpec<O>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ParsedCommandLine<O> {
  const byName = optionsByName(spec.options);
  if (asksForHelp(argv, byName)) return { help: true };

  const fromFlags = new Map<string, unknown>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      args.push(arg);
      continue;
    }
    const { name, inline } = splitOption(arg);
    const found = byName.get(name);
    // `-ix` is not two switches: only a short option that takes a value has one attached to it.
    if (found === undefined || (inline !== undefined && !arg.startsWith('--') && isSwitch(found[1])))
      throw createError(
        'E_CONFIG',
        `unknown option ${found === undefined ? name : arg}; run \`pkgindex ${command} --help\` for the list`,
      );
    const [key, option] = found;
    let raw: string;
    if (inline !== undefined) raw = inline;
    else if (isSwitch(option)) raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined)
        throw createError('E_CONFIG', `${name} needs a value; run \`pkgindex ${command} --help\``);
      raw = next;
      i++;
    }
    fromFlags.set(key, option.parse(raw, name));
  }

  const values: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(spec.options)) {
    if (fromFlags.has(key)) values[key] = fromFlags.get(key);
    else {
      const raw = option.env === undefined ? undefined : env[option.env];
      values[key] =
        raw === undefined ? option.default : option.parse(raw, `environment variable ${option.env!}`);
    }
  }
  checkPositionals(command, spec, args, fromFlags);
  return { help: false, values: values as Values<O>, args };
}

/**
 * Whether `-h` or `--help` is among the options, before `--` and not as the value of an option
 * (`--name -h`). Checked before anything is validated, so that help wins over a mistake.
 */
function asksForHelp(
  argv: readonly string[],
  byName: ReadonlyMap<string, [string, OptionSpec<unknown>]>,
): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return false;
    if (HELP_FLAGS.includes(arg)) return true;
    if (!arg.startsWith('-')) continue;
    const { name, inline } = splitOption(arg);
    const option = byName.get(name)?.[1];
    if (option !== undefined && inline === undefined && !isSwitch(option)) i++;
  }
  return false;
}

/** `--flag=value` → flag and value; `-xvalue` → `-x` and `value`; otherwise the name alone. */
function splitOption(arg: string): { name: string; inline?: string } {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    return eq > 0 ? { name: arg.slice(0, eq), inline: arg.slice(eq + 1) } : { name: arg };
  }
  if (arg.length > 2) return { name: arg.slice(0, 2), inline: arg.slice(arg[2] === '=' ? 3 : 2) };
  return { name: arg };
}

function optionsByName(options: OptionTable): Map<string, [string, OptionSpec<unknown>]> {
  const byName = new Map<string, [string, OptionSpec<unknown>]>();
  for (const [key, option] of Object.entries(options))
    for (const name of [option.flag, option.short]) {
      if (name === undefined) continue;
      // A declaration mistake, caught by the test that parses every subcommand's table.
      if (byName.has(name) || HELP_FLAGS.includes(name))
        throw createError('E_INVALID_ARGUMENT', `option ${name} is declared twice`);
      byName.set(name, [key, option]);
    }
  return byName;
}

function checkPositionals(
  command: string,
  spec: CommandSpec,
  args: readonly string[],
  given: ReadonlyMap<string, unknown>,
): void {
  const positionals = spec.positionals ?? [];
  const required = positionals.filter((p) => p.optional !== true);
  if (args.length < required.length) {
    const missing = required[args.length]!;
    throw createError('E_USAGE', `missing ${missing.name}; usage: ${usageLine(command, spec)}`);
  }
  if (positionals.at(-1)?.variadic !== true && args.length > positionals.length) {
    const extra = args.slice(positionals.length);
    const meant = pathOptionsFor(spec, extra, given);
    throw createError(
      'E_USAGE',
      `unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => JSON.stringify(a)).join(' ')}; ` +
        (meant === null ? '' : `did you mean ${meant}? `) +
        `usage: ${usageLine(command, spec)}; run \`pkgindex ${command} --help\` for the options`,
    );
  }
}

/** Option values that name a file or directory: what a stray path on the command line most likely meant. */
const PATH_VALUES: readonly string[] = ['FILE', 'DIR'];

/**
 * `pkgindex fsck /var/lib/pkgindex` for `--data-dir /var/lib/pkgindex`: when the stray
 * arguments are as many as the path options not given yet, each to one of them in the order
 * the command declares them, the command line that would mean it
 * (`--data-dir "/var/lib/pkgindex"`); else null.
 */
function pathOptionsFor(
  spec: CommandSpec,
  extra: readonly string[],
  given: ReadonlyMap<string, unknown>,
): string | null {
  const free = Object.entries(spec.options).filter(
    ([key, option]) => !given.has(key) && PATH_VALUES.includes(option.value ?? ''),
  );
  // Only when there is one way to read them: `serve ./x` could mean any of five files.
  if (extra.some((arg) => arg === '-') || extra.length !== free.length) return null;
  return extra.map((arg, i) => `${free[i]![1].flag} ${JSON.stringify(arg)}`).join(' ');
}

/** `FILE ...`, `[NAME]` */
function positionalWord(p: PositionalSpec): string {
  const word = p.variadic === true ? `${p.name} ...` : p.name;
  return p.optional === true ? `[${word}]` : word;
}

/** `pkgindex import [options] FILE ...` */
export function usageLine(command: string, spec: CommandSpec): string {
  const words = (spec.positionals ?? []).map(positionalWord);
  return ['pkgindex', command, '[options]', ...words].join(' ');
}

function flagWithValue(option: OptionSpec<unknown>): string {
  return isSwitch(option) ? option.flag : `${option.flag} <${option.value ?? 'value'}>`;
}

function defaultText(option: OptionSpec<unknown>): string {
  return option.defaultText ?? JSON.stringify(option.default);
}

/** The `--help` text: usage, description, arguments, options with their variables and defaults. */
export function formatHelp(command: string, spec: CommandSpec): string {
  const indent = (text: string): string => `      ${text}`;
  const sections = [`Usage: ${usageLine(command, spec)}`, spec.description.trimEnd()];
  const positionals = spec.positionals ?? [];
  if (positionals.length > 0)
    sections.push(
      ['Arguments:', ...positionals.flatMap((p) => [`  ${positionalWord(p)}`, indent(p.help)])].join('\n'),
    );
  const options = Object.values(spec.options).flatMap((o) => {
    const names = o.short === undefined ? flagWithValue(o) : `${o.short}, ${flagWithValue(o)}`;
    const source = [
      ...(o.env === undefined ? [] : [`env ${o.env}`]),
      // A switch that is off unless given says nothing more by "default false".
      ...(o.env === undefined && o.default === false ? [] : [`default ${defaultText(o)}`]),
    ];
    return [`  ${names}`, indent(o.help), ...(source.length > 0 ? [indent(source.join(', '))] : [])];
  });
  const environment = (spec.environment ?? []).flatMap((e) => [
    `  ${e.env} (environment only)`,
    indent(e.help),
  ]);
  sections.push(
    ['Options:', ...options, ...environment, '  -h, --help', indent('Print this help.')].join('\n'),
  );
  if (spec.epilogue !== undefined) sections.push(spec.epilogue.trimEnd());
  return `${sections.join('\n\n')}\n`;
}

/** The README's table of the options (flag, variable, default, meaning), in Markdown. */
export function formatOptionsTable(spec: CommandSpec): string {
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  const code = (text: string): string => `\`${text}\``;
  const rows = Object.values(spec.options).map((o) => {
    const names =
      o.short === undefined ? code(flagWithValue(o)) : `${code(flagWithValue(o))}, ${code(o.short)}`;
    const env = o.env === undefined ? '' : code(o.env);
    const byDefault = o.defaultText === undefined ? code(JSON.stringify(o.default)) : o.defaultText;
    return `| ${cell(names)} | ${env} | ${cell(byDefault)} | ${cell(o.help)} |`;
  });
  for (const e of spec.environment ?? [])
    rows.push(
      `| (environment only${e.why === undefined ? '' : `; ${e.why}`}) | ${code(e.env)} | unset | ${cell(e.help)} |`,
    );
  return ['| Flag | Environment variable | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}
