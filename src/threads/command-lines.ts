import type { Command } from '../protocol/command.js';

const PIPE = 0x7c;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

/**
 * Writes `text` at `at` as latin1 (the low byte of each UTF-16 unit, as Buffer.write does)
 * and returns where it ends. A loop, not `Buffer.write`: names are a few bytes long, and a
 * call into the runtime per name (three or more per command) was half of what a socket
 * thread and the owner spent per command on the hop (measure hot-path --store remote).
 */
function writeLatin1(bytes: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i) & 0xff;
  return at;
}

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
    let at = writeLatin1(bytes, this.#length, command.verb);
    bytes[at++] = PIPE;
    at = writeLatin1(bytes, at, command.name);
    bytes[at++] = PIPE;
    if (command.verb === 'INDEX') {
      const deps = command.deps;
      for (let i = 0; i < deps.length; i++) {
        if (i > 0) bytes[at++] = COMMA;
        at = writeLatin1(bytes, at, deps[i]!);
      }
    }
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
