import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { readFile, readdir, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { Verb } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { foldSnapshot } from '../../src/store/compaction.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import type { OpenMode, StorageFile } from '../../src/store/fs/storage-fs.js';
import { recover } from '../../src/store/recover.js';
import type { FsckReport } from '../../src/store/fsck.js';
import { restoreArchive, writeArchive, type ArchiveFile } from '../../src/store/backup-archive.js';
import { encodeControl } from '../../src/store/control-file.js';
import { runCli } from '../cli/processes.js';
import { FaultFs } from '../support/fault-fs.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';
import { newDataDir, tempDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';
import { until } from '../support/until.js';

const TOKEN = randomBytes(32).toString('hex');

/** Clients that index fresh packages, each on the previous one of the same client, until stopped. */
function writeLoad(port: number, clients: number) {
  const acked: string[] = [];
  let stop = false;
  const done = Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const client = await LineClient.open(port);
      try {
        let previous = '';
        for (let i = 0; !stop; i++) {
          const name = `c${c}-${i}-${'x'.repeat(40)}`;
          const [reply] = await client.request(`INDEX|${name}|${previous}`);
          assert.equal(reply, 'OK', name);
          acked.push(name);
          previous = name;
        }
      } finally {
        client.close();
      }
    }),
  );
  return {
    acked,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

test(
  'online backup under load, then restore: every mutation acknowledged before it is there, the index checks out',
  { timeout: 120_000 },
  async (t) => {
    const dir = await tempDir(t);
    const source = join(dir, 'source');
    const target = join(dir, 'target');
    const file = join(dir, 'index.backup');
    // Small segments, so that rotations and compactions run while the backup streams.
    const server = await startServer(
      {
        storage: 'disk',
        dataDir: source,
        compactAfterBytes: 16 * 1024,
        admin: true,
        adminHost: '127.0.0.1',
        adminPort: 0,
      },
      { adminToken: TOKEN, log: pino({ level: 'silent' }) },
    );
    t.after(() => server.close());
    const adminPort = server.pkgindex.addresses!.admin!.port;
    const load = writeLoad(server.port, 4);
    t.after(() => load.stop());
    while (load.acked.length < 1000) await new Promise((resolve) => setImmediate(resolve));

    const ackedBefore = [...load.acked];
    const env = { ...process.env, PKGINDEX_ADMIN_TOKEN: TOKEN };
    const backup = await runCli(['backup', '--to', file, '--admin-port', String(adminPort)], { env });
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /^backup of \d+ files \(\d+ bytes of data\) saved to /);
    const ackedDuring = load.acked.length - ackedBefore.length;
    await load.stop();
    assert.ok(ackedDuring > 0, 'clients kept writing while the backup ran');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith('.partial')),
      [],
      'no partial file left',
    );

    // Without the token: refused, nothing written.
    const refused = await runCli(
      ['backup', '--to', join(dir, 'no.backup'), '--admin-port', String(adminPort)],
      {
        env: { ...process.env, PKGINDEX_ADMIN_TOKEN: undefined },
      },
    );
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /E_ADMIN_UNAUTHORIZED/);
    await server.close();

    const restore = await runCli(['restore', '--from', file, '--data-dir', target]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /restored \d+ files .*: \d+ packages, \d+ dependencies; checked/);
    const again = await runCli(['restore', '--from', file, '--data-dir', target]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds \d+ data files; .*--force.*E_RESTORE_TARGET/s);
    const forced = await runCli(['restore', '--from', file, '--data-dir', target, '--force']);
    assert.equal(forced.code, 0, forced.stderr);

    const { graph, control } = await recover(new NodeFs(), target, { repair: false });
    assert.deepEqual(graph.verify(), []);
    // The restored dir carries the control record of the cut, so fsck and the next start check
    // it as they check the original: clean, stopped cleanly at the bytes backed up.
    assert.ok((await readdir(target)).includes('CONTROL'), 'restored with its control record');
    assert.equal(control?.clean, true);
    const fsck = await runCli(['fsck', '--data-dir', target, '--json']);
    assert.equal(fsck.code, 0, fsck.stdout);
    const report = JSON.parse(fsck.stdout) as FsckReport;
    assert.equal(report.clean, true);
    assert.deepEqual(report.control, control);
    assert.equal(report.packages, graph.size);
    // --create-index=never starts on it: the dir holds an index, not merely files.
    const restarted = await startServer({ storage: 'disk', dataDir: target, createIndex: 'never' });
    t.after(() => restarted.close());
    const client = await LineClient.open(restarted.port);
    t.after(() => {
      client.close();
    });
    const replies = await client.request(...ackedBefore.map((name) => `QUERY|${name}|`));
    const missing = ackedBefore.filter((_, i) => replies[i] !== 'OK');
    assert.deepEqual(missing, [], 'acknowledged before the backup and missing from it');
    // The server answers what the backup holds, no more: mutations acknowledged during the
    // backup are there exactly when they are in the cut.
    const during = load.acked.slice(ackedBefore.length);
    assert.deepEqual(
      await client.request(...during.map((name) => `QUERY|${name}|`)),
      during.map((name) => (graph.has(name) ? 'OK' : 'FAIL')),
    );
    // The control record is meaningful: a restored segment deleted is refused as data loss.
    await restarted.close();
    const newest = (await readdir(target))
      .filter((n) => n.startsWith('segment-'))
      .sort()
      .at(-1)!;
    await unlink(join(target, newest));
    const damaged = await runCli(['fsck', '--data-dir', target]);
    assert.equal(damaged.code, 1, damaged.stdout);
    assert.match(damaged.stdout, new RegExp(`DATA LOSS: .*${newest} is missing`));
    // A point-in-time cut: what it holds of each client's chain is a prefix of that chain.
    for (let c = 0; c < 4; c++) {
      let gap = false;
      for (let i = 0; ; i++) {
        const name = `c${c}-${i}-${'x'.repeat(40)}`;
        if (!load.acked.includes(name)) break;
        if (!graph.has(name)) gap = true;
        else assert.ok(!gap, `${name} is in the backup but an earlier package of its client is not`);
      }
    }
  },
);

