import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createError } from '../../src/errors.js';
import type { GraphStats } from '../../src/graph/dependency-graph.js';
import type { Command } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { IndexStore, StoreHealth } from '../../src/store/store.js';
import { createPkgIndex } from '../../src/index.js';
import { exchange, get, memoryLogger, sample, startInProcess, until } from './harness.js';

/**
 * A store whose disk has failed: it executes in memory but can make nothing durable. A
 * stand-in for the durable store (not on main yet) in its failure state; only readiness and
 * metrics are tested with it.
 */
class FailingStore implements IndexStore {
  readonly id = 'failing';
  readonly #memory = new MemoryStore();
  #health: StoreHealth = { recovered: true, writable: false, detail: 'fsync failed: EIO (test)' };

  setHealth(health: StoreHealth): void {
    this.#health = health;
  }
  open(): Promise<void> {
    return this.#memory.open();
  }
  execute(command: Command): Reply {
    return this.#memory.execute(command) as Reply;
  }
  barrier(): Promise<void> {
    return Promise.reject(createError('E_STORAGE_IO', 'fsync failed: EIO (test)'));
  }
  health(): StoreHealth {
    return this.#health;
  }
  stats(): GraphStats {
    return this.#memory.stats();
  }
  close(): Promise<void> {
    return this.#memory.close();
  }
}

describe('readiness under storage failure', () => {
  test('/readyz answers 503 with the reason while the store is not writable, 200 once it is', async () => {
    const store = new FailingStore();
    const s = await startInProcess({ store });
    try {
      const r = await get(s.adminPort, '/readyz');
      assert.equal(r.status, 503);
      const body = JSON.parse(r.text) as { status: string; ready: boolean; checks: object; reason: string };
      assert.equal(body.status, 'not ready');
      assert.equal(body.ready, false);
      assert.deepEqual(body.checks, { recovered: true, writable: false, listening: true, draining: false });
      assert.equal(body.reason, 'store not writable: fsync failed: EIO (test)');
      assert.equal((await get(s.adminPort, '/healthz')).status, 200, 'liveness is not readiness');

      // Replies the store could not make durable are sent as ERROR and counted.
      assert.deepEqual(await exchange(s.port, ['INDEX|a|', 'QUERY|a|']), ['ERROR', 'ERROR']);
      const m = (await get(s.adminPort, '/metrics')).text;
      assert.equal(sample(m, 'pkgindex_store_writable'), 0);
      assert.equal(sample(m, 'pkgindex_ready'), 0);
      assert.equal(sample(m, 'pkgindex_replies_failed_durability_total'), 2);

      store.setHealth({ recovered: true, writable: true });
      assert.equal((await get(s.adminPort, '/readyz')).status, 200);
      assert.equal(sample((await get(s.adminPort, '/metrics')).text, 'pkgindex_store_writable'), 1);
    } finally {
      await s.close();
    }
  });

  test('/readyz answers 503 while the store recovers', async () => {
    const store = new FailingStore();
    store.setHealth({ recovered: false, writable: false });
    const s = await startInProcess({ store });
    try {
      const r = await get(s.adminPort, '/readyz');
      assert.equal(r.status, 503);
      assert.match(
        (JSON.parse(r.text) as { reason: string }).reason,
        /^store recovering; store not writable$/,
      );
      assert.equal(sample((await get(s.adminPort, '/metrics')).text, 'pkgindex_store_recovered'), 0);
    } finally {
      await s.close();
    }
  });

  test('/readyz answers 503 before the protocol listener is bound', async () => {
    // Reports itself recovered and writable, but its open() waits for the test: the
    // composition root binds the protocol listener only after open() has resolved.
    let release = (): void => undefined;
    class GatedStore extends MemoryStore {
      override open(): Promise<void> {
        return new Promise((resolve) => (release = resolve));
      }
    }
    const { log, events } = memoryLogger();
    const pkgindex = createPkgIndex(
      { host: '127.0.0.1', port: 0, adminHost: '127.0.0.1', adminPort: 0, storage: 'memory' },
      { log, store: new GatedStore() },
    );
    const started = pkgindex.listen();
    try {
      await until(() => events.some((e) => e.msg === 'admin listening'));
      const adminPort = events.find((e) => e.msg === 'admin listening')!.port as number;
      const r = await get(adminPort, '/readyz');
      assert.equal(r.status, 503);
      assert.equal((JSON.parse(r.text) as { reason: string }).reason, 'protocol listener not bound');
      release();
      await started;
      assert.equal((await get(adminPort, '/readyz')).status, 200);
    } finally {
      release();
      await pkgindex.close();
    }
  });
});
