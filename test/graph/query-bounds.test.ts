import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LIMIT,
  DEFAULT_MAX_VISITS,
  MAX_LIMIT,
  pageLimit,
  visitBudget,
} from '../../src/graph/query-bounds.js';

test('page limit: default when absent or not finite, clamped to [1, MAX_LIMIT], whole', () => {
  assert.equal(pageLimit({}), DEFAULT_LIMIT);
  assert.equal(pageLimit({ limit: Number.NaN }), DEFAULT_LIMIT);
  assert.equal(pageLimit({ limit: Number.POSITIVE_INFINITY }), DEFAULT_LIMIT);
  assert.equal(pageLimit({ limit: 0 }), 1);
  assert.equal(pageLimit({ limit: -5 }), 1);
  assert.equal(pageLimit({ limit: 7.9 }), 7);
  assert.equal(pageLimit({ limit: MAX_LIMIT + 1 }), MAX_LIMIT);
});

test('visit budget: default when absent, at least 1, whole', () => {
  assert.equal(visitBudget({}), DEFAULT_MAX_VISITS);
  assert.equal(visitBudget({ maxVisits: 0 }), 1);
  assert.equal(visitBudget({ maxVisits: -3 }), 1);
  assert.equal(visitBudget({ maxVisits: Number.NaN }), 1);
  assert.equal(visitBudget({ maxVisits: 12.5 }), 12);
});
