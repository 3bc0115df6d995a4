/**
 * The schema of the PostgreSQL backend, as numbered migrations applied in order (ADR 0009).
 * A migration is never edited once released: a change is a new one. The version reached is
 * recorded in `pkgindex_schema`; an instance refuses a database migrated past what it knows.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/**
 * v1: the index as two tables. Names are compared bytewise (COLLATE "C"), as the protocol
 * does. The foreign keys are the last line of defence of the rules across instances: an edge
 * can only name a package that exists (the insert takes a KEY SHARE lock on it), and a package
 * that an edge names cannot be deleted (ON DELETE RESTRICT); the package's own edges go with it.
 * `pkgindex_cycle_lock` is one row, locked by the rare re-INDEX that could close a cycle.
 */
const V1 = `
CREATE TABLE pkgindex_packages (
  name text COLLATE "C" PRIMARY KEY
);
CREATE TABLE pkgindex_dependencies (
  package text COLLATE "C" NOT NULL REFERENCES pkgindex_packages (name) ON DELETE CASCADE,
  dependency text COLLATE "C" NOT NULL REFERENCES pkgindex_packages (name) ON DELETE RESTRICT,
  PRIMARY KEY (package, dependency)
);
CREATE INDEX pkgindex_dependencies_dependency ON pkgindex_dependencies (dependency);
CREATE TABLE pkgindex_cycle_lock (id integer PRIMARY KEY CHECK (id = 1));
INSERT INTO pkgindex_cycle_lock VALUES (1);
`;

/**
 * v2: the batch function. One call applies a batch of commands in order, in the caller's
 * transaction, and returns their replies (0 OK, 1 FAIL), so that a batch is one round trip.
 * verbs: 0 INDEX, 1 REMOVE, 2 QUERY; deps: each INDEX's dependencies joined by ','
 * (a name cannot contain one). It runs at READ COMMITTED: every statement sees what other
 * instances committed before it began, after the row locks taken before it were granted.
 * The reasoning for each lock is in docs/adr/0009-postgresql-backend.md.
 */
