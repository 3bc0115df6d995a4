import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const UNIT = 'deploy/pkgindex.service';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const text = readFileSync(UNIT, 'utf8');

/** `Key=value` settings of the [Service] section (a key may repeat). */
function service(): Map<string, string[]> {
  const section = text.slice(text.indexOf('[Service]'), text.indexOf('[Install]'));
  const settings = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m !== null) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  return settings;
}

/**
 * The unit as systemd-analyze should see it: verify checks that ExecStart's binary exists, so
 * where node is not at /usr/bin/node the copy names this test's node instead.
 */
function unitForThisHost(dir: string): string {
  const path = join(dir, 'pkgindex.service');
  const node = existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath;
  writeFileSync(path, text.replace('ExecStart=/usr/bin/node ', `ExecStart=${node} `));
  return path;
}

describe(UNIT, () => {
  test('is sandboxed, with the data directory the only writable path', () => {
    const s = service();
    const one = (key: string): string | undefined => s.get(key)?.at(-1);
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['DynamicUser', 'yes'],
      ['StateDirectory', 'pkgindex'],
      ['ReadWritePaths', '/var/lib/pkgindex'],
      ['CapabilityBoundingSet', ''],
      ['KillSignal', 'SIGTERM'],
    ] as const)
      assert.equal(one(key), value, key);
    assert.match(one('ExecStart') ?? '', / serve$/);
    assert.equal(s.has('MemoryDenyWriteExecute'), false, "V8's JIT needs W+X memory");
    // Stop timeout longer than the default drain (--shutdown-timeout-ms 10 s).
    assert.ok(Number.parseInt(one('TimeoutStopSec') ?? '0', 10) > 10);
  });

  test('passes `systemd-analyze verify` with no warnings', (t) => {
    if (!existsSync(SYSTEMD_ANALYZE)) {
      t.skip(`${SYSTEMD_ANALYZE} not found; install systemd to run this check`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pkgindex-unit-'));
    try {
      const r = spawnSync(SYSTEMD_ANALYZE, ['verify', unitForThisHost(dir)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'systemd-analyze printed warnings');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('scores OK (at most 2.0) in `systemd-analyze security --offline`', (t) => {
    if (!existsSync(SYSTEMD_ANALYZE)) {
      t.skip(`${SYSTEMD_ANALYZE} not found; install systemd to run this check`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pkgindex-unit-'));
    try {
      const r = spawnSync(
        SYSTEMD_ANALYZE,
        ['security', '--offline=yes', '--no-pager', unitForThisHost(dir)],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0 && /offline/i.test(r.stderr)) {
        t.skip(`this systemd-analyze has no --offline security check: ${r.stderr.trim()}`);
        return;
      }
      const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      assert.ok(Number(m[1]) <= 2, `exposure ${m[1]!}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
