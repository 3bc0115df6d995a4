import type { StorageFile, StorageFs } from '../fs/storage-fs.js';
import { checkFrame, frameLength, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES, type ScanResult } from './frame.js';
import { HEADER_BYTES, readFileHeader, type FileHeader, type Magic } from './file-header.js';

/** Default read buffer of a scan: big enough that reads are few, small next to the graph. */
export const DEFAULT_READ_BUFFER_BYTES = 1024 * 1024;

/**
 * A window on a file, read forward in buffer-sized pieces. `view(at, need)` returns bytes from
 * `at` on: at least `need` of them, or everything up to the end of the file when fewer are left.
 * The buffer grows only for a single frame larger than it (at most MAX_PAYLOAD_BYTES), so
 * reading a file never costs memory in proportion to the file (issue 11, defect 1).
 */
class FileWindow {
  readonly #file: StorageFile;
  readonly size: number;
  #buf: Buffer;
  /** The buffer holds file bytes [#start, #start + #length). */
  #start = 0;
  #length = 0;

  constructor(file: StorageFile, size: number, bufferBytes: number) {
    this.#file = file;
    this.size = size;
    this.#buf = Buffer.allocUnsafe(Math.max(bufferBytes, FRAME_HEADER_BYTES));
  }

  /** The buffer: file bytes [start, end) sit at [0, end - start) in it. Replaced when it grows. */
  get buffer(): Buffer {
    return this.#buf;
  }

  /** File offset of the buffer's first byte. */
  get start(): number {
    return this.#start;
  }

  /** File offset just past the bytes held. */
  get end(): number {
    return this.#start + this.#length;
  }

  /** True when the window holds `need` bytes from `at` on, or everything left of the file. */
  holds(at: number, need: number): boolean {
    return at >= this.#start && at + Math.min(need, this.size - at) <= this.#start + this.#length;
  }

  async view(at: number, need: number): Promise<Buffer> {
    if (!this.holds(at, need)) await this.load(at, need);
    return this.#buf.subarray(at - this.#start, this.#length);
  }

