import { Verb, type CommandSlot } from '../protocol/command.js';

/** The caps on what one INDEX line may add (`--max-dependencies`, `--max-packages`; 0: none). */
export interface CommandCaps {
  readonly maxDependencies?: number;
  readonly maxPackages?: number;
}

export type CapCode = 'E_TOO_MANY_DEPENDENCIES' | 'E_TOO_MANY_PACKAGES';

/**
 * The cap `command` goes over, or null: an INDEX listing more than --max-dependencies, or any
 * INDEX while the index holds --max-packages. `packages` is asked only when that cap is on.
 */
export function overCap(command: CommandSlot, caps: CommandCaps, packages: () => number): CapCode | null {
  if (command.verb !== Verb.INDEX) return null;
  const maxDependencies = caps.maxDependencies ?? 0;
  if (maxDependencies > 0 && command.deps.length > maxDependencies) return 'E_TOO_MANY_DEPENDENCIES';
  const maxPackages = caps.maxPackages ?? 0;
  if (maxPackages > 0 && packages() >= maxPackages) return 'E_TOO_MANY_PACKAGES';
  return null;
}
