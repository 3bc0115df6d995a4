import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createError } from '../errors.js';
import type { AdminRequest } from './router.js';

/** The environment variable holding the admin bearer token. Never a flag: flags show in `ps`. */
export const ADMIN_TOKEN_ENV = 'PKGINDEX_ADMIN_TOKEN';
/** Or the path of a file holding it (a Docker or Kubernetes secret), so that it is not in the environment. */
export const ADMIN_TOKEN_FILE_ENV = 'PKGINDEX_ADMIN_TOKEN_FILE';

const MIN_TOKEN_LENGTH = 16;
/**
 * Least estimated entropy of a token, in bits. 64 bits cannot be searched online through an
 * HTTP port; `openssl rand -hex 32` scores about 250, `aaaaaaaaaaaaaaaa` scores 0.
 */
export const MIN_TOKEN_BITS = 64;

/**
 * A simple, documented estimate of a token's entropy: its length times the Shannon entropy of
 * its characters' frequencies (bits per character). It scores repeated or few distinct
 * characters low whatever the length, and never over-scores a random hex or base64 string. It
 * cannot tell a random string from a memorable one with as many distinct characters: that is
 * what the documentation's `openssl rand` advice is for.
 */
export function estimateTokenBits(token: string): number {
  // Code points: a token is text from a secret store, and counting UTF-16 halves would over-score it.
  const chars = Array.from(token);
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return chars.length * perChar;
}

function checkToken(token: string, source: string): string {
  if (token.trim() !== token || token.length < MIN_TOKEN_LENGTH)
    throw createError(
      'E_CONFIG',
      `${source} must be at least ${MIN_TOKEN_LENGTH} characters without surrounding spaces ` +
        '(e.g. the output of `openssl rand -hex 32`); unset it to serve the admin port without authentication',
    );
  const bits = estimateTokenBits(token);
  if (bits < MIN_TOKEN_BITS)
    throw createError(
      'E_CONFIG',
      `${source} is too easy to guess: about ${Math.floor(bits)} bits of entropy (length × Shannon entropy ` +
        `of its characters), at least ${MIN_TOKEN_BITS} needed; use a random one, e.g. \`openssl rand -hex 32\``,
    );
  return token;
}

/**
 * Reads and validates the admin token, from PKGINDEX_ADMIN_TOKEN or the file named by
 * PKGINDEX_ADMIN_TOKEN_FILE (one trailing newline removed): null when neither is set (no
 * authentication), E_CONFIG when both are, when the file cannot be read, or when the token is
 * too short or too easy to guess.
 */
export function adminTokenFromEnv(env: NodeJS.ProcessEnv): string | null {
  const token = env[ADMIN_TOKEN_ENV];
  const file = env[ADMIN_TOKEN_FILE_ENV];
  if (token !== undefined && file !== undefined)
    throw createError('E_CONFIG', `set ${ADMIN_TOKEN_ENV} or ${ADMIN_TOKEN_FILE_ENV}, not both`);
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw createError(
        'E_CONFIG',
        `${ADMIN_TOKEN_FILE_ENV}: cannot read ${file}: ${(err as Error).message}; check the path and its permissions`,
        { cause: err },
      );
    }
    return checkToken(text.replace(/\r?\n$/, ''), `the token in ${ADMIN_TOKEN_FILE_ENV} (${file})`);
  }
  if (token === undefined) return null;
  return checkToken(token, ADMIN_TOKEN_ENV);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * A check requiring `Authorization: Bearer <token>`; it throws E_ADMIN_UNAUTHORIZED otherwise.
 * The admin server applies it to every request but those of public routes (unknown paths
 * included). The comparison is of SHA-256 digests with timingSafeEqual, so its time depends on
 * neither the token's content nor its length.
 */
export function bearerTokenCheck(token: string): (request: AdminRequest) => void {
  const expected = digest(token);
  return (request) => {
    const match = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (match === null || !timingSafeEqual(digest(match[1]!), expected))
      throw createError(
        'E_ADMIN_UNAUTHORIZED',
        `this endpoint needs the header "Authorization: Bearer <token>" with the value of ${ADMIN_TOKEN_ENV}`,
      );
  };
}
