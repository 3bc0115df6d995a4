import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../../src/graph/dependency-graph.js';
import { isPkgIndexError } from '../../src/errors.js';
import { foldSnapshot } from '../../src/store/compaction.js';
import { segmentPath, snapshotPath } from '../../src/store/data-dir-files.js';
import { encodeFileHeader, HEADER_BYTES, Magic } from '../../src/store/format/file-header.js';
import { FRAME_HEADER_BYTES, sealFrame } from '../../src/store/format/frame.js';
import { RecordBuffer } from '../../src/store/format/record-buffer.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import type { OpenMode, StorageFile } from '../../src/store/fs/storage-fs.js';
import { readSnapshot } from '../../src/store/snapshot-file.js';
import { tempDir } from './support/tmp-dir.js';

/**
 * foldSnapshot over segments written by hand: it reads every record's name in a first pass and
 * only each package's last record whole in a second, across segment boundaries. The reference
 * is a replay of every record in order.
 */

type Op = { op: 'index'; name: string; deps: string[] } | { op: 'remove'; name: string };

const NAMES = ['a', 'b', 'c', 'd', 'e', 'package-with-a-name-longer-than-24-bytes'];
const name = fc.constantFrom(...NAMES);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('index' as const), name, deps: fc.array(name, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('remove' as const), name }),
);

/** Applies `ops` to `graph`; returns those that changed it, as the log keeps them. */
function logged(graph: DependencyGraph, ops: readonly Op[]): Op[] {
  return ops.filter((o) =>
    o.op === 'index'
      ? [IndexOutcome.ADDED, IndexOutcome.REPLACED].includes(
          graph.index(o.name, o.deps) as 'added' | 'replaced',
        )
      : graph.remove(o.name) === RemoveOutcome.REMOVED,
  );
}

/** A sealed segment file holding `records`, as the log writer leaves it. */
async function writeSegment(dir: string, seq: number, records: readonly Op[], extra?: Buffer): Promise<void> {
  const frames = new RecordBuffer();
  for (const r of records) {
    if (r.op === 'index') frames.appendIndex(r.name, r.deps);
    else frames.appendRemove(r.name);
  }
  const body = Buffer.from(frames.seal(0));
  await writeFile(
    segmentPath(dir, seq),
    Buffer.concat([encodeFileHeader(Magic.SEGMENT, seq), body, ...(extra ? [extra] : [])]),
  );
}

function state(graph: DependencyGraph): [string, readonly string[]][] {
  return [...graph.entries()].sort(([x], [y]) => (x < y ? -1 : 1));
}

test('property: the fold of segments (last records found by name, decoded in a second pass) is the replay of every record', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(op, { maxLength: 30 }), { minLength: 1, maxLength: 4 }),
      async (segments) => {
        const runDir = `${dir}/${run++}`;
        await new NodeFs().mkdir(runDir);
        const replay = new DependencyGraph();
        for (let i = 0; i < segments.length; i++)
          await writeSegment(runDir, i + 1, logged(replay, segments[i]!));
        await foldSnapshot(new NodeFs(), { dir: runDir, snapshotSeq: 0, fromSeq: 1, toSeq: segments.length });
        const folded = new DependencyGraph();
        await readSnapshot(new NodeFs(), snapshotPath(runDir, segments.length), folded);
        assert.deepEqual(state(folded), state(replay));
      },
    ),
    { numRuns: 60 },
  );
});

test('a checksummed record that does not decode is corruption at its offset, even when later records supersede it', async (t) => {
  const dir = await tempDir(t);
  // A frame with a valid checksum around an INDEX payload whose dependency count runs past it.
  const payload = Buffer.from([1, 1, 0x61, 9, 0, 0, 0, 1, 0x62]);
  const bad = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
  payload.copy(bad, FRAME_HEADER_BYTES);
  sealFrame(bad, 0, payload.length, 0);
  const before = [{ op: 'index' as const, name: 'b', deps: [] }];
  const frames = new RecordBuffer();
  frames.appendIndex('b', []);
  const offset = HEADER_BYTES + frames.seal(0).length;
  const after = new RecordBuffer();
  after.appendIndex('a', ['b']);
  await writeSegment(dir, 1, before, Buffer.concat([bad, Buffer.from(after.seal(0))]));

  await assert.rejects(
    foldSnapshot(new NodeFs(), { dir, snapshotSeq: 0, fromSeq: 1, toSeq: 1 }),
    (err: unknown) => {
      assert.ok(isPkgIndexError(err, 'E_STORAGE_CORRUPT'), String(err));
      assert.ok(
        err.message.startsWith(`${segmentPath(dir, 1)}: undecodable record at offset ${offset}; `),
        err.message,
      );
      return true;
    },
  );
});

/** NodeFs, but a file opened a second time is `second` instead (what the fold's second pass reads). */
class SwappedOnReopen extends NodeFs {
  readonly #opened = new Set<string>();
  constructor(
    readonly path: string,
    readonly second: string,
  ) {
    super();
  }
  override open(path: string, mode: OpenMode): Promise<StorageFile> {
    if (path !== this.path) return super.open(path, mode);
    const again = this.#opened.has(path);
    this.#opened.add(path);
    return super.open(again ? this.second : path, mode);
  }
}

test('a segment that changes between the two passes is corruption, never a snapshot of the other content', async (t) => {
  const dir = await tempDir(t);
  // The same frames but for the last record of 'b': where the first pass saw INDEX b, the second
  // finds another package's INDEX (same length), or a REMOVE of the same name.
  await writeSegment(dir, 1, [
    { op: 'index', name: 'a', deps: [] },
    { op: 'index', name: 'b', deps: ['a'] },
  ]);
  const other = `${dir}/other`;
  await new NodeFs().mkdir(other);
  const swaps: [Op[], string][] = [
    [
      [
        { op: 'index', name: 'a', deps: [] },
        { op: 'index', name: 'c', deps: ['a'] },
      ],
      'segments changed while they were folded',
    ],
    [
      [
        { op: 'index', name: 'a', deps: [] },
        { op: 'remove', name: 'b' },
      ],
      'record changed while it was folded',
    ],
  ];
  for (const [records, why] of swaps) {
    await writeSegment(other, 1, records);
    const fs = new SwappedOnReopen(segmentPath(dir, 1), segmentPath(other, 1));
    await assert.rejects(foldSnapshot(fs, { dir, snapshotSeq: 0, fromSeq: 1, toSeq: 1 }), (err: unknown) => {
      assert.ok(isPkgIndexError(err, 'E_STORAGE_CORRUPT'), String(err));
      assert.match(err.message, new RegExp(why));
      return true;
    });
  }
});
