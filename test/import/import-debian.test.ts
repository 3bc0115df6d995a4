import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readStanzas } from '../../src/import/deb822.js';
import { parseDebian, parseRelations } from '../../src/import/debian.js';
import { compareDebianVersions } from '../../src/import/debian-version.js';
import { LeftOutReason, planImport } from '../../src/import/plan.js';
import { readLines } from '../../src/import/read-lines.js';

const FIXTURE = 'test/fixtures/debian/Packages';

function depsOf(
  packages: readonly { name: string; deps: readonly string[] }[],
  name: string,
): readonly string[] {
  const pkg = packages.find((p) => p.name === name);
  assert.ok(pkg, `${name} is parsed`);
  return pkg.deps;
}

test('deb822: stanzas, continuation lines, case-insensitive fields, comments and junk', async () => {
  const warnings: string[] = [];
  const stanzas = [];
  for await (const s of readStanzas(
    [
      'Package: a',
      'DEPENDS: b,',
      ' c (>= 1),',
      '\td',
      'Description: long',
      ' text that is not wanted',
      ' .',
      '',
      '',
      '# comment',
      'Package: e',
      'junk line',
      '   ',
      ' orphan continuation',
      'Package: f',
    ],
    new Set(['package', 'depends']),
    (line, message) => warnings.push(`${line}: ${message}`),
  ))
    stanzas.push(s);
  assert.deepEqual(
    stanzas.map((s) => [s.line, Object.fromEntries(s.fields)]),
    [
      [1, { package: 'a', depends: 'b,\nc (>= 1),\nd' }],
      [11, { package: 'e' }],
      [15, { package: 'f' }],
    ],
  );
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^12: not a "Field: value" line/);
  assert.match(warnings[1]!, /^14: continuation line outside any field/);
});

test('relations: versions, architecture qualifiers and lists, profiles, alternatives', () => {
  assert.deepEqual(
    parseRelations(
      'libc6 (>= 2.34), python3:any, perl:amd64 (>= 5), foo [amd64 i386] <!nocheck> | bar:native, , baz(<<1)',
    ),
    [['libc6'], ['python3'], ['perl'], ['foo', 'bar'], ['baz']],
  );
  assert.deepEqual(parseRelations(''), []);
  assert.deepEqual(parseRelations('a,\n b |\n c'), [['a'], ['b', 'c']]);
});

test('versions order as dpkg orders them', () => {
  // Checked pairwise with `dpkg --compare-versions`.
  const ascending = [
    '0.9',
    '1.0~~',
    '1.0~~a',
    '1.0~',
    '1.0~rc1',
    '1.0',
    '1.0-1',
    '1.0-1+b1',
    '1.0a',
    '1.0+dfsg-1',
    '1.00.1',
    '1.1',
    '1:0.1',
  ];
  for (let i = 0; i + 1 < ascending.length; i++) {
    const [a, b] = [ascending[i]!, ascending[i + 1]!];
    assert.ok(compareDebianVersions(a, b) < 0, `${a} < ${b}`);
    assert.ok(compareDebianVersions(b, a) > 0, `${b} > ${a}`);
  }
  assert.equal(compareDebianVersions('1.0-1', '1.0-1'), 0);
  assert.equal(compareDebianVersions('0:1.0', '1.0'), 0);
  assert.equal(compareDebianVersions('1.01', '1.1'), 0);
});

test('the real Packages excerpt: dependencies, virtual packages, :any, alternatives', async () => {
  const parsed = await parseDebian(readLines([FIXTURE]));
  assert.equal(parsed.format, 'debian');
  assert.equal(parsed.packages.length, 29);
  assert.equal(parsed.warningCount, 0);
  // Pre-Depends count as dependencies, versions stripped.
  assert.deepEqual(depsOf(parsed.packages, 'perl-base'), ['libc6', 'libcrypt1', 'dpkg']);
  // `awk` is virtual, provided by mawk.
  assert.deepEqual(depsOf(parsed.packages, 'base-files'), ['mawk']);
  // `perlapi-5.36.0` is provided by perl-base.
  assert.deepEqual(depsOf(parsed.packages, 'libtext-charwidth-perl'), ['libc6', 'perl-base', 'perl-base']);
  // `debconf (>= 0.5) | debconf-2.0`: the first alternative exists.
  assert.deepEqual(depsOf(parsed.packages, 'tzdata'), ['debconf']);
  // `python3:any` loses its qualifier; alternatives that exist nowhere are kept as written.
  assert.deepEqual(depsOf(parsed.packages, 'dh-python'), ['python3', 'python3-distutils | python3']);
  // The real cycle at the bottom of Debian.
  assert.deepEqual(depsOf(parsed.packages, 'libc6'), ['libgcc-s1']);

  const plan = planImport(parsed.packages);
  const out = new Map(plan.leftOut.map((l) => [l.name, l]));
  assert.deepEqual(plan.cycles, [['libc6', 'libgcc-s1']]);
  assert.equal(out.get('zlib1g')?.reason, LeftOutReason.BLOCKED);
  assert.equal(out.get('usrmerge')?.reason, LeftOutReason.MISSING_DEPENDENCY);
  assert.ok(plan.order.some((p) => p.name === 'fontconfig-config'));
  assert.ok(plan.order.some((p) => p.name === 'tzdata'));
  // Pre-Depends: dpkg, which the excerpt lacks.
  assert.deepEqual(out.get('0ad-data-common'), {
    name: '0ad-data-common',
    reason: LeftOutReason.MISSING_DEPENDENCY,
    missing: 'dpkg',
  });
});

