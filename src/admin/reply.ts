import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

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
