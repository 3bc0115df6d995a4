/**
 * `measure hot-path --store remote`: what a socket thread and the index owner spend per
 * message (ADR 0010), both sides in this one thread and without the kernel or the wake-ups:
 * --connections Connections over a RemoteStore, each fed one chunk of --batch lines per turn;
 * at the end of the turn the RemoteStore's batch goes through a real ring to the owner's
 * side (executeBatch over a MemoryStore), whose replies come back through the reply ring and
 * are written to the stub sockets. Beside it, the same turns with the Connections on the
 * MemoryStore itself (`--threads 1`), so that the difference is the hop's CPU per message.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerModules } from './harness.js';
import { connectionFeeds, loadWorkload, silentLogger } from './harness.js';

type RemoteStoreModule = typeof import('../../src/threads/remote-store.js');
type RingModule = typeof import('../../src/threads/ring.js');
type OwnerModule = typeof import('../../src/threads/owner-batches.js');
type CommandModule = typeof import('../../src/protocol/command.js');
type IndexStore = import('../../src/store/store.js').IndexStore;

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface RemoteOptions {
  readonly modules: ServerModules;
  readonly dist: string;
  readonly mix: string | undefined;
  readonly batch: number;
  readonly rounds: number;
  readonly connections: number;
  /** Turns per round. */
  readonly turns: number;
  /** Which sides to run (one alone: for instruction counts of that side). */
  readonly sides: 'both' | 'local' | 'remote';
}

/** ns of CPU per message: [local, remote] medians and minimums over the rounds. */
export async function measureRemote(o: RemoteOptions): Promise<string> {
  const dist = pathToFileURL(resolve(o.dist)).href;
  const load = async <T>(path: string): Promise<T> => (await import(`${dist}/${path}`)) as T;
  const { RemoteStore } = await load<RemoteStoreModule>('src/threads/remote-store.js');
  const { Ring, createRing, ringCapacity } = await load<RingModule>('src/threads/ring.js');
  const { CommandSlot } = await load<CommandModule>('src/protocol/command.js');
  let executeBatch: OwnerModule['executeBatch'];
  try {
    executeBatch = (await load<OwnerModule>('src/threads/owner-batches.js')).executeBatch;
  } catch {
    // Builds from before owner-batches.ts: this build's (the same code, then private).
    executeBatch = (await import('../../src/threads/owner-batches.js')).executeBatch;
  }
  const { MemoryStore, createLogger } = o.modules;
  const workload = loadWorkload({ mix: o.mix, batch: o.batch });
  const log = silentLogger(createLogger);

  const owner = new MemoryStore();
  await owner.open();
  const toOwnerMemory = createRing(ringCapacity(1 << 20));
  const fromOwnerMemory = createRing(ringCapacity(1 << 18));
  const toOwner = { out: new Ring(toOwnerMemory, 'producer'), in: new Ring(toOwnerMemory, 'consumer') };
  const fromOwner = { out: new Ring(fromOwnerMemory, 'producer'), in: new Ring(fromOwnerMemory, 'consumer') };
  const slot = new CommandSlot();
  // eslint-disable-next-line prefer-const
  let remote: InstanceType<RemoteStoreModule['RemoteStore']>;
  const peer = {
    tail: null as Promise<void> | null,
    queued: null,
    replies(replies: Uint8Array): void {
      fromOwner.out.tryWrite(replies, replies.length);
    },
    failed(): void {
      throw new Error('a batch failed');
    },
    suspended(): void {
      // The measured load has no long cycle checks.
    },
  };
  const onReplies = (payload: Buffer, tag: number): void => {
    remote.settle(Uint8Array.prototype.slice.call(payload, 0, tag));
  };
  const onBatch = (payload: Buffer, count: number): void => {
    executeBatch(owner, slot, peer, payload, count);
  };
  remote = new RemoteStore('thread-1', (lines, count) => {
    if (!toOwner.out.tryWrite(lines, count)) throw new Error('the ring to the owner is full');
    toOwner.in.drain(onBatch);
    fromOwner.in.drain(onReplies);
  });

  const local = new MemoryStore();
  await local.open();
  const feedsOf = (store: IndexStore): ((c: Buffer) => void)[] =>
    connectionFeeds(o.modules, store, o.connections, log);
  const sides = { local: feedsOf(local), remote: feedsOf(remote) };
  for (const feeds of Object.values(sides)) {
    for (const c of workload.warmup) feeds[0]!(c);
    await turn();
    await turn();
  }
  const { chunks, linesPerChunk } = workload;
  const next = { local: 0, remote: 0 };
  const results: Record<'local' | 'remote', number[]> = { local: [], remote: [] };
  for (let r = 0; r < o.rounds; r++) {
    for (const side of o.sides === 'both' ? (['local', 'remote'] as const) : [o.sides]) {
      const feeds = sides[side];
      let at = next[side];
      const cpu0 = process.cpuUsage();
      for (let t = 0; t < o.turns; t++) {
        for (const feed of feeds) {
          feed(chunks[at]!);
          at = at + 1 === chunks.length ? 0 : at + 1;
        }
        await turn();
      }
      await turn();
      const cpu = process.cpuUsage(cpu0);
      next[side] = at;
      results[side].push(((cpu.user + cpu.system) * 1000) / (o.turns * o.connections * linesPerChunk));
    }
  }
  const summary = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `min ${s[0]!.toFixed(0)} median ${s[Math.floor(s.length / 2)]!.toFixed(0)}`;
  };
  if (o.sides !== 'both') return `${o.dist} ${o.sides} ns/msg: ${summary(results[o.sides])}`;
  const hop = results.remote.map((x, i) => x - results.local[i]!);
  return (
    `${o.dist} mix ${workload.mixLabel} ${o.connections}×${o.batch} per turn, ns/msg: ` +
    `local ${summary(results.local)}; remote ${summary(results.remote)}; hop ${summary(hop)} ` +
    `(${o.rounds} rounds of ${o.turns} turns)`
  );
}
