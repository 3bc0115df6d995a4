import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs } from '../../../src/client/backoff.js';
import { createError } from '../../../src/errors.js';
import { isReadOnly, isRetryable, isUnavailable } from '../../../src/store/postgres/failure-rules.js';
import { CircuitBreaker } from '../../../src/store/postgres/circuit-breaker.js';
import { redactUrl } from '../../../src/store/postgres/database-url.js';
import { databaseUrl } from '../../../src/config/parsers.js';
import { isPkgIndexError } from '../../../src/errors.js';
import { Composition } from '../../../src/root.js';

test('backoff: full jitter below base·2ⁿ, capped', () => {
  assert.equal(
    backoffDelayMs(0, { baseMs: 2, maxMs: 200 }, () => 0.999),
    1,
  );
  assert.equal(
    backoffDelayMs(3, { baseMs: 2, maxMs: 200 }, () => 0.5),
    8,
  );
  assert.equal(
    backoffDelayMs(20, { baseMs: 2, maxMs: 200 }, () => 0.999),
    199,
  );
  assert.equal(
    backoffDelayMs(5, { baseMs: 2, maxMs: 200 }, () => 0),
    0,
  );
});

test('which failures are retried, and which open the breaker', () => {
  assert.ok(isRetryable({ code: '40001' }));
  assert.ok(isRetryable({ code: '40P01' }));
  assert.ok(!isRetryable({ code: '23503' }));
  assert.ok(!isRetryable(null));
  for (const code of ['08006', '57P01', '57P03', '53300', '25006', 'ECONNREFUSED'])
    assert.ok(isUnavailable({ code }), code);
  assert.ok(isReadOnly({ code: '25006' }), 'a session that takes no writes: a standby');
  assert.ok(!isReadOnly({ code: '57P01' }));
  // The probe's own finding (transaction_read_only on) carries the SQLSTATE as its cause.
  assert.ok(isReadOnly(createError('E_DATABASE_UNAVAILABLE', 'x', { cause: { code: '25006' } })));
  assert.ok(!isReadOnly(createError('E_DATABASE_UNAVAILABLE', 'x', { cause: { code: '57P01' } })));
  assert.ok(!isUnavailable({ code: '57014' }), 'a statement timeout is not an outage');
  assert.ok(isUnavailable(Object.assign(new Error('Connection terminated unexpectedly'))));
  assert.ok(!isUnavailable(new Error('syntax error')));
  assert.ok(!isUnavailable(undefined), 'a rejection without an error is not taken for an outage');
});

test('circuit breaker: opens once, probes with backoff until the database answers, then closes', async () => {
  const changes: [boolean, string | undefined][] = [];
  let probes = 0;
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const breaker = new CircuitBreaker({
    probe: () => (++probes < 3 ? Promise.reject(new Error('still down')) : Promise.resolve()),
    onChange: (writable, detail) => {
      changes.push([writable, detail]);
      if (writable) closed();
    },
    baseMs: 1,
    capMs: 2,
  });
  // The breaker's timers are unref'd (they must not keep a server alive): hold the loop open.
  const alive = setInterval(() => undefined, 1000);
  breaker.trip('database unreachable: ECONNREFUSED');
  breaker.trip('again'); // already open: no second change
  assert.equal(breaker.isOpen, true);
  assert.equal(breaker.detail, 'database unreachable: ECONNREFUSED');
  await done;
  clearInterval(alive);
  assert.equal(probes, 3);
  assert.equal(breaker.isOpen, false);
  assert.equal(breaker.opened, 1);
  assert.deepEqual(changes, [
    [false, 'database unreachable: ECONNREFUSED'],
    [true, undefined],
  ]);
  breaker.stop();
  breaker.trip('after stop'); // a closing store does not probe any more
  assert.equal(breaker.isOpen, false);
});

