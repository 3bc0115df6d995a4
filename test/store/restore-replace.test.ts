import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { restoreArchive, writeArchive, type ArchiveFile } from '../../src/store/backup-archive.js';
import { encodeControl } from '../../src/store/control-file.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { incomingDir, replaceIndex, RESTORE_MARKER } from '../../src/store/replace-index.js';
import { runCli } from '../cli/processes.js';
import { FaultFs } from '../support/fault-fs.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';
import { tempDir } from './support/tmp-dir.js';

/** A backup, taken by `pkgindex backup`, of a new server that was sent `lines`. */
async function backupOf(dir: string, name: string, lines: string[]): Promise<string> {
  const server = await startServer(
    {
      storage: 'disk',
      dataDir: join(dir, `${name}-source`),
      admin: true,
      adminHost: '127.0.0.1',
      adminPort: 0,
    },
    { adminToken: null },
  );
  try {
    const client = await LineClient.open(server.port);
    assert.deepEqual(
      await client.request(...lines),
      lines.map(() => 'OK'),
    );
    client.close();
    const file = join(dir, `${name}.backup`);
    const adminPort = String(server.pkgindex.addresses!.admin!.port);
    const r = await runCli(['backup', '--to', file, '--admin-port', adminPort]);
    assert.equal(r.code, 0, r.stderr);
    return file;
  } finally {
    await server.close();
  }
}

/** Every entry of `dir` but the lock's pid file, with a digest of each file's bytes. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  ))
    if (name.name !== 'LOCK')
      out[name.name] = name.isFile()
        ? createHash('sha256')
            .update(await readFile(join(dir, name.name)))
            .digest('hex')
        : 'directory';
  return out;
}

/** What `pkgindex fsck --json` says of `dir`: its package count, or the damage's code. */
async function fsckOf(
  dir: string,
): Promise<{ code: number | null; packages: number; damage: string | null }> {
  const r = await runCli(['fsck', '--data-dir', dir, '--json']);
  const report = JSON.parse(r.stdout) as { packages: number; damage: { code: string } | null };
  return { code: r.code, packages: report.packages, damage: report.damage?.code ?? null };
}

test(
  'restore --force with a damaged backup leaves the index it was to replace as it was, and says so',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const good = await backupOf(dir, 'good', ['INDEX|a|', 'INDEX|b|a']);
    const other = await backupOf(dir, 'other', ['INDEX|c|']);
    const target = join(dir, 'target');
    const first = await runCli(['restore', '--from', good, '--data-dir', target]);
    assert.equal(first.code, 0, first.stderr);
    const before = await contents(target);

    const whole = await readFile(other);
    const flipped = Buffer.from(whole);
    flipped[flipped.length >> 1]! ^= 1;
    const segment = (await readdir(join(dir, 'other-source'))).find((n) => n.startsWith('segment-'))!;
    const lying = encodeControl(
      { snapshotSeq: 0, sealed: [], currentSeq: 1, currentBytes: 1 << 20, clean: true },
      1,
    );
    const scratch = join(dir, 'scratch');
    await mkdir(scratch);
    const cases: [string, Buffer, RegExp][] = [
      ['flipped', flipped, /the backup is damaged at byte \d+: checksum mismatch.*E_BACKUP_DAMAGED/s],
      ['truncated', whole.subarray(0, whole.length - 7), /ends in the middle.*E_BACKUP_DAMAGED/s],
      [
        'not a backup',
        Buffer.from('hello world, not a backup at all'),
        /not a pkgindex backup.*E_BACKUP_DAMAGED/s,
      ],
      // Checksums right, but less data than its control record says: found only by recovering it.
      [
        'lying',
        await withControl(whole, lying, scratch),
        new RegExp(`${segment} holds .*E_STORAGE_DATA_LOSS`, 's'),
      ],
    ];
    for (const [what, bytes, message] of cases) {
      const bad = join(dir, `${what.replace(/ /g, '-')}.backup`);
      await writeFile(bad, bytes);
      const r = await runCli(['restore', '--from', bad, '--data-dir', target, '--force']);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.deepEqual(await contents(target), before, `${what}: the previous index, byte for byte`);
      assert.match(r.stderr, message, what);
      assert.match(r.stderr, /the data dir .*target is unchanged \(its index is kept\)/, what);
    }
    assert.deepEqual(await fsckOf(target), { code: 0, packages: 2, damage: null });

    // A good backup still replaces it.
    const replaced = await runCli(['restore', '--from', other, '--data-dir', target, '--force']);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.match(replaced.stdout, /: 1 packages, 0 dependencies; checked/);
    assert.deepEqual(await fsckOf(target), { code: 0, packages: 1, damage: null });
    assert.deepEqual(
      Object.keys(await contents(target)).filter((n) => !/^(segment-|snapshot-|CONTROL$)/.test(n)),
      [],
      'nothing of the restore is left beside the index',
    );
  },
);

/** `archive` with its control record (the last file) replaced by `control`; `scratch` is empty. */
async function withControl(archive: Buffer, control: Buffer, scratch: string): Promise<Buffer> {
  const fs = new NodeFs();
  await restoreArchive(Readable.from([archive]), fs, scratch);
  const files: ArchiveFile[] = [];
  for (const name of (await readdir(scratch)).filter((n) => n !== 'CONTROL').sort())
    files.push({ name, path: join(scratch, name), length: (await stat(join(scratch, name))).size });
  files.push({ name: 'CONTROL', path: '', length: control.length, data: control });
  const parts: Buffer[] = [];
  for await (const part of writeArchive(fs, files)) parts.push(part);
  return Buffer.concat(parts);
}

