/**
 * The read-only queries of the index, for the HTTP query API, the CLI and the dashboard: one
 * entry for what they may call. Pure and synchronous like the graph: each call reads one
 * consistent state and does bounded work (see query-bounds.ts), or, for whole-graph figures,
 * runs in steps (GraphSurvey).
 */
export {
  DEFAULT_LIMIT,
  DEFAULT_MAX_VISITS,
  MAX_LIMIT,
  type Page,
  type PageOptions,
  type WalkOptions,
} from './query-bounds.js';
export {
  listLeaves,
  listPackages,
  listRoots,
  type ListOptions,
  type ListPage,
  type PackageSummary,
} from './list-packages.js';
export { packageInfo, type PackageInfo, type PackageInfoOptions } from './package-info.js';
export {
  Direction,
  dependenciesPage,
  dependentsPage,
  relatedPage,
  type RelatedOptions,
  type RelatedPage,
} from './related-packages.js';
export {
  dependencyTree,
  dependentTree,
  type Tree,
  type TreeNode,
  type TreeOptions,
} from './dependency-tree.js';
export { IndexVerdict, whyHeld, whyRefused, type HeldBy, type IndexExplanation } from './why.js';
export { installOrder, removalOrder, type Order } from './install-order.js';
export { GraphSurvey, type SurveyOptions, type SurveyResult } from './graph-survey.js';
