import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { DependencyGraph } from '../../../src/graph/dependency-graph.js';
import { Verb } from '../../../src/protocol/command.js';
import { applyCommand } from '../../../src/store/apply-command.js';
import { GraphReader } from '../../../src/store/graph-reader.js';
import {
  DIRECTIONS,
  ListFilter,
  type IndexReader,
  type SurveyResult,
} from '../../../src/store/index-reader.js';
import { LineClient } from '../../support/line-client.js';
import { createTestDatabase, needPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/servers.js';
import { exchange, get, startInProcess } from '../../admin/harness.js';
import { commandLine as line, randomCommand, seededRandom } from '../support/workload.js';

/**
 * A PostgreSQL server and an embedded reader over the same index, built by sending `lines`
 * (INDEX lines with at most one dependency, each answered OK) to both.
 */
async function bothReaders(
  t: TestContext,
  lines: readonly string[],
): Promise<{ postgres: IndexReader; embedded: IndexReader }> {
  const server = await startServer({ storage: 'postgres', databaseUrl: await createTestDatabase(t) });
  t.after(() => server.close());
  const model = new DependencyGraph();
  for (const l of lines) {
    const [, name, deps] = l.split('|');
    applyCommand(model, { verb: Verb.INDEX, name: name!, deps: deps === '' ? [] : [deps!] });
  }
  const client = await LineClient.open(server.port);
  assert.ok((await client.request(...lines)).every((r) => r === 'OK'));
  client.close();
  return { postgres: server.store.reader!, embedded: new GraphReader(() => model) };
}

/** Every page of a listing, `limit` at a time. */
async function allPages(
  reader: IndexReader,
  filter: ListFilter,
  prefix: string,
  limit: number,
): Promise<unknown[]> {
  const pages: unknown[] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await reader.listPackages(filter, {
      prefix,
      limit,
      ...(after === undefined ? {} : { after }),
    });
    pages.push(...page.items);
    if (page.next === null) return pages;
    after = page.next;
  }
  assert.fail('listing did not end');
}

/**
 * A removal order as a set, after checking it is one: every package comes before the packages
 * it depends on. Among dependents of equal standing the order follows when each was indexed,
 * which the database does not keep, so only the set and the rule are compared.
 */
function removalSet(model: DependencyGraph, items: readonly string[]): string[] {
  const at = new Map(items.map((n, i) => [n, i]));
  for (const [i, n] of items.entries())
    for (const dep of model.dependenciesOf(n) ?? [])
      if (at.has(dep)) assert.ok(at.get(dep)! > i, `${n} is removed before ${dep}`);
  return [...items].sort();
}

/** A chain of dependents, after checking it is one: its length (ties go by indexing order). */
function heldChain(model: DependencyGraph, chain: readonly string[]): number {
  for (let i = 0; i + 1 < chain.length; i++)
    assert.ok(
      model.dependenciesOf(chain[i]!)?.includes(chain[i + 1]!),
      `${chain[i]} depends on ${chain[i + 1]}`,
    );
  return chain.length;
}

/** The survey's figures; which of several equal packages it names depends on indexing order. */
function surveyFigures(s: SurveyResult): unknown {
  return {
    ...s,
    work: undefined,
    longestChains: s.longestChains.map((c) => c.length),
    mostDependents: s.mostDependents.map((m) => m.dependents),
    largestClosures: s.largestClosures.length,
  };
}

/** Every question of the query API about `name`, asked of `reader`. */
async function answers(
  reader: IndexReader,
  model: DependencyGraph,
  name: string,
  names: readonly string[],
): Promise<unknown> {
  const removal = await reader.removalOrder(name);
  const held = await reader.whyHeld(name);
  const out: Record<string, unknown> = {
    info: await reader.packageInfo(name),
    whyHeld: held && { ...held, chain: heldChain(model, held.chain) },
    whyRefused: await reader.whyRefused(name, names.slice(0, 3)),
    install: await reader.installOrder(name),
    removal: removal && { ...removal, items: removalSet(model, removal.items) },
  };
  for (const direction of DIRECTIONS) {
    out[`tree-${direction}`] = await reader.tree(name, direction, { depth: 4 });
    out[`direct-${direction}`] = await reader.related(name, direction, { transitive: false, limit: 5 });
    out[`transitive-${direction}`] = await reader.related(name, direction, { transitive: true, limit: 1000 });
  }
  return out;
}

