/**
 * Debian package indexes — `Packages` files (as in /var/lib/apt/lists or printed by
 * `apt-cache dumpavail`) and /var/lib/dpkg/status — mapped to packages and dependencies.
 *
 * Mapping (Debian Policy §7.1, §7.5):
 * - `Depends` and `Pre-Depends` are the dependencies; `Recommends`, `Suggests` etc. are not.
 * - Version constraints `(>= 1.0)`, architecture lists `[amd64]`, build profiles `<!nocheck>`
 *   and architecture qualifiers `:any`/`:amd64`/`:native` are stripped: the index knows names only.
 * - Of alternatives `a | b` the first one that exists is taken, as a real package or as a
 *   virtual package provided by some package (`Provides`). A real package wins over a virtual
 *   one of the same name; among several providers, the first in source order is taken.
 * - A dependency that the package satisfies itself (it provides the virtual package it
 *   depends on, as `mail-transport-agent` providers often do) is dropped.
 * - A dependency that exists nowhere is kept as written (`a | b`): the planner reports it.
 * - A package listed more than once keeps its highest version.
 * - In a dpkg status file (stanzas with `Status:`), only installed packages count.
 */
import { readStanzas } from './deb822.js';
import { compareDebianVersions } from './debian-version.js';
import type { SourcePackage } from './plan.js';
import { WarningLog, type Lines, type ParsedSource } from './source.js';

const WANTED = new Set(['package', 'version', 'depends', 'pre-depends', 'provides', 'status']);

/** dpkg states in which a package's files are on disk and its dependencies hold. */
const INSTALLED_STATES = new Set(['installed', 'triggers-awaited', 'triggers-pending']);

interface Record {
  readonly name: string;
  readonly version: string;
  /** Alternatives groups of Pre-Depends then Depends, each a list of names. */
  readonly depends: readonly (readonly string[])[];
  readonly provides: readonly string[];
}

/**
 * Splits a relationship field (`Depends`, `Provides`, ...) into groups of alternative
 * package names, with versions, architecture lists, profiles and qualifiers stripped.
 */
export function parseRelations(field: string): string[][] {
  const groups: string[][] = [];
  for (const item of field.split(',')) {
    const alternatives: string[] = [];
    for (const alt of item.split('|')) {
      const name = relationName(alt);
      if (name !== '') alternatives.push(name);
    }
    if (alternatives.length > 0) groups.push(alternatives);
  }
  return groups;
}

/** `libfoo:any (>= 1.0) [amd64] <!nocheck>` → `libfoo`. */
function relationName(text: string): string {
  let end = text.length;
  for (const stop of ['(', '[', '<']) {
    const at = text.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  const name = text.slice(0, end).trim();
  const colon = name.indexOf(':');
  return colon >= 0 ? name.slice(0, colon) : name;
}

export async function parseDebian(lines: Lines): Promise<ParsedSource> {
  const warnings = new WarningLog();
  const warn = (line: number, message: string): void => {
    warnings.add(line, message);
  };
  const records = new Map<string, Record>();
  let stanzas = 0;
  let notInstalled = 0;
  let duplicates = 0;
  let sawStatus = false;

  for await (const stanza of readStanzas(lines, WANTED, warn)) {
    stanzas++;
    const f = stanza.fields;
    const name = f.get('package');
    if (name === undefined || name === '') {
      warn(stanza.line, 'stanza without a Package field; skipped');
      continue;
    }
    const status = f.get('status');
    if (status !== undefined) {
      sawStatus = true;
      const state = status.split(/\s+/)[2];
      if (state === undefined || !INSTALLED_STATES.has(state)) {
        notInstalled++;
        continue;
      }
    }
    const record: Record = {
      name,
      version: f.get('version') ?? '',
      depends: [...parseRelations(f.get('pre-depends') ?? ''), ...parseRelations(f.get('depends') ?? '')],
      provides: parseRelations(f.get('provides') ?? '').map((group) => group[0]!),
    };
    const earlier = records.get(name);
    if (earlier !== undefined) {
      duplicates++;
      if (compareDebianVersions(record.version, earlier.version) <= 0) continue;
    }
    records.set(name, record);
  }

  const counters = { stanzas, 'duplicate packages (highest version kept)': duplicates };
  const resolved = resolve(records);
  return {
    format: sawStatus ? 'dpkg-status' : 'debian',
    packages: resolved.packages,
    warnings: warnings.kept,
    warningCount: warnings.count,
    counters: sawStatus
      ? { ...counters, 'not installed (skipped)': notInstalled, ...resolved.counters }
      : { ...counters, ...resolved.counters },
  };
}

function resolve(records: ReadonlyMap<string, Record>): {
  packages: SourcePackage[];
  counters: { [what: string]: number };
} {
  const providers = new Map<string, string[]>();
  for (const record of records.values())
    for (const virtual of record.provides) {
      const list = providers.get(virtual);
      if (list === undefined) providers.set(virtual, [record.name]);
      else list.push(record.name);
    }

  let viaProvides = 0;
  let laterAlternative = 0;
  let selfSatisfied = 0;
  let unresolved = 0;
  const packages: SourcePackage[] = [];
  for (const record of records.values()) {
    const deps: string[] = [];
    for (const group of record.depends) {
      let chosen: string | undefined;
      let self = false;
      for (let i = 0; i < group.length && chosen === undefined && !self; i++) {
        const alt = group[i]!;
        if (records.has(alt)) chosen = alt;
        else {
          const offering = providers.get(alt);
          if (offering === undefined) continue;
          if (offering.includes(record.name)) self = true;
          else {
            chosen = offering[0]!;
            viaProvides++;
          }
        }
        if (i > 0 && (chosen !== undefined || self)) laterAlternative++;
      }
      if (self || chosen === record.name) {
        selfSatisfied++;
        continue;
      }
      if (chosen === undefined) {
        unresolved++;
        chosen = group.join(' | ');
      }
      deps.push(chosen);
    }
    packages.push({ name: record.name, deps });
  }
  return {
    packages,
    counters: {
      'virtual package names (Provides)': providers.size,
      'dependencies resolved through Provides': viaProvides,
      'dependencies resolved to a later alternative': laterAlternative,
      'dependencies satisfied by the package itself (dropped)': selfSatisfied,
      'dependencies that exist nowhere': unresolved,
    },
  };
}
