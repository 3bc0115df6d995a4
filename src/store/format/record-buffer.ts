import { FRAME_HEADER_BYTES, sealFrame } from './frame.js';
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
 * Frames being gathered for one write. Payloads are encoded as commands execute; the frame
 * headers are sealed only when the write starts, because a frame's `base` (the synced offset)
 * is known only then.
 */
export class RecordBuffer {
  #buf = Buffer.allocUnsafe(INITIAL_BYTES);
  #length = 0;
  #starts: number[] = [];

  get bytes(): number {
    return this.#length;
  }

  get count(): number {
    return this.#starts.length;
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
    const starts = this.#starts;
    for (let i = 0; i < starts.length; i++) {
      const at = starts[i]!;
      const end = i + 1 < starts.length ? starts[i + 1]! : this.#length;
      sealFrame(this.#buf, at, end - at - FRAME_HEADER_BYTES, base);
    }
    return this.#buf.subarray(0, this.#length);
  }

  reset(): void {
    this.#length = 0;
    this.#starts = [];
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
    this.#starts.push(at);
    return at;
  }
}
