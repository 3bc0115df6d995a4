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
 * One per log writer, which numbers its records from 0 (log-writer.ts): each name maps to the
 * number of the last record that changed it, and is pending while that number is at or above
 * the records acknowledged (written and synced in durable mode). Names whose last change is
 * acknowledged are dropped in one pass once the map has doubled since the last pass, so the
 * map holds about the names changed recently, at an amortized constant cost per change.
 */
export class UnackedNames {
  readonly #last = new Map<string, number>();
  /** Size past which the next change first drops the acknowledged names. */
  #limit = MIN_LIMIT;

  /** `name` was changed by record number `record`. */
  add(name: string, record: number, acknowledged: number): void {
    const last = this.#last;
    if (last.size >= this.#limit && !last.has(name)) this.#prune(acknowledged);
    last.set(name, record);
  }

  /** Whether the last record that changed `name` is not acknowledged yet. */
  has(name: string, acknowledged: number): boolean {
    const record = this.#last.get(name);
    return record !== undefined && record >= acknowledged;
  }

  /** The names held, for tests. */
  get size(): number {
    return this.#last.size;
  }

  #prune(acknowledged: number): void {
    const last = this.#last;
    for (const [name, record] of last) if (record < acknowledged) last.delete(name);
    this.#limit = Math.max(MIN_LIMIT, 2 * last.size);
  }
}

/**
 * Below this many names the map is never pruned. Small (about 100 KB at most), and above the
 * names a usual load keeps changing: the benchmark's mutations cycle through some 1,100 of
 * Homebrew's packages, and with a limit of 1,024 every pass dropped them all only for the map
 * to grow back, its table reallocated each time (the durable pipelined load's scavenges cost
 * 90 more instructions per line).
 */
const MIN_LIMIT = 4096;
