/**
 * The query API's read side on PostgreSQL: the same answers as the embedded stores' reader,
 * computed from the database (linearizable, like QUERY on this backend).
 *
 * How: each question reads, in one REPEATABLE READ READ ONLY transaction (one snapshot), only
 * the part of the graph its answer depends on — the dependency closure of a package, or its
 * dependent closure, fetched by a recursive query that stops after the visit budget — rebuilds
 * that part as a small DependencyGraph and asks it the same pure query (src/graph/queries.ts)
 * the embedded stores ask their whole graph. One definition of every answer, two sources.
 * Why the part is enough: a walk from a package along dependencies (or along dependents) only
 * ever meets the packages of that closure and the edges between them.
 *
 * Bounds: a closure is fetched up to `maxVisits + 1` packages; a larger one comes back
 * truncated (the pure query sees more packages than its budget and says so), as on the
 * embedded stores. Listings are keyset queries on the primary key. The survey (longest chains,
 * largest closures) needs the whole graph: it is read at most once per SURVEY_TTL_MS, in the
 * background, and served stale meanwhile.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type pg from 'pg';
import { DependencyGraph } from '../../graph/dependency-graph.js';
import {
  dependencyTree,
  dependentTree,
  GraphSurvey,
  installOrder,
  packageInfo,
  relatedPage,
  removalOrder,
  whyHeld,
  whyRefused,
} from '../../graph/queries.js';
import { MAX_LIMIT, pageLimit, visitBudget } from '../../graph/query-bounds.js';
import { createError, isPkgIndexError } from '../../errors.js';
import { isUnavailable } from './failure-rules.js';
import {
  Direction,
  ListFilter,
  type HeldBy,
  type IndexExplanation,
  type IndexReader,
  type ListOptions,
  type Order,
  type PackageInfo,
  type PackageInfoOptions,
  type PackageSummary,
  type Page,
  type RelatedOptions,
  type RelatedPage,
  type SurveyReport,
  type Tree,
  type TreeOptions,
  type WalkOptions,
} from '../index-reader.js';

/** How old a survey may be before a question for it starts a new one. */
const SURVEY_TTL_MS = 30_000;
/** Units of survey work per turn (as the embedded reader: about a millisecond). */
const SURVEY_PER_TURN = 20_000;

/** One step of a recursive walk: from the names in `reach` to their neighbours. */
const STEP = {
  [Direction.DEPENDENCIES]:
    'SELECT d.dependency FROM pkgindex_dependencies d JOIN reach r ON d.package = r.name',
  [Direction.DEPENDENTS]:
    'SELECT d.package FROM pkgindex_dependencies d JOIN reach r ON d.dependency = r.name',
} as const;

/** Each fetched package with its dependencies among the fetched packages. */
interface Row {
  readonly name: string;
  readonly deps: string[];
}

const LIST_CONDITION = {
  [ListFilter.ALL]: '',
  [ListFilter.LEAVES]: 'AND NOT EXISTS (SELECT 1 FROM pkgindex_dependencies d WHERE d.dependency = p.name)',
  [ListFilter.ROOTS]: 'AND NOT EXISTS (SELECT 1 FROM pkgindex_dependencies d WHERE d.package = p.name)',
} as const;

export class PostgresReader implements IndexReader {
  readonly #pool: () => pg.Pool | null;
  #survey: SurveyReport | null = null;
  #surveying: Promise<SurveyReport> | null = null;

  /** `pool` returns the store's pool, or null while the store is not open. */
  constructor(pool: () => pg.Pool | null) {
    this.#pool = pool;
  }

