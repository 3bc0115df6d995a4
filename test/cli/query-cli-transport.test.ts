/**
 * How the query commands and `backup` reach the admin port and hand back their output: into a
 * pipe whose reader goes away, on a port fetch would refuse, at the protocol port by mistake,
 * and against an API that answers busy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange } from '../admin/harness.js';
import { CLI, spawnServer, type ServerProcess } from '../support/servers.js';
import { runCli } from './processes.js';

/** Runs `pkgindex ARGS | READER` in bash; resolves with pkgindex's exit status and stderr. */
function piped(
  args: readonly string[],
  reader: string,
): Promise<{ status: number; stderr: string; read: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${quoted} 2>&3 | ${reader}; echo "\${PIPESTATUS[0]}" >&4`], {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe'],
    });
    const out = { 1: '', 3: '', 4: '' };
    for (const fd of [1, 3, 4] as const)
      (child.stdio[fd] as NodeJS.ReadableStream)
        .setEncoding('utf8')
        .on('data', (t: string) => (out[fd] += t));
    child.on('error', reject);
    child.on('close', () => {
      resolve({ status: Number(out[4].trim()), stderr: out[3], read: out[1] });
    });
  });
}

describe('output into a pipe whose reader went away', () => {
  let server: ServerProcess;
  let dir: string;
  const at = (): string[] => ['--admin-port', String(server.adminPort)];
  // 2,000 packages with long names in a chain: each page of 1,000 is more than a pipe holds,
  // so the writer is still writing when `head -1` exits.
  const name = (i: number): string => `p${i}-${'x'.repeat(100)}`;
  const FEED = Array.from({ length: 2000 }, (_, i) =>
    i === 0 ? `INDEX|${name(0)}|` : `INDEX|${name(i)}|${name(i - 1)}`,
  );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pkgindex-pipe-'));
    server = await spawnServer({ storage: 'disk', dataDir: join(dir, 'data') });
    assert.deepEqual(new Set(await exchange(server.port, FEED)), new Set(['OK']));
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const CASES: [string, string[]][] = [
    ['ls', ['ls']],
    ['ls --json', ['ls', '--json']],
    ['deps -r -a', ['deps', '-r', '-a', name(0)]],
    ['order', ['order', name(1999)]],
  ];
  for (const [label, args] of CASES)
    test(`pkgindex ${label} | head -1 stops quietly, status 0`, async () => {
      const r = await piped([...args, ...at()], 'head -1');
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      assert.equal(r.read.split('\n').length, 2, r.read.slice(0, 200));
    });

  test('info | true and backup | true: the reader gone before the first write', async () => {
    const info = await piped(['info', ...at()], 'true');
    assert.deepEqual([info.status, info.stderr], [0, '']);
    const file = join(dir, 'b.backup');
    const backup = await piped(['backup', '--to', file, ...at()], 'true');
    assert.deepEqual([backup.status, backup.stderr], [0, '']);
    assert.ok(existsSync(file), 'the backup is saved all the same');
  });
});

/** Ports WHATWG fetch refuses to connect to (the Fetch standard's "bad ports"). */
const BAD_PORTS = [6667, 6668, 6669, 6697, 10080, 6000, 5060, 4190];

test('the query commands reach an admin port on fetch’s bad-port list', async (t) => {
  let server: ServerProcess | null = null;
  for (const port of BAD_PORTS) {
    try {
      server = await spawnServer({ args: ['--admin-port', String(port)] });
      break;
    } catch {
      // Taken on this machine: try the next one.
    }
  }
  if (server === null) {
    t.skip(`every one of ports ${BAD_PORTS.join(', ')} is taken`);
    return;
  }
  const s = server;
  t.after(() => s.stop());
  assert.ok(BAD_PORTS.includes(s.adminPort), String(s.adminPort));
  assert.deepEqual(await exchange(s.port, ['INDEX|a|', 'INDEX|b|a']), ['OK', 'OK']);
  const at = ['--admin-port', String(s.adminPort)];
  const info = await runCli(['info', ...at]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /^packages +2$/m);
  assert.equal((await runCli(['deps', 'b', ...at])).stdout, 'a\n');
  assert.equal((await runCli(['why', 'a', ...at])).code, 1);
});

test('a query command pointed at the protocol port says so and names the option', async (t) => {
  const server = await spawnServer();
  t.after(() => server.stop());
  for (const args of [['info'], ['ls'], ['deps', 'a']]) {
    const r = await runCli([...args, '--admin-port', String(server.port)]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /answered in something other than HTTP \(HPE_\w+\): it is probably the server's protocol port .*pass its admin port .* with --admin-port or PKGINDEX_ADMIN_PORT \[E_BAD_REPLY\]\n$/,
    );
  }
});

/** An admin port that answers busy (503 E_QUERY_BUSY) `busy` times, then `answer`. */
async function busyApi(
  busy: number,
  retryAfter: string,
  answer: unknown,
): Promise<{ port: number; server: Server; requests: () => number }> {
  let requests = 0;
  const server = createServer((_request, response) => {
    requests++;
    if (requests <= busy)
      response
        .writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter })
        .end(JSON.stringify({ error: 'E_QUERY_BUSY', message: '8 queries are running' }));
    else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server, requests: () => requests };
}

describe('a busy query API (503 E_QUERY_BUSY with Retry-After)', () => {
  test('is asked again after Retry-After, said once on stderr, and the answer printed', async (t) => {
    const api = await busyApi(2, '1', { items: ['a', 'b'], next: null, truncated: false });
    t.after(() => api.server.close());
    const started = Date.now();
    const r = await runCli(['deps', 'c', '--admin-port', String(api.port)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a\nb\n');
    assert.equal(
      r.stderr,
      'pkgindex: the query API is busy (E_QUERY_BUSY); retrying after 1 s, up to 5 times\n',
    );
    assert.equal(api.requests(), 3);
    assert.ok(Date.now() - started >= 2000, 'Retry-After was honoured');
  });

  test('a bounded number of times, then exit 2 with what to do', async (t) => {
    const api = await busyApi(Infinity, '0', {});
    t.after(() => api.server.close());
    const r = await runCli(['info', '--admin-port', String(api.port)]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(api.requests(), 6);
    assert.match(
      r.stderr,
      /8 queries are running \(still busy after 5 retries over 0 s: try again later or ask a smaller question\) \[E_QUERY_BUSY\]\n$/,
    );
  });

  test('a Retry-After longer than the CLI waits fails at once', async (t) => {
    const api = await busyApi(Infinity, '3600', {});
    t.after(() => api.server.close());
    const r = await runCli(['info', '--admin-port', String(api.port)]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(api.requests(), 1);
    assert.match(r.stderr, /\(the server asks for 3600 s: try again then\) \[E_QUERY_BUSY\]\n$/);
  });
});

test('--timeout-ms still bounds a request that gets no answer', async (t) => {
  const silent = createNetServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const port = (silent.address() as { port: number }).port;
  const started = Date.now();
  const r = await runCli(['info', '--timeout-ms', '300', '--admin-port', String(port)]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /cannot reach the query API at http:\/\/127\.0\.0\.1:\d+ \(timed out\).*\[E_CONNECT\]\n$/,
  );
  assert.ok(Date.now() - started < 5000);
});
