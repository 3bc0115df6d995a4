/**
 * The benchmark's workload: which requests are sent, in what order, and what each must be
 * answered with. Everything is decided before the first byte is sent, from the data file and
 * the seed alone, and rendered once into one buffer (a "script") that connections walk through.
 *
 * The index is kept stable while it is hammered, so the expected reply of every request is
 * known exactly, whatever the interleaving of connections:
 * - a few leaves of the data set (packages nothing depends on) are *volatile*: they are the
 *   only packages the workload removes and re-indexes. Nothing ever depends on them;
 * - every other package is *stable*: indexed in the warm-up, never removed;
 * - `query` asks for a stable package: OK;
 * - `index` re-indexes a volatile leaf, alternating its real dependencies and its real
 *   dependencies plus one stable "anchor" package, so it is a real mutation each time
 *   (ADDED or REPLACED): OK, as all its dependencies are stable and nothing depends on it;
 * - `remove` removes either a volatile leaf (OK, whether or not it is indexed at the time)
 *   or a *pinned* package, one that a stable package depends on (FAIL);
 * - `malformed` sends one of a fixed set of malformed lines: ERROR.
 *
 * Every name gets a prefix (`bench:` by default), so that on a server holding other data the
 * workload neither touches those packages nor depends on them, and a clean-up script removes
 * exactly what the warm-up indexed.
 */
import { DependencyGraph, IndexOutcome } from '../graph/dependency-graph.js';
import { MAX_NAME_BYTES, isProtocolError } from '../protocol/command.js';
import { parseLine } from '../protocol/parse.js';
import { Expect } from './replies.js';
import { createError } from '../errors.js';

export interface PackageSpec {
  readonly name: string;
  readonly deps: readonly string[];
}

/** Parses the `name: dep1 dep2 …` format of the Homebrew fixture. Blank lines are skipped. */
export function parseDataFile(text: string): PackageSpec[] {
  const out: PackageSpec[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw createError('E_USAGE', `data line ${i + 1} is not "name: dep1 dep2 …": ${line}`);
    const deps = line
      .slice(colon + 1)
      .split(/\s+/)
      .filter((d) => d !== '');
    out.push({ name: line.slice(0, colon).trim(), deps });
  }
  return out;
}

/**
 * The default namespace of the benchmark's package names. `:` is a name byte for the protocol,
 * but no package repository uses it in a name (Debian's `:any` architecture qualifiers are
 * stripped by importers), so these names cannot meet real ones in practice.
 */
export const DEFAULT_PREFIX = 'bench:';

/**
 * `prefix` when names may start with it (the empty prefix included), else an E_CONFIG error
 * naming `source`: checked against the protocol's own parser.
 */
export function checkPrefix(prefix: string, source = '--prefix'): string {
  const probe = Buffer.from(`QUERY|${prefix}a|`, 'utf8');
  if (isProtocolError(parseLine(probe, 0, probe.length)))
    throw createError(
      'E_CONFIG',
      `${source} must be the start of a package name (ASCII letters, digits and . _ + - @ / :), got "${prefix}"`,
    );
  return prefix;
}

/**
 * `specs` with `prefix` before every name and dependency. Throws when a prefixed name is not
 * one the protocol accepts (a byte outside the name alphabet, or too long).
 */
export function withPrefix(specs: readonly PackageSpec[], prefix: string): PackageSpec[] {
  if (checkPrefix(prefix) === '') return [...specs];
  const longest = specs.reduce((n, s) => Math.max(n, Buffer.byteLength(s.name)), 0);
  if (Buffer.byteLength(prefix) + longest > MAX_NAME_BYTES)
    throw createError(
      'E_USAGE',
      `--prefix "${prefix}" makes the longest name of the data file longer than ${MAX_NAME_BYTES} bytes`,
    );
  return specs.map((s) => ({ name: prefix + s.name, deps: s.deps.map((d) => prefix + d) }));
}

/** splitmix32: a tiny, fast, well-mixed generator; the same seed gives the same stream everywhere. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

/** The packages of the data set sorted into the roles described at the top of this file. */
export interface WorkloadPlan {
  /** Indexable packages in dependency order, each with its real dependencies. */
  readonly warmup: readonly PackageSpec[];
  /** Packages the data file lists that can never be indexed (missing dependency or cycle). */
  readonly skipped: readonly string[];
  readonly stable: readonly string[];
  readonly volatile: readonly PackageSpec[];
  readonly pinned: readonly string[];
  /** A stable package, added to a volatile leaf's dependencies on every other INDEX of it. */
  readonly anchors: readonly string[];
}

