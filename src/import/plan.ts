/**
 * Import planning: which packages of a source can be indexed, in which order, and why the
 * others cannot. Pure and synchronous; formats produce `SourcePackage`s, the runner sends the plan.
 *
 * The server accepts `INDEX` only when every dependency is already indexed and refuses cycles,
 * so a package is importable exactly when its name is valid and each of its dependencies is
 * either in the source and importable, with no cycle on the way, or already on the server. Packages on a cycle (a strongly
 * connected component of more than one package, or one that depends on itself) are left out,
 * and so is everything that depends on a left-out package, transitively.
 *
 * With `breakCycles`, each cycle instead loses a few of its dependencies (see break-cycles.ts),
 * its packages are planned like any others, and the dropped dependencies are reported.
 */
import { MAX_NAME_BYTES } from '../protocol/command.js';
import { breakComponent } from './break-cycles.js';

/** A package as a source describes it, dependencies already resolved to package names. */
export interface SourcePackage {
  readonly name: string;
  readonly deps: readonly string[];
}

export const LeftOutReason = {
  /** The name has bytes the protocol forbids, or is empty or too long. */
  INVALID_NAME: 'invalid-name',
  /** A dependency exists nowhere: neither in the source nor (when asked) on the server. */
  MISSING_DEPENDENCY: 'missing-dependency',
  /** The package is on a dependency cycle. */
  CYCLE: 'cycle',
  /** A dependency is itself left out (for any of the reasons above, possibly transitively). */
  BLOCKED: 'blocked',
} as const;
export type LeftOutReason = (typeof LeftOutReason)[keyof typeof LeftOutReason];

/** Reasons a package is left out on its own account, not because of a dependency. */
export type RootReason = Exclude<LeftOutReason, typeof LeftOutReason.BLOCKED>;

export type LeftOut =
  | { readonly name: string; readonly reason: typeof LeftOutReason.INVALID_NAME }
  | {
      readonly name: string;
      readonly reason: typeof LeftOutReason.MISSING_DEPENDENCY;
      readonly missing: string;
    }
  | { readonly name: string; readonly reason: typeof LeftOutReason.CYCLE; readonly cycle: number }
  | {
      readonly name: string;
      readonly reason: typeof LeftOutReason.BLOCKED;
      /** The direct dependency that is left out. */
      readonly via: string;
      /** The package left out on its own account that this one (transitively) depends on. */
      readonly root: string;
      readonly rootReason: RootReason;
    };

export interface ImportPlan {
  /** Importable packages, every package after all of its dependencies. */
  readonly order: readonly SourcePackage[];
  readonly leftOut: readonly LeftOut[];
  /** Each cycle's packages, sorted by name; `LeftOut.cycle` indexes this list. */
  readonly cycles: readonly (readonly string[])[];
  /**
   * For each cycle, how many packages it keeps out of the plan (its own and every package left
   * out because it depends on it), or with `breakCycles`, how many it let in once broken. A
   * package that depends on several cycles counts for the first one found on its way. What the
   * report ranks cycles by: on Debian, a cycle of two packages keeps out most of the archive.
   */
  readonly cycleImpact: readonly number[];
  /** Each dependency that exists nowhere, with how many packages name it directly. */
  readonly missing: ReadonlyMap<string, number>;
  /** Dependencies the source does not define that the server holds (`PlanOptions.indexed`). */
  readonly foundIndexed: number;
  /** With `breakCycles`: the dependencies left out of the plan, so the cycles are gone. */
  readonly droppedEdges: readonly DroppedEdge[];
  /**
   * With `breakCycles`: how many planned packages are there only because cycles were broken
   * (on a cycle, or depending on one); without it they would have been left out.
   */
  readonly letIn: number;
}

/** A dependency dropped to break a cycle: `from` is planned as if it did not depend on `to`. */
export interface DroppedEdge {
  readonly from: string;
  readonly to: string;
  /** Index into `ImportPlan.cycles`. */
  readonly cycle: number;
}

export interface PlanOptions {
  /** Drop dependencies inside cycles instead of leaving the cycles out. */
  readonly breakCycles?: boolean;
  /**
   * Names the server already holds, of those the source does not define (`undefinedNames`):
   * a dependency on one is met, so a repository can be layered on one already imported (a
   * security archive, a PPA). A name the source defines is planned from the source regardless.
   */
  readonly indexed?: ReadonlySet<string>;
}

