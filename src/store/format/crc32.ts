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
