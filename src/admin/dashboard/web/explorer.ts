// The package explorer: prefix search over GET /v1/packages, and a package's page from
// GET /v1/packages/{name} and GET /v1/packages/{name}/why, with its neighbourhood graph; its
// dependents are listed a page at a time from GET /v1/packages/{name}/dependents (the package
// itself carries the first hundred only: libc6 has tens of thousands).

import { ApiError, type Api } from './api.js';
import { byId, el, fill, packageLink } from './dom.js';
import { GraphView } from './graph-view.js';

interface PackageSummary {
  readonly name: string;
  readonly dependencies: number;
  readonly dependents: number;
}

interface Page<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}

/** GET /v1/packages/{name} (src/admin/query-routes.ts). */
interface PackageInfo {
  readonly name: string;
  readonly dependencies: readonly string[];
  /** The first of its direct dependents; `dependentCount` counts them all. */
  readonly dependents: readonly string[];
  readonly dependentCount: number;
  readonly dependentsTruncated: boolean;
  readonly closureSize: number;
  readonly depth: number;
  /** False when the walk was cut short: closureSize and depth are lower bounds. */
  readonly exact: boolean;
}

/** GET /v1/packages/{name}/why: the chain of dependents from one nothing depends on down to it. */
interface HeldBy {
  readonly removable: boolean;
  readonly chain: readonly string[];
  readonly complete: boolean;
}

const PAGE_SIZE = 50;
const DEPENDENTS_PAGE_SIZE = 100;

