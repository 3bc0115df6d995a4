import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_MAX_VISITS } from '../../src/graph/queries.js';
import { LineClient } from '../support/line-client.js';
import { get, startInProcess, type InProcess } from './harness.js';

type Json = Record<string, unknown>;

/** A chain longer than a query's visit budget: every walk along it must stop and say so. */
const LENGTH = DEFAULT_MAX_VISITS + 10_000;

describe('query API bounds on a closure larger than the visit budget', () => {
  let s: InProcess;
  let client: LineClient;
  before(async () => {
    // Room for the 20 walks queued at once below (the default answers 8 at a time).
    s = await startInProcess({ config: { queryMaxConcurrent: 32 } });
    client = await LineClient.open(s.port);
    const lines = ['INDEX|n0|'];
    for (let i = 1; i < LENGTH; i++) lines.push(`INDEX|n${i}|n${i - 1}`);
    for (let i = 0; i < lines.length; i += 10_000) {
      const replies = await client.request(...lines.slice(i, i + 10_000));
      assert.ok(replies.every((r) => r === 'OK'));
    }
  });
  after(async () => {
    client.close();
    await s.close();
  });

  async function ok(path: string): Promise<Json> {
    const r = await get(s.adminPort, path);
    assert.equal(r.status, 200, r.text.slice(0, 200));
    return JSON.parse(r.text) as Json;
  }

  test('walks stop at the budget and flag it, instead of taking longer', async () => {
    const top = `n${LENGTH - 1}`;
    const info = await ok(`/v1/packages/${top}`);
    assert.equal(info.exact, false);
    assert.ok((info.closureSize as number) < LENGTH - 1);

    const order = await ok(`/v1/packages/${top}/install-order`);
    assert.equal(order.truncated, true);
    assert.ok((order.items as string[]).length < LENGTH);

    const down = await ok(`/v1/packages/${top}/dependencies?transitive=true&limit=3`);
    assert.equal(down.truncated, true);
    assert.equal((down.items as string[]).length, 3);
    assert.ok((down.total as number) <= DEFAULT_MAX_VISITS);

    const up = await ok('/v1/packages/n0/dependents?transitive=true&limit=1000');
    assert.equal(up.truncated, true);
    assert.equal((up.items as string[]).length, 1000);

    const removal = await ok('/v1/packages/n0/removal-order');
    assert.equal(removal.truncated, true);

    const why = await ok('/v1/packages/n0/why');
    assert.equal(why.removable, false);
    assert.equal(why.complete, false);

    const tree = await ok(`/v1/packages/${top}/tree?depth=64`);
    assert.equal(tree.nodes, 65);

    const cycle = await ok(`/v1/packages/n0/why?deps=${top}`);
    assert.ok(['cycle', 'unknown'].includes(cycle.verdict as string), String(cycle.verdict));
  });

  test('the protocol answers while the API walks, before the queued walks are done', async () => {
    const walks = Array.from({ length: 20 }, () =>
      get(s.adminPort, `/v1/packages/n${LENGTH - 1}/install-order`),
    );
    // Sent after the walks: answered before the last of them, since queries queue by turn.
    let answeredWhileWalking = false;
    const query = client.request('QUERY|n5|').then((r) => {
      answeredWhileWalking = true;
      return r;
    });
    let finishedBefore = 0;
    await Promise.all(
      walks.map((w) =>
        w.then(() => {
          if (!answeredWhileWalking) finishedBefore++;
        }),
      ),
    );
    assert.deepEqual(await query, ['OK']);
    assert.ok(finishedBefore < walks.length, `the QUERY waited for all ${walks.length} walks`);
  });

  test('queries past --query-max-concurrent are refused 503 E_QUERY_BUSY with Retry-After, the others answered', async () => {
    const busy = await startInProcess({ config: { queryMaxConcurrent: 2, queryMaxVisits: 100_000 } });
    try {
      const feeder = await LineClient.open(busy.port);
      const lines = ['INDEX|n0|'];
      for (let i = 1; i < 30_000; i++) lines.push(`INDEX|n${i}|n${i - 1}`);
      for (let i = 0; i < lines.length; i += 10_000)
        assert.ok((await feeder.request(...lines.slice(i, i + 10_000))).every((r) => r === 'OK'));
      feeder.close();
      // Twelve walks of 30,000 packages sent at once: each takes many slices, so more than two
      // are in flight together.
      const replies = await Promise.all(
        Array.from({ length: 12 }, () => get(busy.adminPort, '/v1/packages/n29999/install-order')),
      );
      const refused = replies.filter((r) => r.status === 503);
      const answered = replies.filter((r) => r.status === 200);
      assert.equal(refused.length + answered.length, replies.length);
      assert.ok(answered.length >= 2, `${answered.length} answered`);
      assert.ok(refused.length >= 1, 'none refused: the limit did not hold');
      for (const r of refused) {
        assert.equal(r.headers.get('retry-after'), '1');
        const body = JSON.parse(r.text) as Json;
        assert.equal(body.error, 'E_QUERY_BUSY');
        assert.match(body.message as string, /--query-max-concurrent/);
      }
      for (const r of answered)
        assert.equal((JSON.parse(r.text) as { items: string[] }).items.length, 30_000);
      // Once the burst is over, the server answers again.
      assert.equal((await get(busy.adminPort, '/v1/packages/n29999')).status, 200);
    } finally {
      await busy.close();
    }
  });
});