/** The real file system, except that once armed, the next open of a snapshot for reading waits. */
class SnapshotReadGate extends NodeFs {
  #held: { reached: () => void; gate: Promise<void> } | null = null;

  /** `reached` resolves when the held open has started; `release` lets it go on. */
  arm(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.#held = { reached, gate };
    return { reached: reachedPromise, release };
  }

  override async open(path: string, mode: OpenMode): Promise<StorageFile> {
    const held = this.#held;
    if (held !== null && mode === 'read' && /snapshot-\d+\.snap$/.test(path)) {
      this.#held = null;
      held.reached();
      await held.gate;
    }
    return super.open(path, mode);
  }
}

test(
  'a rotation while the backup reads its snapshot does not change the cut: the backup restores whole',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const source = await newDataDir(t);
    const fs = new SnapshotReadGate();
    const store = new DiskStore({
      dataDir: source,
      fs,
      compactAfterBytes: 4096,
      compactor: (job) => foldSnapshot(new NodeFs(), job),
    });
    await store.open();
    t.after(() => store.close());
    const acked: string[] = [];
    let n = 0;
    /** At least `bytes` of log, acknowledged: each record takes more than 40. */
    const write = async (bytes: number): Promise<void> => {
      for (const end = n + Math.ceil(bytes / 40); n < end; n++) {
        const name = `pkg-${n}-${'y'.repeat(30)}`;
        assert.equal(await send(store, { verb: Verb.INDEX, name, deps: [] }), Reply.OK);
        acked.push(name);
      }
    };
    const files = async (prefix: string) =>
      (await readdir(source)).filter((f) => f.startsWith(prefix)).sort();
    for (let kib = 0; (await files('snapshot-')).length === 0; kib++) {
      assert.ok(kib < 1024, 'a compaction wrote a snapshot');
      await write(1024);
    }
    const ackedBefore = [...acked];

    // The cut is taken, then the backup opens the snapshot: meanwhile more than two segments of
    // log are acknowledged, so the writer has rotated before the backup has its files.
    const gate = fs.arm();
    const starting = store.startBackup();
    await gate.reached;
    const atCut = (await files('segment-')).at(-1)!;
    await write(3 * 4096);
    const newest = (await files('segment-')).at(-1)!;
    assert.ok(newest > atCut, `the writer rotated while the backup was held (${atCut}, then ${newest})`);
    gate.release();
    const backup = await starting;
    const parts: Buffer[] = [];
    for await (const part of backup.stream) parts.push(Buffer.from(part));

    const file = join(dir, 'index.backup');
    await writeFile(file, Buffer.concat(parts));
    const target = join(dir, 'target');
    const restore = await runCli(['restore', '--from', file, '--data-dir', target]);
    assert.equal(restore.code, 0, restore.stderr);
    const { graph, control } = await recover(new NodeFs(), target, { repair: false, createIndex: 'never' });
    assert.deepEqual(
      ackedBefore.filter((name) => !graph.has(name)),
      [],
      'acknowledged before the backup and missing from it',
    );
    // The cut's current segment is the newest one in the backup, not one the writer began after it.
    const restored = (await readdir(target)).filter((f) => f.startsWith('segment-')).sort();
    assert.equal(control!.currentSeq, Number(/\d+/.exec(restored.at(-1)!)![0]));
  },
);

