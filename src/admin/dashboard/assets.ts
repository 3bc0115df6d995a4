import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** What is served from the dashboard's directory, by extension; other files (maps, .d.ts) are not. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/** Below this size gzip saves less than its header and the work costs. */
const MIN_GZIP_BYTES = 1024;

/** One file of the dashboard, held in memory (they are few and small: the page is ~200 KB). */
export class Asset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator: the file's content hash. */
  readonly etag: string;
  #gzipped: Promise<Buffer> | null = null;

  constructor(body: Buffer, contentType: string) {
    this.body = body;
    this.contentType = contentType;
    this.etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  }

  get compressible(): boolean {
    return this.body.length >= MIN_GZIP_BYTES;
  }

  /** The body gzipped, compressed on first use (off the event loop, in libuv's pool) and kept. */
  gzipped(): Promise<Buffer> {
    this.#gzipped ??= gzipAsync(this.body, { level: 9 });
    return this.#gzipped;
  }
}

/**
 * Reads the built dashboard (`npm run build` puts it in dist/src/admin/dashboard/web/: the
 * compiled scripts, the HTML and CSS, and uPlot and cytoscape.js copied from their npm
 * packages) into memory, by URL path (`/index.html`, `/vendor/uPlot.iife.min.js`). Empty when
 * the directory is missing (running from the TypeScript sources, not a build).
 */
export function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let files: string[];
  try {
    files = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return assets;
  }
  for (const file of files.sort()) {
    const type = CONTENT_TYPES[extname(file)];
    if (type === undefined) continue;
    const path = join(dir, file);
    const body = readFileSync(path);
    const served = type === CONTENT_TYPES['.js'] ? withoutSourceMap(body) : body;
    assets.set(`/${relative(dir, path).split(sep).join('/')}`, new Asset(served, type));
  }
  return assets;
}

/** tsc's last line in a compiled script: `//# sourceMappingURL=main.js.map`. */
const SOURCE_MAP_COMMENT = /\n\/\/# sourceMappingURL=[^\n]*\n?$/;

/**
 * A compiled script without its source map comment. The maps are not served (they point at
 * TypeScript sources the package does not ship), and a browser with its developer tools open
 * asks for each one it is told of: a 404 a script in the console, for nothing.
 */
export function withoutSourceMap(script: Buffer): Buffer {
  const text = script.toString('utf8');
  const stripped = text.replace(SOURCE_MAP_COMMENT, '\n');
  return stripped === text ? script : Buffer.from(stripped, 'utf8');
}
