import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineClient } from '../support/line-client.js';
import { get, startChild, stopChild } from './harness.js';

test('during graceful shutdown /readyz answers 503 while /healthz stays 200, then the server exits 0', async () => {
  // A grace period far longer than the test: the drain ends because the client leaves.
  const child = await startChild(['--shutdown-timeout-ms', '120000']);
  try {
    const client = await LineClient.open(child.port, '127.0.0.1', { allowHalfOpen: true });
    assert.deepEqual(await client.request('INDEX|a|'), ['OK']);
    assert.equal((await get(child.adminPort, '/readyz')).status, 200);

    const serverEnded = new Promise<void>((resolve) => client.socket.once('end', resolve));
    child.process.kill('SIGTERM');
    await child.waitFor((e) => e.msg === 'shutting down');
    await serverEnded;

    // The server has sent its FIN, but the client still holds its half of the connection: the
    // drain goes on until the client leaves.
    const ready = await get(child.adminPort, '/readyz');
    assert.equal(ready.status, 503);
    const body = JSON.parse(ready.text) as { checks: { draining: boolean }; reason: string };
    assert.equal(body.checks.draining, true);
    assert.match(body.reason, /shutting down/);
    assert.equal((await get(child.adminPort, '/healthz')).status, 200);
    const metrics = await get(child.adminPort, '/metrics');
    assert.match(metrics.text, /^pkgindex_draining 1$/m);
    assert.match(metrics.text, /^pkgindex_connections_open 1$/m);

    client.socket.end();
    assert.equal(await child.exited, 0);
    assert.ok(child.events.some((e) => e.msg === 'stopped'));
  } finally {
    await stopChild(child);
  }
});