test(
  'relaxed mode: a failed sync that cuts the log back below a running backup fails the backup; the next one restores',
  { timeout: 60_000 },
  async (t) => {
    const source = await newDataDir(t);
    const fs = new FaultFs();
    // Relaxed: the cut is the written length, which a failed sync cuts back to the last sync.
    const store = new DiskStore({
      dataDir: source,
      fs,
      syncMode: 'relaxed',
      syncIntervalMs: 60_000,
      compactAfterBytes: 4096,
      retryMinMs: 10,
    });
    await store.open();
    t.after(() => store.close());
    const index = (name: string) => send(store, { verb: Verb.INDEX, name, deps: [] });
    for (let i = 0; i < 5; i++) assert.equal(await index(`a${i}`), Reply.OK);
    const backup = await store.startBackup();

    // Written past the segment's size, it rotates: the sync before it fails, the log is cut back
    // to the segment's header (nothing was synced), and the store reopens on a new segment.
    fs.inject({ op: 'datasync', path: 'segment-' });
    let failed = false;
    for (let i = 0; i < 1000 && !failed; i++)
      failed = (await index(`b${i}-${'z'.repeat(30)}`)) === Reply.ERROR;
    assert.ok(failed, 'the failed sync was answered ERROR');
    await until('writable again', () => store.health().writable);

    // The backup does not stream what the log no longer holds: it fails, saying why.
    await assert.rejects(
      async () => {
        for await (const _ of backup.stream);
      },
      (err: Error) =>
        /ended at byte \d+ while backing up \d+; the data dir changed under the backup/.test(err.message),
    );
    // Released: the next backup is taken, and restores to what the store serves.
    const again = await store.startBackup();
    const target = join(await tempDir(t), 'target');
    await new NodeFs().mkdir(target);
    await restoreArchive(again.stream, new NodeFs(), target);
    const { graph } = await recover(new NodeFs(), target, { repair: false, createIndex: 'never' });
    assert.deepEqual(graph.verify(), []);
    for (let i = 0; i < 5; i++)
      assert.equal(graph.has(`a${i}`), (await send(store, { verb: Verb.QUERY, name: `a${i}` })) === Reply.OK);
  },
);

test(
  'a damaged or truncated backup is refused by restore, and leaves no data files',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const source = join(dir, 'source');
    const server = await startServer(
      { storage: 'disk', dataDir: source, admin: true, adminHost: '127.0.0.1', adminPort: 0 },
      { adminToken: null },
    );
    t.after(() => server.close());
    const client = await LineClient.open(server.port);
    assert.deepEqual(await client.request('INDEX|a|', 'INDEX|b|a'), ['OK', 'OK']);
    client.close();
    const file = join(dir, 'ok.backup');
    const adminPort = String(server.pkgindex.addresses!.admin!.port);
    assert.equal((await runCli(['backup', '--to', file, '--admin-port', adminPort])).code, 0);
    await server.close();
    const whole = await readFile(file);

    const cases: [string, Buffer, RegExp][] = [
      [
        'flipped',
        Buffer.from(whole.map((b, i) => (i === whole.length - 20 ? b ^ 0xff : b))),
        /checksum|end record/,
      ],
      ['truncated', whole.subarray(0, whole.length - 7), /ends in the middle/],
      ['not a backup', Buffer.from('hello world, not a backup at all'), /not a pkgindex backup/],
    ];
    for (const [what, bytes, message] of cases) {
      const bad = join(dir, `${what}.backup`);
      await writeFile(bad, bytes);
      const target = join(dir, `target-${what.replace(/ /g, '-')}`);
      const result = await runCli(['restore', '--from', bad, '--data-dir', target]);
      assert.equal(result.code, 2, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /E_BACKUP_DAMAGED/);
      assert.deepEqual(
        (await readdir(target)).filter((n) => n !== 'LOCK'),
        [],
        `${what}: no data files left behind`,
      );
    }
  },
);

