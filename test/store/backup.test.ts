import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskStore } from '../../src/store/disk-store.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { runCli } from '../cli/processes.js';
import { LineClient } from '../support/line-client.js';
import { startServer } from '../support/servers.js';
import { tempDir } from './support/tmp-dir.js';

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

    const { graph } = await recover(new NodeFs(), target, { repair: false });
    assert.deepEqual(graph.verify(), []);
    const restarted = await startServer({ storage: 'disk', dataDir: target });
    t.after(() => restarted.close());
    const client = await LineClient.open(restarted.port);
    t.after(() => {
      client.close();
    });
    const replies = await client.request(...ackedBefore.map((name) => `QUERY|${name}|`));
    const missing = ackedBefore.filter((_, i) => replies[i] !== 'OK');
    assert.deepEqual(missing, [], 'acknowledged before the backup and missing from it');
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
  assert.match(r.stderr, /the backup was not saved: .*ENOENT.*E_BACKUP_UNAVAILABLE/s);
  assert.equal(r.stdout, '', 'no "saved" line');
  assert.deepEqual((await readdir(dir)).sort(), ['data']);
  // The server is unharmed by the abandoned download: the next backup is taken.
  const ok = await runCli(['backup', '--to', join(dir, 'ok.backup'), '--admin-port', adminPort]);
  assert.equal(ok.code, 0, ok.stderr);
});
