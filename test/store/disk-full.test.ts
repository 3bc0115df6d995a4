import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { SERVINGS, spawnServer, type ServerProcess } from '../support/servers.js';
import { LineClient } from '../support/line-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The admin server's readiness: status code and body. */
async function readyz(server: ServerProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${server.adminPort}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Mounts a 1 MiB tmpfs on `dir`, or says why it cannot. */
function mountTmpfs(dir: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]}); needs root and mount(8)`;
  }
}

/** Writes until the file system is full. */
async function fill(path: string): Promise<void> {
  const file = await open(path, 'w');
  const block = Buffer.alloc(4096, 0x55);
  try {
    for (;;) await file.write(block);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOSPC') throw err;
  } finally {
    await file.close();
  }
}

for (const { threads, io, label } of SERVINGS)
  test(
    `disk full: no acknowledged write lost, ERROR while full, queries answered, recovery when space returns (${label})`,
    { timeout: 60_000 },
    async (t) => {
      if (process.platform !== 'linux') {
        t.skip('tmpfs mounting is Linux-only');
        return;
      }
      const mnt = await mkdtemp(join(tmpdir(), 'pkgindex-tmpfs-'));
      const why = mountTmpfs(mnt);
      if (why !== null) {
        await rm(mnt, { recursive: true });
        t.skip(why);
        return;
      }
      let server: ServerProcess | null = null;
      // One hook, in this order: the server lets go of the mount, the mount goes, then its dir.
      t.after(async () => {
        await server?.kill9();
        execFileSync('umount', [mnt]);
        await rm(mnt, { recursive: true });
      });
      // Made by the server, with a new index, inside the mount.
      const dir = join(mnt, 'data');
      // Zeroing ahead of the records in steps of 4 KiB, not 1 MiB: the whole tmpfs is 1 MiB.
      const args = ['--preallocate-bytes', '4096'];
      server = await spawnServer({ storage: 'disk', dataDir: dir, threads, io, args });
      let client = await LineClient.open(server.port);
      const acked: string[] = [];
      let errors = 0;
      const index = async (name: string): Promise<string> => {
        const reply = await client.send(`INDEX|${name}|${acked.at(-1) ?? ''}`);
        if (reply === 'OK') acked.push(name);
        else if (reply === 'ERROR') errors++;
        else assert.fail(`INDEX ${name}: ${reply}`);
        return reply;
      };
      for (let i = 0; i < 50; i++) assert.equal(await index(`before${i}`), 'OK');
      assert.equal((await readyz(server)).status, 200, 'ready while the disk has space');

      await fill(join(mnt, 'filler'));
      let i = 0;
      while (errors === 0 && i < 20_000) await index(`full${i++}`);
      assert.ok(errors > 0, 'the full disk was never noticed');
      for (let k = 0; k < 20; k++) assert.equal(await index(`still-full${k}`), 'ERROR');
      assert.equal(await client.send(`QUERY|${acked[0]!}|`), 'OK', 'queries are still answered');
      const full = await readyz(server);
      assert.equal(full.status, 503, 'not ready while mutations cannot be made durable');
      assert.deepEqual((full.body.checks as Record<string, unknown>).writable, false);

      // A restart on the full disk: the index is recovered and served, mutations wait for space.
      client.close();
      await server.kill9();
      server = await spawnServer({ storage: 'disk', dataDir: dir, threads, io, args });
      client = await LineClient.open(server.port);
      assert.equal(await client.send(`QUERY|${acked.at(-1)!}|`), 'OK', 'recovered on a full disk');
      assert.equal((await readyz(server)).status, 503, 'a restart on a full disk is not ready');
      assert.equal(await index('restarted-full'), 'ERROR');

      await unlink(join(mnt, 'filler'));
      const deadline = Date.now() + 15_000;
      let reply = 'ERROR';
      for (let k = 0; reply !== 'OK'; k++) {
        assert.ok(Date.now() < deadline, 'the store did not recover after space returned');
        await sleep(50);
        reply = await index(`after${k}`);
      }
      for (let k = 0; k < 50; k++) assert.equal(await index(`after-ok${k}`), 'OK');
      assert.equal((await readyz(server)).status, 200, 'ready again once space returned');

      client.close();
      await server.kill9();
      const { graph } = await recover(new NodeFs(), dir, { repair: false });
      for (const name of acked) assert.ok(graph.has(name), `acknowledged ${name} was lost`);
    },
  );