// The PostgreSQL reader rebuilds only the part of the graph an answer depends on and asks it
// the same pure query: its answers must be the embedded reader's, question for question.
for (const seed of [1, 2, 3])
  test(`the query API's answers from PostgreSQL equal the embedded reader's, seed ${seed}`, async (t) => {
    if (!(await needPostgres(t))) return;
    const server = await startServer({ storage: 'postgres', databaseUrl: await createTestDatabase(t) });
    t.after(() => server.close());
    const random = seededRandom(seed);
    const names = Array.from({ length: 24 }, (_, i) => `p${i % 3 === 0 ? 'x' : 'y'}${i}`);
    const model = new DependencyGraph();
    const client = await LineClient.open(server.port);
    for (let round = 0; round < 40; round++) {
      const commands = Array.from({ length: 1 + Math.floor(random() * 10) }, () =>
        randomCommand(random, names),
      );
      // The database keeps a package's dependencies as a set, listed by name: the model too.
      for (const c of commands)
        applyCommand(model, c.verb === Verb.INDEX ? { ...c, deps: [...c.deps].sort() } : c);
      await client.request(...commands.map(line));
    }
    client.close();
    const embedded = new GraphReader(() => model);
    const postgres = server.store.reader!;
    for (const name of [...names, 'absent'])
      assert.deepEqual(
        await answers(postgres, model, name, names),
        await answers(embedded, model, name, names),
        name,
      );
    for (const filter of Object.values(ListFilter))
      for (const [prefix, limit] of [
        ['', 4],
        ['px', 2],
        ['zz', 3],
      ] as const)
        assert.deepEqual(
          await allPages(postgres, filter, prefix, limit),
          await allPages(embedded, filter, prefix, limit),
          `${filter} ${prefix}`,
        );
    assert.deepEqual(
      surveyFigures((await postgres.survey()).result),
      surveyFigures((await embedded.survey()).result),
    );
  });

test('a closure past the visit budget comes back truncated from PostgreSQL, as from the embedded reader', async (t) => {
  if (!(await needPostgres(t))) return;
  const lines = Array.from({ length: 200 }, (_, i) => (i === 0 ? 'INDEX|c0|' : `INDEX|c${i}|c${i - 1}`));
  const { postgres, embedded } = await bothReaders(t, lines);
  for (const reader of [postgres, embedded]) {
    const info = await reader.packageInfo('c199', { maxVisits: 50 });
    assert.equal(info?.exact, false);
    const order = await reader.installOrder('c199', { maxVisits: 50 });
    assert.ok(order !== undefined && order.truncated);
    const held = await reader.related('c0', 'dependents', { transitive: true, maxVisits: 50 });
    assert.ok(held !== undefined && held.truncated);
  }
  // Within the budget, the whole answer.
  assert.deepEqual(
    await postgres.installOrder('c199', { maxVisits: 1000 }),
    await embedded.installOrder('c199', { maxVisits: 1000 }),
  );
});

test('the query API over HTTP on a PostgreSQL server answers from the database', async (t) => {
  if (!(await needPostgres(t))) return;
  const s = await startInProcess({
    config: { storage: 'postgres', databaseUrl: await createTestDatabase(t) },
  });
  t.after(() => s.close());
  assert.deepEqual(await exchange(s.port, ['INDEX|a|', 'INDEX|b|a', 'INDEX|c|a,b']), ['OK', 'OK', 'OK']);
  const info = await get(s.adminPort, '/v1/packages/a');
  assert.equal(info.status, 200, info.text);
  assert.deepEqual(JSON.parse(info.text), {
    name: 'a',
    dependencies: [],
    dependents: ['b', 'c'],
    dependentCount: 2,
    dependentsTruncated: false,
    closureSize: 0,
    depth: 0,
    exact: true,
  });
  const order = await get(s.adminPort, '/v1/packages/c/install-order');
  assert.deepEqual((JSON.parse(order.text) as { items: string[] }).items, ['a', 'b', 'c']);
  const first = JSON.parse((await get(s.adminPort, '/v1/packages?limit=2')).text) as {
    items: unknown[];
    next: string;
  };
  assert.deepEqual(first.items, [
    { name: 'a', dependencies: 0, dependents: 2 },
    { name: 'b', dependencies: 1, dependents: 1 },
  ]);
  const second = await get(s.adminPort, `/v1/packages?limit=2&cursor=${first.next}`);
  assert.deepEqual(JSON.parse(second.text), {
    items: [{ name: 'c', dependencies: 2, dependents: 0 }],
    next: null,
  });
  assert.equal((await get(s.adminPort, '/v1/packages/zzz')).status, 404);
});

test('the package page of a much-depended-on package lists the first dependents by name and counts them all, from PostgreSQL as embedded', async (t) => {
  if (!(await needPostgres(t))) return;
  // 150 dependents, indexed in an order that is not their names' (d149 first, d0 last).
  const lines = ['INDEX|base|', ...Array.from({ length: 150 }, (_, i) => `INDEX|d${149 - i}|base`)];
  const readers = await bothReaders(t, lines);
  const postgres = await readers.postgres.packageInfo('base', { maxDependents: 100 });
  const embedded = await readers.embedded.packageInfo('base', { maxDependents: 100 });
  assert.equal(postgres?.dependentCount, 150);
  assert.equal(postgres.dependents.length, 100);
  assert.deepEqual(postgres, embedded);
});
