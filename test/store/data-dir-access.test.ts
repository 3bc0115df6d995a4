import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { Verb } from '../../src/protocol/command.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { CLI } from '../support/servers.js';
import { tempDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';

/** nobody/nogroup on Debian: root ignores permissions, so the server must run as someone else. */
const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Who to run the server as so that file permissions apply: this user when not root, else
 * nobody (when nobody can run node and read the build). Null, with the reason, otherwise.
 */
function unprivileged(): { uid?: number; gid?: number } | string {
  if (typeof process.getuid !== 'function') return 'no uids on this platform';
  if (process.getuid() !== 0) return {};
  const probe = spawnSync(process.execPath, [CLI, '--version'], { ...NOBODY, encoding: 'utf8' });
  if (probe.status !== 0)
    return `running as root, and user nobody cannot run the CLI (${(probe.stderr || String(probe.error)).trim()})`;
  return NOBODY;
}

function serve(
  dir: string,
  as: { uid?: number; gid?: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--data-dir', dir, '--port', '0', '--admin=false'],
      as,
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // A server that started (the old behaviour for a read-only dir) is stopped after its first log.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function dataDirWithIndex(t: TestContext): Promise<string> {
  const parent = await tempDir(t);
  // mkdtemp makes it 0700; the server's user must reach the data dir inside.
  await chmod(parent, 0o755);
  // Made by the store, with a new index (an existing empty dir would be refused).
  const dir = join(parent, 'data');
  const store = new DiskStore({ dataDir: dir });
  await store.open();
  await send(store, { verb: Verb.INDEX, name: 'a', deps: [] });
  await store.close();
  // Root removes the temp dir whatever its mode; this only helps a non-root run.
  t.after(() => chmod(dir, 0o755).catch(() => undefined));
  return dir;
}

for (const [what, mode] of [
  ['unreadable (chmod 000)', 0o000],
  ['read-only (chmod 555)', 0o555],
] as const) {
  test(`a data dir ${what}: exit 2, E_STORAGE_ACCESS naming the path and what to change`, async (t) => {
    const as = unprivileged();
    if (typeof as === 'string') {
      t.skip(as);
      console.log(`skipped: ${as}`);
      return;
    }
    const dir = await dataDirWithIndex(t);
    await chmod(dir, mode);
    const result = await serve(dir, as);
    assert.equal(result.code, 2, `${result.stderr}\n${result.stdout}`);
    assert.match(result.stderr, /\[E_STORAGE_ACCESS\]/);
    assert.ok(result.stderr.includes(dir), result.stderr);
    assert.match(result.stderr, /give user .* read and write access to .* chown -R/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'a stack trace on stderr');
    const fatal = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; err?: { code?: string } })
      .find((e) => e.level === 60);
    assert.equal(fatal?.err?.code, 'E_STORAGE_ACCESS');
  });
}
