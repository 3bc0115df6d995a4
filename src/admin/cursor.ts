/**
 * The opaque cursors of the query API's lists. A cursor is a keyset position: the last name of
 * the page it follows, so the next page starts strictly after it whatever was indexed or removed
 * in between (a page never repeats or skips a package that stayed indexed). It is opaque to
 * clients (base64url of a versioned form) so that the position can carry more later without
 * breaking them; only cursors this server wrote are accepted.
 */
import { createError } from '../errors.js';

const PREFIX = 'k1:';

/** The cursor for the page after `name`. */
export function encodeCursor(name: string): string {
  return Buffer.from(PREFIX + name, 'utf8').toString('base64url');
}

/** The name a cursor stands after; E_ADMIN_BAD_REQUEST for anything this server did not write. */
export function decodeCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!text.startsWith(PREFIX) || encodeCursor(text.slice(PREFIX.length)) !== cursor)
    throw createError(
      'E_ADMIN_BAD_REQUEST',
      `"${cursor}" is not a cursor of this API; pass the "next" of the previous page as it was, or leave cursor out for the first page`,
    );
  return text.slice(PREFIX.length);
}
