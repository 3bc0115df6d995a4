/**
 * pkgindex as a library: `createPkgIndex` builds a whole server (store, protocol listener,
 * metrics, admin HTTP server) from a configuration, as `pkgindex serve` does.
 *
 * ```ts
 * import { createPkgIndex } from 'pkgindex';
 * const pkgindex = createPkgIndex({ host: '127.0.0.1', port: 0, storage: 'memory', admin: false });
 * const { protocol } = await pkgindex.listen();
 * // ... clients speak the line protocol to protocol.port ...
 * await pkgindex.close();
 * ```
 *
 * The one public entry of the package: everything else under dist/src is internal.
 */
import { Composition, type PkgIndex, type PkgIndexConfig, type PkgIndexOptions } from './root.js';

export type { PkgIndex, PkgIndexAddresses, PkgIndexConfig, PkgIndexOptions } from './root.js';
export type { IndexStore, StoreHealth } from './store/store.js';

/**
 * Builds a server from `config` (every setting left out takes its `pkgindex serve` default:
 * see the README's configuration table) without starting anything; `listen()` starts it.
 * Throws a PkgIndexError with `code` E_CONFIG for settings that contradict each other.
 */
export function createPkgIndex(
  config: Partial<PkgIndexConfig> = {},
  options: PkgIndexOptions = {},
): PkgIndex {
  return new Composition(config, options);
}
