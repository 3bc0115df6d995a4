import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** What a route handler answers: a status, headers and a body sent whole or streamed. */
export interface AdminReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** A string or buffer goes with a content-length; a stream goes chunked. */
  readonly body: string | Buffer | Readable;
  /**
   * A stream without an end (server-sent events): the client going away is how it normally
   * ends, not a failure to log.
   */
  readonly live?: boolean;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** `value` as a JSON body. */
export function jsonReply(
  value: unknown,
  options: { status?: number; headers?: Readonly<Record<string, string>> } = {},
): AdminReply {
  return {
    status: options.status ?? 200,
    headers: { 'content-type': JSON_CONTENT_TYPE, ...options.headers },
    body: JSON.stringify(value),
  };
}

/** Items serialised per event-loop turn by jsonItemsReply: about a millisecond of JSON. */
export const JSON_ITEMS_PER_TURN = 2000;

/**
 * `{ "items": [...], ...rest }` as a JSON body: whole when the list is short, else streamed a
 * chunk of JSON_ITEMS_PER_TURN items per turn, so that serialising an install order of 50,000
 * names does not hold the event loop (the protocol's sockets) for the whole of it.
 */
export function jsonItemsReply(
  items: readonly unknown[],
  rest: Readonly<Record<string, unknown>>,
  options: { headers?: Readonly<Record<string, string>> } = {},
): AdminReply {
  if (items.length <= JSON_ITEMS_PER_TURN) return jsonReply({ items, ...rest }, options);
  const tail = JSON.stringify(rest);
  async function* chunks(): AsyncGenerator<string> {
    yield '{"items":[';
    for (let i = 0; i < items.length; i += JSON_ITEMS_PER_TURN) {
      if (i > 0) {
        await nextTurn();
        yield ',';
      }
      yield JSON.stringify(items.slice(i, i + JSON_ITEMS_PER_TURN)).slice(1, -1);
    }
    yield tail === '{}' ? ']}' : `],${tail.slice(1)}`;
  }
  return {
    status: 200,
    headers: { 'content-type': JSON_CONTENT_TYPE, ...options.headers },
    body: Readable.from(chunks(), { objectMode: false }),
  };
}

/**
 * Writes `reply` to `res`. A streamed body resolves once it is sent and rejects if it fails or
 * the client goes away midway (the response is then destroyed).
 */
export async function sendReply(res: ServerResponse, reply: AdminReply): Promise<void> {
  res.statusCode = reply.status;
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
  const { body } = reply;
  if (body instanceof Readable) {
    await pipeline(body, res);
    return;
  }
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