  async listPackages(filter: ListFilter, options: ListOptions): Promise<Page<PackageSummary>> {
    const limit = pageLimit(options);
    const prefix = options.prefix ?? '';
    const { rows } = await this.#query<{ name: string; dependencies: number; dependents: number }>(
      `SELECT p.name,
              (SELECT count(*) FROM pkgindex_dependencies d WHERE d.package = p.name)::int AS dependencies,
              (SELECT count(*) FROM pkgindex_dependencies d WHERE d.dependency = p.name)::int AS dependents
         FROM pkgindex_packages p
        WHERE p.name > $1 AND p.name LIKE $2 ESCAPE '\\' ${LIST_CONDITION[filter]}
        ORDER BY p.name
        LIMIT $3`,
      [options.after ?? '', `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`, limit + 1],
    );
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? items.at(-1)!.name : null };
  }

  async packageInfo(name: string, options: PackageInfoOptions = {}): Promise<PackageInfo | undefined> {
    const graph = await this.#transaction(async (client) => {
      const rows = await closure(client, [name], Direction.DEPENDENCIES, visitBudget(options));
      if (rows.length === 0) return null;
      // The first of its direct dependents by name, for the list of them (their own
      // dependencies do not matter), and how many there are: libc6 has 21,838.
      const listed = Math.max(0, Math.min(options.maxDependents ?? MAX_LIMIT, MAX_LIMIT));
      const { rows: users } = await client.query<{ package: string }>(
        'SELECT package FROM pkgindex_dependencies WHERE dependency = $1 ORDER BY package LIMIT $2',
        [name, listed],
      );
      const { rows: counted } = await client.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM pkgindex_dependencies WHERE dependency = $1',
        [name],
      );
      const listedUsers = users.map((u) => ({ name: u.package, deps: [name] }));
      return { graph: buildGraph([...rows, ...listedUsers]), dependentCount: counted[0]?.count ?? 0 };
    });
    if (graph === null) return undefined;
    const info = packageInfo(graph.graph, name, options);
    return info === undefined ? undefined : { ...info, dependentCount: graph.dependentCount };
  }

  async related(
    name: string,
    direction: Direction,
    options: RelatedOptions,
  ): Promise<RelatedPage | undefined> {
    const graph = await this.#around(name, direction, options, options.transitive !== true);
    return graph === null ? undefined : relatedPage(graph, name, direction, options);
  }

  async tree(name: string, direction: Direction, options: TreeOptions): Promise<Tree | undefined> {
    const graph = await this.#around(name, direction, options);
    if (graph === null) return undefined;
    return (direction === Direction.DEPENDENCIES ? dependencyTree : dependentTree)(graph, name, options);
  }

  async whyHeld(name: string, options: WalkOptions = {}): Promise<HeldBy | undefined> {
    const graph = await this.#around(name, Direction.DEPENDENTS, options);
    return graph === null ? undefined : whyHeld(graph, name, options);
  }

  async whyRefused(
    name: string,
    deps: readonly string[],
    options: WalkOptions = {},
  ): Promise<IndexExplanation> {
    // A cycle would be a path from one of the dependencies back to `name`: their closure holds it.
    const rows = await this.#transaction((client) =>
      closure(client, [name, ...deps], Direction.DEPENDENCIES, visitBudget(options)),
    );
    return whyRefused(buildGraph(rows), name, deps, options);
  }

  async installOrder(name: string, options: WalkOptions = {}): Promise<Order | undefined> {
    const graph = await this.#around(name, Direction.DEPENDENCIES, options);
    return graph === null ? undefined : installOrder(graph, name, options);
  }

  async removalOrder(name: string, options: WalkOptions = {}): Promise<Order | undefined> {
    const graph = await this.#around(name, Direction.DEPENDENTS, options);
    return graph === null ? undefined : removalOrder(graph, name, options);
  }

  survey(): Promise<SurveyReport> {
    const last = this.#survey;
    if (last !== null && Date.now() - last.finishedAt < SURVEY_TTL_MS) return Promise.resolve(last);
    this.#surveying ??= this.#takeSurvey().finally(() => {
      this.#surveying = null;
    });
    if (last === null) return this.#surveying;
    this.#surveying.catch(() => undefined);
    return Promise.resolve({ ...last, stale: true });
  }

  async #takeSurvey(): Promise<SurveyReport> {
    const { rows } = await this.#query<Row>(
      `SELECT p.name, coalesce(array_agg(d.dependency ORDER BY d.dependency) FILTER (WHERE d.dependency IS NOT NULL), '{}') AS deps
         FROM pkgindex_packages p LEFT JOIN pkgindex_dependencies d ON d.package = p.name
        GROUP BY p.name`,
    );
    const survey = new GraphSurvey(buildGraph(rows));
    while (!survey.step(SURVEY_PER_TURN)) await nextTurn();
    const report: SurveyReport = { result: survey.result(), finishedAt: Date.now(), stale: false };
    this.#survey = report;
    return report;
  }

  /** `name` with its closure in `direction` (or only its direct neighbours); null when not indexed. */
  async #around(
    name: string,
    direction: Direction,
    options: WalkOptions,
    direct = false,
  ): Promise<DependencyGraph | null> {
    const rows = await this.#transaction((client) =>
      direct ? neighbours(client, name, direction) : closure(client, [name], direction, visitBudget(options)),
    );
    return rows.length === 0 ? null : buildGraph(rows);
  }

  #open(): pg.Pool {
    const pool = this.#pool();
    if (pool === null)
      throw createError(
        'E_DATABASE_UNAVAILABLE',
        'the PostgreSQL store is not open; retry once /readyz is 200',
      );
    return pool;
  }

  #query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.#open().query<R>(sql, values).catch(unavailable);
  }

  /**
   * Runs `read` in one snapshot of the database. A connection that failed (lost, or a query that
   * got no answer in time and may still be running) is dropped, not rolled back and handed out
   * again: its next query would queue behind the one still out.
   */
  async #transaction<T>(read: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#open().connect().catch(unavailable);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await read(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (isUnavailable(err)) broken = err as Error;
      else await client.query('ROLLBACK').catch(() => undefined);
      return unavailable(err);
    } finally {
      client.release(broken);
    }
  }
}

