import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { get, openClient, startChild, startInProcess, stopChild, until, type InProcess } from './harness.js';

const TOKEN = 'correct-horse-battery-staple-42';

async function request(
  adminPort: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(`http://127.0.0.1:${adminPort}${path}`, { method, ...options });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Writes `text` on a new connection and resolves with all the server sends until it closes. */
async function raw(adminPort: number, text: string): Promise<string> {
  const socket = await openClient(adminPort);
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  const ended = new Promise<void>((resolve) =>
    socket.once('close', () => {
      resolve();
    }),
  );
  socket.write(text);
  await ended;
  return received;
}

describe('admin HTTP behaviour kept from fastify', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ logLevel: 'debug' });
  });
  after(async () => {
    await s.close();
  });

  test('a wrong method on a known path answers 404 JSON naming method and path', async () => {
    for (const [method, path] of [
      ['POST', '/healthz'],
      ['DELETE', '/metrics'],
      ['PUT', '/debug/heap-snapshot'],
      ['OPTIONS', '/readyz'],
    ] as const) {
      const r = await request(s.adminPort, method, path);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(JSON.parse(r.text), {
        error: 'E_NOT_FOUND',
        message: `no admin endpoint ${method} ${path}`,
      });
    }
  });

  test('an unknown path answers 404 JSON; paths match exactly, after percent-decoding', async () => {
    for (const path of ['/nope', '/healthz/', '/HEALTHZ', '//healthz', '/healthz;a=b']) {
      const r = await get(s.adminPort, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal((JSON.parse(r.text) as { message: string }).message, `no admin endpoint GET ${path}`);
    }
    assert.equal((await get(s.adminPort, '/health%7A')).status, 200);
    assert.equal((await get(s.adminPort, '/healthz?verbose=1')).status, 200);
  });

  test('a path that is not valid percent-encoding answers 400 JSON saying so', async () => {
    const r = await get(s.adminPort, '/%zz');
    assert.equal(r.status, 400);
    const body = JSON.parse(r.text) as { error: string; message: string };
    assert.equal(body.error, 'E_ADMIN_BAD_REQUEST');
    assert.match(body.message, /percent-encoding/);
  });

  test('HEAD answers every GET route with its headers and no body', async () => {
    const full = await get(s.adminPort, '/healthz');
    const head = await request(s.adminPort, 'HEAD', '/healthz');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.equal(head.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(head.headers.get('cache-control'), 'no-store');
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(full.text)));
    const metrics = await request(s.adminPort, 'HEAD', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal((await request(s.adminPort, 'HEAD', '/nope')).status, 404);
  });

  test('a request body is ignored and the connection stays usable', async () => {
    const reply = await raw(
      s.adminPort,
      'POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 4\r\n\r\n{bad' +
        'GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['404', '200']);
  });

  test('a request node:http cannot parse answers 400 JSON and closes the connection', async () => {
    const reply = await raw(s.adminPort, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(reply, /\r\ncontent-type: application\/json; charset=utf-8\r\n/);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { error: string };
    assert.equal(body.error, 'E_ADMIN_BAD_REQUEST');
  });

  test("headers over node:http's limit answer 431 JSON with their own code", async () => {
    const reply = await raw(
      s.adminPort,
      `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { error: string; message: string };
    assert.equal(body.error, 'E_ADMIN_HEADERS_TOO_LARGE');
    assert.match(body.message, /headers are too large; send fewer or shorter headers/);
  });

  test('each request is logged at debug with method, url, status and duration', async () => {
    await get(s.adminPort, '/readyz?probe=1');
    await until(() => s.events.some((e) => e.msg === 'admin request' && e.url === '/readyz?probe=1'));
    const event = s.events.find((e) => e.msg === 'admin request' && e.url === '/readyz?probe=1')!;
    assert.equal(event.method, 'GET');
    assert.equal(event.status, 200);
    assert.equal(typeof event.durationMs, 'number');
  });
});

describe('admin HTTP behaviour with a token', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ token: TOKEN });
  });
  after(async () => {
    await s.close();
  });

  test('HEAD on a health route stays open; a wrong method on it needs the token', async () => {
    assert.equal((await request(s.adminPort, 'HEAD', '/healthz')).status, 200);
    const refused = await request(s.adminPort, 'POST', '/healthz');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="pkgindex-admin"');
    const allowed = await request(s.adminPort, 'POST', '/healthz', {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(allowed.status, 404);
  });
});

describe('admin server close', () => {
  test('close() ends idle keep-alive connections at once', async () => {
    const s = await startInProcess();
    try {
      const socket = await openClient(s.adminPort);
      const closed = new Promise<void>((resolve) =>
        socket.once('close', () => {
          resolve();
        }),
      );
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      await until(() => received.includes('"status":"ok"'));
      assert.match(received, /\r\nKeep-Alive: timeout=72\r\n/i);
      const startedAt = performance.now();
      await s.closeAdmin();
      await closed;
      assert.ok(performance.now() - startedAt < 2000);
    } finally {
      await s.close();
    }
  });
});

test('--admin-host localhost serves on the loopback address', async () => {
  const child = await startChild(['--admin-host', 'localhost']);
  try {
    assert.equal((await get(child.adminPort, '/healthz')).status, 200);
  } finally {
    assert.equal(await stopChild(child), 0);
  }
});

test('a request target in absolute form (GET http://host/path) is served like its path', async () => {
  const s = await startInProcess();
  try {
    const reply = await raw(
      s.adminPort,
      `GET http://127.0.0.1:${s.adminPort}/healthz?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    const missing = await raw(
      s.adminPort,
      `GET http://127.0.0.1:${s.adminPort}/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    assert.match(missing, /^HTTP\/1\.1 404 /);
  } finally {
    await s.close();
  }
});
