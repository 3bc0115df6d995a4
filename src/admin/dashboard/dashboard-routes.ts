import { fileURLToPath } from 'node:url';
import { createError } from '../../errors.js';
import type { AdminReply } from '../reply.js';
import type { AdminRequest, Router } from '../router.js';
import { loadAssets, type Asset } from './assets.js';
import type { SignalStream } from './signal-stream.js';

/**
 * The page may load only what this server serves: no inline script or style, no eval, no
 * plug-ins, no framing, no `<base>` rewriting, no form posts elsewhere; fetches go to this
 * origin only. Trusted Types are required for script sinks, so an `innerHTML = data` slipped
 * into the code fails loudly in the browser instead of becoming an XSS (the page uses
 * textContent; uPlot and cytoscape.js use no such sink).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types none',
].join('; ');

/** Sent with every page, script and stream of the dashboard. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/** Where `npm run build` puts the page, its scripts and the bundled libraries. */
export const DASHBOARD_DIR = fileURLToPath(new URL('./web/', import.meta.url));

/**
 * GET / (the dashboard) and its files, open without the token: they hold no data, and a
 * browser navigating to `/` cannot send an Authorization header; the page asks for the token
 * and sends it with each request for data. GET /v1/events: the live signals, behind the token
 * like every data route.
 */
export function registerDashboardRoutes(router: Router, deps: { signals: SignalStream; dir?: string }): void {
  const assets = loadAssets(deps.dir ?? DASHBOARD_DIR);
  const index = assets.get('/index.html');
  if (index === undefined)
    router.get(
      '/',
      () => {
        throw createError(
          'E_NOT_FOUND',
          'the dashboard is not built in this installation; run `npm run build` (it copies the page into dist/)',
        );
      },
      { public: true },
    );
  else router.get('/', (request) => assetReply(index, request), { public: true });
  for (const [path, asset] of assets)
    router.get(path, (request) => assetReply(asset, request), { public: true });

  router.get('/v1/events', (request) => eventsReply(deps.signals, request));
}

async function assetReply(asset: Asset, request: AdminRequest): Promise<AdminReply> {
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': asset.contentType,
    // Names are not content-hashed: revalidate each time (a 304 costs one round trip).
    'cache-control': 'no-cache',
    etag: asset.etag,
    vary: 'accept-encoding',
  };
  if (request.headers['if-none-match'] === asset.etag) return { status: 304, headers, body: '' };
  if (asset.compressible && acceptsGzip(request.headers['accept-encoding']))
    return {
      status: 200,
      headers: { ...headers, 'content-encoding': 'gzip' },
      body: await asset.gzipped(),
    };
  return { status: 200, headers, body: asset.body };
}

/** Whether an Accept-Encoding header accepts gzip (by name or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function eventsReply(signals: SignalStream, request: AdminRequest): AdminReply {
  const headers = {
    ...SECURITY_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // A proxy in front (nginx) would otherwise hold the events back to fill its buffer.
    'x-accel-buffering': 'no',
  };
  // HEAD has no body to end: a stream would hold a client slot until the socket closed.
  if (request.method === 'HEAD') return { status: 200, headers, body: '' };
  return { status: 200, headers, body: signals.open(), live: true };
}