/**
 * Finds the warm-up order by replaying the data set on the project's own DependencyGraph,
 * then picks, by the seed, half of the leaves as volatile.
 */
export function planWorkload(specs: readonly PackageSpec[], seed: number): WorkloadPlan {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const graph = new DependencyGraph();
  const warmup: PackageSpec[] = [];
  // Repeated passes index each package once all its dependencies are; O(n × depth), fine for a fixture.
  let pending = [...byName.values()];
  for (;;) {
    const next: PackageSpec[] = [];
    for (const spec of pending) {
      if (spec.deps.every((d) => graph.has(d)) && graph.index(spec.name, spec.deps) === IndexOutcome.ADDED)
        warmup.push(spec);
      else next.push(spec);
    }
    if (next.length === pending.length) break;
    pending = next;
  }
  const skipped = pending.map((s) => s.name);
  if (warmup.length < 4)
    throw createError('E_USAGE', `the data file has only ${warmup.length} indexable packages`);

  const leaves = warmup.filter((s) => graph.dependentCount(s.name) === 0);
  const random = prng(seed ^ 0x5eed);
  const shuffled = leaves.slice();
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const volatile = shuffled.slice(0, Math.max(1, Math.floor(leaves.length / 2)));
  const volatileNames = new Set(volatile.map((s) => s.name));
  const stable = warmup.filter((s) => !volatileNames.has(s.name));
  const pinnedSet = new Set<string>();
  for (const s of stable) for (const d of s.deps) pinnedSet.add(d);
  const pinned = stable.map((s) => s.name).filter((n) => pinnedSet.has(n));
  if (pinned.length === 0)
    throw createError('E_USAGE', 'the data file has no package that another depends on');
  const anchors = volatile.map(
    (v) => pinned.find((p) => !v.deps.includes(p)) ?? stable.find((s) => !v.deps.includes(s.name))!.name,
  );
  return { warmup, skipped, stable: stable.map((s) => s.name), volatile, pinned, anchors };
}

export const Op = { QUERY: 0, INDEX: 1, REMOVE: 2, MALFORMED: 3 } as const;
export type Op = (typeof Op)[keyof typeof Op];
export const OP_NAMES = ['query', 'index', 'remove', 'malformed'] as const;

/** Relative weights of the four kinds of request. */
export type Mix = Readonly<Record<(typeof OP_NAMES)[number], number>>;

export const DEFAULT_MIX: Mix = { query: 80, index: 10, remove: 10, malformed: 0 };

/** Parses `query=80,index=10,remove=10,malformed=0`; kinds not named weigh 0. */
export function parseMix(text: string): Mix {
  const mix = { query: 0, index: 0, remove: 0, malformed: 0 };
  for (const part of text.split(',')) {
    const [key, value, extra] = part.split('=');
    const weight = Number(value);
    if (extra !== undefined || !(OP_NAMES as readonly (string | undefined)[]).includes(key) || !(weight >= 0))
      throw createError(
        'E_USAGE',
        `--mix: "${part}" is not kind=weight with kind one of ${OP_NAMES.join(', ')}`,
      );
    mix[key as keyof Mix] = weight;
  }
  if (mix.query + mix.index + mix.remove + mix.malformed <= 0)
    throw createError('E_USAGE', '--mix: all weights are 0');
  return mix;
}

export function formatMix(mix: Mix): string {
  return OP_NAMES.map((k) => `${k}=${mix[k]}`).join(',');
}

/**
 * Lines every conforming server answers ERROR, one per rule of the protocol's grammar.
 * None ends in `\r` (a trailing `\r` is tolerated by the server).
 */
export const MALFORMED_LINES: readonly string[] = [
  '',
  'QUERY|bench-x',
  'QUERY|bench-x|y|',
  'PING|bench-x|',
  'query|bench-x|',
  'QUERY||',
  'QUERY|bench x|',
  'QUERY|bench-x|dep',
  'INDEX|bench-x|a,,b',
  'INDEX|bench-x|a,b c',
  `REMOVE|${'n'.repeat(256)}|`,
  'INDEX|bench-\u00e9|',
];

