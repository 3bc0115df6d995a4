import { createError } from '../errors.js';
import { OPTIONS, type Config, type Option, type OptionKey } from './options.js';

/** Options whose flag takes no value (`--quiet`); every other flag needs one. */
function isSwitch(option: Option): boolean {
  return typeof option.default === 'boolean';
}

/**
 * Builds the configuration from command-line flags and environment variables. A flag wins
 * over its variable, which wins over the default. Throws E_CONFIG naming the flag or
 * variable at fault, so the operator knows what to change.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const byFlag = new Map<string, [OptionKey, Option]>();
  for (const [key, option] of Object.entries(OPTIONS) as [OptionKey, Option][])
    byFlag.set(option.flag, [key, option]);

  const fromFlags = new Map<OptionKey, unknown>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const found = byFlag.get(flag);
    if (found === undefined)
      throw createError('E_CONFIG', `unknown option ${flag}; run \`pkgindex serve --help\` for the list`);
    const [key, option] = found;
    let raw: string;
    if (eq > 0) raw = arg.slice(eq + 1);
    else if (isSwitch(option)) raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined)
        throw createError('E_CONFIG', `${flag} needs a value; run \`pkgindex serve --help\``);
      raw = next;
      i++;
    }
    fromFlags.set(key, option.parse(raw, flag));
  }

  const config: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(OPTIONS) as [OptionKey, Option][]) {
    if (fromFlags.has(key)) config[key] = fromFlags.get(key);
    else {
      const raw = env[option.env];
      config[key] =
        raw === undefined ? option.default : option.parse(raw, `environment variable ${option.env}`);
    }
  }
  return config as Config;
}

/** The `--help` text for the options, one per line with its variable and default. */
export function describeOptions(): string {
  const rows = Object.values(OPTIONS as Record<string, Option>).map((o) => {
    const value = isSwitch(o) ? '' : ' <value>';
    return `  ${o.flag}${value}\n      ${o.help}\n      env ${o.env}, default ${JSON.stringify(o.default)}`;
  });
  return rows.join('\n');
}
