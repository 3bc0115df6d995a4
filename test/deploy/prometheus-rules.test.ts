import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, test } from 'node:test';
import { exportedSampleNames, referencedMetrics } from './exported-metrics.js';

const RULES = 'deploy/prometheus/alerts.yml';
const RULE_TESTS = 'deploy/prometheus/alerts.test.yml';
const rules = readFileSync(RULES, 'utf8');
const alertNames = [...rules.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]!);

/** promtool on PATH, or null. Debian/Ubuntu: `apt-get install --no-install-recommends prometheus`. */
function promtool(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, 'promtool');
    if (dir !== '' && existsSync(path)) return path;
  }
  return null;
}

const MISSING =
  'promtool not found on PATH; install it with `apt-get install --no-install-recommends prometheus`';

describe(RULES, () => {
  test('passes `promtool check rules`', (t) => {
    const bin = promtool();
    if (bin === null) {
      t.skip(MISSING);
      return;
    }
    const r = spawnSync(bin, ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test(`passes its unit tests (\`promtool test rules ${RULE_TESTS}\`)`, (t) => {
    const bin = promtool();
    if (bin === null) {
      t.skip(MISSING);
      return;
    }
    const r = spawnSync(bin, ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('the example prometheus.yml passes `promtool check config` and scrapes the job the alerts name', (t) => {
    const config = 'deploy/prometheus/prometheus.yml';
    assert.match(readFileSync(config, 'utf8'), /^\s*- job_name: pkgindex$/m);
    assert.match(rules, /up\{job="pkgindex"\}/);
    const bin = promtool();
    if (bin === null) {
      t.skip(MISSING);
      return;
    }
    // --syntax-only: the token file it names exists only on a real Prometheus host.
    const r = spawnSync(bin, ['check', 'config', '--syntax-only', config], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('every alert has a firing unit test and a runbook section', () => {
    assert.ok(alertNames.length >= 10);
    const unitTests = readFileSync(RULE_TESTS, 'utf8');
    const runbook = readFileSync('docs/runbook.md', 'utf8');
    for (const name of alertNames) {
      const firing = new RegExp(`alertname: ${name}\\n\\s*exp_alerts:\\n\\s*- exp_labels:`);
      assert.match(unitTests, firing, `${name} has no test where it fires`);
      assert.match(runbook, new RegExp(`^## ${name}$`, 'm'), `docs/runbook.md has no "## ${name}" section`);
      assert.ok(
        rules.includes(`runbook_url: 'docs/runbook.md#${name.toLowerCase()}'`),
        `${name} runbook_url`,
      );
    }
  });

  test('every metric the rules use is exported by a real server', async () => {
    const exported = await exportedSampleNames();
    const unknown = referencedMetrics(rules).filter((name) => !exported.has(name));
    assert.deepEqual(unknown, []);
  });
});