const V2 = `
ALTER TABLE pkgindex_dependencies ADD CONSTRAINT pkgindex_no_self_dependency CHECK (package <> dependency);

CREATE FUNCTION pkgindex_apply(verbs smallint[], names text[], deps text[])
RETURNS smallint[] LANGUAGE plpgsql AS $fn$
DECLARE
  replies smallint[] := '{}';
  n text;
  wanted text[];
  old text[];
  existed boolean;
  present integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(verbs, 1), 0) LOOP
    n := names[i];
    IF verbs[i] = 2 THEN
      replies[i] := CASE WHEN EXISTS (SELECT 1 FROM pkgindex_packages WHERE name = n) THEN 0 ELSE 1 END;
    ELSIF verbs[i] = 1 THEN
      -- FOR UPDATE waits for every INDEX holding this package as a dependency (KEY SHARE)
      -- to finish; the next statement then sees the edges they committed.
      PERFORM 1 FROM pkgindex_packages WHERE name = n FOR UPDATE;
      IF NOT FOUND THEN
        replies[i] := 0;
      ELSIF EXISTS (SELECT 1 FROM pkgindex_dependencies WHERE dependency = n) THEN
        replies[i] := 1;
      ELSE
        DELETE FROM pkgindex_packages WHERE name = n;
        replies[i] := 0;
      END IF;
    ELSE
      wanted := ARRAY(SELECT DISTINCT d COLLATE "C" FROM unnest(string_to_array(deps[i], ',')) AS d ORDER BY 1);
      IF n = ANY (wanted) THEN
        -- A package cannot depend on itself: missing if new, a cycle if not.
        replies[i] := 1;
        CONTINUE;
      END IF;
      -- Our own row first: while we hold it FOR UPDATE nobody can add an edge to it (that
      -- needs KEY SHARE on it), so its dependents stay the ones we see next.
      PERFORM 1 FROM pkgindex_packages WHERE name = n FOR UPDATE;
      existed := FOUND;
      -- The dependencies, in name order (fewer deadlocks): KEY SHARE keeps them from being
      -- removed until we commit; one removed meanwhile is skipped, so the count falls short.
      SELECT count(*) INTO present FROM (
        SELECT 1 FROM pkgindex_packages WHERE name = ANY (wanted) ORDER BY name FOR KEY SHARE
      ) AS locked;
      IF present <> cardinality(wanted) THEN
        replies[i] := 1;
        CONTINUE;
      END IF;
      IF NOT existed THEN
        INSERT INTO pkgindex_packages (name) VALUES (n) ON CONFLICT DO NOTHING;
        IF FOUND THEN
          -- New: nothing depends on it, so its edges close no cycle.
          INSERT INTO pkgindex_dependencies (package, dependency) SELECT n, d FROM unnest(wanted) AS d;
          replies[i] := 0;
          CONTINUE;
        END IF;
        -- Another instance created it meanwhile: re-index it like any existing package.
        PERFORM 1 FROM pkgindex_packages WHERE name = n FOR UPDATE;
      END IF;
      old := ARRAY(SELECT dependency FROM pkgindex_dependencies WHERE package = n ORDER BY dependency);
      IF old = wanted THEN
        replies[i] := 0;
        CONTINUE;
      END IF;
      IF NOT (wanted <@ old) AND EXISTS (SELECT 1 FROM pkgindex_dependencies WHERE dependency = n) THEN
        -- The rare path: a package others depend on gains dependencies. One such re-INDEX at a
        -- time in the whole cluster (the lock is held to commit); the search below then sees
        -- every edge that any other could have added.
        PERFORM 1 FROM pkgindex_cycle_lock WHERE id = 1 FOR UPDATE;
        IF EXISTS (
          WITH RECURSIVE reach (p) AS (
            SELECT d COLLATE "C" FROM unnest(wanted) AS d WHERE d <> ALL (old)
            UNION
            SELECT e.dependency FROM pkgindex_dependencies e JOIN reach ON e.package = reach.p
          )
          SELECT 1 FROM reach WHERE p = n
        ) THEN
          replies[i] := 1;
          CONTINUE;
        END IF;
      END IF;
      DELETE FROM pkgindex_dependencies WHERE package = n AND dependency <> ALL (wanted);
      INSERT INTO pkgindex_dependencies (package, dependency)
        SELECT n, d FROM unnest(wanted) AS d ON CONFLICT DO NOTHING;
      replies[i] := 0;
    END IF;
  END LOOP;
  RETURN replies;
END
$fn$;
`;

/**
 * v3: lock slots, taken in one global order before a batch's row locks, so that concurrent
 * batches that touch the same packages wait for each other whole instead of deadlocking
 * midway (PostgreSQL breaks a deadlock only after deadlock_timeout, 1 s by default, and with
 * several batches in flight per instance, or several instances, mutation-heavy batches
 * deadlocked so often that throughput fell tenfold). Each package name hashes to one of 65,536
 * slots (computed by the instance: lockSlots in command-batch.ts); `slots` lists the batch's
 * slots in ascending order: a package the batch changes (INDEX, REMOVE) as the slot number,
 * locked FOR UPDATE; a package it only depends on as -1 - slot, locked FOR SHARE (INDEXes that
 * share a dependency do not wait for each other). Each run of slots of one mode is locked by
 * one statement. The slots are an optimisation only: the rules are kept by the row locks and
 * foreign keys of pkgindex_apply, and a deadlock the slots do not prevent (an instance of an
 * older version, or one with a single lane, which passes no slots) is broken by PostgreSQL and
 * the batch run again, as before.
 */
