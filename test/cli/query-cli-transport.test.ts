/**
 * How the query commands and `backup` hand back their output: into a pipe whose reader goes
 * away.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange } from '../admin/harness.js';
import { CLI, spawnServer, type ServerProcess } from '../support/servers.js';

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