/**
 * A FaultFs on which the restoring process dies at its `n`th rename: killed (every rename done
 * so far stays, every later call fails) or by a power cut (unsynced renames are undone too).
 */
class DiesAtRename extends FaultFs {
  readonly #n: number;
  readonly #how: 'kill' | 'power cut';
  constructor(n: number, how: 'kill' | 'power cut') {
    super();
    this.#n = n;
    this.#how = how;
  }
  override async rename(from: string, to: string): Promise<void> {
    if (this.count('rename') === this.#n) {
      if (this.#how === 'power cut') await this.crash('drop');
      else
        for (const op of [
          'open',
          'write',
          'read',
          'datasync',
          'truncate',
          'rename',
          'unlink',
          'syncDir',
        ] as const)
          this.inject({ op, times: Infinity, code: 'EKILLED' });
    }
    await super.rename(from, to);
  }
}

test(
  'a restore stopped at any point of replacing the index: nothing serves the mix, and the next restore puts the previous index back',
  { timeout: 180_000 },
  async (t) => {
    const dir = await tempDir(t);
    const good = await backupOf(dir, 'good', ['INDEX|a|', 'INDEX|b|a']);
    const other = await backupOf(dir, 'other', ['INDEX|c|']);
    for (const how of ['kill', 'power cut'] as const)
      for (let n = 0; ; n++) {
        const target = join(dir, `target-${how.replace(' ', '-')}-${n}`);
        assert.equal((await runCli(['restore', '--from', good, '--data-dir', target])).code, 0);
        const before = await contents(target);
        // What restore does up to the replacement, then the replacement on a file system that dies.
        const incoming = await incomingDir(new NodeFs(), target);
        await restoreArchive(createReadStream(other), new NodeFs(), incoming);
        const previous = Object.keys(before);
        const fs = new DiesAtRename(n, how);
        const finished = await replaceIndex(fs, target, previous).then(
          () => true,
          (err: unknown) => {
            assert.match(String(err), /E_RESTORE_INTERRUPTED|ECRASHED|EKILLED/, `${how} at rename ${n}`);
            return false;
          },
        );
        if (finished) {
          // Past the last rename: nothing was stopped, the restored index is in place.
          assert.ok(n > 3, 'the replacement renamed the marker and each file');
          assert.deepEqual(await fsckOf(target), { code: 0, packages: 1, damage: null });
          break;
        }
        if ((await readdir(target)).includes(RESTORE_MARKER)) {
          assert.deepEqual(
            await fsckOf(target),
            { code: 1, packages: 0, damage: 'E_RESTORE_INTERRUPTED' },
            `rename ${n}`,
          );
          const serve = await runCli(['serve', '--data-dir', target, '--port', '0', '--admin=false'], {
            timeoutMs: 15_000,
          });
          assert.equal(serve.code, 2, `rename ${n}: ${serve.stderr}`);
          assert.match(
            serve.stderr,
            /stopped while it replaced the index.*Run `pkgindex restore .* again.*E_RESTORE_INTERRUPTED/s,
          );
        } else {
          // Stopped before the marker was durable: nothing was moved.
          assert.equal(n, 0);
          assert.deepEqual(await fsckOf(target), { code: 0, packages: 2, damage: null });
        }
        // Without --force: the previous index is put back, and kept.
        const refused = await runCli(['restore', '--from', other, '--data-dir', target]);
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(refused.stderr, /already holds \d+ data files.*pass --force.*E_RESTORE_TARGET/s);
        assert.deepEqual(
          await contents(target),
          before,
          `${how} at rename ${n}: the previous index, byte for byte`,
        );
        const restored = await runCli(['restore', '--from', other, '--data-dir', target, '--force']);
        assert.equal(restored.code, 0, restored.stderr);
        assert.deepEqual(await fsckOf(target), { code: 0, packages: 1, damage: null });
      }
  },
);

test(
  'a replacement that fails midway puts the previous index back before it reports',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const good = await backupOf(dir, 'good', ['INDEX|a|', 'INDEX|b|a']);
    const other = await backupOf(dir, 'other', ['INDEX|c|']);
    for (let n = 1; n <= 4; n++) {
      const target = join(dir, `target-${n}`);
      assert.equal((await runCli(['restore', '--from', good, '--data-dir', target])).code, 0);
      const before = await contents(target);
      const incoming = await incomingDir(new NodeFs(), target);
      await restoreArchive(createReadStream(other), new NodeFs(), incoming);
      const fs = new FaultFs();
      fs.inject({ op: 'rename', after: n, code: 'EIO' });
      await assert.rejects(replaceIndex(fs, target, Object.keys(before)), (err: Error) => {
        assert.match(
          err.message,
          /cannot move the restored index into data dir .*; its previous index was put back, the dir is as it was/,
        );
        assert.equal((err as { code?: unknown }).code, 'E_STORAGE_IO');
        return true;
      });
      assert.deepEqual(await contents(target), before, `rename ${n}: the previous index, byte for byte`);
    }
  },
);