/**
 * The dependencies `packages` name without defining them, each once, in the order first named:
 * what to ask the server about before planning (see `PlanOptions.indexed`). Names the protocol
 * forbids are left out: no server can hold them.
 */
export function undefinedNames(packages: readonly SourcePackage[]): string[] {
  const defined = new Set(packages.map((p) => p.name));
  const names = new Set<string>();
  for (const p of packages) for (const d of p.deps) if (!defined.has(d) && isValidName(d)) names.add(d);
  return [...names];
}

const NAME = /^[A-Za-z0-9._+\-@/:]+$/;

/** True when `name` is acceptable to the protocol (same rule as protocol/parse.ts). */
export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_BYTES && NAME.test(name);
}

/**
 * Plans the import of `packages`. Names are unique keys: a later duplicate replaces an
 * earlier one (parsers report duplicates themselves). Duplicate dependencies count once.
 * Runs in O(packages + dependencies) time without recursion; breaking cycles adds a log factor
 * and a bounded pass over each cycle (see break-cycles.ts).
 */
export function planImport(packages: readonly SourcePackage[], options: PlanOptions = {}): ImportPlan {
  const byName = new Map<string, number>();
  const nodes: SourcePackage[] = [];
  for (const pkg of packages) {
    const at = byName.get(pkg.name);
    if (at === undefined) {
      byName.set(pkg.name, nodes.length);
      nodes.push(pkg);
    } else nodes[at] = pkg;
  }
  const n = nodes.length;

  // Edges in compressed form: the targets of node v are targets[offsets[v], offsets[v + 1]).
  const offsets = new Int32Array(n + 1);
  const targetList: number[] = [];
  const firstMissing: (string | undefined)[] = new Array<string | undefined>(n);
  const missing = new Map<string, number>();
  const indexed = options.indexed;
  const foundIndexed = new Set<string>();
  for (let v = 0; v < n; v++) {
    const seen = new Set<string>();
    for (const dep of nodes[v]!.deps) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      const w = byName.get(dep);
      if (w === undefined && indexed?.has(dep) === true) foundIndexed.add(dep);
      else if (w === undefined) {
        firstMissing[v] ??= dep;
        missing.set(dep, (missing.get(dep) ?? 0) + 1);
      } else targetList.push(w);
    }
    offsets[v + 1] = targetList.length;
  }
  const targets = Int32Array.from(targetList);

  const order: SourcePackage[] = [];
  const leftOutOf = new Map<number, LeftOut>();
  const cycles: string[][] = [];
  const droppedEdges: DroppedEdge[] = [];
  // Planned only thanks to a broken cycle: on it, or depending on such a package.
  const letIn = new Uint8Array(n);
  // The broken cycle that let a package in (the first found on its way), -1 for none.
  const freedBy = new Int32Array(n).fill(-1);
  const dependents = options.breakCycles === true ? countDependents(n, targets) : null;

  const decide = (component: readonly number[]): void => {
    const v = component[0]!;
    const selfLoop = component.length === 1 && hasEdge(offsets, targets, v, v);
    if (component.length > 1 || selfLoop) {
      const cycle = cycles.length;
      cycles.push(component.map((u) => nodes[u]!.name).sort());
      if (dependents === null) {
        for (const u of component) {
          leftOutOf.set(u, { name: nodes[u]!.name, reason: LeftOutReason.CYCLE, cycle });
        }
        return;
      }
      const broken = breakComponent({
        members: component,
        nameOf: (u) => nodes[u]!.name,
        depsOf: (u) => targets.subarray(offsets[u], offsets[u + 1]),
        dependentsOf: (u) => dependents[u]!,
      });
      const droppedFrom = new Map<number, Set<number>>();
      for (const u of component) freedBy[u] = cycle;
      for (const [from, to] of broken.dropped) {
        droppedEdges.push({ from: nodes[from]!.name, to: nodes[to]!.name, cycle });
        const set = droppedFrom.get(from) ?? new Set<number>();
        droppedFrom.set(from, set.add(to));
      }
      for (const u of broken.order) decideOne(u, droppedFrom.get(u) ?? new Set());
      return;
    }
    decideOne(v, null);
  };

  /** Plans one package whose dependencies are decided, but for those in `dropped`. */
  const decideOne = (v: number, dropped: ReadonlySet<number> | null): void => {
    const pkg = nodes[v]!;
    if (!isValidName(pkg.name)) {
      leftOutOf.set(v, { name: pkg.name, reason: LeftOutReason.INVALID_NAME });
      return;
    }
    const absent = firstMissing[v];
    if (absent !== undefined) {
      leftOutOf.set(v, { name: pkg.name, reason: LeftOutReason.MISSING_DEPENDENCY, missing: absent });
      return;
    }
    let freed = dropped !== null;
    for (let e = offsets[v]!; e < offsets[v + 1]!; e++) {
      if (dropped?.has(targets[e]!) === true) continue;
      if (letIn[targets[e]!] === 1) {
        freed = true;
        if (freedBy[v] === -1) freedBy[v] = freedBy[targets[e]!]!;
      }
      const dep = leftOutOf.get(targets[e]!);
      if (dep === undefined) continue;
      const root =
        dep.reason === LeftOutReason.BLOCKED
          ? { root: dep.root, rootReason: dep.rootReason }
          : { root: dep.name, rootReason: dep.reason };
      leftOutOf.set(v, { name: pkg.name, reason: LeftOutReason.BLOCKED, via: dep.name, ...root });
      return;
    }
    if (freed) letIn[v] = 1;
    if (dropped === null || dropped.size === 0) order.push(pkg);
    else {
      const gone = new Set([...dropped].map((u) => nodes[u]!.name));
      order.push({ name: pkg.name, deps: pkg.deps.filter((d) => !gone.has(d)) });
    }
  };

  stronglyConnectedComponents(n, offsets, targets, decide);

  const leftOut = [...leftOutOf.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
  const cycleImpact = new Array<number>(cycles.length).fill(0);
  if (dependents === null)
    for (const l of leftOut) {
      if (l.reason === LeftOutReason.CYCLE) cycleImpact[l.cycle]!++;
      else if (l.reason === LeftOutReason.BLOCKED && l.rootReason === LeftOutReason.CYCLE) {
        const root = leftOutOf.get(byName.get(l.root)!);
        if (root?.reason === LeftOutReason.CYCLE) cycleImpact[root.cycle]!++;
      }
    }
  else for (let v = 0; v < n; v++) if (letIn[v] === 1 && freedBy[v]! >= 0) cycleImpact[freedBy[v]!]!++;
  return {
    order,
    leftOut,
    cycles,
    cycleImpact,
    missing,
    foundIndexed: foundIndexed.size,
    droppedEdges,
    letIn: letIn.reduce((sum, x) => sum + x, 0),
  };
}

