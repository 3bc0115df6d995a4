import { nameHashOf } from '../protocol/name-cache.js';

/**
 * The names whose latest change may not be acknowledged yet: what lets a durable store answer
 * a QUERY without waiting for a group commit that has nothing to do with it.
 *
 * A reply must not reach a client before the state it observed is durable (store.ts). A QUERY
 * observes one thing, whether its package is indexed; if no record still waiting for its
 * group commit changed that package, the answer is the same in the log as in memory, and it
 * can go out at once whatever else is being committed. Without this, every batch waited for
 * the commit in flight, so on a strict load (one line per batch) a QUERY of a package nobody
 * touches waited for the disk as long as some other client was writing.
 *
 * One per log writer, which numbers its records from 0 (log-writer.ts). A filter rather than a
 * map: names fall into `BUCKETS` buckets by their key (the parser's hash of the name, `keys[0]`
 * of a parsed command, or the same hash of the string when a command has no keys), and each
 * bucket holds the number of the last record that changed a name in it. A name is pending
 * while its bucket's number is at or above the records acknowledged (written and synced in
 * durable mode). Numbers only grow, so a bucket's is at least that of any name in it: a name
 * whose change is pending is always found pending. Another name in the same bucket may be
 * found pending too; its reply then waits for the commit, as every reply did before this
 * filter, and is no less correct. With a few hundred names pending (a pipelined load's group
 * commit), about 1 to 2 % of the other names share a bucket with one of them.
 *
 * A Map of names to record numbers did the same exactly, at the price of a hash-table probe
 * per QUERY and an insertion per record: 4.8 % of the owner's time on the durable pipelined
 * load (docs/benchmarks.md, stop 41). The filter is one array read and never needs pruning.
 */
export class UnackedNames {
  /** Per bucket, the number of the last record that changed a name in it; -1: none yet. */
  readonly #last = new Float64Array(BUCKETS).fill(-1);

  /** `name` (whose key is `key`, or unknown) was changed by record number `record`. */
  add(name: string, key: number | undefined, record: number): void {
    this.#last[bucketOf(name, key)] = record;
  }

  /**
   * Whether the last record that changed `name` may not be acknowledged yet: true whenever it
   * is not; sometimes also when it is (see above).
   */
  has(name: string, key: number | undefined, acknowledged: number): boolean {
    return this.#last[bucketOf(name, key)]! >= acknowledged;
  }
}

/**
 * 16,384 buckets of a record number each (a float64: record numbers count every record a
 * writer appends and pass 2^31 in hours under a sustained mutation load): 128 KiB per writer.
 */
const BUCKETS = 16_384;
const MASK = BUCKETS - 1;

/** The bucket of `name`, by its key when the caller has it. */
function bucketOf(name: string, key: number | undefined): number {
  return (key ?? nameHashOf(name)) & MASK;
}

/** The bucket of a name, for tests that need two names in one bucket or in two. */
export function unackedBucket(name: string): number {
  return bucketOf(name, undefined);
}
