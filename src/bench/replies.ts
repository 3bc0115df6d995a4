/**
 * The generator's side of the protocol: classifying reply lines as bytes, without decoding
 * them. A reply is one of the three words; anything else is a protocol error, never ignored.
 */
import { Reply } from '../protocol/reply.js';

/** A reply as classified: one of the protocol's three, or BAD (not a reply at all). */
export const ReplyClass = { OK: Reply.OK, FAIL: Reply.FAIL, ERROR: Reply.ERROR, BAD: 3 } as const;
export type ReplyClass = (typeof ReplyClass)[keyof typeof ReplyClass];

/** What a request must be answered with; ANY when the generator cannot know. */
export const Expect = { OK: Reply.OK, FAIL: Reply.FAIL, ERROR: Reply.ERROR, ANY: 3 } as const;
export type Expect = (typeof Expect)[keyof typeof Expect];

const LF = 0x0a;
const O = 0x4f;
const K = 0x4b;
const F = 0x46;
const E = 0x45;
const WORDS = [Buffer.from('OK'), Buffer.from('FAIL'), Buffer.from('ERROR')] as const;
/** Longest reply word; a carried partial line longer than this is already BAD. */
const MAX_WORD = 5;

/** Classifies `buf[start, end)`, one reply line without its `\n`, by its first byte, then checks it whole. */
export function classifyLine(buf: Uint8Array, start: number, end: number): ReplyClass {
  const len = end - start;
  switch (buf[start]) {
    case O:
      return len === 2 && buf[start + 1] === K ? ReplyClass.OK : ReplyClass.BAD;
    case F:
      return len === 4 && matches(buf, start, WORDS[1]) ? ReplyClass.FAIL : ReplyClass.BAD;
    case E:
      return len === 5 && matches(buf, start, WORDS[2]) ? ReplyClass.ERROR : ReplyClass.BAD;
    default:
      return ReplyClass.BAD;
  }
}

function matches(buf: Uint8Array, start: number, word: Buffer): boolean {
  for (let i = 1; i < word.length; i++) if (buf[start + i] !== word[i]) return false;
  return true;
}

export interface ReplySink {
  reply(cls: ReplyClass): void;
}

/**
 * Splits a stream of reply bytes into lines and classifies each. A line split across chunks
 * is carried in a few bytes; a line longer than any reply is BAD and is skipped to its `\n`.
 */
export class ReplyScanner {
  readonly #carry = Buffer.alloc(MAX_WORD);
  #carried = 0;
  #overlong = false;

  /** Bytes of an unfinished line, e.g. when the connection closes: a protocol error if > 0. */
  get pendingBytes(): number {
    return this.#overlong ? MAX_WORD + 1 : this.#carried;
  }

  push(chunk: Uint8Array, sink: ReplySink): void {
    let start = 0;
    const length = chunk.length;
    while (start < length) {
      const nl = chunk.indexOf(LF, start);
      if (nl < 0) {
        this.#hold(chunk, start, length);
        return;
      }
      if (this.#overlong) {
        this.#overlong = false;
        sink.reply(ReplyClass.BAD);
      } else if (this.#carried > 0) {
        if (this.#carried + nl - start > MAX_WORD) sink.reply(ReplyClass.BAD);
        else {
          this.#carry.set(chunk.subarray(start, nl), this.#carried);
          sink.reply(classifyLine(this.#carry, 0, this.#carried + nl - start));
        }
        this.#carried = 0;
      } else {
        sink.reply(classifyLine(chunk, start, nl));
      }
      start = nl + 1;
    }
  }

  #hold(chunk: Uint8Array, start: number, end: number): void {
    if (this.#overlong) return;
    if (this.#carried + end - start > MAX_WORD) {
      this.#overlong = true;
      this.#carried = 0;
      return;
    }
    this.#carry.set(chunk.subarray(start, end), this.#carried);
    this.#carried += end - start;
  }
}
