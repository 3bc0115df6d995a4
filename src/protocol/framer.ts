/**
 * Splits a byte stream into lines. Bytes of an unfinished line are carried between chunks in
 * one buffer that grows by doubling, bounded by `maxLineBytes`: past it, the line is reported
 * once as too long and its bytes are discarded up to the next `\n`. A client that never sends
 * `\n`, or sends one byte per packet, costs at most `maxLineBytes` of memory and linear time.
 */
const LF = 0x0a;
const MIN_CARRY = 256;

export interface LineSink {
  /** A complete line, `buf[start, end)`, without its `\n`. Valid only during the call. */
  line(buf: Buffer, start: number, end: number): void;
  /**
   * Optional, the fast lane: handles the line starting at `buf[start]` if it can find its end
   * itself, before `limit`, and returns the offset of its `\n`; else -1, and the framer finds
   * the end and calls `line()`. A sink that parses lines does both in one pass over the bytes
   * (see `parseLineAt`). `limit` keeps the line within the maximum length.
   */
  lineAt?(buf: Buffer, start: number, limit: number): number;
  /** A line exceeded the maximum length. Called once per such line, as soon as it is known. */
  overlong(): void;
  /**
   * Read after each line: true stops `push()` there, which returns where the next line starts
   * (a server ends a slice of its work this way and frames the rest on a later turn).
   */
  readonly halted?: boolean;
}

export class LineFramer {
  readonly #maxLineBytes: number;
  #carry: Buffer | null = null;
  #carryBytes = 0;
  #discarding = false;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes currently held for an unfinished line. */
  get carriedBytes(): number {
    return this.#carryBytes;
  }

  /**
   * Frames `chunk[from, length)`. The bytes past `length` are not read: the chunk may be a
   * buffer shared by many connections that only its first `length` bytes belong to this read.
   * Returns `length`, or, when the sink halted after a line, the offset just past that line:
   * the caller pushes the rest again later.
   */
  push(chunk: Buffer, sink: LineSink, length = chunk.length, from = 0): number {
    let start = from;
    while (start < length) {
      if (sink.lineAt !== undefined && this.#carryBytes === 0 && !this.#discarding) {
        const end = sink.lineAt(chunk, start, Math.min(length, start + this.#maxLineBytes + 1));
        if (end >= 0) {
          start = end + 1;
          if (sink.halted === true) return start;
          continue;
        }
      }
      // A JS scan bounded by `length`: indexOf() would search the rest of a shared buffer.
      let nl = start;
      while (nl < length && chunk[nl] !== LF) nl++;
      if (nl === length) {
        this.#hold(chunk, start, length, sink);
        return length;
      }
      if (this.#discarding) {
        this.#discarding = false;
      } else if (this.#carryBytes > 0) {
        const total = this.#carryBytes + (nl - start);
        if (total > this.#maxLineBytes) {
          this.#carryBytes = 0;
          sink.overlong();
        } else {
          const carry = this.#append(chunk, start, nl);
          this.#carryBytes = 0;
          sink.line(carry, 0, total);
        }
        this.#shrink();
      } else if (nl - start > this.#maxLineBytes) {
        sink.overlong();
      } else {
        sink.line(chunk, start, nl);
      }
      start = nl + 1;
      if (sink.halted === true) return start;
    }
    return length;
  }

  /** Forgets an unfinished line (the connection closed before its `\n`). */
  reset(): void {
    this.#carry = null;
    this.#carryBytes = 0;
    this.#discarding = false;
  }

  #hold(chunk: Buffer, start: number, end: number, sink: LineSink): void {
    if (this.#discarding) return;
    if (this.#carryBytes + (end - start) > this.#maxLineBytes) {
      this.reset();
      this.#discarding = true;
      sink.overlong();
      return;
    }
    this.#append(chunk, start, end);
  }

  /** Copies `chunk[start, end)` after the carried bytes; the chunk's memory may be reused. */
  #append(chunk: Buffer, start: number, end: number): Buffer {
    const needed = this.#carryBytes + (end - start);
    let carry = this.#carry;
    if (carry === null || carry.length < needed) {
      const size = Math.min(Math.max(needed * 2, MIN_CARRY), Math.max(this.#maxLineBytes, needed));
      const grown = Buffer.allocUnsafe(size);
      if (carry !== null) carry.copy(grown, 0, 0, this.#carryBytes);
      carry = this.#carry = grown;
    }
    chunk.copy(carry, this.#carryBytes, start, end);
    this.#carryBytes = needed;
    return carry;
  }

  /** Drops a carry buffer grown for one long line, so an idle connection holds little. */
  #shrink(): void {
    if (this.#carry !== null && this.#carry.length > 4 * MIN_CARRY) this.#carry = null;
  }
}
