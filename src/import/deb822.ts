/**
 * The control-file syntax of Debian's package indexes (`Packages`, `/var/lib/dpkg/status`),
 * deb822: stanzas of `Field: value` lines separated by blank lines, a line starting with a
 * space or tab continuing the previous field. See Debian Policy §5.1.
 */
import type { Lines } from './source.js';

export interface Stanza {
  /** Wanted fields by lower-cased name; a folded value keeps its line breaks. */
  readonly fields: ReadonlyMap<string, string>;
  /** Line number of the stanza's first line, for messages. */
  readonly line: number;
}

/**
 * A copy of `value` that does not share memory with the line it was cut from. V8 keeps a
 * substring as a view of its parent, so one kept field would pin a whole 64 KiB read chunk:
 * on Debian's 50 MB index that is about 80 MB of peak memory for nothing.
 */
function detached(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}

/** Reads stanzas, keeping only the `wanted` fields (lower-case names) to bound memory. */
export async function* readStanzas(
  lines: Lines,
  wanted: ReadonlySet<string>,
  warn: (line: number, message: string) => void,
): AsyncGenerator<Stanza> {
  let fields = new Map<string, string>();
  let start = 0;
  // The field that a continuation line extends; null when it is not wanted or there is none.
  let current: string | null = null;
  let inField = false;
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (line.trim() === '') {
        // Policy: a line of only spaces and tabs separates stanzas too.
      } else {
        if (!inField) warn(lineNo, 'continuation line outside any field; skipped');
        else if (current !== null) fields.set(current, detached(`${fields.get(current)!}\n${line.trim()}`));
        continue;
      }
    }
    if (line.trim() === '') {
      if (start !== 0) yield { fields, line: start };
      fields = new Map();
      start = 0;
      current = null;
      inField = false;
      continue;
    }
    if (first === 0x23) continue; // `#` comments are allowed in deb822 files
    const colon = line.indexOf(':');
    if (colon <= 0) {
      warn(lineNo, `not a "Field: value" line: ${JSON.stringify(line.slice(0, 80))}; skipped`);
      inField = false;
      current = null;
      continue;
    }
    if (start === 0) start = lineNo;
    const name = line.slice(0, colon).toLowerCase();
    inField = true;
    if (wanted.has(name)) {
      if (fields.has(name))
        warn(lineNo, `field ${line.slice(0, colon)} repeated in one stanza; the last one counts`);
      fields.set(name, detached(line.slice(colon + 1).trim()));
      current = name;
    } else current = null;
  }
  if (start !== 0) yield { fields, line: start };
}
