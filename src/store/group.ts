/**
 * The waiters of one group commit. The promise is made only when a barrier asks for it, so a
 * group that fails with nobody waiting does not become an unhandled rejection.
 */
export class CommitGroup {
  #promise: Promise<void> | null = null;
  #resolve: (() => void) | null = null;
  #reject: ((err: Error) => void) | null = null;
  #outcome: Error | null | undefined = undefined;

  wait(): Promise<void> {
    if (this.#promise === null) {
      if (this.#outcome === null) this.#promise = Promise.resolve();
      else if (this.#outcome !== undefined) this.#promise = Promise.reject(this.#outcome);
      else
        this.#promise = new Promise<void>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
    }
    return this.#promise;
  }

  resolve(): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = null;
    this.#resolve?.();
  }

  reject(err: Error): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = err;
    this.#reject?.(err);
  }
}
