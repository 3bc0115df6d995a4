import { createHash, timingSafeEqual } from 'node:crypto';
import { createError } from '../errors.js';
import type { AdminRequest } from './router.js';

/** The environment variable holding the admin bearer token. Never a flag: flags show in `ps`. */
export const ADMIN_TOKEN_ENV = 'PKGINDEX_ADMIN_TOKEN';

const MIN_TOKEN_LENGTH = 16;

/**
 * Reads and validates the admin token: null when the variable is unset (no authentication),
 * E_CONFIG when it is set but too weak to be one.
 */
export function adminTokenFromEnv(env: NodeJS.ProcessEnv): string | null {
  const token = env[ADMIN_TOKEN_ENV];
  if (token === undefined) return null;
  if (token.trim() !== token || token.length < MIN_TOKEN_LENGTH)
    throw createError(
      'E_CONFIG',
      `${ADMIN_TOKEN_ENV} must be at least ${MIN_TOKEN_LENGTH} characters without surrounding spaces ` +
        '(e.g. the output of `openssl rand -hex 32`); unset it to serve the admin port without authentication',
    );
  return token;
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
