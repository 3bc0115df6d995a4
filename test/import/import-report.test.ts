import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { planImport } from '../../src/import/plan.js';
import { Progress } from '../../src/import/progress.js';
import { buildReport, formatReport } from '../../src/import/report.js';
import type { ParsedSource } from '../../src/import/source.js';

const parsed: ParsedSource = {
  format: 'brew',
  packages: [
    { name: 'ok', deps: [] },
    { name: 'uses-ok', deps: ['ok'] },
    { name: 'a', deps: ['b'] },
    { name: 'b', deps: ['a'] },
    { name: 'above-cycle', deps: ['a'] },
    { name: 'needs-ghost', deps: ['ghost'] },
    { name: 'also-ghost', deps: ['ghost', 'ok'] },
    { name: 'bad name', deps: [] },
  ],
  warnings: [{ line: 9, message: 'not "name: dep1 dep2 ..."' }],
  warningCount: 1,
  counters: { 'lines read': 9 },
};

test('the report counts every left-out package once, by reason and by root cause', () => {
  const plan = planImport(parsed.packages);
  const report = buildReport(['-'], parsed, plan, {
    server: '127.0.0.1:1',
    result: { sent: 2, indexed: 1, rejected: [{ name: 'uses-ok', reply: 'FAIL' }], elapsedMs: 500 },
  });
  assert.deepEqual(report.sources, ['stdin']);
  assert.equal(report.plan.importable, 2);
  assert.equal(report.plan.leftOut, 6);
  assert.deepEqual(report.plan.leftOutByReason, {
    'invalid-name': 1,
    'missing-dependency': 2,
    cycle: 2,
    blocked: 1,
  });
  assert.deepEqual(report.plan.blockedByRootReason, { 'invalid-name': 0, 'missing-dependency': 0, cycle: 1 });
  assert.deepEqual(report.plan.missing, [{ name: 'ghost', neededBy: 2 }]);
  assert.equal(report.run?.packagesPerSecond, 4);

  const text = formatReport(report);
  assert.match(text, /^Source: stdin \(brew\): 8 packages$/m);
  assert.match(text, /line 9: not "name/);
  assert.match(text, /^Plan: 2 importable, 6 left out$/m);
  assert.match(text, /^ {2}2: a, b$/m);
  assert.match(text, /^Invalid names: "bad name"$/m);
  assert.match(text, /^Import into 127\.0\.0\.1:1: 1 indexed, 1 refused, 0\.50 s, 4 packages\/s$/m);
  assert.match(text, /refused: uses-ok \(FAIL\)/);
  // JSON carries the same report.
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
});

function captured(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString() };
}

test('progress: a bar redrawn in place on a terminal, rate-limited plain lines otherwise', () => {
  const tty = captured();
  const bar = new Progress({ out: tty.out, tty: true, columns: 80 });
  for (let i = 1; i <= 1000; i++) bar.update(i, 1000);
  bar.finish();
  const drawn = tty.text();
  assert.match(drawn, /^\r\[/);
  assert.match(drawn, /\[#{40}\] 1000\/1000 100%/);
  assert.ok(drawn.endsWith('\x1b[K\n'));
  assert.ok(drawn.split('\r').length < 10, 'redrawn at most every 100 ms, and at the end');

  const log = captured();
  const plain = new Progress({ out: log.out, tty: false, lineIntervalMs: 60_000 });
  for (let i = 1; i <= 1000; i++) plain.update(i, 1000);
  plain.finish();
  const lines = log
    .text()
    .split('\n')
    .filter((l) => l !== '');
  assert.equal(lines.length, 2, 'the first update and the last');
  assert.match(lines[1]!, /^indexing: 1000\/1000 100% \d+\/s \d+\.\ds$/);
  assert.ok(!log.text().includes('\r'));
});