  /** Reads until the window `holds(at, need)`, keeping what it holds from `at` on. */
  async load(at: number, need: number): Promise<void> {
    const want = Math.min(need, this.size - at);
    const keepFrom = at - this.#start;
    if (keepFrom >= 0 && keepFrom < this.#length) this.#buf.copy(this.#buf, 0, keepFrom, this.#length);
    this.#length = keepFrom >= 0 && keepFrom < this.#length ? this.#length - keepFrom : 0;
    this.#start = at;
    if (want > this.#buf.length) {
      const grown = Buffer.allocUnsafe(want);
      this.#buf.copy(grown, 0, 0, this.#length);
      this.#buf = grown;
    }
    while (this.#length < want) {
      const room = Math.min(this.#buf.length, this.size - this.#start) - this.#length;
      const n = await this.#file.read(this.#buf.subarray(this.#length), this.#start + this.#length, room);
      // The file shrank under us: show what there is.
      if (n === 0) break;
      this.#length += n;
    }
  }
}

/**
 * Visits every valid frame of `file` from `start`, as scanFrames does for a buffer, reading
 * through a bounded window. Each payload is `bytes[from, to)`, valid only during the visit:
 * no view is made of it (decodeRecordIn reads it in place).
 *
 * With `wanted`, only the frames it accepts (by their index from 0 in this scan) are checked
 * and visited; the others are skipped by their length, unchecked: for a second pass over a
 * file whose every frame the first pass checked.
 */
export async function scanFileFrames(
  file: StorageFile,
  size: number,
  start: number,
  bufferBytes: number,
  visit: (bytes: Buffer, from: number, to: number, offset: number) => void,
  wanted?: () => boolean,
): Promise<ScanResult> {
  const window = new FileWindow(file, size, bufferBytes);
  let at = start;
  while (at < size) {
    // Frames already in the window are checked without awaiting: a replay visits thousands
    // per read, and an await each cost a compaction a tenth of its CPU time.
    if (!window.holds(at, FRAME_HEADER_BYTES)) await window.load(at, FRAME_HEADER_BYTES);
    if (window.end - at >= FRAME_HEADER_BYTES) {
      const length = window.buffer.readUInt32LE(at - window.start);
      if (length > 0 && length <= MAX_PAYLOAD_BYTES && !window.holds(at, FRAME_HEADER_BYTES + length))
        await window.load(at, FRAME_HEADER_BYTES + length);
    }
    const buf = window.buffer;
    const i = at - window.start;
    if (wanted !== undefined && !wanted()) {
      const skipped = frameLength(buf, i, window.end - window.start);
      if (typeof skipped === 'string')
        return { end: at, bad: { offset: at, reason: skipped, corrupt: true } };
      at += FRAME_HEADER_BYTES + skipped;
      continue;
    }
    const length = checkFrame(buf, i, window.end - window.start);
    if (typeof length === 'string')
      return { end: at, bad: { offset: at, reason: length, corrupt: await syncedDataFollows(window, at) } };
    visit(buf, i + FRAME_HEADER_BYTES, i + FRAME_HEADER_BYTES + length, at);
    at += FRAME_HEADER_BYTES + length;
  }
  return { end: at, bad: null };
}

/**
 * Looks past damage at `bad` for a valid frame written after `bad` had been synced (see
 * frame.ts). Only candidates whose header is plausible (a base beyond the damage and not
 * beyond the candidate itself) have their checksum computed.
 */
async function syncedDataFollows(window: FileWindow, bad: number): Promise<boolean> {
  let at = bad + 1;
  while (at + FRAME_HEADER_BYTES <= window.size) {
    const view = await window.view(at, FRAME_HEADER_BYTES);
    let candidate = -1;
    let i = 0;
    for (; i + FRAME_HEADER_BYTES <= view.length; i++) {
      const length = view.readUInt32LE(i);
      const base = view.readUInt32LE(i + 8);
      if (length === 0 || length > MAX_PAYLOAD_BYTES || base <= bad || base > at + i) continue;
      if (at + i + FRAME_HEADER_BYTES + length > window.size) continue;
      candidate = i;
      break;
    }
    if (candidate < 0) {
      at += i;
      continue;
    }
    // Reading the whole candidate may move the window: `view` is not used after this.
    const length = view.readUInt32LE(candidate);
    const whole = await window.view(at + candidate, FRAME_HEADER_BYTES + length);
    if (typeof checkFrame(whole, 0) === 'number') return true;
    at += candidate + 1;
  }
  return false;
}

/**
 * Where the bytes of `file` that are not zero end, from `from` up to `size`: just past the last
 * byte that is not zero, or `from` when all are zero. Reads `bufferBytes` at a time.
 */
export async function nonZeroEnd(
  file: StorageFile,
  from: number,
  size: number,
  bufferBytes: number,
): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(bufferBytes, size - from)));
  let end = from;
  for (let at = from; at < size;) {
    const n = await file.read(buf, at, Math.min(buf.length, size - at));
    if (n === 0) break;
    for (let i = n - 1; i >= 0; i--)
      if (buf[i] !== 0) {
        end = at + i + 1;
        break;
      }
    at += n;
  }
  return end;
}

export interface OpenedDataFile {
  readonly file: StorageFile;
  readonly size: number;
  /** Null: an incomplete or blank header, which only a crash while creating the file leaves. */
  readonly header: FileHeader | null;
}

/** Opens a data file for reading and checks its header (see readFileHeader). */
export async function openDataFile(fs: StorageFs, path: string, magic: Magic): Promise<OpenedDataFile> {
  const file = await fs.open(path, 'read');
  try {
    const size = await file.size();
    const head = Buffer.alloc(Math.min(size, HEADER_BYTES));
    let got = 0;
    while (got < head.length) {
      const n = await file.read(head.subarray(got), got, head.length - got);
      if (n === 0) break;
      got += n;
    }
    return { file, size, header: readFileHeader(head.subarray(0, got), magic, path) };
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
}
