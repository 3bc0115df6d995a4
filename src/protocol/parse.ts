import {
  MAX_NAME_BYTES,
  ProtocolErrorCode,
  Verb,
  type ParseResult,
  type ProtocolError,
  type Command,
  CommandSlot,
} from './command.js';
import { FNV_OFFSET, FNV_PRIME, NAME_WORDS, NameCache, foldHash } from './name-cache.js';

/**
 * FNV-1a's constants as this module's own: optimized code reads an imported binding from its
 * module cell on every use (a live binding: checked for the hole, then untagged and converted
 * through a double), which was ~20 of the name loop's instructions per byte; a local `const`
 * is folded into the code.
 */
const PRIME = FNV_PRIME;
const OFFSET = FNV_OFFSET;

const PIPE = 0x7c;
const COMMA = 0x2c;
const CR = 0x0d;

/** Bytes allowed in a package name: ASCII letters, digits and `. _ + - @ / :`. */
const NAME_BYTE = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) NAME_BYTE[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) NAME_BYTE[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) NAME_BYTE[c] = 1;
for (const ch of '._+-@/:') NAME_BYTE[ch.charCodeAt(0)] = 1;

/** One frozen value per error code, so a malformed line allocates nothing. */
const ERRORS = Object.fromEntries(
  Object.values(ProtocolErrorCode).map((code) => [code, Object.freeze({ verb: null, error: code })]),
) as Record<ProtocolErrorCode, ProtocolError>;

export function protocolError(code: ProtocolErrorCode): ProtocolError {
  return ERRORS[code];
}

const NO_DEPS: readonly string[] = Object.freeze([]);

/**
 * Names decoded by every parser of this process. Shared on purpose: it is a transparent memo
 * (see name-cache.ts), so two servers in one process cannot observe each other through it.
 */
const NAMES = new NameCache();

/**
 * Checks `buf[start, end)` as a package name. Names are validated as bytes, before any
 * decoding, so that two different invalid byte sequences can never decode to the same name.
 */
function checkName(buf: Uint8Array, start: number, end: number): ProtocolErrorCode | null {
  if (end === start) return ProtocolErrorCode.EMPTY_NAME;
  if (end - start > MAX_NAME_BYTES) return ProtocolErrorCode.NAME_TOO_LONG;
  for (let i = start; i < end; i++) if (NAME_BYTE[buf[i]!] === 0) return ProtocolErrorCode.INVALID_NAME;
  return null;
}

const INDEX_BYTES = Buffer.from('INDEX', 'latin1');
const QUERY_BYTES = Buffer.from('QUERY', 'latin1');
const REMOVE_BYTES = Buffer.from('REMOVE', 'latin1');

function bytesEqual(buf: Buffer, start: number, word: Buffer): boolean {
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word[i]) return false;
  return true;
}

function verbAt(buf: Buffer, start: number, end: number): Verb | null {
  const len = end - start;
  if (len === 5) {
    if (bytesEqual(buf, start, INDEX_BYTES)) return Verb.INDEX;
    if (bytesEqual(buf, start, QUERY_BYTES)) return Verb.QUERY;
  } else if (len === 6 && bytesEqual(buf, start, REMOVE_BYTES)) return Verb.REMOVE;
  return null;
}

/** The slot behind `parseLine`, copied out before it returns. */
const LINE_SLOT = new CommandSlot();

/**
 * Parses one protocol line, `buf[start, end)` without its `\n`. A single trailing `\r`
 * is tolerated. Never throws: malformed input yields a ProtocolError value.
 */
export function parseLine(buf: Buffer, start: number, end: number): ParseResult {
  const error = parseInto(buf, start, end, LINE_SLOT);
  if (error !== null) return ERRORS[error];
  const { verb, name, deps } = LINE_SLOT;
  if (verb !== Verb.INDEX) return verb === Verb.QUERY ? { verb, name } : { verb, name };
  return { verb, name, deps: deps.length === 0 ? NO_DEPS : deps.slice() };
}

/**
 * Matches the verb and its `|` at `buf[start]`, which must have at least 7 bytes after it:
 * sets `slot.verb` and returns where the name starts, or -1 when the line starts otherwise.
 */
function matchVerb(buf: Buffer, start: number, slot: CommandSlot): number {
  const c0 = buf[start]!;
  if (
    c0 === 0x51 && // QUERY|
    buf[start + 1] === 0x55 &&
    buf[start + 2] === 0x45 &&
    buf[start + 3] === 0x52 &&
    buf[start + 4] === 0x59 &&
    buf[start + 5] === PIPE
  ) {
    slot.verb = Verb.QUERY;
    return start + 6;
  }
  if (
    c0 === 0x49 && // INDEX|
    buf[start + 1] === 0x4e &&
    buf[start + 2] === 0x44 &&
    buf[start + 3] === 0x45 &&
    buf[start + 4] === 0x58 &&
    buf[start + 5] === PIPE
  ) {
    slot.verb = Verb.INDEX;
    return start + 6;
  }
  if (
    c0 === 0x52 && // REMOVE|
    buf[start + 1] === 0x45 &&
    buf[start + 2] === 0x4d &&
    buf[start + 3] === 0x4f &&
    buf[start + 4] === 0x56 &&
    buf[start + 5] === 0x45 &&
    buf[start + 6] === PIPE
  ) {
    slot.verb = Verb.REMOVE;
    return start + 7;
  }
  return -1;
}

