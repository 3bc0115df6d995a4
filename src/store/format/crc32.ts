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
 * Four tables for slicing-by-4: entry k·256+n is the CRC register after byte n followed by k
 * zero bytes, so one step folds four bytes with four lookups.
 */
function makeSlicingTables(): Int32Array {
  const base = makeTable();
  const t = new Int32Array(4 * 256);
  for (let n = 0; n < 256; n++) t[n] = base[n]! | 0;
  for (let k = 1; k < 4; k++)
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = t[prev & 0xff]! ^ (prev >>> 8);
    }
  return t;
}

const SLICING = makeSlicingTables();

/**
 * CRC-32 of `buf[start, end)`, continuing from `initial`, in JavaScript (slicing-by-4).
 *
 * For the short ranges of a frame (tens of bytes) this is several times faster than the native
 * zlib.crc32: a call into C++ plus the subarray view it needs cost far more than the bytes
 * (measured in docs/performance.md, "the durable store's CPU per mutation"). Allocates nothing.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number, initial = 0): number {
  const t = SLICING;
  let c = ~initial;
  let at = start;
  for (const last4 = end - 4; at <= last4; at += 4) {
    c ^= buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
    c = t[768 + (c & 0xff)]! ^ t[512 + ((c >>> 8) & 0xff)]! ^ t[256 + ((c >>> 16) & 0xff)]! ^ t[c >>> 24]!;
  }
  for (; at < end; at++) c = t[(c ^ buf[at]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
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
