/**
 * The read-only queries of the index, for the HTTP query API, the CLI and the dashboard: one
 * entry for what they may call. Pure and synchronous like the graph: each call reads one
 * consistent state and does bounded work (see query-bounds.ts). Each walk also comes as
 * `...Steps`, a generator that pauses every STEP_VISITS visits so that a caller can spread it
 * over event-loop turns (see Steps); whole-graph figures run in steps too (GraphSurvey).
 */
export {
  DEFAULT_LIMIT,
  DEFAULT_MAX_VISITS,
  MAX_LIMIT,
  finish,
  type Page,
  type PageOptions,
  type Steps,
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
export { packageInfo, packageInfoSteps, type PackageInfo, type PackageInfoOptions } from './package-info.js';
export {
  Direction,
  dependenciesPage,
  dependentsPage,
  relatedPage,
  relatedPageSteps,
  type RelatedOptions,
  type RelatedPage,
} from './related-packages.js';
export {
  dependencyTree,
  dependentTree,
  treeSteps,
  type Tree,
  type TreeNode,
  type TreeOptions,
} from './dependency-tree.js';
export {
  IndexVerdict,
  whyHeld,
  whyHeldSteps,
  whyRefused,
  whyRefusedSteps,
  type HeldBy,
  type IndexExplanation,
} from './why.js';
export {
  installOrder,
  installOrderSteps,
  removalOrder,
  removalOrderSteps,
  type Order,
} from './install-order.js';
export { GraphSurvey, type SurveyOptions, type SurveyResult } from './graph-survey.js';