test('circuit breaker: a failed probe with a new reason changes the detail, as no transition; the same reason is not repeated', async () => {
  const changes: [boolean, string | undefined, boolean, number | undefined][] = [];
  const reasons = ['read-only', 'read-only', 'refused'];
  let probes = 0;
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const breaker = new CircuitBreaker({
    probe: () => (probes < reasons.length ? Promise.reject(new Error(reasons[probes++])) : Promise.resolve()),
    onChange: (writable, detail, changed, attempt) => {
      changes.push([writable, detail, changed, attempt]);
      if (writable) closed();
    },
    describe: (err) => `database ${(err as Error).message}`,
    baseMs: 1,
    capMs: 2,
  });
  const alive = setInterval(() => undefined, 1000);
  breaker.trip('database unreachable: terminated');
  await done;
  clearInterval(alive);
  assert.deepEqual(changes, [
    [false, 'database unreachable: terminated', true, undefined],
    [false, 'database read-only', false, 1],
    [false, 'database refused', false, 3],
    [true, undefined, true, undefined],
  ]);
});

test('circuit breaker: stopped before it opens, it never opens nor probes', () => {
  let probes = 0;
  const breaker = new CircuitBreaker({
    probe: () => {
      probes++;
      return Promise.resolve();
    },
    onChange: () => assert.fail(),
  });
  breaker.stop(); // no probe timer to clear
  breaker.trip('database unreachable');
  assert.equal(breaker.isOpen, false);
  assert.equal(probes, 0);
});

test('circuit breaker: stopped while a probe is pending, the probe never runs', async () => {
  let probes = 0;
  const breaker = new CircuitBreaker({
    probe: () => {
      probes++;
      return Promise.resolve();
    },
    onChange: () => undefined,
    baseMs: 1,
    capMs: 1,
    random: () => 0, // the probe is due 5 ms after the trip
  });
  breaker.trip('down');
  breaker.stop();
  // Node fires timers in order of their due time: one due after the probe's runs after it would have.
  await new Promise<void>((resolve) => setTimeout(resolve, 20));
  assert.equal(probes, 0);
  assert.equal(breaker.isOpen, true);
});

for (const outcome of ['answers', 'still fails'] as const)
  test(`circuit breaker: a probe in flight when the store stops (${outcome}) neither closes it nor schedules another`, async () => {
    const changes: boolean[] = [];
    let backoffs = 0;
    let settle!: () => void;
    let probing!: () => void;
    const started = new Promise<void>((resolve) => (probing = resolve));
    const breaker = new CircuitBreaker({
      probe: () => {
        probing();
        return new Promise<void>((resolve, reject) => {
          settle =
            outcome === 'answers'
              ? resolve
              : () => {
                  reject(new Error('still down'));
                };
        });
      },
      onChange: (writable) => {
        changes.push(writable);
      },
      baseMs: 1,
      capMs: 1,
      // Drawn once per scheduled probe: counts the probes the breaker schedules.
      random: () => (backoffs++, 0),
    });
    const alive = setInterval(() => undefined, 1000);
    try {
      breaker.trip('down');
      await started;
      breaker.stop();
      settle();
      // The probe's handlers run within a few turns of the loop once it settles.
      for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(breaker.isOpen, true, 'a stopped breaker does not close');
      assert.deepEqual(changes, [false]);
      assert.equal(backoffs, 1, 'no probe scheduled after stop');
    } finally {
      clearInterval(alive);
    }
  });

test('the database URL: a password is refused on the command line, accepted from the environment, never shown', () => {
  assert.throws(
    () => databaseUrl('postgres://u:secret@db/x', '--database-url'),
    (err) =>
      isPkgIndexError(err, 'E_CONFIG') &&
      /PKGINDEX_DATABASE_URL/.test(err.message) &&
      !err.message.includes('secret'),
  );
  assert.equal(
    databaseUrl('postgres://u:secret@db/x', 'environment variable PKGINDEX_DATABASE_URL'),
    'postgres://u:secret@db/x',
  );
  assert.throws(() => databaseUrl('mysql://db/x', '--database-url'), /must start with postgres/);
  assert.throws(() => databaseUrl('not a url', '--database-url'), /must be a URL/);
  assert.equal(redactUrl('postgres://u:secret@db:5432/x'), 'postgres://u:***@db:5432/x');
  assert.equal(redactUrl('postgres://u@db/x'), 'postgres://u@db/x');
  assert.equal(redactUrl(''), '');
  assert.equal(redactUrl('::'), '<unparseable database URL>');
});

test('--storage postgres without a database URL is a clear configuration error', () => {
  assert.throws(
    () => new Composition({ storage: 'postgres', databaseUrl: '' }),
    (err) => isPkgIndexError(err, 'E_DATABASE_CONFIG') && /PKGINDEX_DATABASE_URL/.test(err.message),
  );
});
