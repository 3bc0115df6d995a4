import { FRAME_HEADER_BYTES, putU32, sealFrame } from './frame.js';
import {
  END_PAYLOAD_BYTES,
  indexPayloadBytes,
  removePayloadBytes,
  writeEndPayload,
  writeIndexPayload,
  writeRemovePayload,
} from './record.js';

const INITIAL_BYTES = 64 * 1024;

/**
 * Frames being gathered for one write, encoded by offsets into one reused buffer (nothing is
 * allocated per record). Payloads and their lengths are written as commands execute; the rest
 * of each frame header (base, CRC) is sealed only when the write starts, because a frame's
 * `base` (the synced offset) is known only then. `seal` finds the frames by their lengths.
 */
export class RecordBuffer {
  #buf = Buffer.allocUnsafe(INITIAL_BYTES);
  #length = 0;
  #count = 0;

  get bytes(): number {
    return this.#length;
  }

  get count(): number {
    return this.#count;
  }

  appendIndex(name: string, deps: readonly string[]): void {
    const at = this.#reserve(indexPayloadBytes(name, deps));
    this.#length = writeIndexPayload(this.#buf, at + FRAME_HEADER_BYTES, name, deps);
  }

  appendRemove(name: string): void {
    const at = this.#reserve(removePayloadBytes(name));
    this.#length = writeRemovePayload(this.#buf, at + FRAME_HEADER_BYTES, name);
  }

  appendEnd(packages: number, edges: number): void {
    const at = this.#reserve(END_PAYLOAD_BYTES);
    this.#length = writeEndPayload(this.#buf, at + FRAME_HEADER_BYTES, packages, edges);
  }

  /** Seals every frame with `base` and returns the bytes to write (a view, valid until reset). */
  seal(base: number): Buffer {
    const buf = this.#buf;
    const end = this.#length;
    for (let at = 0; at < end;) {
      const payloadBytes = buf.readUInt32LE(at);
      sealFrame(buf, at, payloadBytes, base);
      at += FRAME_HEADER_BYTES + payloadBytes;
    }
    return buf.subarray(0, end);
  }

  reset(): void {
    this.#length = 0;
    this.#count = 0;
    // A burst can grow the buffer a lot; do not keep that memory for a quiet log.
    if (this.#buf.length > 16 * INITIAL_BYTES) this.#buf = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  #reserve(payloadBytes: number): number {
    const at = this.#length;
    const needed = at + FRAME_HEADER_BYTES + payloadBytes;
    if (needed > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.#buf.length * 2));
      this.#buf.copy(grown, 0, 0, at);
      this.#buf = grown;
    }
    // The length now, so that `seal` can walk the frames; base and CRC then.
    putU32(this.#buf, at, payloadBytes);
    this.#count++;
    return at;
  }
}
