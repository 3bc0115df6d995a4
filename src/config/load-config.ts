import { createError } from '../errors.js';
import { parseCommandLine } from './command-line.js';
import { OPTIONS, type Config } from './options.js';

/**
 * Builds the configuration of `pkgindex serve` from command-line flags and environment
 * variables, by the rules of the argument layer (command-line.ts): a flag wins over its
 * variable, which wins over the default; an E_CONFIG error names the flag or variable at fault.
 * For code that builds a server from flags (tests, tools); the CLI goes through `serve`'s spec.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const parsed = parseCommandLine('serve', { description: '', options: OPTIONS }, argv, env);
  if (parsed.help) throw createError('E_CONFIG', '--help is not a setting; loadConfig reads settings only');
  return parsed.values;
}
