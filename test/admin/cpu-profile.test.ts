import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { get, startInProcess, until, type InProcess } from './harness.js';

// A file of its own: an in-process CPU profile ends with its inspector session disconnecting,
// which disables the Profiler domain and drops V8's coverage of this whole test process to
// function level (Node 20.20), so the tests sharing the process would count as not run.

describe('profiling endpoints', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ config: { adminDebug: 'on' } });
  });
  after(async () => {
    await s.close();
  });

  test('/debug/cpu-profile returns a .cpuprofile that DevTools can read', async () => {
    const r = await get(s.adminPort, '/debug/cpu-profile?seconds=1');
    assert.equal(r.status, 200);
    assert.match(
      r.headers.get('content-disposition') ?? '',
      /^attachment; filename="pkgindex-.*\.cpuprofile"$/,
    );
    const profile = JSON.parse(r.text) as {
      nodes: { id: number; callFrame: { functionName: string } }[];
      samples: number[];
      timeDeltas: number[];
      startTime: number;
      endTime: number;
    };
    assert.ok(profile.nodes.length > 0);
    assert.equal(profile.nodes[0]!.callFrame.functionName, '(root)');
    assert.ok(Array.isArray(profile.samples));
    assert.equal(profile.samples.length, profile.timeDeltas.length);
    const ids = new Set(profile.nodes.map((n) => n.id));
    for (const id of profile.samples) assert.ok(ids.has(id));
    assert.ok(profile.endTime > profile.startTime);
  });

  test('/debug/heap-snapshot returns a .heapsnapshot with its meta', async () => {
    const r = await get(s.adminPort, '/debug/heap-snapshot');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-disposition') ?? '', /\.heapsnapshot"$/);
    const snapshot = JSON.parse(r.text) as {
      snapshot: { meta: { node_fields: string[] }; node_count: number };
      nodes: number[];
    };
    assert.ok(snapshot.snapshot.meta.node_fields.includes('self_size'));
    assert.ok(snapshot.snapshot.node_count > 0);
    assert.equal(
      snapshot.nodes.length,
      snapshot.snapshot.node_count * snapshot.snapshot.meta.node_fields.length,
    );
  });

  test('a second profile while one runs gets 409, and is not logged as started', async () => {
    const before = s.events.length;
    const started = (what: string): number =>
      s.events.slice(before).filter((e) => e.msg === `${what} started`).length;
    const first = get(s.adminPort, '/debug/cpu-profile?seconds=2');
    await until(() => started('cpu profile') === 1);
    for (const path of ['/debug/heap-snapshot', '/debug/cpu-profile?seconds=1']) {
      const second = await get(s.adminPort, path);
      assert.equal(second.status, 409, path);
      assert.equal((JSON.parse(second.text) as { error: string }).error, 'E_PROFILER_BUSY');
    }
    assert.equal((await first).status, 200);
    assert.equal(started('cpu profile'), 1, 'only the profile that ran is logged as started');
    assert.equal(started('heap snapshot'), 0);
  });

  test('seconds out of bounds or not a number gets 400 and says the range', async () => {
    for (const q of ['0', '61', 'abc', '1.5']) {
      const r = await get(s.adminPort, `/debug/cpu-profile?seconds=${q}`);
      assert.equal(r.status, 400, q);
      const body = JSON.parse(r.text) as { error: string; message: string };
      assert.equal(body.error, 'E_ADMIN_BAD_REQUEST');
      assert.match(body.message, /from 1 to 60/);
    }
  });
});

// Moved here from hardening.test.ts and http-behaviour.test.ts: they take CPU profiles (see the top).
const TOKEN = 'correct-horse-battery-staple-42';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function errorCode(text: string): string {
  return (JSON.parse(text) as { error: string }).error;
}

describe('debug endpoints with a token (issue 12)', () => {
  test('with a token they are served, to requests carrying it; --admin-debug=off turns them off', async () => {
    const on = await startInProcess({ token: TOKEN });
    try {
      assert.equal((await get(on.adminPort, '/debug/cpu-profile?seconds=1')).status, 401);
      assert.equal((await get(on.adminPort, '/debug/cpu-profile?seconds=1', AUTH)).status, 200);
    } finally {
      await on.close();
    }
    const off = await startInProcess({ token: TOKEN, config: { adminDebug: 'off' } });
    try {
      const r = await get(off.adminPort, '/debug/cpu-profile?seconds=1', AUTH);
      assert.equal(r.status, 403);
      assert.equal(errorCode(r.text), 'E_ADMIN_DEBUG_OFF');
    } finally {
      await off.close();
    }
  });
});

describe('shutdown during a profile', () => {
  test('close() ends a running CPU profile instead of waiting for it', async () => {
    const s = await startInProcess({ config: { adminDebug: 'on' } });
    try {
      const profile = get(s.adminPort, '/debug/cpu-profile?seconds=60').then(
        (r) => r.status,
        () => 'connection closed',
      );
      await until(() => s.events.some((e) => e.msg === 'cpu profile started'));
      const startedAt = performance.now();
      await s.closeAdmin();
      assert.ok(performance.now() - startedAt < 5000);
      assert.equal(await profile, 'connection closed');
    } finally {
      await s.close();
    }
  });
});
