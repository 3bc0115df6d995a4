/**
 * What every import format produces: packages with dependencies resolved to package names,
 * plus what the parser noticed along the way, for the report.
 */
import type { SourcePackage } from './plan.js';

/** A line that could not be understood; the parser skipped it and went on. */
export interface SourceWarning {
  readonly line: number;
  readonly message: string;
}

export interface ParsedSource {
  /** `brew`, `debian` (a Packages index) or `dpkg-status`. */
  readonly format: string;
  readonly packages: SourcePackage[];
  /** Warnings, at most `MAX_KEPT_WARNINGS` of them; `warningCount` has the total. */
  readonly warnings: readonly SourceWarning[];
  readonly warningCount: number;
  /** Format-specific counts, keyed by what they count ("virtual dependencies resolved"). */
  readonly counters: Readonly<Record<string, number>>;
}

/** Lines from a file or a string; both sync and async sources are accepted. */
export type Lines = AsyncIterable<string> | Iterable<string>;

export const MAX_KEPT_WARNINGS = 20;

/** Collects warnings, keeping the first few and counting all. */
export class WarningLog {
  readonly #kept: SourceWarning[] = [];
  #count = 0;

  add(line: number, message: string): void {
    this.#count++;
    if (this.#kept.length < MAX_KEPT_WARNINGS) this.#kept.push({ line, message });
  }

  get kept(): readonly SourceWarning[] {
    return this.#kept;
  }

  get count(): number {
    return this.#count;
  }
}
