import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exchange, get, sample, startInProcess, type InProcess } from './harness.js';

describe('admin server endpoints', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess();
  });
  after(async () => {
    await s.close();
  });

  test('/healthz answers 200 with a JSON body', async () => {
    const r = await get(s.adminPort, '/healthz');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const body = JSON.parse(r.text) as Record<string, unknown>;
    assert.equal(body.status, 'ok');
    assert.equal(body.version, 'test');
    assert.equal(typeof body.uptimeSeconds, 'number');
  });

  test('/readyz answers 200 when recovered, writable, listening and not draining', async () => {
    const r = await get(s.adminPort, '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), {
      status: 'ready',
      ready: true,
      checks: { recovered: true, writable: true, listening: true, draining: false },
    });
  });

  test('an unknown path answers 404 with a JSON error', async () => {
    const r = await get(s.adminPort, '/nope');
    assert.equal(r.status, 404);
    assert.equal((JSON.parse(r.text) as { error: string }).error, 'E_NOT_FOUND');
  });

  test('/metrics counts commands by command and result, bytes, latency and the graph', async () => {
    const before = await get(s.adminPort, '/metrics');
    assert.equal(before.status, 200);
    assert.match(before.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(before.text, 'pkgindex_commands_total{command="INDEX",result="OK"}'), 0);

    const lines = ['INDEX|a|', 'INDEX|b|a', 'INDEX|c|a,b', 'NOPE|x|'];
    const replies = await exchange(s.port, lines);
    assert.deepEqual(replies, ['OK', 'OK', 'OK', 'ERROR']);

    const m = (await get(s.adminPort, '/metrics')).text;
    assert.equal(sample(m, 'pkgindex_commands_total{command="INDEX",result="OK"}'), 3);
    assert.equal(sample(m, 'pkgindex_commands_total{command="INVALID",result="ERROR"}'), 1);
    assert.equal(sample(m, 'pkgindex_commands_total{command="INDEX",result="ERROR"}'), 0);
    assert.equal(sample(m, 'pkgindex_commands_total{command="QUERY",result="OK"}'), 0);
    assert.equal(sample(m, 'pkgindex_packages'), 3);
    assert.equal(sample(m, 'pkgindex_dependency_edges'), 3);
    assert.equal(sample(m, 'pkgindex_connections_total'), 1);
    // The harness's server reads into the shared buffer, and this Node supports it.
    assert.equal(sample(m, 'pkgindex_shared_read_buffer'), 1);
    assert.equal(sample(m, 'pkgindex_connections_shared_reads_total'), 1);
    assert.equal(sample(m, 'pkgindex_connections_max'), 100);
    assert.equal(sample(m, 'pkgindex_received_bytes_total'), lines.join('\n').length + 1);
    assert.equal(sample(m, 'pkgindex_sent_bytes_total'), 'OK\n'.length * 3 + 'ERROR\n'.length);
    // One write of four lines may arrive as one chunk or several: at least one sample, at most four.
    const count = sample(m, 'pkgindex_command_latency_seconds_count')!;
    assert.ok(count >= 1 && count <= 4, `latency samples: ${count}`);
    assert.equal(sample(m, 'pkgindex_command_latency_seconds_bucket{le="+Inf"}'), count);
    assert.ok(sample(m, 'pkgindex_command_latency_seconds_sum')! > 0);
    assert.equal(sample(m, 'pkgindex_ready'), 1);
    assert.equal(sample(m, 'pkgindex_store_writable'), 1);
    // Process metrics from collectDefaultMetrics.
    for (const name of [
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'process_cpu_seconds_total',
    ])
      assert.notEqual(sample(m, name), undefined, name);
  });

  test('two servers in one process keep separate metrics', async () => {
    const other = await startInProcess();
    try {
      await exchange(other.port, ['QUERY|zzz|']);
      const mine = (await get(s.adminPort, '/metrics')).text;
      const theirs = (await get(other.adminPort, '/metrics')).text;
      assert.equal(sample(theirs, 'pkgindex_commands_total{command="QUERY",result="FAIL"}'), 1);
      assert.equal(sample(mine, 'pkgindex_commands_total{command="QUERY",result="FAIL"}'), 0);
      assert.equal(sample(theirs, 'pkgindex_packages'), 0);
    } finally {
      await other.close();
    }
  });
});
