/**
 * Import progress on stderr: a bar redrawn in place on a terminal, or a plain line every few
 * seconds otherwise (a CI log or a file must not fill with carriage returns).
 */
export interface ProgressOptions {
  readonly out: NodeJS.WritableStream;
  readonly tty: boolean;
  /** Terminal width, for the bar. */
  readonly columns?: number;
  /** Minimum time between two plain lines. */
  readonly lineIntervalMs?: number;
}

const REDRAW_MS = 100;

export class Progress {
  readonly #out: NodeJS.WritableStream;
  readonly #tty: boolean;
  readonly #columns: number;
  readonly #intervalMs: number;
  readonly #started = performance.now();
  #indexingStarted = this.#started;
  #lastDraw = -Infinity;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#out = options.out;
    this.#tty = options.tty;
    this.#columns = options.columns ?? 80;
    this.#intervalMs = options.lineIntervalMs ?? 2000;
  }

  /**
   * Reports reading: `bytes` of `totalBytes` (null when unknown: stdin) read so far, `lines`
   * of them; draws only when enough time has passed, so it can be called per line.
   */
  reading(bytes: number, totalBytes: number | null, lines: number, done = false): void {
    const now = performance.now();
    if (now - this.#lastDraw < (this.#tty ? REDRAW_MS : this.#intervalMs) && !done) return;
    this.#lastDraw = now;
    const seconds = (now - this.#started) / 1000;
    const rate = bytes / Math.max(seconds, 0.001);
    const of = totalBytes === null ? '' : ` of ${megabytes(totalBytes)}`;
    const percent =
      totalBytes === null || totalBytes === 0 ? '' : ` ${Math.floor((bytes * 100) / totalBytes)}%`;
    const eta =
      totalBytes === null || done ? '' : ` ETA ${formatSeconds((totalBytes - bytes) / Math.max(rate, 1))}`;
    const stats =
      `${megabytes(bytes)}${of}${percent}, ${lines.toLocaleString('en-US')} lines, ` +
      `${megabytes(rate)}/s ${seconds.toFixed(1)}s${eta}`;
    if (this.#tty) {
      this.#out.write(`\rreading: ${stats}\x1b[K`);
      this.#drawn = true;
    } else this.#out.write(`reading: ${stats}\n`);
  }

  /** Reports `done` of `total`; draws only when enough time has passed, so it can be called per reply. */
  update(done: number, total: number): void {
    const now = performance.now();
    if (now - this.#lastDraw < (this.#tty ? REDRAW_MS : this.#intervalMs) && done < total) return;
    this.#lastDraw = now;
    const seconds = (now - this.#indexingStarted) / 1000;
    const rate = Math.round(done / Math.max(seconds, 0.001));
    const percent = total === 0 ? 100 : Math.floor((done * 100) / total);
    const eta = done < total && done > 0 ? ` ETA ${formatSeconds((total - done) / Math.max(rate, 1))}` : '';
    const stats = `${done}/${total} ${String(percent).padStart(3)}% ${rate}/s ${seconds.toFixed(1)}s${eta}`;
    if (this.#tty) {
      const width = Math.max(10, Math.min(40, this.#columns - stats.length - 4));
      const filled = total === 0 ? width : Math.floor((done * width) / total);
      this.#out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}\x1b[K`);
      this.#drawn = true;
    } else this.#out.write(`indexing: ${stats}\n`);
  }

  /** Ends the bar's line, so what follows starts on a fresh one. */
  finish(): void {
    if (this.#tty && this.#drawn) this.#out.write('\n');
    this.#drawn = false;
  }

  /** The next phase (indexing) starts now: its rate and time are its own; the next draw is at once. */
  nextPhase(): void {
    this.finish();
    this.#indexingStarted = performance.now();
    this.#lastDraw = -Infinity;
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function formatSeconds(seconds: number): string {
  return seconds < 60
    ? `${Math.ceil(seconds)}s`
    : `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`;
}
