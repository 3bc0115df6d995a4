import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { exportedSampleNames, referencedMetrics } from './exported-metrics.js';

interface Target {
  readonly expr?: string;
  readonly refId?: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly id: number;
  readonly targets?: Target[];
  readonly panels?: Panel[];
}
interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly panels: Panel[];
  readonly templating: { list: { name: string; query: unknown }[] };
  readonly annotations: { list: { expr?: string }[] };
}

const dashboard = JSON.parse(readFileSync('deploy/grafana/pkgindex-dashboard.json', 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

describe('deploy/grafana/pkgindex-dashboard.json', () => {
  let exported: Set<string>;
  before(async () => {
    exported = await exportedSampleNames();
  });

  test('every panel queries at least one metric, and every metric is exported by a real server', () => {
    assert.ok(panels.length >= 10);
    const unknown: string[] = [];
    for (const panel of panels) {
      const exprs = (panel.targets ?? []).map((t) => t.expr ?? '');
      assert.ok(exprs.length > 0 && exprs.every((e) => e !== ''), `panel "${panel.title}" has no query`);
      for (const expr of exprs) {
        const names = referencedMetrics(expr);
        assert.ok(names.length > 0, `panel "${panel.title}": no metric in ${expr}`);
        for (const name of names) if (!exported.has(name)) unknown.push(`${panel.title}: ${name}`);
      }
    }
    const extra = [
      ...dashboard.templating.list.map((v) => JSON.stringify(v.query)),
      ...dashboard.annotations.list.map((a) => a.expr ?? ''),
    ];
    for (const text of extra)
      for (const name of referencedMetrics(text)) if (!exported.has(name)) unknown.push(name);
    assert.deepEqual(unknown, [], 'the dashboard queries metrics the server does not export');
  });

  test('shows the four golden signals', () => {
    const all = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
    assert.match(all, /rate\(pkgindex_commands_total/, 'rate');
    assert.match(all, /result="ERROR"/, 'errors');
    assert.match(
      all,
      /histogram_quantile\(0\.99, sum by \(le\) \(rate\(pkgindex_command_latency_seconds_bucket/,
      'latency',
    );
    assert.match(all, /pkgindex_connections_open.*\/.*pkgindex_connections_max/, 'saturation: connections');
    assert.match(all, /nodejs_eventloop_lag_p99_seconds/, 'saturation: event loop');
    // What tells a slower machine from a slower server (docs/runbook.md): both sides summed by
    // instance, since process_cpu_seconds_total carries labels the commands' sum does not.
    assert.match(
      all,
      /sum by \(instance\) \(rate\(process_cpu_seconds_total[^\n]*\) \/ sum by \(instance\) \(rate\(pkgindex_commands_total/,
      'saturation: CPU per command',
    );
  });

  test('panel ids are unique and every query has a refId', () => {
    const ids = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of panels) for (const t of p.targets ?? []) assert.match(t.refId ?? '', /^[A-Z]$/);
  });
});
