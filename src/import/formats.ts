/**
 * The import formats, and recognising which one a source is in from its first line:
 * a Debian index starts every stanza with a `Package:` field; anything else is taken as the
 * Homebrew list, whose parser reports the lines it cannot read.
 */
import { createError } from '../errors.js';
import { parseBrew } from './brew.js';
import { parseDebian } from './debian.js';
import type { Lines, ParsedSource } from './source.js';

export const FORMATS = {
  brew: parseBrew,
  debian: parseDebian,
} as const satisfies Record<string, (lines: Lines) => Promise<ParsedSource>>;
export type FormatName = keyof typeof FORMATS | 'auto';

/** Parses `lines` in `format`, or in the format recognised from the first meaningful line. */
export async function parseSource(lines: AsyncIterable<string>, format: FormatName): Promise<ParsedSource> {
  const iterator = lines[Symbol.asyncIterator]();
  const head: string[] = [];
  let chosen = format;
  while (chosen === 'auto') {
    const next = await iterator.next();
    if (next.done === true) break;
    head.push(next.value);
    const line = next.value.trim();
    if (line === '' || line.startsWith('#')) continue;
    chosen = /^package:/i.test(line) ? 'debian' : 'brew';
  }
  if (chosen === 'auto') throw createError('E_IMPORT_FORMAT', 'the source is empty; nothing to import');
  const all = (async function* (): AsyncGenerator<string> {
    yield* head;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield next.value;
    }
  })();
  return FORMATS[chosen](all);
}
