/**
 * Direct dependents listed on a package's page (`GET /v1/packages/{name}`): the first by name;
 * `dependentCount` and `dependentsTruncated` say how many there are, and the paginated
 * `/v1/packages/{name}/dependents` lists the rest (libc6 has 21,838). Here, apart from the
 * routes, so that the OpenAPI description can say it without importing them.
 */
export const PACKAGE_PAGE_DEPENDENTS = 100;
