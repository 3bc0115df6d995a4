import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import {
  acceptsGzip,
  CONTENT_SECURITY_POLICY,
  DASHBOARD_DIR,
  registerDashboardRoutes,
} from '../../src/admin/dashboard/dashboard-routes.js';
import { SIGNAL_STREAM_DEFAULTS, SignalStream } from '../../src/admin/dashboard/signal-stream.js';
import { Router } from '../../src/admin/router.js';
import type { SignalSample } from '../../src/observability/live-signals.js';
import { importsOf } from '../architecture/imports.js';
import { exchange, get, startInProcess, type InProcess } from './harness.js';

function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** One server-sent event. */
interface Event {
  readonly event: string;
  readonly data: string;
}

/** An open GET /v1/events: events as they come, and the means to stop reading. */
async function openEvents(
  adminPort: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; next(): Promise<Event>; close(): void; headers: Headers }> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${adminPort}/v1/events`, {
    headers,
    signal: controller.signal,
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    status: response.status,
    headers: response.headers,
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const field = (name: string): string =>
            block
              .split('\n')
              .filter((l) => l.startsWith(`${name}: `))
              .map((l) => l.slice(name.length + 2))
              .join('\n');
          return { event: field('event'), data: field('data') };
        }
        const { done, value } = await reader.read();
        if (done) throw new Error('the event stream ended');
        buffer += value;
      }
    },
    close() {
      controller.abort();
    },
  };
}

describe('dashboard', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess();
  });
  after(async () => {
    await s.close();
  });

  test('GET / serves the page with a strict Content-Security-Policy and no-sniff', async () => {
    const r = await get(s.adminPort, '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    assert.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.match(r.text, /<script type="module" src="main.js"><\/script>/);
    assert.doesNotMatch(
      r.text,
      /<script>|<style|\sstyle=|\son[a-z]+=|javascript:/i,
      'nothing inline for the CSP to refuse',
    );
  });

  test('the bundled libraries are served from this server, gzipped when accepted, revalidated by ETag', async () => {
    const plain = await get(s.adminPort, '/vendor/uPlot.iife.min.js', { 'accept-encoding': 'identity' });
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.match(plain.text, /uPlot/);

    // node:http keeps the bytes as sent (fetch would decompress them).
    const raw = await rawGet(s.adminPort, '/vendor/cytoscape.esm.min.mjs', { 'accept-encoding': 'gzip' });
    assert.equal(raw.headers['content-encoding'], 'gzip');
    const zipped = raw.body;
    const body = gunzipSync(zipped).toString('utf8');
    assert.match(body, /export\{\w+ as default\}/);
    assert.ok(zipped.length < body.length / 2, `${zipped.length} gzipped of ${body.length}`);

    const etag = plain.headers.get('etag')!;
    const again = await get(s.adminPort, '/vendor/uPlot.iife.min.js', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');

    // Only the page's files: not the source maps or declarations beside them, and no script
    // names a map (a browser's developer tools would ask for it, and log a 404).
    assert.equal((await get(s.adminPort, '/main.js.map')).status, 404);
    assert.equal((await get(s.adminPort, '/main.d.ts')).status, 404);
    const main = await get(s.adminPort, '/main.js', { 'accept-encoding': 'identity' });
    assert.match(main.text, /import /);
    assert.doesNotMatch(main.text, /sourceMappingURL/);
    assert.match(
      readFileSync(join(DASHBOARD_DIR, 'main.js'), 'utf8'),
      /\/\/# sourceMappingURL=main\.js\.map\n?$/,
      'the built file has the comment the server leaves out',
    );
  });

  test('GET /v1/events sends the history, then a sample a second that counts the traffic', async () => {
    const events = await openEvents(s.adminPort);
    try {
      assert.equal(events.status, 200);
      assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(events.headers.get('cache-control'), 'no-store');
      const history = await events.next();
      assert.equal(history.event, 'history');
      assert.ok(Array.isArray(JSON.parse(history.data)));

      assert.deepEqual(await exchange(s.port, ['INDEX|x|', 'QUERY|x|', 'QUERY|y|', 'BAD']), [
        'OK',
        'OK',
        'FAIL',
        'ERROR',
      ]);
      // The traffic lands in the next sample or the one after (it may straddle a tick).
      let seen = { QUERY: 0, INDEX: 0, INVALID: 0, OK: 0, FAIL: 0, ERROR: 0, errors: 0 };
      while (seen.QUERY === 0 || seen.INDEX === 0 || seen.ERROR === 0) {
        const e = await events.next();
        assert.equal(e.event, 'sample');
        const sample = JSON.parse(e.data) as {
          seconds: number;
          commands: Record<string, number>;
          results: Record<string, number>;
          errors: number;
          packages: number;
          store: { writable: boolean };
        };
        const n = (rate: number | undefined): number => Math.round((rate ?? 0) * sample.seconds);
        seen = {
          QUERY: seen.QUERY + n(sample.commands.QUERY),
          INDEX: seen.INDEX + n(sample.commands.INDEX),
          INVALID: seen.INVALID + n(sample.commands.INVALID),
          OK: seen.OK + n(sample.results.OK),
          FAIL: seen.FAIL + n(sample.results.FAIL),
          ERROR: seen.ERROR + n(sample.results.ERROR),
          errors: seen.errors + n(sample.errors),
        };
        assert.equal(sample.store.writable, true);
      }
      assert.deepEqual(seen, { QUERY: 2, INDEX: 1, INVALID: 1, OK: 2, FAIL: 1, ERROR: 1, errors: 1 });

      // A second client starts with the samples taken so far.
      const late = await openEvents(s.adminPort);
      const past = JSON.parse((await late.next()).data) as unknown[];
      assert.ok(past.length >= 1);
      late.close();
    } finally {
      events.close();
    }
  });

  test('HEAD /v1/events answers the headers without holding a stream', async () => {
    const r = await fetch(`http://127.0.0.1:${s.adminPort}/v1/events`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  });

  test('Accept-Encoding: gzip by name or *, not with q=0', () => {
    assert.equal(acceptsGzip(undefined), false);
    assert.equal(acceptsGzip('gzip, deflate, br'), true);
    assert.equal(acceptsGzip('br;q=1.0, GZIP;q=0.5'), true);
    assert.equal(acceptsGzip('*'), true);
    assert.equal(acceptsGzip('gzip;q=0'), false);
    assert.equal(acceptsGzip('identity'), false);
  });
});