/**
 * A workload rendered once: request `i` is `bytes[offsets[i], offsets[i+1])` and must be
 * answered `expected[i]`. Connections walk it cyclically from different starting points, so a
 * batch of consecutive requests is one slice of `bytes`, written without copying.
 */
export interface Script {
  readonly bytes: Buffer;
  readonly offsets: Uint32Array;
  readonly expected: Uint8Array;
  readonly ops: Uint8Array;
  readonly length: number;
}

/** Renders `length` requests drawn from `mix` with `seed`. Same inputs, same bytes. */
export function buildScript(plan: WorkloadPlan, mix: Mix, seed: number, length: number): Script {
  const random = prng(seed);
  const total = mix.query + mix.index + mix.remove + mix.malformed;
  const cut = [
    mix.query / total,
    (mix.query + mix.index) / total,
    (mix.query + mix.index + mix.remove) / total,
  ];
  const variant = new Uint8Array(plan.volatile.length);
  const pick = <T>(list: readonly T[]): [T, number] => {
    const i = Math.floor(random() * list.length);
    return [list[i]!, i];
  };
  const lines: string[] = [];
  const expected = new Uint8Array(length);
  const ops = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const r = random();
    let line: string;
    let expect: Expect;
    let op: Op;
    if (r < cut[0]!) {
      op = Op.QUERY;
      line = `QUERY|${pick(plan.stable)[0]}|`;
      expect = Expect.OK;
    } else if (r < cut[1]!) {
      op = Op.INDEX;
      const [leaf, j] = pick(plan.volatile);
      const deps = variant[j] === 0 ? leaf.deps : [...leaf.deps, plan.anchors[j]!];
      variant[j] = variant[j]! ^ 1;
      line = `INDEX|${leaf.name}|${deps.join(',')}`;
      expect = Expect.OK;
    } else if (r < cut[2]!) {
      op = Op.REMOVE;
      if (random() < 0.5) {
        line = `REMOVE|${pick(plan.volatile)[0].name}|`;
        expect = Expect.OK;
      } else {
        line = `REMOVE|${pick(plan.pinned)[0]}|`;
        expect = Expect.FAIL;
      }
    } else {
      op = Op.MALFORMED;
      line = pick(MALFORMED_LINES)[0];
      expect = Expect.ERROR;
    }
    lines.push(line);
    expected[i] = expect;
    ops[i] = op;
  }
  return render(lines, expected, ops);
}

/** The warm-up: every indexable package once, in dependency order, each answered OK. */
export function buildWarmupScript(plan: WorkloadPlan): Script {
  const lines = plan.warmup.map((s) => `INDEX|${s.name}|${s.deps.join(',')}`);
  return render(
    lines,
    new Uint8Array(lines.length).fill(Expect.OK),
    new Uint8Array(lines.length).fill(Op.INDEX),
  );
}

/**
 * The clean-up: REMOVE of every package the warm-up indexed, dependents first, each answered
 * OK. Volatile leaves go first, since the workload may have left one depending on an anchor
 * indexed after it; then the stable packages in reverse warm-up order.
 */
export function buildCleanupScript(plan: WorkloadPlan): Script {
  const volatile = new Set(plan.volatile.map((s) => s.name));
  const names = [
    ...plan.volatile.map((s) => s.name),
    ...plan.warmup
      .map((s) => s.name)
      .filter((n) => !volatile.has(n))
      .reverse(),
  ];
  const lines = names.map((n) => `REMOVE|${n}|`);
  return render(
    lines,
    new Uint8Array(lines.length).fill(Expect.OK),
    new Uint8Array(lines.length).fill(Op.REMOVE),
  );
}

function render(lines: readonly string[], expected: Uint8Array, ops: Uint8Array): Script {
  const offsets = new Uint32Array(lines.length + 1);
  let size = 0;
  for (const [i, line] of lines.entries()) {
    offsets[i] = size;
    size += Buffer.byteLength(line, 'utf8') + 1;
  }
  offsets[lines.length] = size;
  // Shared memory, so worker threads read the one copy.
  const bytes = Buffer.from(new SharedArrayBuffer(size));
  for (const [i, line] of lines.entries()) {
    const at = offsets[i]!;
    const n = bytes.write(line, at, 'utf8');
    bytes[at + n] = 0x0a;
  }
  return { bytes, offsets, expected, ops, length: lines.length };
}