test('alternatives fall back to one that exists; providers resolve virtual names; self-provision is dropped', async () => {
  const parsed = await parseDebian([
    'Package: mta-user',
    'Depends: nonexistent | mail-transport-agent, default-mta | mail-transport-agent',
    '',
    'Package: postfix',
    'Provides: mail-transport-agent',
    'Depends: mail-transport-agent',
    '',
    'Package: exim4',
    'Provides: mail-transport-agent, default-mta (= 4)',
    '',
    'Package: real',
    'Provides: real-or-virtual',
    '',
    'Package: real-or-virtual',
    '',
    'Package: wants-it',
    'Depends: real-or-virtual',
  ]);
  assert.deepEqual(depsOf(parsed.packages, 'mta-user'), ['postfix', 'exim4']);
  assert.deepEqual(depsOf(parsed.packages, 'postfix'), []);
  assert.deepEqual(depsOf(parsed.packages, 'wants-it'), ['real-or-virtual']);
  assert.equal(parsed.counters['dependencies resolved to a later alternative'], 1);
  assert.equal(parsed.counters['dependencies satisfied by the package itself (dropped)'], 1);
});

test('dpkg status: only installed packages count; repeated packages keep the highest version', async () => {
  const parsed = await parseDebian([
    'Package: kept',
    'Status: install ok installed',
    'Version: 1.0',
    'Depends: gone',
    '',
    'Package: gone',
    'Status: deinstall ok config-files',
    '',
    'Package: kept',
    'Status: install ok installed',
    'Version: 1:0.5',
    'Depends: other',
    '',
    'Package: kept',
    'Status: install ok installed',
    'Version: 0.9',
    'Depends: older',
  ]);
  assert.equal(parsed.format, 'dpkg-status');
  assert.deepEqual(parsed.packages, [{ name: 'kept', deps: ['other'] }]);
  assert.equal(parsed.counters['not installed (skipped)'], 1);
  assert.equal(parsed.counters['duplicate packages (highest version kept)'], 2);
});

test('names the protocol forbids are imported as nothing, and reported', async () => {
  const parsed = await parseDebian(['Package: Bad|Name', '', 'Package: user', 'Depends: Bad|Name']);
  // `|` separates alternatives in Depends, so the dependency reads as two names that exist nowhere.
  const plan = planImport(parsed.packages);
  const reasons = Object.fromEntries(plan.leftOut.map((l) => [l.name, l.reason]));
  assert.deepEqual(reasons, {
    'Bad|Name': LeftOutReason.INVALID_NAME,
    user: LeftOutReason.MISSING_DEPENDENCY,
  });
});

test('a stanza without a Package field (or with an empty one) is skipped with a warning at its line', async () => {
  const parsed = await parseDebian([
    'Package: a',
    '',
    'Version: 1.0',
    'Depends: a',
    '',
    'Package:',
    'Depends: a',
    '',
    'Package: b',
    'Depends: a',
  ]);
  assert.deepEqual(
    parsed.packages.map((p) => p.name),
    ['a', 'b'],
  );
  assert.deepEqual(depsOf(parsed.packages, 'b'), ['a']);
  assert.equal(parsed.warningCount, 2);
  assert.deepEqual(
    parsed.warnings.map((w) => [w.line, w.message]),
    [
      [3, 'stanza without a Package field; skipped'],
      [6, 'stanza without a Package field; skipped'],
    ],
  );
});