test('pkgindex backup and restore say why they cannot run', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(
    { storage: 'memory', admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { adminToken: null },
  );
  const adminPort = String(server.pkgindex.addresses!.admin!.port);
  const memory = await runCli(['backup', '--to', join(dir, 'm.backup'), '--admin-port', adminPort]);
  assert.equal(memory.code, 2);
  assert.match(memory.stderr, /HTTP 503 \[E_BACKUP_UNAVAILABLE\].*--storage disk/);
  await server.close();
  const closed = await runCli(['backup', '--to', join(dir, 'c.backup'), '--admin-port', adminPort]);
  assert.equal(closed.code, 2);
  assert.match(closed.stderr, /cannot reach the admin port.*E_CONNECT/s);
  const usage = await runCli(['backup']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /pass --to FILE/);
  const missing = await runCli(['restore', '--from', join(dir, 'nope.backup'), '--data-dir', join(dir, 'd')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*nope\.backup: no such file/);
  assert.deepEqual(await readdir(dir), ['d']);
  const held = new DiskStore({ dataDir: join(dir, 'held') });
  await held.open();
  try {
    const busy = await runCli(['restore', '--from', join(dir, 'x'), '--data-dir', join(dir, 'held')]);
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, /is locked by pid \d+; stop the server before restoring.*E_RESTORE_TARGET/s);
  } finally {
    await held.close();
  }
});

test('a server without a data dir answers POST /v1/backup 503', async (t) => {
  const server = await startServer(
    { storage: 'memory', admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { adminToken: null },
  );
  t.after(() => server.close());
  const response = await fetch(`http://127.0.0.1:${server.pkgindex.addresses!.admin!.port}/v1/backup`, {
    method: 'POST',
  });
  assert.equal(response.status, 503);
  assert.equal(((await response.json()) as { error: string }).error, 'E_BACKUP_UNAVAILABLE');
});

test('a backup that cannot be written is reported, and leaves neither the file nor a partial one', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(
    { storage: 'disk', dataDir: join(dir, 'data'), admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { adminToken: null },
  );
  t.after(() => server.close());
  const adminPort = String(server.pkgindex.addresses!.admin!.port);
  // The directory of --to does not exist: the server streamed the backup, the CLI cannot keep it.
  const nowhere = join(dir, 'missing-dir', 'index.backup');
  const r = await runCli(['backup', '--to', nowhere, '--admin-port', adminPort]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /the backup was not saved: writing it to .*index\.backup failed \(.*ENOENT.*\); its directory does not exist: create it or pass another --to\. The server is not at fault.*E_BACKUP_DESTINATION/s,
  );
  assert.equal(r.stdout, '', 'no "saved" line');
  assert.deepEqual((await readdir(dir)).sort(), ['data']);
  // The server is unharmed by the abandoned download: the next backup is taken.
  const ok = await runCli(['backup', '--to', join(dir, 'ok.backup'), '--admin-port', adminPort]);
  assert.equal(ok.code, 0, ok.stderr);
});

/** An archive of the data files of a stopped server's dir, with the control record given (or none). */
async function archiveOf(dir: string, control: Buffer | null): Promise<Buffer> {
  const files: ArchiveFile[] = [];
  for (const name of (await readdir(dir)).sort())
    if (/^(segment|snapshot)-/.test(name))
      files.push({ name, path: join(dir, name), length: (await stat(join(dir, name))).size });
  if (control !== null) files.push({ name: 'CONTROL', path: '', length: control.length, data: control });
  const parts: Buffer[] = [];
  for await (const part of writeArchive(new NodeFs(), files)) parts.push(part);
  return Buffer.concat(parts);
}

test(
  'restore writes the control record a backup made before it lacks, and checks the files against one it carries',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const source = join(dir, 'source');
    const server = await startServer({ storage: 'disk', dataDir: source });
    const client = await LineClient.open(server.port);
    assert.deepEqual(await client.request('INDEX|a|', 'INDEX|b|a'), ['OK', 'OK']);
    client.close();
    await server.close();
    const segments = (await readdir(source)).filter((n) => n.startsWith('segment-')).sort();
    const last = segments.at(-1)!;
    const lastSeq = Number(/\d+/.exec(last)![0]);
    const lastBytes = (await stat(join(source, last))).size;

    // An archive as the build before this change wrote them: no CONTROL. Restored into a dir
    // that an operator emptied of data files (only its stale control record is left).
    const old = join(dir, 'old.backup');
    await writeFile(old, await archiveOf(source, null));
    const target = join(dir, 'target');
    await runCli(['restore', '--from', old, '--data-dir', target]);
    for (const name of await readdir(target)) if (name !== 'CONTROL') await unlink(join(target, name));
    const restored = await runCli(['restore', '--from', old, '--data-dir', target]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /: 2 packages, 1 dependencies; checked \(control record written/);
    const fsck = await runCli(['fsck', '--data-dir', target, '--json']);
    assert.equal(fsck.code, 0, fsck.stdout);
    const report = JSON.parse(fsck.stdout) as FsckReport;
    assert.deepEqual(report.control, {
      snapshotSeq: 0,
      sealed: segments
        .slice(0, -1)
        .map((name) => report.segments.find((s) => name.includes(String(s.seq).padStart(10, '0')))),
      currentSeq: lastSeq,
      currentBytes: lastBytes,
      clean: true,
    });

    // An archive whose control record says more was durable than its files hold: refused, and
    // nothing is left for a server to start on.
    const lying = join(dir, 'lying.backup');
    const control = encodeControl(
      { snapshotSeq: 0, sealed: [], currentSeq: lastSeq, currentBytes: lastBytes + 100, clean: true },
      1,
    );
    await writeFile(lying, await archiveOf(source, control));
    const refused = await runCli(['restore', '--from', lying, '--data-dir', join(dir, 'lied')]);
    assert.equal(refused.code, 2, refused.stdout);
    assert.match(
      refused.stderr,
      new RegExp(`${last} holds ${lastBytes} bytes .* says ${lastBytes + 100}.*E_STORAGE_DATA_LOSS`, 's'),
    );
    assert.deepEqual(
      (await readdir(join(dir, 'lied'))).filter((n) => n !== 'LOCK'),
      [],
      'no data files left behind',
    );
  },
);

test('a backup to a full file system names the destination and the fix, not the server', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(
    { storage: 'disk', dataDir: join(dir, 'data'), admin: true, adminHost: '127.0.0.1', adminPort: 0 },
    { adminToken: null },
  );
  t.after(() => server.close());
  const adminPort = String(server.pkgindex.addresses!.admin!.port);
  // FILE.partial opened through a link to /dev/full: every write fails with the kernel's own
  // ENOSPC, as on a full disk, without a mount.
  const to = join(dir, 'full.backup');
  await symlink('/dev/full', `${to}.partial`);
  const r = await runCli(['backup', '--to', to, '--admin-port', adminPort]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /the backup was not saved: writing it to .*full\.backup failed \(ENOSPC: no space left on device.*\); its file system is full: free space there or pass another --to\. The server is not at fault, and nothing was left at .*full\.backup or .*full\.backup\.partial \[E_BACKUP_DESTINATION\]/s,
  );
  assert.doesNotMatch(r.stderr, /E_BACKUP_UNAVAILABLE/);
  assert.deepEqual((await readdir(dir)).sort(), ['data']);
});

