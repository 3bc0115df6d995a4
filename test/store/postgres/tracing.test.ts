import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { LineClient } from '../../support/line-client.js';
import { createTestDatabase, needPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/servers.js';

test('tracing: with --otlp-endpoint, each database batch is exported as a span with its round trip', async (t) => {
  if (!(await needPostgres(t))) return;
  const url = await createTestDatabase(t);
  // A stand-in OTLP/HTTP collector: it keeps what it is sent.
  const bodies: string[] = [];
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(`${req.url} ${Buffer.concat(chunks).toString('latin1')}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
  try {
    const s = await startServer({
      storage: 'postgres',
      databaseUrl: url,
      otlpEndpoint: endpoint,
      traceSampleRatio: 1,
    });
    const c = await LineClient.open(s.port);
    assert.deepEqual(await c.request('INDEX|a|', 'QUERY|a|'), ['OK', 'OK']);
    c.close();
    await s.close(); // flushes the exporter
    const all = bodies.join('\n');
    assert.match(all, /^\/v1\/traces /);
    assert.match(all, /pkgindex\.batch/);
    assert.match(all, /pkgindex\.db\.apply/);
  } finally {
    collector.close();
  }
});