function packagePath(name: string, rest = ''): string {
  return `/v1/packages/${encodeURIComponent(name)}${rest}`;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function describe(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}

export class Explorer {
  readonly #api: Api;
  readonly #graph: GraphView;
  #next: string | null = null;
  #prefix = '';
  /** The package whose page is shown, and the cursor of its next page of dependents. */
  #package = '';
  #nextDependents: string | null = null;
  /** Ends the requests of a view the user has left. */
  #view = new AbortController();

  constructor(api: Api) {
    this.#api = api;
    this.#graph = new GraphView(byId('graph'), (name) => {
      location.hash = `#/package/${encodeURIComponent(name)}`;
    });
    byId('search', HTMLFormElement).addEventListener('submit', (event) => {
      event.preventDefault();
      const prefix = byId('prefix', HTMLInputElement).value;
      const hash = `#/packages?prefix=${encodeURIComponent(prefix)}`;
      if (location.hash === hash) void this.search(prefix);
      else location.hash = hash;
    });
    byId('more').addEventListener('click', () => {
      void this.#loadPage(this.#view.signal);
    });
    byId('more-dependents').addEventListener('click', () => {
      void this.#loadDependents(this.#view.signal);
    });
  }

  get graph(): GraphView {
    return this.#graph;
  }

  #newView(): AbortSignal {
    this.#view.abort();
    this.#view = new AbortController();
    return this.#view.signal;
  }

  async search(prefix: string): Promise<void> {
    const signal = this.#newView();
    this.#prefix = prefix;
    this.#next = null;
    byId('prefix', HTMLInputElement).value = prefix;
    fill(byId('results'));
    await this.#loadPage(signal);
  }

  async #loadPage(signal: AbortSignal): Promise<void> {
    const note = byId('search-note');
    const more = byId('more');
    const query = new URLSearchParams({ prefix: this.#prefix, limit: String(PAGE_SIZE) });
    if (this.#next !== null) query.set('cursor', this.#next);
    try {
      const page = await this.#api.json<Page<PackageSummary>>(`/v1/packages?${query}`, signal);
      const results = byId('results');
      results.append(
        ...page.items.map((p) =>
          el(
            'li',
            '',
            packageLink(p.name),
            el('span', 'counts', `${p.dependencies} deps · ${p.dependents} users`),
          ),
        ),
      );
      this.#next = page.next;
      more.hidden = page.next === null;
      note.textContent =
        results.childElementCount === 0
          ? `No package starts with “${this.#prefix}”.`
          : `${results.childElementCount}${page.next === null ? '' : '+'} packages`;
    } catch (err) {
      if (signal.aborted) return;
      note.textContent = `Search failed: ${describe(err)}`;
    }
  }

  async open(name: string): Promise<void> {
    const signal = this.#newView();
    fill(byId('package-name'), name);
    fill(byId('package-facts'));
    fill(byId('package-error'));
    fill(byId('dependencies'));
    fill(byId('dependents'));
    byId('more-dependents').hidden = true;
    fill(byId('why'));
    fill(byId('why-chain'));
    let info: PackageInfo;
    try {
      info = await this.#api.json<PackageInfo>(packagePath(name), signal);
    } catch (err) {
      if (signal.aborted) return;
      this.#graph.clear();
      byId('package-error').textContent =
        err instanceof ApiError && err.status === 404 ? `${name} is not indexed.` : describe(err);
      return;
    }
    const atLeast = info.exact ? '' : 'at least ';
    byId('package-facts').textContent = [
      count(info.dependencies.length, 'dependency', 'dependencies'),
      count(info.dependentCount, 'direct dependent', 'direct dependents'),
      `${atLeast}${count(info.closureSize, 'package', 'packages')} in its closure`,
      `longest chain ${atLeast}${info.depth}`,
    ].join(' · ');
    fill(byId('dependencies'), ...info.dependencies.map((d) => el('li', '', packageLink(d))));
    if (info.dependencies.length === 0) byId('dependencies').append(el('li', 'note', 'none'));
    if (info.dependentCount === 0) byId('dependents').append(el('li', 'note', 'none'));
    const graph = this.#graph.show(info).catch((err: unknown) => {
      byId('package-error').textContent = `The graph could not be drawn: ${describe(err)}`;
    });
    this.#package = info.name;
    this.#nextDependents = null;
    const dependents = info.dependentCount === 0 ? undefined : this.#loadDependents(signal);
    await Promise.all([graph, this.#why(info, signal), dependents]);
    if (!signal.aborted) document.body.dataset.package = info.name;
  }

  /** Appends the next page of the shown package's direct dependents, by name. */
  async #loadDependents(signal: AbortSignal): Promise<void> {
    const more = byId('more-dependents', HTMLButtonElement);
    // One page at a time: a second click while one loads would append it twice.
    more.disabled = true;
    const query = new URLSearchParams({ limit: String(DEPENDENTS_PAGE_SIZE) });
    if (this.#nextDependents !== null) query.set('cursor', this.#nextDependents);
    try {
      const page = await this.#api.json<Page<string> & { total: number }>(
        packagePath(this.#package, `/dependents?${query}`),
        signal,
      );
      const list = byId('dependents');
      list.append(...page.items.map((d) => el('li', '', packageLink(d))));
      this.#nextDependents = page.next;
      more.hidden = page.next === null;
      more.textContent =
        page.next === null
          ? 'More dependents'
          : `More dependents (${page.total - list.childElementCount} left)`;
    } catch (err) {
      if (signal.aborted) return;
      more.hidden = true;
      byId('dependents').append(el('li', 'note', `Dependents could not be listed: ${describe(err)}`));
    } finally {
      more.disabled = false;
    }
  }

  async #why(info: PackageInfo, signal: AbortSignal): Promise<void> {
    const why = byId('why');
    if (info.dependentCount === 0) {
      why.textContent = 'Nothing depends on it: REMOVE would succeed.';
      return;
    }
    try {
      const held = await this.#api.json<HeldBy>(packagePath(info.name, '/why'), signal);
      if (held.removable) {
        why.textContent = 'Nothing depends on it any more: REMOVE would succeed.';
        return;
      }
      why.textContent = `REMOVE is refused while others depend on it, as along this chain${
        held.complete ? '' : ' (cut short)'
      }, each depending on the next:`;
      fill(byId('why-chain'), ...held.chain.map((d) => el('li', '', packageLink(d))));
    } catch (err) {
      if (signal.aborted) return;
      why.textContent = `REMOVE is refused: ${info.dependentCount} packages depend on it directly (${describe(err)}).`;
    }
  }
}