/**
 * Parses one line as `parseLine` does, into `slot` instead of a new object: where a command
 * object and a dependency array per line were garbage the next moment (the server's path for
 * the lines `parseLineAt` leaves to it: incomplete in their chunk, with a `\r`, or malformed).
 * Returns null when `slot` holds the command; otherwise why the line is malformed, and `slot`
 * holds nothing meaningful.
 *
 * A well-formed line is read once (`scanLine`). Anything unexpected sends the line to
 * `parseChecked`, which finds the error in the order the protocol reports errors (field count
 * first). A line the fast path accepts is one that `parseChecked` accepts with the same result.
 */
export function parseInto(
  buf: Buffer,
  start: number,
  end: number,
  slot: CommandSlot,
): ProtocolErrorCode | null {
  if (end > start && buf[end - 1] === CR) end--;
  // The shortest well-formed line is `QUERY|a|`; below that, no byte past `end` is read here.
  if (end - start < 8 || scanLine(buf, start, end, slot, true) < 0)
    return parseChecked(buf, start, end, slot);
  return null;
}

const LF = 0x0a;

/**
 * Parses the line that starts at `buf[start]` into `slot` without knowing where it ends, when
 * it is a well-formed line whose `\n` comes before `limit`: returns the offset of that `\n`.
 * Otherwise returns -1 and `slot` holds nothing meaningful: the line is incomplete, has a
 * `\r` or any error, or a name longer than MAX_NAME_BYTES, and the caller frames it and calls
 * `parseInto`, which decides it. Whatever it parses, `parseInto` parses to the same command.
 *
 * The server's hot path: framing a line first and then parsing it read each byte twice, in
 * two loops of some twenty instructions a byte, a fifth of what a pipelined line cost.
 */
export function parseLineAt(buf: Buffer, start: number, limit: number, slot: CommandSlot): number {
  // `QUERY|a|\n` is the shortest; with 9 bytes, matchVerb reads none past `limit`.
  return limit - start < 9 ? -1 : scanLine(buf, start, limit, slot, false);
}

/**
 * The fast path of both parsers: parses into `slot` the well-formed line that starts at
 * `buf[start]` (at least 8 bytes before `limit`) and ends at `limit` (`toLimit`: its end is
 * known, as for `parseInto`) or at a `\n` before `limit` (`parseLineAt`). Returns where it
 * ends (`limit`, or the offset of the `\n`), or -1 for any other line, and `slot` then holds
 * nothing meaningful. The verb is matched with its `|`, then each name is validated and
 * hashed (for the name cache) in the same loop, up to the byte that ends it.
 */
