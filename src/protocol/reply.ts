/**
 * Replies of the line protocol. A reply is a small integer on the hot path and is rendered
 * to bytes only when written, from buffers built once.
 */
export const Reply = { OK: 0, FAIL: 1, ERROR: 2 } as const;
export type Reply = (typeof Reply)[keyof typeof Reply];

export const REPLY_NAMES = ['OK', 'FAIL', 'ERROR'] as const satisfies readonly string[];

/** `OK\n`, `FAIL\n`, `ERROR\n`, indexed by Reply. */
export const REPLY_BYTES: readonly Buffer[] = REPLY_NAMES.map((n) => Buffer.from(`${n}\n`, 'latin1'));

/** Longest rendered reply, for sizing output buffers. */
export const MAX_REPLY_BYTES = 6;

/**
 * Renders the replies `replies[from, to)` into one buffer, ready for a single socket write. Bytes are
 * stored one by one: a Buffer.copy() per reply costs more than the few bytes it copies.
 * One reply (every strict request/response) is REPLY_BYTES' own buffer, shared: a new Buffer
 * per reply was ~180 instructions of a strict request. The result is for writing only.
 */
export function renderReplies(replies: Uint8Array, from: number, to: number): Buffer {
  if (to - from === 1) return REPLY_BYTES[replies[from] as Reply]!;
  let size = 0;
  for (let i = from; i < to; i++) size += REPLY_BYTES[replies[i] as Reply]!.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = from; i < to; i++) {
    const bytes = REPLY_BYTES[replies[i] as Reply]!;
    for (let j = 0; j < bytes.length; j++) out[at++] = bytes[j]!;
  }
  return out;
}
