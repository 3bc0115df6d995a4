import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { importsOf } from './imports.js';
import { importEdges, layerCycles, parseLayerRules, ruleViolations, type ImportEdge } from './layers.js';

/** The checkout: this file runs as dist/test/architecture/layers.test.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const rules = parseLayerRules(readFileSync(`${ROOT}docs/architecture.md`, 'utf8'));
const edges = importEdges(`${ROOT}src`);

test('every import in src/ is one the layer table of docs/architecture.md allows', () => {
  assert.ok(edges.length > 100, `only ${edges.length} imports found: is the scanner broken?`);
  assert.deepEqual(ruleViolations(edges, rules), []);
});

test('no two layers of src/ import each other, directly or through others', () => {
  assert.deepEqual(layerCycles(edges), []);
});

test('the checks catch a forbidden import and a cycle', () => {
  const bad: ImportEdge[] = [
    { from: 'server/stats.ts', to: 'observability/bucket-counts.ts' },
    { from: 'observability/metrics.ts', to: 'server/stats.ts' },
    { from: 'server/server.ts', to: 'store/disk-store.ts' },
    { from: 'errors.ts', to: 'protocol/command.ts' },
    { from: 'tools/x.ts', to: 'errors.ts' },
  ];
  assert.deepEqual(layerCycles(bad), [['observability/', 'server/']]);
  const found = ruleViolations(bad, rules);
  assert.equal(found.length, 4, found.join('\n'));
  assert.match(
    found[0]!,
    /^server\/stats\.ts imports observability\/bucket-counts\.ts, but server\/ may import only /,
  );
  assert.match(found[1]!, /^server\/server\.ts imports store\/disk-store\.ts/);
  assert.match(
    found[2]!,
    /^errors\.ts imports protocol\/command\.ts, but errors\.ts may import only nothing$/,
  );
  assert.match(found[3]!, /^tools\/ has no row in the layer table/);
});

test('the import scanner finds every form of import, and nothing in comments, strings or regexes', () => {
  const source = [
    "import { a } from './a.js';",
    "import type { B } from '../b/b.js';",
    'import {',
    '  c,',
    '  type D,',
    "} from './c.js';",
    "import './side-effect.js';",
    "export { e } from './e.js';",
    "export type * from './f.js';",
    "const g = await import('./g.js');",
    "// import { no } from './comment.js';",
    "/* import('./block-comment.js') */",
    'const s = "from \'./string.js\'";',
    "const t = `import('./template.js') ${x ? `from './nested.js'` : '/'} from './template2.js'`;",
    "const r = /from '.\\/regex.js'/g;",
    "const q = a / 2; const u = Buffer.from('not-a-module');",
    "const h = (await import('./h.js')).H;",
  ].join('\n');
  assert.deepEqual(importsOf(source), [
    './a.js',
    '../b/b.js',
    './c.js',
    './side-effect.js',
    './e.js',
    './f.js',
    './g.js',
    './h.js',
  ]);
});