test(
  'a client that goes away in the middle of a backup is logged as a backup not completed',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const events: { level: number; msg: string }[] = [];
    const log = pino(
      { level: 'info' },
      { write: (line: string) => events.push(JSON.parse(line) as { level: number; msg: string }) },
    );
    const server = await startServer(
      { storage: 'disk', dataDir: join(dir, 'data'), admin: true, adminHost: '127.0.0.1', adminPort: 0 },
      { adminToken: null, log },
    );
    t.after(() => server.close());
    // More than the sockets of both ends buffer, so that the server is still sending when the client leaves.
    const client = await LineClient.open(server.port);
    for (let batch = 0; batch < 40; batch++) {
      const lines = Array.from({ length: 1000 }, (_, i) => `INDEX|p${batch}-${i}-${'x'.repeat(200)}|`);
      assert.ok((await client.request(...lines)).every((reply) => reply === 'OK'));
    }
    client.close();
    const adminPort = server.pkgindex.addresses!.admin!.port;
    const socket = connect(adminPort, '127.0.0.1');
    socket.write('POST /v1/backup HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
    await once(socket, 'data');
    socket.destroy();
    await until('the backup stream to close', () =>
      events.some((e) => /^backup (stream closed|not completed)/.test(e.msg)),
    );
    const closed = events.find((e) => /^backup (stream closed|not completed)/.test(e.msg))!;
    assert.equal(closed.msg, 'backup not completed: the stream closed before its end');
    assert.equal(closed.level, 40, 'warn');
  },
);
