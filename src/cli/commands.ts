import type { Command } from './command.js';

interface Entry {
  readonly summary: string;
  /** The module declaring the command; loaded only when run or documented. */
  readonly load: () => Promise<{ readonly command: Command }>;
}

/**
 * The subcommands of `pkgindex`, one line each (see command.ts for how to add one). Each lives
 * in its own module under src/cli/, loaded only when run: a server does not pay for the
 * client's or the importer's code, in startup or memory.
 */
export const COMMANDS: Readonly<Record<string, Entry>> = {
  serve: { summary: 'run the package index server', load: () => import('./serve.js') },
  client: {
    summary: 'send commands to a server (one-shot, piped or interactive)',
    load: () => import('./client.js'),
  },
  import: {
    summary: 'load a package repository (Homebrew, Debian) into a server',
    load: () => import('./import.js'),
  },
  bench: { summary: 'measure a server with a load of the protocol', load: () => import('./bench.js') },
  fsck: { summary: 'verify a data directory offline', load: () => import('./fsck.js') },
};
