/**
 * The query API's fixed bounds, apart from the routes, so that the OpenAPI description and the
 * CLI's options can say them without importing the routes.
 */

/**
 * Direct dependents listed on a package's page (`GET /v1/packages/{name}`): the first by name;
 * `dependentCount` and `dependentsTruncated` say how many there are, and the paginated
 * `/v1/packages/{name}/dependents` lists the rest (libc6 has 21,838).
 */
export const PACKAGE_PAGE_DEPENDENTS = 100;

/** Levels of a tree when the request does not say, and the most it may ask for. */
export const DEFAULT_TREE_DEPTH = 8;
export const MAX_TREE_DEPTH = 64;
/** Nodes of a tree when the request does not say, and the most it may ask for. */
export const DEFAULT_TREE_NODES = 1000;
export const MAX_TREE_NODES = 10_000;

/** The most a POSTed why question's body may hold: far more than a protocol line's dependencies. */
export const WHY_BODY_BYTES = 1 << 20;