function countDependents(n: number, targets: Int32Array): Int32Array {
  const count = new Int32Array(n);
  for (const w of targets) count[w]!++;
  return count;
}

function hasEdge(offsets: Int32Array, targets: Int32Array, from: number, to: number): boolean {
  for (let e = offsets[from]!; e < offsets[from + 1]!; e++) if (targets[e] === to) return true;
  return false;
}

/**
 * Tarjan's algorithm with an explicit stack, so 63,000-package repositories with long
 * dependency chains cannot overflow the call stack. Components are emitted in reverse
 * topological order: a component comes after every component it has an edge to, that is,
 * dependencies before their dependents — the order the server needs.
 */
export function stronglyConnectedComponents(
  n: number,
  offsets: Int32Array,
  targets: Int32Array,
  emit: (component: readonly number[]) => void,
): void {
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  let stackTop = 0;
  // The simulated call stack: the node being visited and the next edge to follow from it.
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  let counter = 0;

  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    let depth = 0;
    index[root] = low[root] = counter++;
    stack[stackTop++] = root;
    onStack[root] = 1;
    callNode[0] = root;
    callEdge[0] = offsets[root]!;
    while (depth >= 0) {
      const v = callNode[depth]!;
      const e = callEdge[depth]!;
      if (e < offsets[v + 1]!) {
        callEdge[depth] = e + 1;
        const w = targets[e]!;
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack[stackTop++] = w;
          onStack[w] = 1;
          depth++;
          callNode[depth] = w;
          callEdge[depth] = offsets[w]!;
        } else if (onStack[w] === 1 && index[w]! < low[v]!) low[v] = index[w]!;
        continue;
      }
      depth--;
      if (depth >= 0) {
        const parent = callNode[depth]!;
        if (low[v]! < low[parent]!) low[parent] = low[v]!;
      }
      if (low[v] === index[v]) {
        const component: number[] = [];
        let w: number;
        do {
          w = stack[--stackTop]!;
          onStack[w] = 0;
          component.push(w);
        } while (w !== v);
        emit(component);
      }
    }
  }
}
