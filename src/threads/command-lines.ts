import type { Command } from '../protocol/command.js';

const PIPE = 0x7c;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

/**
 * The batch a socket thread sends to the index owner: its commands as protocol lines, each
 * ended by `\n`, which the owner parses again with the one parser (so the two threads cannot
 * disagree on a command). Names are validated ASCII, so their bytes are their latin1 encoding.
 * Grows by doubling; the bytes are reused from batch to batch (the sender copies what it keeps).
 */
export class CommandLines {
  #bytes: Buffer;
  #length = 0;
  #count = 0;

  constructor(initialBytes = 16 * 1024) {
    this.#bytes = Buffer.allocUnsafe(initialBytes);
  }

  get count(): number {
    return this.#count;
  }

  append(command: Command): void {
    let need = command.verb.length + command.name.length + 3;
    if (command.verb === 'INDEX') for (const dep of command.deps) need += dep.length + 1;
    this.#reserve(need);
    const bytes = this.#bytes;
    let at = this.#length;
    at += bytes.write(command.verb, at, 'latin1');
    bytes[at++] = PIPE;
    at += bytes.write(command.name, at, 'latin1');
    bytes[at++] = PIPE;
    if (command.verb === 'INDEX') {
      const deps = command.deps;
      for (let i = 0; i < deps.length; i++) {
        if (i > 0) bytes[at++] = COMMA;
        at += bytes.write(deps[i]!, at, 'latin1');
      }
    }
    bytes[at++] = NEWLINE;
    this.#length = at;
    this.#count++;
  }

  /**
   * Appends the line `source[start, end)` (without its newline) as it came: the bytes a
   * command was parsed from, which the owner's parser reads as the same command (it is the
   * same parser), at the cost of a copy instead of a rendering.
   */
  appendLine(source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.#reserve(length + 1);
    const bytes = this.#bytes;
    let at = this.#length;
    // A loop: for lines this short it is cheaper than a call into the runtime to copy.
    for (let i = start; i < end; i++) bytes[at++] = source[i]!;
    bytes[at++] = NEWLINE;
    this.#length = at;
    this.#count++;
  }

  /** Bytes of the lines appended since the last `clear`. */
  get length(): number {
    return this.#length;
  }

  /** The lines appended since the last `clear`: a view, valid until the next append or clear. */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /** Starts a new batch (the bytes are reused). */
  clear(): void {
    this.#length = 0;
    this.#count = 0;
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < this.#length + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }
}
