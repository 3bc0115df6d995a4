import type { Command } from '../../../src/protocol/command.js';
import { Verb } from '../../../src/protocol/command.js';
import { Reply } from '../../../src/protocol/reply.js';
import { DependencyGraph } from '../../../src/graph/dependency-graph.js';
import { applyCommand } from '../../../src/store/apply-command.js';
import type { IndexStore } from '../../../src/store/store.js';
import { randomCommand, seededRandom, send, stateOf } from './workload.js';

/** A command that changed the state when it executed, and whether its OK reached the client. */
export interface Executed {
  readonly command: Command;
  acked: boolean;
}

/**
 * Drives a store like the server does, from `clients` concurrent loops, and keeps the exact
 * order in which mutations executed (execute() is synchronous, so a model graph updated right
 * after it sees the same order).
 */
export class Harness {
  readonly executed: Executed[] = [];
  readonly model = new DependencyGraph();
  readonly names: string[];
  #stop = false;
  sent = 0;
  errors = 0;

  constructor(
    readonly store: IndexStore,
    packages = 40,
  ) {
    this.names = Array.from({ length: packages }, (_, i) => `pkg${i}`);
  }

  stop(): void {
    this.#stop = true;
  }

  /** Runs until `stop()` or `limit` commands were sent. */
  async run(seed: number, clients: number, limit: number, onSent?: (n: number) => void): Promise<void> {
    const loops: Promise<void>[] = [];
    for (let c = 0; c < clients; c++) {
      const random = seededRandom(seed * 1000 + c);
      loops.push(
        (async () => {
          while (!this.#stop && this.sent < limit) {
            this.sent++;
            await this.#one(randomCommand(random, this.names));
            onSent?.(this.sent);
          }
        })(),
      );
    }
    await Promise.all(loops);
  }

  async #one(command: Command): Promise<void> {
    const reply = this.store.execute(command);
    let entry: Executed | null = null;
    if (reply !== Reply.ERROR && command.verb !== Verb.QUERY) {
      const modelReply = applyCommand(this.model, command);
      if (modelReply.reply !== reply) throw new Error(`store answered ${reply}, model ${modelReply.reply}`);
      if (modelReply.changed) this.executed.push((entry = { command, acked: false }));
    }
    const barrier = this.store.barrier();
    let final = reply;
    if (barrier !== null) await barrier.catch(() => (final = Reply.ERROR));
    if (final === Reply.ERROR) this.errors++;
    if (entry !== null && final === Reply.OK) entry.acked = true;
  }

  get lastAcked(): number {
    for (let i = this.executed.length - 1; i >= 0; i--) if (this.executed[i]!.acked) return i;
    return -1;
  }

  /**
   * The length of the prefix of executed mutations whose state equals `recovered`, searching
   * from `from`; -1 when none does (the recovered state is no prefix of the history).
   */
  matchingPrefix(recovered: string[], from = 0): number {
    const graph = new DependencyGraph();
    const want = recovered.join('\n');
    for (let i = 0; i <= this.executed.length; i++) {
      if (i >= from && stateOf(graph).join('\n') === want) return i;
      if (i < this.executed.length) applyCommand(graph, this.executed[i]!.command);
    }
    return -1;
  }
}

/** Resolves `send` for a command list, in order: for simple sequential scripts. */
export async function sendAll(store: IndexStore, commands: readonly Command[]): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (const c of commands) replies.push(await send(store, c));
  return replies;
}

export { seededRandom, stateOf };
