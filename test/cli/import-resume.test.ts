/**
 * An import survives a server restart (issue 12): the server is frozen and killed -9 in the middle
 * of a Debian import, started again on the same data dir and port, and the import reconnects
 * (backoff with jitter), asks which packages are held, resumes, and ends with the same index as
 * an uninterrupted import.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { backoffDelayMs } from '../../src/client/backoff.js';
import { newDataDir, removeDataDir } from '../../tools/support/data-dir.js';
import { spawnServer, type ServerProcess } from '../support/servers.js';
import { until } from '../support/until.js';
import { runCli } from './processes.js';

const DEBIAN = 'test/fixtures/debian/Packages';

async function gauge(server: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, name);
  return Number(line.split(' ')[1]);
}

async function held(server: ServerProcess, names: readonly string[]): Promise<string[]> {
  const result = await runCli(['client', '--port', String(server.port)], {
    input: names.map((n) => `QUERY|${n}|\n`).join(''),
  });
  const replies = result.stdout.split('\n').slice(0, -1);
  assert.equal(replies.length, names.length, result.stderr);
  return names.filter((_, i) => replies[i] === 'OK');
}

test('backoff with full jitter: uniform below min(max, base × 2^attempt)', () => {
  const o = { baseMs: 100, maxMs: 5000 };
  assert.equal(
    backoffDelayMs(0, o, () => 0.999),
    99,
  );
  assert.equal(
    backoffDelayMs(3, o, () => 0.5),
    400,
  );
  assert.equal(
    backoffDelayMs(10, o, () => 0.5),
    2500,
  );
  assert.equal(
    backoffDelayMs(1000, o, () => 0.999),
    4995,
  );
  assert.equal(
    backoffDelayMs(5, o, () => 0),
    0,
  );
});

test('an import resumes after the server is killed -9 and restarted mid-way, ending with the same index', async (t) => {
  const names = [...readFileSync(DEBIAN, 'utf8').matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);
  const dir = newDataDir('pkgindex-resume-');
  let reference: ServerProcess | null = null;
  let first: ServerProcess | null = null;
  let second: ServerProcess | null = null;
  // Registered before any spawn: whichever of them fails, the servers already started are stopped.
  t.after(async () => {
    const stopped = await Promise.allSettled([first?.kill9(), second?.stop(), reference?.stop()]);
    removeDataDir(dir);
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  });
  reference = await spawnServer();
  first = await spawnServer({ storage: 'disk', dataDir: dir, args: ['--log-level', 'debug'] });
  const port = first.port;
  const importing = runCli([
    'import',
    '--port',
    String(port),
    '--window',
    '1',
    '--retries',
    '50',
    '--retry-max-delay-ms',
    '200',
    '--json',
    DEBIAN,
  ]);
  // Frozen at its first INDEX (the QUERYs for names the file does not define come first), so
  // that the import cannot finish before the kill.
  const server = first;
  await until('the first INDEX', () => server.events.some((e) => e.msg === 'command' && e.verb === 'INDEX'));
  server.child.kill('SIGSTOP');
  await server.kill9();
  first = null;
  second = await spawnServer({ storage: 'disk', dataDir: dir, args: ['--port', String(port)] });

  const interrupted = await importing;
  assert.equal(interrupted.code, 0, interrupted.stderr);
  assert.match(interrupted.stderr, /reconnecting in \d+ ms \(attempt 1 of 50\), then resuming/);

  const uninterrupted = await runCli(['import', '--port', String(reference.port), '--json', DEBIAN]);
  assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
  const a = JSON.parse(interrupted.stdout) as { run: { indexed: number; rejected: unknown[] } };
  const b = JSON.parse(uninterrupted.stdout) as { run: { indexed: number; rejected: unknown[] } };
  assert.ok(b.run.indexed >= 10, `the fixture indexes ${b.run.indexed} packages`);
  assert.equal(a.run.indexed, b.run.indexed);
  assert.deepEqual(a.run.rejected, b.run.rejected);

  assert.deepEqual(await held(second, names), await held(reference, names));
  for (const gaugeName of ['pkgindex_packages', 'pkgindex_dependency_edges'])
    assert.equal(await gauge(second, gaugeName), await gauge(reference, gaugeName), gaugeName);
});
