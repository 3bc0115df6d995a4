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
  ls: { summary: 'list the indexed packages (query API)', load: () => import('./ls.js') },
  deps: {
    summary: "a package's dependencies or dependents, as a list or a tree (query API)",
    load: () => import('./deps.js'),
  },
  why: { summary: 'why REMOVE or INDEX of a package is refused (query API)', load: () => import('./why.js') },
  order: {
    summary: "install order of a package's dependencies, or safe removal order (query API)",
    load: () => import('./order.js'),
  },
  info: { summary: "the server's and the index's status (query API)", load: () => import('./info.js') },
  backup: {
    summary: "save an online backup of a running server's data dir (admin port)",
    load: () => import('./backup.js'),
  },
  init: {
    summary: 'create a new, empty index in a data dir',
    load: () => import('./init.js'),
  },
  restore: { summary: 'restore a backup into a data dir, checked', load: () => import('./restore.js') },
  bench: { summary: 'measure a server with a load of the protocol', load: () => import('./bench.js') },
  fsck: { summary: 'verify a data directory offline', load: () => import('./fsck.js') },
  migrate: {
    summary: 'bring the PostgreSQL schema of --storage postgres up to date',
    load: () => import('./migrate.js'),
  },
};
