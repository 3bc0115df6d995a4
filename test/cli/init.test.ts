// Issue 11, defect 4 (last part): after a clean stop, `rm DIR/*` left no trace of the index,
// and the server started on the emptied dir as a new, empty index, answering FAIL for
// everything. A new index is now created only where the operator evidently asked for one: a
// --data-dir that does not exist (the default, --create-index=missing), an existing empty dir
// with --create-index=empty, or `pkgindex init`. Real `pkgindex` processes throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LineClient } from '../support/line-client.js';
import { spawnServer } from '../support/servers.js';
import { newDataDir, tempDir } from '../store/support/tmp-dir.js';
import { runCli, type RunResult } from './processes.js';

/** `pkgindex serve` on `dir` that must exit at once: a server that starts is killed after 20 s. */
function serveRefused(dir: string, ...args: string[]): Promise<RunResult> {
  return runCli(['serve', '--data-dir', dir, '--port', '0', '--admin=false', ...args], { timeoutMs: 20_000 });
}

/** Starts `pkgindex serve` on `dir`, sends `lines`, stops it cleanly; resolves with the replies. */
async function served(dir: string, lines: string[], args: string[] = [], env = {}): Promise<string[]> {
  const server = await spawnServer({ storage: 'disk', dataDir: dir, admin: false, args, env });
  try {
    const client = await LineClient.open(server.port);
    try {
      return await client.request(...lines);
    } finally {
      client.close();
    }
  } finally {
    assert.equal(await server.stop(), 0);
  }
}

const WAYS_OUT =
  /pkgindex init --data-dir .*--create-index=empty.*if it held an index, check that its volume is mounted and --data-dir is right, or restore a backup \(`pkgindex restore/s;

test('an index emptied by rm DIR/* after a clean stop is refused: exit 2, both ways out, the dir untouched', async (t) => {
  const dir = await newDataDir(t);
  assert.deepEqual(await served(dir, ['INDEX|a|', 'INDEX|b|a']), ['OK', 'OK']);
  // A clean stop leaves no LOCK; the CONTROL record and the segments go with the rm.
  for (const name of await readdir(dir)) await unlink(join(dir, name));
  const result = await serveRefused(dir);
  assert.equal(result.code, 2, `the server started on the emptied dir: ${result.stderr}`);
  assert.match(result.stderr, /data dir .* exists but holds no index/);
  assert.match(result.stderr, WAYS_OUT);
  assert.match(result.stderr, /\[E_STORAGE_NO_INDEX\]/);
  assert.deepEqual(await readdir(dir), [], 'a refused start changes nothing');
  // The same with --create-index=never, and with false, its old spelling.
  for (const flag of ['--create-index=never', '--create-index=false']) {
    const never = await serveRefused(dir, flag);
    assert.equal(never.code, 2, never.stderr);
    assert.match(never.stderr, /--create-index=never creates a new one nowhere.*\[E_STORAGE_NO_INDEX\]/s);
  }
  assert.deepEqual(await readdir(dir), []);
});

test('a data dir that does not exist is made, with a new index, by default', async (t) => {
  const dir = await newDataDir(t);
  assert.deepEqual(await served(dir, ['INDEX|a|', 'QUERY|a|']), ['OK', 'OK']);
  assert.deepEqual((await readdir(dir)).sort(), ['CONTROL', 'segment-0000000001.log']);
  // And it is an index from then on: the next start recovers it.
  assert.deepEqual(await served(dir, ['QUERY|a|']), ['OK']);
});

test('an existing empty dir is a new index with --create-index=empty (or true, its old spelling)', async (t) => {
  const parent = await tempDir(t);
  const byFlag = join(parent, 'by-flag');
  const byEnv = join(parent, 'by-env');
  await mkdir(byFlag);
  await mkdir(byEnv);
  assert.deepEqual(await served(byFlag, ['INDEX|a|'], ['--create-index=empty']), ['OK']);
  assert.deepEqual(await served(byEnv, ['INDEX|a|'], [], { PKGINDEX_CREATE_INDEX: 'true' }), ['OK']);
  // Once it holds an index, the default starts on it.
  assert.deepEqual(await served(byFlag, ['QUERY|a|']), ['OK']);
  const bad = await serveRefused(byFlag, '--create-index=maybe');
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--create-index must be one of missing, empty, never \(or true = empty, false = never\), got "maybe"/,
  );
});

test('--create-index=never refuses a missing dir, and does not make it', async (t) => {
  const dir = await newDataDir(t);
  const result = await serveRefused(dir, '--create-index=never');
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /does not exist and --create-index is never/);
  assert.match(result.stderr, WAYS_OUT);
  assert.equal(existsSync(dir), false, 'the refused start made the dir');
  assert.equal(existsSync(`${dir}.creating`), false);
});

test('pkgindex init: a new index the server starts on; refused on an index or a stray file', async (t) => {
  const parent = await tempDir(t);
  // An existing empty dir (a mounted volume), and one that does not exist.
  const mounted = join(parent, 'mounted');
  await mkdir(mounted);
  await mkdir(join(mounted, 'lost+found'));
  for (const dir of [mounted, join(parent, 'new')]) {
    const init = await runCli(['init', '--data-dir', dir]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /initialised a new, empty index in/);
    assert.deepEqual(await served(dir, ['INDEX|a|']), ['OK']);
    assert.deepEqual(await served(dir, ['QUERY|a|']), ['OK']);
    // Twice: the dir holds an index now.
    const again = await runCli(['init', '--data-dir', dir]);
    assert.equal(again.code, 2, again.stderr);
    assert.match(
      again.stderr,
      /is not empty; it holds files of an index \(CONTROL, segment-0000000001\.log.*\[E_INIT_TARGET\]/,
    );
  }
  // Init right after init, before any server: the control record alone is an index too.
  const fresh = join(parent, 'fresh');
  assert.equal((await runCli(['init', '--data-dir', fresh])).code, 0);
  const twice = await runCli(['init', '--data-dir', fresh]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /files of an index \(CONTROL\)/);

  const stray = join(parent, 'stray');
  await mkdir(stray);
  await writeFile(join(stray, 'notes.txt'), 'mine');
  const refused = await runCli(['init', '--data-dir', stray]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /data dir .*stray is not empty; it holds other files \(notes\.txt\).*\[E_INIT_TARGET\]/,
  );
  assert.deepEqual(await readdir(stray), ['notes.txt'], 'init changed a dir it refused');
});

test('pkgindex init takes the dir lock: refused while a server holds the dir', async (t) => {
  const dir = await newDataDir(t);
  const server = await spawnServer({ storage: 'disk', dataDir: dir, admin: false });
  try {
    const init = await runCli(['init', '--data-dir', dir]);
    assert.equal(init.code, 2, init.stderr);
    assert.match(init.stderr, new RegExp(`is locked by pid ${server.pid}.*\\[E_STORAGE_LOCKED\\]`));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