const V3 = `
CREATE TABLE pkgindex_lock_slots (slot integer PRIMARY KEY);
INSERT INTO pkgindex_lock_slots SELECT generate_series(0, 65535);

CREATE FUNCTION pkgindex_apply_ordered(slots integer[], verbs smallint[], names text[], deps text[])
RETURNS smallint[] LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(array_length(slots, 1), 0);
  a integer := 1;
  b integer;
BEGIN
  WHILE a <= n LOOP
    b := a;
    WHILE b < n AND (slots[b + 1] < 0) = (slots[a] < 0) LOOP
      b := b + 1;
    END LOOP;
    IF slots[a] < 0 THEN
      PERFORM 1 FROM pkgindex_lock_slots
        WHERE slot = ANY (ARRAY(SELECT -1 - s FROM unnest(slots[a:b]) AS s)) ORDER BY slot FOR SHARE;
    ELSE
      PERFORM 1 FROM pkgindex_lock_slots WHERE slot = ANY (slots[a:b]) ORDER BY slot FOR UPDATE;
    END IF;
    a := b + 1;
  END LOOP;
  RETURN pkgindex_apply(verbs, names, deps);
END
$fn$;
`;

/**
 * v4: the lock slots as advisory transaction locks, which queue fairly, instead of rows of
 * pkgindex_lock_slots, which do not. PostgreSQL grants FOR SHARE on a row that other
 * transactions hold only FOR SHARE without looking at who waits for FOR UPDATE, so while
 * batches that share a popular dependency kept overlapping, a batch changing that dependency
 * waited until they stopped: in the 3-instance Homebrew stress test, 2.2 s for `boost`'s slot and
 * once past the 5 s statement timeout (its commands answered ERROR). The lock manager's
 * advisory locks queue a shared request behind a waiting exclusive one, so a batch waits at most
 * for the batches that held its slots when it asked.
 *
 * Each advisory lock takes an entry of the server's shared lock table
 * (max_locks_per_transaction × connections, about 7,800 by default), so a batch takes at most
 * GATE_SLOTS + 1 of them: every batch first takes the gate (key 65,536), shared when it has at
 * most GATE_SLOTS slots, then its slots one by one in ascending order (exclusive for a slot
 * >= 0, shared for -1 - slot); a batch with more slots takes the gate alone, exclusively, which
 * covers every slot. Locks are keyed (LOCK_NAMESPACE, slot), in the database the instance uses. pkgindex_lock_slots is dropped.
 */
export const GATE_SLOTS = 256;
/** The first key of every pkgindex advisory lock ('pkgi'); the second is the slot. */
export const LOCK_NAMESPACE = 0x706b6769;
/** The second key of the gate: one past the last slot. */
export const GATE_KEY = 65_536;
const V4 = `
DROP TABLE pkgindex_lock_slots;

CREATE OR REPLACE FUNCTION pkgindex_apply_ordered(slots integer[], verbs smallint[], names text[], deps text[])
RETURNS smallint[] LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := coalesce(array_length(slots, 1), 0);
BEGIN
  IF n > ${GATE_SLOTS} THEN
    PERFORM pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${GATE_KEY});
  ELSIF n > 0 THEN
    PERFORM pg_advisory_xact_lock_shared(${LOCK_NAMESPACE}, ${GATE_KEY});
    -- One statement, its rows in the order of the sorted array: ascending slot whatever the mode.
    PERFORM CASE WHEN s < 0 THEN pg_advisory_xact_lock_shared(${LOCK_NAMESPACE}, -1 - s)
                 ELSE pg_advisory_xact_lock(${LOCK_NAMESPACE}, s) END
      FROM unnest(ARRAY(SELECT s FROM unnest(slots) AS s ORDER BY CASE WHEN s < 0 THEN -1 - s ELSE s END)) AS s;
  END IF;
  RETURN pkgindex_apply(verbs, names, deps);
END
$fn$;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'packages and dependencies tables', sql: V1 },
  { version: 2, description: 'pkgindex_apply: a batch of commands in one round trip', sql: V2 },
  {
    version: 3,
    description: 'lock slots: batches that touch the same packages wait instead of deadlocking',
    sql: V3,
  },
  {
    version: 4,
    description: 'lock slots as advisory locks, which queue fairly; a gate bounds the locks a batch holds',
    sql: V4,
  },
];

/** The schema version this build reaches. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
