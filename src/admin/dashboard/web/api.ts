// Requests for data: with the admin token, when the server asked for one, as a bearer token.
// The token is kept in sessionStorage: it lasts for the tab, never in a URL or a cookie, so it
// is neither logged by proxies nor sent by the browser on its own (no CSRF).

const TOKEN_KEY = 'pkgindex.adminToken';

/** An answer other than 2xx, with the server's stable error code when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export class Api {
  /** Called on a 401: the page asks for the token. */
  onUnauthorized: (message: string) => void = () => undefined;

  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  set token(value: string | null) {
    if (value === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  }

  headers(accept: string): Headers {
    const headers = new Headers({ accept });
    const token = this.token;
    if (token !== null) headers.set('authorization', `Bearer ${token}`);
    return headers;
  }

  /** GET `path`, answered 2xx: the response. Otherwise throws an ApiError. */
  async get(path: string, accept: string, signal?: AbortSignal): Promise<Response> {
    const response = await fetch(path, { headers: this.headers(accept), signal: signal ?? null });
    if (response.ok) return response;
    let code = `HTTP_${response.status}`;
    let message = response.statusText;
    try {
      const body = (await response.json()) as { error?: unknown; message?: unknown };
      if (typeof body.error === 'string') code = body.error;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // Not JSON: keep the status line.
    }
    if (response.status === 401) this.onUnauthorized(message);
    throw new ApiError(response.status, code, message);
  }

  async json<T>(path: string, signal?: AbortSignal): Promise<T> {
    const response = await this.get(path, 'application/json', signal);
    return (await response.json()) as T;
  }
}
