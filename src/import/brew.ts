/**
 * The Homebrew dependency list: one package per line, `name: dep1 dep2 ...`, dependencies
 * separated by any run of spaces or tabs (the list pads with two spaces), possibly none.
 * Blank lines and `#` comments are skipped.
 */
import type { SourcePackage } from './plan.js';
import { WarningLog, type Lines, type ParsedSource } from './source.js';

/** `name:` then optional whitespace-separated deps. A name may itself contain `:` (the protocol allows it). */
const LINE = /^(\S+):(?:[ \t]+(.*))?$/;

export async function parseBrew(lines: Lines): Promise<ParsedSource> {
  const warnings = new WarningLog();
  const byName = new Map<string, SourcePackage>();
  let duplicates = 0;
  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (match === null) {
      warnings.add(lineNo, `not "name: dep1 dep2 ...": ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    const name = match[1]!;
    const rest = match[2]?.trim() ?? '';
    const deps = rest === '' ? [] : rest.split(/[ \t]+/);
    if (byName.has(name)) {
      duplicates++;
      warnings.add(lineNo, `${name} is listed again; this later line replaces the earlier one`);
      byName.delete(name);
    }
    byName.set(name, { name, deps });
  }
  return {
    format: 'brew',
    packages: [...byName.values()],
    warnings: warnings.kept,
    warningCount: warnings.count,
    counters: { 'lines read': lineNo, 'duplicate packages': duplicates },
  };
}