test('with a token, the page is open but the events need it; streams are bounded', async () => {
  const token = 'dashboard-token-0123456789';
  const s = await startInProcess({ token });
  const open: { close(): void }[] = [];
  try {
    assert.equal((await get(s.adminPort, '/')).status, 200, 'the page holds no data: open');
    assert.equal((await get(s.adminPort, '/main.js')).status, 200);

    const refused = await get(s.adminPort, '/v1/events');
    assert.equal(refused.status, 401);
    assert.equal((JSON.parse(refused.text) as { error: string }).error, 'E_ADMIN_UNAUTHORIZED');
    const wrongQuery = await get(s.adminPort, `/v1/events?token=${token}`);
    assert.equal(wrongQuery.status, 401, 'a token in the URL is not accepted');

    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < SIGNAL_STREAM_DEFAULTS.maxClients; i++) {
      const events = await openEvents(s.adminPort, auth);
      open.push(events);
      assert.equal(events.status, 200);
      assert.equal((await events.next()).event, 'history');
    }
    const busy = await get(s.adminPort, '/v1/events', auth);
    assert.equal(busy.status, 503);
    assert.equal((JSON.parse(busy.text) as { error: string }).error, 'E_ADMIN_BUSY');

    // A client that leaves frees its slot.
    open.pop()!.close();
    for (;;) {
      const events = await openEvents(s.adminPort, auth);
      if (events.status === 200) {
        open.push(events);
        break;
      }
      assert.equal(events.status, 503);
      events.close();
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    for (const events of open) events.close();
    await s.close();
  }
  assert.ok(
    !s.events.some((e) => e.msg === 'admin reply not sent in full'),
    'a dashboard leaving is not a failed reply',
  );
});

test('the page imports nothing of the server: its own modules, and the libraries by type only', () => {
  const dir = 'src/admin/dashboard/web';
  const problems: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const specifier of importsOf(text)) {
      const local = /^\.\/[\w-]+\.js$/.test(specifier);
      const typeOnly = new RegExp(`^import type \\w+ from '${specifier}';$`, 'm').test(text);
      if (!local && !(typeOnly && ['uplot', 'cytoscape'].includes(specifier)))
        problems.push(`${file} imports ${specifier}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('a stream whose client does not read is dropped past its backlog; stop() ends the others', async () => {
  let n = 0;
  const signals = new SignalStream(() => ({ n: n++ }) as unknown as SignalSample, {
    maxBacklogBytes: 200,
    maxClients: 2,
  });
  const stalled = signals.open();
  const reading = signals.open();
  const received: string[] = [];
  reading.on('data', (chunk: Buffer) => received.push(chunk.toString()));
  const closed = new Promise((resolve) => stalled.once('close', resolve));
  // A turn of the event loop between ticks (a second, in service) lets the reader drain.
  for (let i = 0; i < 20; i++) {
    signals.tick();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await closed;
  assert.equal(stalled.destroyed, true);
  assert.equal(signals.clientCount, 1, 'the slot is free again');
  const ended = new Promise((resolve) => reading.once('end', resolve));
  signals.stop();
  await ended;
  assert.match(received.join(''), /event: sample\ndata: \{"n":19\}/);
  assert.equal(signals.clientCount, 0);
});

test('without a built page, GET / answers 404 saying how to build it', () => {
  const router = new Router();
  registerDashboardRoutes(router, {
    signals: new SignalStream(() => ({}) as SignalSample),
    dir: '/nonexistent',
  });
  const route = router.find('GET', '/');
  assert.ok(route !== undefined);
  assert.throws(
    () =>
      route.handler(
        {
          method: 'GET',
          url: '/',
          path: '/',
          rawPath: '/',
          query: new URLSearchParams(),
          peer: '',
          headers: {},
          body: () => Promise.resolve(Buffer.alloc(0)),
        },
        {},
      ),
    (err: Error & { code?: string }) => err.code === 'E_NOT_FOUND' && /npm run build/.test(err.message),
  );
});
