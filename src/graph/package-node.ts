/**
 * One indexed package as the dependency graph keeps it: its dependencies, the packages that
 * depend on it (the reverse edges), and its place in a topological order. Internal to
 * `src/graph`: the graph owns every node, queries read them through `PackageNode`.
 *
 * Memory and the garbage collector decide how dependents are kept (a million packages must
 * recover within 450 MiB): in an array whose length is its capacity, doubled when full, with
 * the count beside it, while there are at most `SET_ABOVE` of them (removal scans it), then
 * in a Set (libc6 has tens of thousands). Arrays that grow with `push()` take 16 spare slots
 * (128 bytes) each, and arrays copied at every addition fill the old generation with garbage
 * that only full collections reclaim: building a million-package index took twice the CPU.
 */

/** A package as queries see it: read-only. */
export interface PackageNode {
  readonly name: string;
  /** Its dependencies, each once. */
  readonly deps: readonly PackageNode[];
  /** How many packages depend on it. */
  readonly dependents: number;
}

/** The graph's own, mutable view of a package. */
export interface Entry extends PackageNode {
  deps: Entry[];
  /**
   * The packages that list this one: the first `dependents` slots of an array (the rest are
   * empty), or a Set once there are more than SET_ABOVE.
   */
  users: (Entry | undefined)[] | Set<Entry>;
  dependents: number;
  /** Scratch for searches: equal to the graph's current epoch when visited by the current one. */
  mark: number;
  /** Position in the graph's topological order: every dependency has a smaller `ord`. */
  ord: number;
}

/** The dependents of a package that never had any. Shared: never written to (its length is 0). */
export const NO_USERS: (Entry | undefined)[] = [];

/** Above this many dependents, a package keeps them in a Set (O(1) removal). */
export const SET_ABOVE = 32;
/** A Set that shrinks to this many becomes an array again (apart from SET_ABOVE: no flapping). */
const ARRAY_AT = 8;

export function newEntry(name: string, deps: Entry[], ord: number): Entry {
  return { name, deps, users: NO_USERS, dependents: 0, mark: 0, ord };
}

/** The packages that depend on `node`, in no particular order. */
export function dependentsOf(node: PackageNode): readonly PackageNode[] | ReadonlySet<PackageNode> {
  const { users, dependents } = node as Entry;
  return Array.isArray(users) ? (users.slice(0, dependents) as Entry[]) : users;
}

/** Calls `visit` with each package that depends on `node`, until it returns false. */
export function forEachDependent(node: PackageNode, visit: (user: PackageNode) => unknown): void {
  const { users, dependents } = node as Entry;
  if (Array.isArray(users)) {
    for (let i = 0; i < dependents; i++) if (visit(users[i]!) === false) return;
  } else for (const user of users) if (visit(user) === false) return;
}

/**
 * Records that `user` depends on `dep`; true when `dep` had no dependents before. The caller
 * guarantees it was not recorded already.
 */
export function addUser(dep: Entry, user: Entry): boolean {
  const n = dep.dependents;
  const users = dep.users;
  dep.dependents = n + 1;
  if (!Array.isArray(users)) users.add(user);
  else if (n < users.length) users[n] = user;
  else if (n < SET_ABOVE) {
    const grown = new Array<Entry | undefined>(n === 0 ? 1 : 2 * n);
    for (let i = 0; i < n; i++) grown[i] = users[i];
    grown[n] = user;
    dep.users = grown;
  } else {
    const set = new Set(users as Entry[]);
    set.add(user);
    dep.users = set;
  }
  return n === 0;
}

/**
 * Forgets that `user` depends on `dep`; true when `dep` has no dependents left. The caller
 * guarantees it was recorded.
 */
export function removeUser(dep: Entry, user: Entry): boolean {
  const n = dep.dependents - 1;
  const users = dep.users;
  dep.dependents = n;
  if (Array.isArray(users)) {
    const at = users.indexOf(user);
    users[at] = users[n];
    // Emptied, so the array keeps no removed package alive.
    users[n] = undefined;
  } else {
    users.delete(user);
    if (n <= ARRAY_AT) {
      const small = new Array<Entry | undefined>(2 * n);
      let i = 0;
      for (const u of users) small[i++] = u;
      dep.users = small;
    }
  }
  return n === 0;
}

/** True when `user` is recorded as depending on `dep`. */
export function hasUser(dep: Entry, user: Entry): boolean {
  const users = dep.users;
  if (!Array.isArray(users)) return users.has(user);
  const at = users.indexOf(user);
  return at !== -1 && at < dep.dependents;
}

/** Problems with how `entry` keeps its dependents (verify). */
export function checkUsers(entry: Entry): string | undefined {
  const { users, dependents: n } = entry;
  if (!Array.isArray(users))
    return users.size === n && n > ARRAY_AT ? undefined : `a Set of ${users.size} for ${n}`;
  if (n > users.length || n > SET_ABOVE) return `an array of ${users.length} for ${n}`;
  for (let i = 0; i < users.length; i++)
    if ((users[i] === undefined) !== i >= n) return `slot ${i} of ${users.length} is wrong for ${n}`;
  return undefined;
}