function scanLine(buf: Buffer, start: number, limit: number, slot: CommandSlot, toLimit: boolean): number {
  let i = matchVerb(buf, start, slot);
  if (i < 0) return -1;
  const keys = slot.keys;
  const deps = slot.deps;
  let name = '';
  // -1 while scanning the name, then the dependencies found so far.
  let count = -1;
  for (;;) {
    const from = i;
    let h = OFFSET;
    let c = 0;
    // The name's bytes, hashed, four a round: optimized code checks the stack at every loop
    // back-edge and then reloads the buffer's base pointer and length (a collection may have
    // moved them), so at a byte a round the loop cost some twenty instructions a byte. Each
    // round's bytes are also packed into a word, as the name cache keeps them (NAME_WORDS,
    // and `tail` for the round the name ends in; -1 when it ran into `limit` byte by byte):
    // the cache then compares words, where reading the bytes again cost it a fifth of a line.
    let tail = 0;
    let words = 0;
    scan: {
      for (; i + 4 <= limit; i += 4) {
        const c0 = buf[i]!;
        const c1 = buf[i + 1]!;
        const c2 = buf[i + 2]!;
        const c3 = buf[i + 3]!;
        if (NAME_BYTE[c0] !== 1) {
          c = c0;
          break scan;
        }
        h = Math.imul(h ^ c0, PRIME);
        if (NAME_BYTE[c1] !== 1) {
          c = c1;
          i += 1;
          tail = c0;
          break scan;
        }
        h = Math.imul(h ^ c1, PRIME);
        if (NAME_BYTE[c2] !== 1) {
          c = c2;
          i += 2;
          tail = c0 | (c1 << 8);
          break scan;
        }
        h = Math.imul(h ^ c2, PRIME);
        if (NAME_BYTE[c3] !== 1) {
          c = c3;
          i += 3;
          tail = c0 | (c1 << 8) | (c2 << 16);
          break scan;
        }
        h = Math.imul(h ^ c3, PRIME);
        if (words < NAME_WORDS.length) NAME_WORDS[words] = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
        words++;
      }
      tail = -1;
      while (i < limit && NAME_BYTE[(c = buf[i]!)] === 1) {
        h = Math.imul(h ^ c, PRIME);
        i++;
      }
    }
    // `c` is the byte that ended the name, unless it ended at `limit`.
    if (i === from || i - from > MAX_NAME_BYTES) return -1;
    const key = foldHash(h);
    if (count < 0) {
      if (i === limit || c !== PIPE) return -1;
      keys[0] = key;
      name = (tail < 0 ? null : NAMES.cached(key, i - from, tail)) ?? NAMES.lookup(buf, from, i, key);
      i++;
      // Past the name's `|`: the end of the line, or dependencies.
      if (toLimit ? i === limit : i < limit && buf[i] === LF) {
        count = 0;
        break;
      }
      if (slot.verb !== Verb.INDEX) return -1;
      count = 0;
      continue;
    }
    if (i === limit && !toLimit) return -1;
    keys[count + 1] = key;
    deps[count++] = (tail < 0 ? null : NAMES.cached(key, i - from, tail)) ?? NAMES.lookup(buf, from, i, key);
    if (i === limit || (!toLimit && c === LF)) break;
    if (c !== COMMA) return -1;
    i++;
  }
  // pop() is inlined where the length setter is a call into the runtime, and it keeps the
  // array's storage for the next line.
  while (deps.length > count) deps.pop();
  while (keys.length > count + 1) keys.pop();
  slot.name = name;
  return i;
}

/** `parseInto` for any line, well-formed or not: one check after another. `end` excludes any `\r`. */
function parseChecked(buf: Buffer, start: number, end: number, slot: CommandSlot): ProtocolErrorCode | null {
  // One pass over the line finds both separators; a third one is an error. Scanning here is
  // cheaper than three calls to buf.indexOf() for lines this short.
  let p1 = -1;
  let p2 = -1;
  for (let i = start; i < end; i++) {
    if (buf[i] !== PIPE) continue;
    if (p1 < 0) p1 = i;
    else if (p2 < 0) p2 = i;
    else return ProtocolErrorCode.FIELD_COUNT;
  }
  if (p2 < 0) return ProtocolErrorCode.FIELD_COUNT;

  const verb = verbAt(buf, start, p1);
  if (verb === null) return ProtocolErrorCode.UNKNOWN_COMMAND;

  const nameError = checkName(buf, p1 + 1, p2);
  if (nameError !== null) return nameError;
  const deps = slot.deps;
  let count = 0;
  if (verb !== Verb.INDEX) {
    if (p2 + 1 !== end) return ProtocolErrorCode.UNEXPECTED_DEPENDENCIES;
  } else if (p2 + 1 !== end) {
    let itemStart = p2 + 1;
    for (;;) {
      let itemEnd = itemStart;
      while (itemEnd < end && buf[itemEnd] !== COMMA) itemEnd++;
      if (itemEnd === itemStart) return ProtocolErrorCode.EMPTY_DEPENDENCY;
      if (checkName(buf, itemStart, itemEnd) !== null) return ProtocolErrorCode.INVALID_DEPENDENCY;
      deps[count++] = NAMES.decode(buf, itemStart, itemEnd);
      if (itemEnd === end) break;
      itemStart = itemEnd + 1;
    }
  }
  // pop() is inlined where the length setter is a call into the runtime, and it keeps the
  // array's storage for the next line.
  while (deps.length > count) deps.pop();
  // No keys on this path: the graph looks these names up by their strings.
  while (slot.keys.length > 0) slot.keys.pop();
  slot.verb = verb;
  slot.name = NAMES.decode(buf, p1 + 1, p2);
  return null;
}

/** Renders a command as a protocol line (with `\n`), the inverse of parseLine. */
export function formatCommand(command: Command): string {
  const deps = command.verb === Verb.INDEX ? command.deps.join(',') : '';
  return `${command.verb}|${command.name}|${deps}\n`;
}

/**
 * Why the server would answer the line `INDEX|name|deps` ERROR, or null when it parses. For
 * explanations (the query API's why): the line is put through `parseLine`, the parser every
 * connection runs, so an explanation can never accept a line the protocol refuses. `deps` is
 * the dependency field as written, commas included (`a,,b` is refused, not read as `a,b`).
 */
export function indexLineError(name: string, deps: string): ProtocolErrorCode | null {
  const line = Buffer.from(`INDEX|${name}|${deps}`, 'utf8');
  const parsed = parseLine(line, 0, line.length);
  return parsed.verb === null ? parsed.error : null;
}
