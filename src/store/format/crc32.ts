import zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) over record bytes. Node ≥ 20.15 has a native
 * zlib.crc32; the table version keeps the engine working on the 20.10 the package allows, and
 * the tests check that both agree.
 */
export type Crc32 = (data: Uint8Array, initial?: number) => number;

function makeTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * Eight tables for slicing-by-8: entry k·256+n is the CRC register after byte n followed by k
 * zero bytes, so one step folds eight bytes with eight lookups.
 */
function makeSlicingTables(): Int32Array {
  const base = makeTable();
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) t[n] = base[n]! | 0;
  for (let k = 1; k < 8; k++)
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = t[prev & 0xff]! ^ (prev >>> 8);
    }
  return t;
}

const SLICING = makeSlicingTables();

/**
 * The buffer crc32Range read last, and a DataView of it: a DataView reads four bytes in one
 * load (unaligned, little-endian) where the bytes one by one cost four loads and three shifts.
 * The callers reuse their buffers (a log writer's record buffer, a reader's window), so the
 * view is made once per buffer, not per call. It keeps that one buffer alive until another is
 * read, no longer.
 */
let viewed: Uint8Array | null = null;
let view: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewed) {
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewed = buf;
  }
  return view;
}

/**
 * The CRC register between calls: `crc32Advance` reads and leaves it here instead of taking and
 * returning it. A CRC is a full 32-bit value, and a number outside the 31-bit small-integer
 * range that crosses a call boundary (an argument or a return of a function V8 does not inline,
 * as this loop is too large to be) is boxed on the heap: two boxes a frame, a tenth of what the
 * durable mutation load allocated (docs/benchmarks.md, stop 42).
 */
const REGISTER = new Int32Array(1);

/**
 * CRC-32 of `buf[start, end)`, continuing from `initial`, in JavaScript (slicing-by-8, two
 * 32-bit reads a step, then one step of four and the last bytes one by one).
 *
 * For the short ranges of a frame (tens of bytes) this is several times faster than the native
 * zlib.crc32: a call into C++ plus the subarray view it needs cost far more than the bytes
 * (measured in docs/performance.md, "the durable store's CPU per mutation"). Slicing-by-4 with
 * byte reads took about a fifth longer over a frame's payload (docs/benchmarks.md, stop 41).
 * Allocates nothing for a buffer it has just read, but its result, a number that is boxed
 * three times in four: the frames' hot path uses `crc32Begin`/`crc32Advance`/`crc32End`.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number, initial = 0): number {
  crc32Begin(initial);
  crc32Advance(buf, start, end);
  return crc32End() >>> 0;
}

/** Starts a CRC in the register, continuing from `initial` (a finished CRC; 0 for none). */
export function crc32Begin(initial = 0): void {
  REGISTER[0] = ~initial;
}

/** The CRC in the register, finished, as a signed 32-bit value (`>>> 0` for the unsigned). */
export function crc32End(): number {
  return ~REGISTER[0]!;
}

/** Continues the CRC in the register over `buf[start, end)`. */
export function crc32Advance(buf: Uint8Array, start: number, end: number): void {
  const t = SLICING;
  let c = REGISTER[0]!;
  let at = start;
  if (end - start >= 4) {
    const v = viewOf(buf);
    for (const last8 = end - 8; at <= last8; at += 8) {
      const a = c ^ v.getInt32(at, true);
      const b = v.getInt32(at + 4, true);
      c =
        t[1792 + (a & 0xff)]! ^
        t[1536 + ((a >>> 8) & 0xff)]! ^
        t[1280 + ((a >>> 16) & 0xff)]! ^
        t[1024 + (a >>> 24)]! ^
        t[768 + (b & 0xff)]! ^
        t[512 + ((b >>> 8) & 0xff)]! ^
        t[256 + ((b >>> 16) & 0xff)]! ^
        t[b >>> 24]!;
    }
    if (at + 4 <= end) {
      const a = c ^ v.getInt32(at, true);
      c = t[768 + (a & 0xff)]! ^ t[512 + ((a >>> 8) & 0xff)]! ^ t[256 + ((a >>> 16) & 0xff)]! ^ t[a >>> 24]!;
      at += 4;
    }
  }
  for (; at < end; at++) c = t[(c ^ buf[at]!) & 0xff]! ^ (c >>> 8);
  REGISTER[0] = c;
}

/** The portable implementation: one table lookup per byte. */
export function makeTableCrc32(): Crc32 {
  const table = makeTable();
  return (data, initial = 0) => {
    let c = ~initial;
    for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    return ~c >>> 0;
  };
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** The fastest available implementation. */
export const crc32: Crc32 = typeof native === 'function' ? (d, i = 0) => native(d, i) : makeTableCrc32();