function unavailable(err: unknown): never {
  if (isPkgIndexError(err)) throw err;
  throw createError(
    'E_DATABASE_UNAVAILABLE',
    `the query could not be read from PostgreSQL: ${(err as Error).message}; retry, and check /readyz`,
    { cause: err },
  );
}

/**
 * The indexed packages among `start` and everything reachable from them in `direction`, at
 * most `budget + 1` of them, each with its dependencies among them.
 */
async function closure(
  client: pg.PoolClient,
  start: readonly string[],
  direction: Direction,
  budget: number,
): Promise<Row[]> {
  const { rows } = await client.query<Row>(
    `WITH RECURSIVE reach(name) AS (
       SELECT p.name FROM pkgindex_packages p WHERE p.name = ANY($1::text[])
       UNION
       ${STEP[direction]}
     ), nodes AS MATERIALIZED (SELECT name FROM reach LIMIT $2)
     SELECT n.name,
            coalesce(array_agg(d.dependency ORDER BY d.dependency) FILTER (WHERE d.dependency IS NOT NULL), '{}') AS deps
       FROM nodes n
       LEFT JOIN pkgindex_dependencies d ON d.package = n.name AND d.dependency IN (SELECT name FROM nodes)
      GROUP BY n.name`,
    [start, budget + 1],
  );
  return rows;
}

/** `name` and its direct neighbours in `direction`, with the edges between them. */
async function neighbours(client: pg.PoolClient, name: string, direction: Direction): Promise<Row[]> {
  const { rows } = await client.query<{ exists: boolean; deps: string[]; users: string[] }>(
    `SELECT EXISTS (SELECT 1 FROM pkgindex_packages WHERE name = $1) AS exists,
            coalesce((SELECT array_agg(dependency ORDER BY dependency) FROM pkgindex_dependencies WHERE package = $1), '{}') AS deps,
            coalesce((SELECT array_agg(package ORDER BY package) FROM pkgindex_dependencies WHERE dependency = $1), '{}') AS users`,
    [name],
  );
  const row = rows[0]!;
  if (!row.exists) return [];
  if (direction === Direction.DEPENDENCIES)
    return [{ name, deps: row.deps }, ...row.deps.map((dep) => ({ name: dep, deps: [] }))];
  return [{ name, deps: [] }, ...row.users.map((user) => ({ name: user, deps: [name] }))];
}

/**
 * A graph of the fetched packages, each indexed after its dependencies (Kahn's order; the
 * database holds no cycle, so every package gets its turn).
 */
function buildGraph(rows: readonly Row[]): DependencyGraph {
  const graph = new DependencyGraph();
  const waiting = new Map<string, number>();
  const users = new Map<string, string[]>();
  const ready: Row[] = [];
  const byName = new Map<string, Row>();
  for (const row of rows) byName.set(row.name, row);
  for (const row of byName.values()) {
    waiting.set(row.name, row.deps.length);
    if (row.deps.length === 0) ready.push(row);
    for (const dep of row.deps) {
      const list = users.get(dep);
      if (list === undefined) users.set(dep, [row.name]);
      else list.push(row.name);
    }
  }
  while (ready.length > 0) {
    const row = ready.pop()!;
    graph.index(row.name, row.deps);
    for (const user of users.get(row.name) ?? []) {
      const left = waiting.get(user)! - 1;
      waiting.set(user, left);
      if (left === 0) ready.push(byName.get(user)!);
    }
  }
  return graph;
}
