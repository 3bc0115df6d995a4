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
  assert.match(text, /^ {2}3: a <-> b$/m);
  assert.deepEqual(report.plan.cycleImpact, [3]);
  assert.match(text, /^Invalid names: "bad name"$/m);
  assert.match(text, /^Import into 127\.0\.0\.1:1: 1 indexed, 1 refused, 0\.50 s, 4 packages\/s$/m);
  assert.match(text, /refused: uses-ok \(FAIL\)/);
  assert.equal(report.plan.foundOnServer, 0);
  assert.match(text, /^ {2}missing dependency: 2 \(1 names exist nowhere, not even on the server\)$/m);
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

/**
 * A small cycle under many packages, and a larger one under none: the small one is named
 * first, strict or broken, with the packages it keeps out (or lets in).
 */
test('the report names first the cycle that keeps out the most packages', () => {
  const packages = [
    { name: 'p', deps: ['q', 'r'] },
    { name: 'q', deps: ['r'] },
    { name: 'r', deps: ['p'] },
    { name: 'libc6', deps: ['libgcc-s1'] },
    { name: 'libgcc-s1', deps: ['libc6'] },
    ...Array.from({ length: 5 }, (_, i) => ({
      name: `app${i}`,
      deps: i === 0 ? ['libc6'] : [`app${i - 1}`],
    })),
    { name: 'both', deps: ['libc6', 'p'] },
  ];
  const source: ParsedSource = { ...parsed, packages, warnings: [], warningCount: 0 };
  const strict = buildReport(['-'], source, planImport(packages), null);
  assert.deepEqual(strict.plan.cycles, [
    ['libc6', 'libgcc-s1'],
    ['p', 'q', 'r'],
  ]);
  // libc6's: its two, app0..app4, and `both` (libc6 is found first on its way).
  assert.deepEqual(strict.plan.cycleImpact, [8, 3]);
  const text = formatReport(strict);
  assert.match(
    text,
    /keep out the most packages first.*\n {2}8: libc6 <-> libgcc-s1\n {2}3: p, q, r \(3 packages\)\n/,
  );
  const rank = (name: string): unknown =>
    strict.plan.leftOutPackages.find((l) => l.name === name && l.reason === 'cycle');
  assert.deepEqual(rank('libc6'), { name: 'libc6', reason: 'cycle', cycle: 0 });
  assert.deepEqual(rank('p'), { name: 'p', reason: 'cycle', cycle: 1 });

  const broken = buildReport(['-'], source, planImport(packages, { breakCycles: true }), null, true);
  assert.deepEqual(broken.plan.cycles, [
    ['libc6', 'libgcc-s1'],
    ['p', 'q', 'r'],
  ]);
  assert.deepEqual(broken.plan.cycleImpact, [8, 3]);
  assert.equal(broken.plan.importable, packages.length);
  assert.match(formatReport(broken), /let in the most packages first/);
  assert.equal(broken.plan.droppedEdges[0]?.cycle, 0, 'dropped edges listed by the same rank');
});

test('reading progress: bytes of the total, lines, rate and time left; no total from stdin', () => {
  const log = captured();
  const plain = new Progress({ out: log.out, tty: false, lineIntervalMs: 60_000 });
  plain.reading(1_000_000, 4_000_000, 20_000);
  plain.reading(2_000_000, 4_000_000, 40_000);
  plain.reading(4_000_000, 4_000_000, 80_000, true);
  const lines = log
    .text()
    .split('\n')
    .filter((l) => l !== '');
  assert.equal(lines.length, 2, 'the first and the last');
  assert.match(
    lines[0]!,
    /^reading: 1\.0 MB of 4\.0 MB 25%, 20,000 lines, [\d.]+ MB\/s \d+\.\ds ETA \d+(s|m\d\ds)$/,
  );
  assert.match(lines[1]!, /^reading: 4\.0 MB of 4\.0 MB 100%, 80,000 lines, /);
  assert.ok(!lines[1]!.includes('ETA'));

  const tty = captured();
  const bar = new Progress({ out: tty.out, tty: true });
  bar.reading(500, null, 3);
  bar.nextPhase();
  bar.update(1, 2);
  bar.finish();
  // The escape sequence that clears the rest of the line, as text for the pattern.
  const drawn = tty.text().replaceAll('\x1b[K', '<EL>');
  assert.match(
    drawn,
    /^\rreading: 0\.0 MB, 3 lines, [\d.]+ MB\/s [\d.]+s<EL>\n\r\[#+\.+\] 1\/2 {2}50% \d+\/s [\d.]+s ETA \d+s<EL>\n$/,
  );
});

test('the report says how many dependencies the server held, and that a dry run did not ask', () => {
  const plan = planImport(parsed.packages, { indexed: new Set(['ghost']) });
  const run = { server: '127.0.0.1:1', result: { sent: 4, indexed: 4, rejected: [], elapsedMs: 500 } };
  const report = buildReport(['-'], parsed, plan, run);
  assert.equal(report.plan.foundOnServer, 1);
  assert.deepEqual(report.plan.missing, []);
  assert.match(formatReport(report), /^ {2}dependencies found on the server, not in the source: 1$/m);
  const dry = buildReport(['-'], parsed, planImport(parsed.packages), null);
  assert.equal(dry.plan.foundOnServer, null);
  assert.match(formatReport(dry), /names exist nowhere: the server was not asked \(dry run\)\)$/m);
});
